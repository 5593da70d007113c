-- Adjustment factors beside the unadjusted bars; adjusted prices are computed on read.

ALTER TABLE daily_bars ADD COLUMN prev_close DOUBLE;
COMMENT ON COLUMN daily_bars.prev_close IS
    'The exchange''s reference previous close, CNY: the last close, or on an ex-date the ex-rights reference price. NULL for rows loaded before schema version 3.';

CREATE TABLE adjustment_factors (
    symbol      VARCHAR NOT NULL,
    ex_date     DATE NOT NULL,
    hfq_factor  DOUBLE NOT NULL CHECK (hfq_factor > 0),
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, ex_date)
);
COMMENT ON TABLE adjustment_factors IS
    'Cumulative backward (hfq) adjustment factor of each symbol from ex_date on, until its next ex_date. hfq price = unadjusted x hfq_factor; qfq price = unadjusted x hfq_factor / the latest hfq_factor (or the one in force on an as-of date).';
COMMENT ON COLUMN adjustment_factors.ex_date IS
    'First trading day the factor applies to (an ex-dividend / ex-rights date, or the first row of the history with factor 1).';

ALTER TABLE ingest_state ADD COLUMN as_of DATE;
COMMENT ON COLUMN ingest_state.as_of IS 'The source''s "today" at the last attempt (the latest date upstream could know).';
