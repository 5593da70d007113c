-- eastmoney's HK main-board quote list (`stock_hk_main_board_spot_em`), one row per symbol and
-- fetch day. One fetch a night serves three readers: the HK universe (hk_securities), the day's
-- HK bars (the quote-list fast path) and the ex-date signal of the HK factors (昨收 against the
-- stored previous close). A list carries no date: `as_of` is the day the run expected it to
-- show, and `accepted` says whether the bar loader's day check confirmed that.

CREATE TABLE hk_quote_list (
    symbol          VARCHAR NOT NULL,
    as_of           DATE NOT NULL,
    name            VARCHAR NOT NULL,
    open            DOUBLE,
    high            DOUBLE,
    low             DOUBLE,
    close           DOUBLE,
    reference_price DOUBLE,
    volume          BIGINT,
    amount          DOUBLE,
    pct_change      DOUBLE,
    accepted        BOOLEAN NOT NULL DEFAULT false,
    source          VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, as_of)
);
COMMENT ON TABLE hk_quote_list IS
    'The HK main-board quote list as fetched after the close, per fetch day. A symbol listed without a trade (no price or no volume) has NULL prices: on an accepted day it is covered without a bar, as the history endpoint has none for it.';
COMMENT ON COLUMN hk_quote_list.as_of IS 'The source''s day when fetched (HKT, after the close): the session the list should show. Verified by the day check before bars are taken from it (accepted).';
COMMENT ON COLUMN hk_quote_list.close IS '最新价: after the close, the session''s close (HKD). NULL when the symbol did not trade.';
COMMENT ON COLUMN hk_quote_list.reference_price IS '昨收: the reference previous close (HKD). On an ex-date it may be the ex-rights price rather than the last traded close; where it differs from the stored close it signals an ex-date.';
COMMENT ON COLUMN hk_quote_list.volume IS '成交量: shares traded (eastmoney''s HK volumes are in shares, as in stock_hk_hist).';
COMMENT ON COLUMN hk_quote_list.amount IS '成交额: turnover in HKD.';
COMMENT ON COLUMN hk_quote_list.pct_change IS '涨跌幅: percent, measured from 昨收.';
COMMENT ON COLUMN hk_quote_list.accepted IS 'true once the bar loader''s day check found the list shows as_of (its 昨收 equals the stored previous close for most symbols); a refused list''s rows are deleted.';
