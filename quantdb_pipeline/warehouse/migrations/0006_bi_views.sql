-- Views for SQL and BI tools: English names, adjusted prices, current profiles.

CREATE VIEW bars_adjusted AS
WITH f AS (
    SELECT b.*, coalesce(x.hfq_factor, 1.0) AS hfq_factor
    FROM daily_bars b ASOF LEFT JOIN adjustment_factors x ON b.symbol = x.symbol AND b.trade_date >= x.ex_date),
latest AS (SELECT symbol, arg_max(hfq_factor, ex_date) AS latest_factor FROM adjustment_factors GROUP BY symbol)
SELECT f.symbol, f.trade_date,
       f.open, f.high, f.low, f.close, f.volume, f.amount, f.pct_change, f.turnover_rate,
       f.hfq_factor,
       f.open * f.hfq_factor AS open_hfq, f.high * f.hfq_factor AS high_hfq,
       f.low * f.hfq_factor AS low_hfq, f.close * f.hfq_factor AS close_hfq,
       f.open * f.hfq_factor / coalesce(l.latest_factor, 1.0) AS open_qfq,
       f.high * f.hfq_factor / coalesce(l.latest_factor, 1.0) AS high_qfq,
       f.low * f.hfq_factor / coalesce(l.latest_factor, 1.0) AS low_qfq,
       f.close * f.hfq_factor / coalesce(l.latest_factor, 1.0) AS close_qfq
FROM f LEFT JOIN latest l USING (symbol);
COMMENT ON VIEW bars_adjusted IS 'A-share daily bars with unadjusted prices (CNY), hfq_factor, backward-adjusted *_hfq and forward-adjusted *_qfq prices (relative to the latest factor in the warehouse), computed on read from adjustment_factors; volume in shares, amount CNY.';

CREATE VIEW latest_profiles AS
SELECT s.symbol, s.exchange, s.board, coalesce(p.name, s.name) AS name, coalesce(p.is_st, s.is_st) AS is_st,
       p.industry, p.total_shares, p.float_shares, p.total_market_cap, p.float_market_cap, p.observed_on,
       s.list_date, s.delist_date
FROM securities s LEFT JOIN security_profiles p ON p.symbol = s.symbol AND p.valid_to IS NULL;
COMMENT ON VIEW latest_profiles IS 'Every A-share with its current profile: name, ST flag, industry, shares, market values (CNY, as of observed_on), listing and delisting dates.';
