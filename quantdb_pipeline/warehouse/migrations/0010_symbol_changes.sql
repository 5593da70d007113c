-- Code switches and codes that drop out of their exchange's list.
-- From October 2025 every Beijing Stock Exchange stock trades under a new 920xxx code; eastmoney
-- answers the old 43xxxx/83xxxx/87xxxx codes with no data and serves the whole history under the
-- new one. A code the lists no longer show is kept (its bars stay readable) but no longer fetched.

ALTER TABLE securities ADD COLUMN status VARCHAR DEFAULT 'listed';
ALTER TABLE securities ADD COLUMN last_listed DATE;
COMMENT ON COLUMN securities.status IS
    'listed: shown by its exchange''s latest list (listing or delisting list), fetched; dropped: no longer shown and no successor found, kept and readable but not fetched; switched: the old code of a symbol_changes row, kept and readable but not fetched. Only listed codes are fetched.';
COMMENT ON COLUMN securities.last_listed IS
    'Source day (Shanghai date) of the last securities load whose exchange lists showed the code; NULL for rows loaded before this column existed.';

CREATE TABLE symbol_changes (
    old_symbol  VARCHAR NOT NULL PRIMARY KEY,
    new_symbol  VARCHAR NOT NULL,
    change_date DATE,
    matched_by  VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    list_date   DATE,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE symbol_changes IS
    'A listed company that changed its trading code (e.g. the BSE''s 43/83/87xxxx -> 920xxx switch of October 2025). read.daily_bars of either code returns the joined history: the old code''s bars before change_date, the new code''s from it on.';
COMMENT ON COLUMN symbol_changes.old_symbol IS 'Six-digit code traded before the change; securities.status = switched.';
COMMENT ON COLUMN symbol_changes.new_symbol IS 'Six-digit code traded from change_date on.';
COMMENT ON COLUMN symbol_changes.change_date IS
    'First trading day under the new code, as far as the pipeline can tell: the first trading day after the last source day whose list showed the old code (NULL when the old code was never seen listed by this warehouse).';
COMMENT ON COLUMN symbol_changes.matched_by IS
    'exchange_list: the exchange list named the previous code (a 原代码 column); name_and_list_date: a code that dropped out and a new code with the identical name and listing date.';
COMMENT ON COLUMN symbol_changes.name IS 'Security name both codes carried when matched.';
COMMENT ON COLUMN symbol_changes.list_date IS 'Listing date both codes carry (the company''s original listing, kept by the new code).';
