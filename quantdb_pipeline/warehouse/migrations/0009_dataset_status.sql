-- Each dataset's last load outcome. A dataset whose load failed (circuit breaker, endpoint down,
-- batch refused by the gate) keeps its last good rows, the others are published anyway, and
-- readers see the failed one as stale in read.status() until a later run loads it again.

CREATE TABLE dataset_status (
    dataset          VARCHAR NOT NULL PRIMARY KEY,
    status           VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    reason           VARCHAR,
    run_id           VARCHAR NOT NULL,
    attempted_at     TIMESTAMPTZ NOT NULL,
    last_good_at     TIMESTAMPTZ,
    last_good_run_id VARCHAR
);
COMMENT ON TABLE dataset_status IS
    'One row per dataset (the asset and table name, e.g. hk_daily_bars): how its last load ended. status failed = its table still holds the rows of last_good_run_id (or older), nothing of the failed run that did not pass the gate.';
COMMENT ON COLUMN dataset_status.dataset IS 'Asset name, equal to the table it writes (daily_bars, hk_daily_bars, financial_statements, ...).';
COMMENT ON COLUMN dataset_status.status IS 'ok: the last load completed; failed: it stopped (see reason), the dataset is stale.';
COMMENT ON COLUMN dataset_status.reason IS 'Why the last load failed, one line (circuit breaker, upstream error, gate refusal); NULL when ok.';
COMMENT ON COLUMN dataset_status.run_id IS 'Dagster run of the last attempt.';
COMMENT ON COLUMN dataset_status.attempted_at IS 'When the last attempt ended (UTC).';
COMMENT ON COLUMN dataset_status.last_good_at IS 'When the last completed load ended (UTC); on a first failure, the table''s newest ingested_at; NULL if nothing was ever loaded.';
COMMENT ON COLUMN dataset_status.last_good_run_id IS 'Dagster run of the last completed load (on a first failure, the run of the table''s newest row).';
