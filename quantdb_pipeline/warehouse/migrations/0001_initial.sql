-- QuantDB warehouse, version 1: calendar, securities, daily bars, ingest bookkeeping.
-- Units are part of the schema: prices and amounts in the listing currency (CNY for A-shares),
-- volume in shares, percentages in percent. Dates are DATE (exchange-local), timestamps UTC.

CREATE TABLE trading_calendar (
    market      VARCHAR NOT NULL,
    trade_date  DATE NOT NULL,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (market, trade_date)
);
COMMENT ON TABLE trading_calendar IS 'Trading days per market; CN = SSE, SZSE and BSE, which share one calendar.';

CREATE TABLE securities (
    symbol      VARCHAR NOT NULL PRIMARY KEY,
    exchange    VARCHAR NOT NULL CHECK (exchange IN ('SH', 'SZ', 'BJ')),
    board       VARCHAR NOT NULL CHECK (board IN ('main', 'chinext', 'star', 'bse')),
    name        VARCHAR NOT NULL,
    is_st       BOOLEAN NOT NULL,
    list_date   DATE,
    delist_date DATE,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE securities IS 'A-share universe as last reported by the exchanges, delisted names kept.';
COMMENT ON COLUMN securities.symbol IS 'Six-digit code without exchange prefix, e.g. 600000.';
COMMENT ON COLUMN securities.board IS 'main (±10%), chinext (±20%), star (±20%), bse (±30%) daily price limit.';
COMMENT ON COLUMN securities.delist_date IS 'Date of delisting; the last bar is on the trading day before.';

CREATE TABLE daily_bars (
    symbol        VARCHAR NOT NULL,
    trade_date    DATE NOT NULL,
    open          DOUBLE NOT NULL,
    high          DOUBLE NOT NULL,
    low           DOUBLE NOT NULL,
    close         DOUBLE NOT NULL,
    volume        BIGINT NOT NULL,
    amount        DOUBLE NOT NULL,
    pct_change    DOUBLE,
    turnover_rate DOUBLE,
    source        VARCHAR NOT NULL,
    run_id        VARCHAR NOT NULL,
    ingested_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, trade_date)
);
COMMENT ON TABLE daily_bars IS 'Unadjusted daily bars. Adjusted prices are computed on read, never stored.';
COMMENT ON COLUMN daily_bars.open IS 'Unadjusted opening price, CNY.';
COMMENT ON COLUMN daily_bars.close IS 'Unadjusted closing price, CNY.';
COMMENT ON COLUMN daily_bars.volume IS 'Shares traded (eastmoney reports lots of 100; converted on load).';
COMMENT ON COLUMN daily_bars.amount IS 'Turnover value, CNY.';
COMMENT ON COLUMN daily_bars.pct_change IS 'Change of close against the previous close, percent.';
COMMENT ON COLUMN daily_bars.turnover_rate IS 'Volume over free-float shares, percent.';

-- Which trading-day ranges of each symbol have been fetched successfully. A suspended
-- symbol has no bars inside a covered range; coverage, not bar presence, decides refetches.
CREATE TABLE bar_coverage (
    symbol       VARCHAR NOT NULL,
    covered_from DATE NOT NULL,
    covered_to   DATE NOT NULL,
    run_id       VARCHAR NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, covered_from),
    CHECK (covered_from <= covered_to)
);

-- The outcome of the last attempt per symbol and dataset, so that failed symbols are retried.
CREATE TABLE ingest_state (
    dataset         VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    status          VARCHAR NOT NULL CHECK (status IN ('ok', 'empty', 'failed')),
    last_attempt_at TIMESTAMPTZ NOT NULL,
    last_success_at TIMESTAMPTZ,
    error           VARCHAR,
    run_id          VARCHAR NOT NULL,
    PRIMARY KEY (dataset, symbol)
);

CREATE TABLE pipeline_settings (
    key   VARCHAR NOT NULL PRIMARY KEY,
    value VARCHAR NOT NULL
);
