-- Financial reports from eastmoney's whole-market tables (one report period a call): their
-- indicator rows carry an announcement date, and report_announcements takes it into account.

ALTER TABLE financial_indicators ADD COLUMN notice_date DATE;
COMMENT ON COLUMN financial_indicators.notice_date IS 'The day the report was announced, where the source says (eastmoney''s whole-market tables: 公告日期, the results summary''s 最新公告日期); NULL for sina''s indicators.';
COMMENT ON TABLE financial_indicators IS 'Key financial indicators, long: one row per report date, section and upstream label. From eastmoney''s whole-market tables (sections 业绩报表, 资产负债表, 现金流量表) or, for the watchlist, sina''s stock_financial_abstract (its own sections); metric names the same number the same way whichever source filled it.';
COMMENT ON TABLE financial_statements IS 'Balance sheet, income statement and cash flow statement by report period, long: any company layout (general, bank, insurer, broker) fits. From eastmoney''s whole-market tables (stock_zcfz_em, stock_lrb_em, stock_xjll_em: the main items) or, for the watchlist, its per-symbol statements (every item); an item has one name on both paths. Income and cash flow items are year-to-date, CNY.';

-- When each report became public: the earliest announcement date any source gives, else the
-- statutory deadline (Q1 04-30, H1 08-31, Q3 10-31, annual 04-30 of the next year), flagged.
CREATE OR REPLACE VIEW report_announcements AS
WITH reports AS (
    SELECT symbol, report_date FROM financial_statements
    UNION SELECT symbol, report_date FROM financial_indicators),
notices AS (
    SELECT symbol, report_date, min(notice_date) AS notice_date FROM (
        SELECT symbol, report_date, notice_date FROM financial_statements WHERE notice_date IS NOT NULL
        UNION ALL
        SELECT symbol, report_date, notice_date FROM financial_indicators WHERE notice_date IS NOT NULL)
    GROUP BY symbol, report_date)
SELECT r.symbol, r.report_date,
       coalesce(n.notice_date, CASE month(r.report_date)
           WHEN 3 THEN make_date(year(r.report_date), 4, 30)
           WHEN 6 THEN make_date(year(r.report_date), 8, 31)
           WHEN 9 THEN make_date(year(r.report_date), 10, 31)
           ELSE make_date(year(r.report_date) + 1, 4, 30) END) AS available_from,
       n.notice_date IS NULL AS available_from_estimated
FROM reports r LEFT JOIN notices n USING (symbol, report_date);
COMMENT ON VIEW report_announcements IS 'When each report became public: the earliest announcement date of its statements or indicators, or the statutory deadline when none is known (available_from_estimated).';

-- Which report periods the whole-market tables were fetched for, and when: a period is
-- refetched while its disclosure window is open (once a source day), after a failure, and
-- once after its window closed if the last fetch was before that.
CREATE TABLE financial_report_periods (
    report_date   DATE NOT NULL PRIMARY KEY,
    status        VARCHAR NOT NULL CHECK (status IN ('ok', 'empty', 'failed')),
    fetched_on    DATE NOT NULL,
    companies     INTEGER,
    requests      INTEGER,
    error         VARCHAR,
    run_id        VARCHAR NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE financial_report_periods IS 'One row per report period (quarter end) of eastmoney''s whole-market report tables: the last fetch and its outcome.';
COMMENT ON COLUMN financial_report_periods.fetched_on IS 'The source''s today (a trading day) of the last fetch: a second run on the same day fetches nothing.';
COMMENT ON COLUMN financial_report_periods.status IS 'ok (rows written), empty (upstream had no report for the period yet), failed (a table did not load: fetched again next run).';
COMMENT ON COLUMN financial_report_periods.companies IS 'Companies written for the period (all tables) on the last fetch.';
COMMENT ON COLUMN financial_report_periods.requests IS 'Upstream requests the last fetch cost (the four or five tables, pages included).';
