-- Profiles from whole-market lists instead of one request per symbol, and name history back to
-- listing. The nightly quote list (stock_zh_a_spot_em) gives names, ST status and market values;
-- the exchanges' lists give shares where they carry them (SZSE, BSE); eastmoney's industry boards
-- give the industry (weekly); SZSE's name-change records give dated former names, sina's page
-- undated ones.

ALTER TABLE security_profiles ADD COLUMN shares_source VARCHAR;
COMMENT ON COLUMN security_profiles.shares_source IS
    'How total_shares/float_shares were obtained: exchange_list (SZSE/BSE list, counted by the exchange); market_value/price (derived from the quote list: 总市值 / price and 流通市值 / price, a fallback, e.g. for SSE symbols whose list carries no shares); individual_info (stock_individual_info_em, rows written before this column existed are NULL).';

CREATE TABLE quote_list_snapshot (
    symbol           VARCHAR NOT NULL PRIMARY KEY,
    name             VARCHAR NOT NULL,
    price            DOUBLE,
    total_market_cap DOUBLE,
    float_market_cap DOUBLE,
    observed_on      DATE NOT NULL,
    source           VARCHAR NOT NULL,
    run_id           VARCHAR NOT NULL,
    ingested_at      TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE quote_list_snapshot IS
    'The last whole-market quote list fetched (by the nightly bars step or, when it did not fetch one, by the profile step), one row per listed symbol: what the profile step reads instead of asking upstream again.';
COMMENT ON COLUMN quote_list_snapshot.name IS 'Security name as the list shows it, ST prefix included (名称).';
COMMENT ON COLUMN quote_list_snapshot.price IS 'CNY: 最新价 (the close after the close), else 昨收 for a symbol without a trade.';
COMMENT ON COLUMN quote_list_snapshot.total_market_cap IS 'CNY (总市值).';
COMMENT ON COLUMN quote_list_snapshot.float_market_cap IS 'CNY (流通市值).';
COMMENT ON COLUMN quote_list_snapshot.observed_on IS 'The source day the list was taken for (Shanghai date).';

CREATE TABLE exchange_shares (
    symbol       VARCHAR NOT NULL PRIMARY KEY,
    total_shares DOUBLE NOT NULL,
    float_shares DOUBLE,
    observed_on  DATE NOT NULL,
    source       VARCHAR NOT NULL,
    run_id       VARCHAR NOT NULL,
    ingested_at  TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE exchange_shares IS
    'Share counts from the exchanges'' own lists, written with each securities load: SZSE (A股总股本, A股流通股本) and BSE (总股本, 流通股本). SSE''s list carries none.';
COMMENT ON COLUMN exchange_shares.total_shares IS 'Shares (not lots, not 10k shares).';

CREATE TABLE industry_assignments (
    symbol      VARCHAR NOT NULL PRIMARY KEY,
    industry    VARCHAR NOT NULL,
    board_code  VARCHAR NOT NULL,
    observed_on DATE NOT NULL,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE industry_assignments IS
    'eastmoney industry board of each symbol (stock_board_industry_name_em + stock_board_industry_cons_em per board), refreshed weekly as a whole; the same classification stock_individual_info_em calls 行业.';
COMMENT ON COLUMN industry_assignments.board_code IS 'eastmoney board code, e.g. BK0475.';

CREATE TABLE security_names (
    symbol     VARCHAR NOT NULL,
    valid_from DATE NOT NULL,
    valid_to   DATE,
    name       VARCHAR NOT NULL,
    is_st      BOOLEAN NOT NULL,
    source     VARCHAR NOT NULL,
    run_id     VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
COMMENT ON TABLE security_names IS
    'Dated names from official name-change records (SZSE 简称变更): each change closes the name before it and opens the one after it. Reads use them for days before the first observed profile version.';
COMMENT ON COLUMN security_names.valid_from IS 'First day of the name: the change date, or the listing date for the name before the first recorded change.';
COMMENT ON COLUMN security_names.valid_to IS 'The next recorded change date (exclusive); NULL after the last one.';
COMMENT ON COLUMN security_names.is_st IS 'The name marks special treatment (ST, *ST, S*ST, SST prefix).';

CREATE TABLE former_names (
    symbol      VARCHAR NOT NULL,
    position    INTEGER NOT NULL,
    name        VARCHAR NOT NULL,
    is_st       BOOLEAN NOT NULL,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, position)
);
COMMENT ON TABLE former_names IS
    'sina''s 证券简称更名历史 of a symbol (stock_info_change_name): every name it carried, oldest first, WITHOUT dates. It says that a symbol was once ST, not when: reads never use it for a day''s name.';
COMMENT ON COLUMN former_names.position IS '1 = the oldest name sina lists; the last is normally the current name.';
