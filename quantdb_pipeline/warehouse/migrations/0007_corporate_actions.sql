-- Corporate actions, and the signals that say which ex-dates the adjustment factors must have.

CREATE TABLE corporate_actions (
    symbol                    VARCHAR NOT NULL,
    report_period             DATE NOT NULL,
    plan_announced_on         DATE,
    record_date               DATE,
    ex_date                   DATE,
    pay_date                  DATE,
    cash_per_share            DOUBLE CHECK (cash_per_share >= 0),
    bonus_shares_per_share    DOUBLE CHECK (bonus_shares_per_share >= 0),
    transfer_shares_per_share DOUBLE CHECK (transfer_shares_per_share >= 0),
    rights_shares_per_share   DOUBLE CHECK (rights_shares_per_share >= 0),
    rights_price              DOUBLE CHECK (rights_price >= 0),
    plan_progress             VARCHAR,
    announced_on              DATE,
    source                    VARCHAR NOT NULL,
    run_id                    VARCHAR NOT NULL,
    ingested_at               TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE corporate_actions IS
    'Distributions (cash dividends, bonus and transferred shares) per symbol and report period, from eastmoney''s whole-market dividend table (stock_fhps_em); a period is replaced as a whole when it is refetched.';
COMMENT ON COLUMN corporate_actions.report_period IS 'The report (quarter end) the distribution is paid from.';
COMMENT ON COLUMN corporate_actions.ex_date IS 'Ex-dividend / ex-rights date (除权除息日); NULL while the plan is not implemented.';
COMMENT ON COLUMN corporate_actions.record_date IS 'Record date (股权登记日).';
COMMENT ON COLUMN corporate_actions.pay_date IS 'Payment date where the source gives one (stock_fhps_em does not: NULL).';
COMMENT ON COLUMN corporate_actions.cash_per_share IS 'Cash dividend per share, pre-tax, CNY (upstream quotes it per 10 shares).';
COMMENT ON COLUMN corporate_actions.bonus_shares_per_share IS 'Bonus shares (送股) per share held.';
COMMENT ON COLUMN corporate_actions.transfer_shares_per_share IS 'Shares transferred from capital reserve (转增) per share held.';
COMMENT ON COLUMN corporate_actions.rights_shares_per_share IS 'Rights-issue shares (配股) per share held, where present (not in stock_fhps_em).';
COMMENT ON COLUMN corporate_actions.rights_price IS 'Rights-issue subscription price, CNY, where present.';
COMMENT ON COLUMN corporate_actions.plan_progress IS 'Upstream''s plan progress (方案进度), e.g. 实施分配, 股东大会决议通过, 董事会预案.';
COMMENT ON COLUMN corporate_actions.plan_announced_on IS 'Date the plan was first announced (预案公告日).';
COMMENT ON COLUMN corporate_actions.announced_on IS 'Date of the latest announcement about the plan (最新公告日期).';

ALTER TABLE daily_bars ADD COLUMN reference_price DOUBLE;
COMMENT ON COLUMN daily_bars.reference_price IS
    'The exchange''s reference previous close (前收盘价), CNY, where upstream gives one: the quote list''s 昨收, which on an ex-date is the ex-rights price. NULL on rows from the history endpoint, whose 涨跌额 is close-to-close.';
COMMENT ON COLUMN daily_bars.prev_close IS
    'The previous session''s unadjusted close, CNY: close - 涨跌额 on rows from the history endpoint (eastmoney measures 涨跌额 close-to-close, also on ex-dates), the stored previous close on rows from the quote list.';

ALTER TABLE adjustment_factors ADD COLUMN derived_from VARCHAR;
COMMENT ON COLUMN adjustment_factors.derived_from IS
    'NULL for upstream''s factors (sina). For a factor upstream has not published yet, how the pipeline derived its step: quote_list_reference (prev close / the quote list''s 昨收) or corporate_actions (the exchange''s ex-rights formula, rounded to the fen). Replaced when upstream''s factor arrives.';

CREATE TABLE adjustment_gaps (
    symbol      VARCHAR NOT NULL,
    ex_date     DATE NOT NULL,
    evidence    VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    noticed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, ex_date)
);
COMMENT ON TABLE adjustment_gaps IS
    'Ex-dates that are known (corporate_actions or the quote list''s reference price) but that no factor covers, upstream or derived: qfq prices before them and hfq prices from them on are not adjusted for that event. Rewritten by every factor load.';
