-- Hong Kong stocks and CN indices, each market in tables of its own: their units, calendars
-- and quality rules differ from the A-shares'. trading_calendar holds market 'HK' as well.

CREATE TABLE hk_securities (
    symbol      VARCHAR NOT NULL PRIMARY KEY,
    name        VARCHAR NOT NULL,
    currency    VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE hk_securities IS 'HKEX main board securities as last listed upstream; names no longer listed are kept.';
COMMENT ON COLUMN hk_securities.symbol IS 'Five-digit HKEX code, e.g. 00700.';

CREATE TABLE hk_daily_bars (
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
    prev_close    DOUBLE,
    currency      VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    run_id        VARCHAR NOT NULL,
    ingested_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, trade_date)
);
COMMENT ON TABLE hk_daily_bars IS 'Unadjusted HKEX daily bars on the HK trading calendar. No daily price limit applies.';
COMMENT ON COLUMN hk_daily_bars.volume IS 'Shares traded (eastmoney reports HK volume in shares).';
COMMENT ON COLUMN hk_daily_bars.amount IS 'Turnover value in the trading currency.';
COMMENT ON COLUMN hk_daily_bars.currency IS 'Trading currency of prices and amount, e.g. HKD.';

CREATE TABLE indices (
    symbol   VARCHAR NOT NULL PRIMARY KEY,
    exchange VARCHAR NOT NULL CHECK (exchange IN ('SH', 'SZ')),
    name     VARCHAR NOT NULL
);
COMMENT ON TABLE indices IS 'The CN indices the pipeline loads: six-digit code, publishing side, English name.';

CREATE TABLE index_daily_bars (
    symbol      VARCHAR NOT NULL,
    trade_date  DATE NOT NULL,
    open        DOUBLE NOT NULL,
    high        DOUBLE NOT NULL,
    low         DOUBLE NOT NULL,
    close       DOUBLE NOT NULL,
    volume      BIGINT NOT NULL,
    amount      DOUBLE NOT NULL,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, trade_date)
);
COMMENT ON TABLE index_daily_bars IS 'Daily index levels on the SSE calendar. Indices have no turnover rate and need no adjustment.';
COMMENT ON COLUMN index_daily_bars.symbol IS 'Six-digit index code, e.g. 000300 (CSI 300); 399xxx are SZSE indices.';
COMMENT ON COLUMN index_daily_bars.volume IS 'Shares traded in the constituents (eastmoney reports lots of 100; converted on load).';
COMMENT ON COLUMN index_daily_bars.amount IS 'Turnover value of the constituents, CNY.';
