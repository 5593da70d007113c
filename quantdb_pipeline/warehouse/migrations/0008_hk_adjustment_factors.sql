-- Hong Kong adjustment factors beside the unadjusted HK bars; adjusted HK prices are computed on read.
-- sina's HK backward adjustment is affine (a cash dividend is added back, not compounded), its
-- forward adjustment a plain ratio, so both are stored as sina publishes them.

CREATE TABLE hk_adjustment_factors (
    symbol      VARCHAR NOT NULL,
    ex_date     DATE NOT NULL,
    hfq_factor  DOUBLE NOT NULL CHECK (hfq_factor > 0),
    hfq_cash    DOUBLE NOT NULL,
    qfq_factor  DOUBLE NOT NULL CHECK (qfq_factor > 0),
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, ex_date)
);
COMMENT ON TABLE hk_adjustment_factors IS
    'sina''s HK adjustment of each symbol from ex_date on, until its next ex_date (stock_hk_daily hfq-factor and qfq-factor). hfq price = unadjusted x hfq_factor + hfq_cash; qfq price = unadjusted x qfq_factor (1 from the latest ex-date on), or x qfq_factor / the qfq_factor in force on an as-of date. A symbol without rows has no corporate action: adjusted = unadjusted.';
COMMENT ON COLUMN hk_adjustment_factors.symbol IS 'Five-digit HKEX code, e.g. 00700.';
COMMENT ON COLUMN hk_adjustment_factors.ex_date IS
    'First day the row applies to: an ex-dividend / ex-rights date, or sina''s 1900-01-01 start row.';
COMMENT ON COLUMN hk_adjustment_factors.hfq_factor IS 'Cumulative backward share factor (bonus issues, splits), dimensionless.';
COMMENT ON COLUMN hk_adjustment_factors.hfq_cash IS 'Cumulative cash added back by the backward adjustment, in the trading currency (HKD) per hfq-adjusted share.';
COMMENT ON COLUMN hk_adjustment_factors.qfq_factor IS 'Forward factor, dimensionless: the product of the price ratios of the later ex-dates sina knew when fetched.';
