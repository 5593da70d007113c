-- Rows the quality gate kept out of the warehouse, with the rules they failed.
-- One row per (table, key): the latest failure. A clean reload of the key's window clears it.
CREATE TABLE quarantine (
    table_name     VARCHAR NOT NULL,
    row_key        VARCHAR NOT NULL,
    symbol         VARCHAR,
    trade_date     DATE,
    rules          VARCHAR NOT NULL,
    row_values     VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    run_id         VARCHAR NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (table_name, row_key)
);
COMMENT ON TABLE quarantine IS 'Rows kept out by the quality gate: table, key, failed rules, offending values, run.';
COMMENT ON COLUMN quarantine.rules IS 'Comma-separated names of the failed rules (see README, Data quality).';
COMMENT ON COLUMN quarantine.row_values IS 'The offending row as JSON, as it arrived from the source.';
