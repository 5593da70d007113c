-- Security profiles with history, and financial reports with their announcement dates.

CREATE TABLE security_profiles (
    symbol           VARCHAR NOT NULL,
    valid_from       DATE NOT NULL,
    valid_to         DATE,
    name             VARCHAR NOT NULL,
    is_st            BOOLEAN NOT NULL,
    industry         VARCHAR,
    total_shares     DOUBLE,
    float_shares     DOUBLE,
    list_date        DATE,
    total_market_cap DOUBLE,
    float_market_cap DOUBLE,
    observed_on      DATE NOT NULL,
    source           VARCHAR NOT NULL,
    run_id           VARCHAR NOT NULL,
    ingested_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
COMMENT ON TABLE security_profiles IS 'One row per version of a security''s profile: a change of name, ST status, industry, share count or listing date starts a new version. The version valid on day D has valid_from <= D < coalesce(valid_to, infinity).';
COMMENT ON COLUMN security_profiles.valid_from IS 'The day the pipeline first saw this version (upstream does not date profile changes).';
COMMENT ON COLUMN security_profiles.valid_to IS 'The day the next version was first seen (exclusive); NULL for the current version.';
COMMENT ON COLUMN security_profiles.total_market_cap IS 'CNY, as observed on observed_on; market values are refreshed in place, not versioned.';
COMMENT ON COLUMN security_profiles.observed_on IS 'The source''s today when this version was last confirmed.';

CREATE TABLE financial_indicators (
    symbol      VARCHAR NOT NULL,
    report_date DATE NOT NULL,
    section     VARCHAR NOT NULL,
    indicator   VARCHAR NOT NULL,
    metric      VARCHAR,
    value       DOUBLE,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, report_date, section, indicator)
);
COMMENT ON TABLE financial_indicators IS 'sina''s key financial indicators (stock_financial_abstract), long: one row per report date, section and upstream label.';
COMMENT ON COLUMN financial_indicators.indicator IS 'The upstream label, kept as sent, also when the pipeline has no English name for it.';
COMMENT ON COLUMN financial_indicators.metric IS 'English metric name (see key_financials), NULL for a label the pipeline does not map.';

CREATE TABLE financial_statements (
    symbol      VARCHAR NOT NULL,
    statement   VARCHAR NOT NULL CHECK (statement IN ('balance', 'income', 'cash_flow')),
    report_date DATE NOT NULL,
    item        VARCHAR NOT NULL,
    value       DOUBLE,
    notice_date DATE,
    currency    VARCHAR,
    source      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, statement, report_date, item)
);
COMMENT ON TABLE financial_statements IS 'eastmoney''s balance sheet, income statement and cash flow statement by report period, long: any company layout (general, bank, insurer, broker) fits. Income and cash flow items are year-to-date.';
COMMENT ON COLUMN financial_statements.item IS 'eastmoney''s item name, e.g. TOTAL_ASSETS, PARENT_NETPROFIT, NETCASH_OPERATE.';
COMMENT ON COLUMN financial_statements.notice_date IS 'The day the report was announced (NOTICE_DATE); point-in-time reads use it.';

-- When each report became public: eastmoney's NOTICE_DATE where known, else the statutory
-- deadline (Q1 04-30, H1 08-31, Q3 10-31, annual 04-30 of the next year), flagged.
CREATE VIEW report_announcements AS
WITH reports AS (
    SELECT symbol, report_date FROM financial_statements
    UNION SELECT symbol, report_date FROM financial_indicators),
notices AS (
    SELECT symbol, report_date, min(notice_date) AS notice_date
    FROM financial_statements WHERE notice_date IS NOT NULL GROUP BY symbol, report_date)
SELECT r.symbol, r.report_date,
       coalesce(n.notice_date, CASE month(r.report_date)
           WHEN 3 THEN make_date(year(r.report_date), 4, 30)
           WHEN 6 THEN make_date(year(r.report_date), 8, 31)
           WHEN 9 THEN make_date(year(r.report_date), 10, 31)
           ELSE make_date(year(r.report_date) + 1, 4, 30) END) AS available_from,
       n.notice_date IS NULL AS available_from_estimated
FROM reports r LEFT JOIN notices n USING (symbol, report_date);
COMMENT ON VIEW report_announcements IS 'When each report became public: its NOTICE_DATE, or the statutory deadline when unknown (available_from_estimated).';

CREATE VIEW key_financials AS
SELECT i.symbol, i.report_date, a.available_from, a.available_from_estimated,
       max(value) FILTER (WHERE metric = 'revenue') AS revenue,
       max(value) FILTER (WHERE metric = 'net_profit') AS net_profit,
       max(value) FILTER (WHERE metric = 'parent_net_profit') AS parent_net_profit,
       max(value) FILTER (WHERE metric = 'deducted_net_profit') AS deducted_net_profit,
       max(value) FILTER (WHERE metric = 'operating_cash_flow') AS operating_cash_flow,
       max(value) FILTER (WHERE metric = 'total_equity') AS total_equity,
       max(value) FILTER (WHERE metric = 'eps_basic') AS eps_basic,
       max(value) FILTER (WHERE metric = 'bvps') AS bvps,
       max(value) FILTER (WHERE metric = 'roe') AS roe,
       max(value) FILTER (WHERE metric = 'gross_margin') AS gross_margin,
       max(value) FILTER (WHERE metric = 'net_margin') AS net_margin,
       max(value) FILTER (WHERE metric = 'debt_to_assets') AS debt_to_assets
FROM financial_indicators i JOIN report_announcements a USING (symbol, report_date)
GROUP BY ALL;
COMMENT ON VIEW key_financials IS 'Key metrics per symbol and report date with English names (CNY; eps and bvps in CNY per share; roe, margins and debt_to_assets in percent; flows year-to-date), and when each report became public.';
