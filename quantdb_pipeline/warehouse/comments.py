"""The English comment of every table and view, and of every column of each, in the warehouse:
meaning, unit, currency, and for a date whose clock it follows. BI tools show them as table and
column descriptions; `SELECT column_name, comment FROM duckdb_columns() WHERE table_name =
'daily_bars'` lists a table's, `SELECT table_name, comment FROM duckdb_tables()` the tables'.

Why a module applied after the migrations rather than a migration of its own: DuckDB drops a
view's column comments whenever the view is re-created (`CREATE OR REPLACE VIEW`, which later
migrations do to change a view), and a column added by `ALTER TABLE` starts without one. A
migration runs once, so any later migration could silently undo it; `apply` runs after every
`schema.migrate` and re-writes only the comments that differ from these, so the comments always
match the schema the code ships. This module is the one home of table and column comments from
here on; the `COMMENT ON` lines in earlier migrations are history and are overwritten by these.

Conventions in the texts: money in CNY (yuan) unless the column says HKD; volumes in shares
(never lots of 100); "percent" means 1.5 = 1.5%; a DATE is a calendar day of the exchange's own
clock (Asia/Shanghai for the CN markets, Asia/Hong_Kong for HKEX; both UTC+8, no DST) unless
it says otherwise; a TIMESTAMPTZ is an instant, written in UTC by the pipeline. Upstream
(Chinese) column names appear only as "upstream: 收盘".
"""

from __future__ import annotations

import duckdb

_A_SYMBOL = "Six-digit A-share code without exchange prefix, e.g. 600000 (SH), 000001 (SZ), 920001 (BJ)."
_HK_SYMBOL = "Five-digit HKEX stock code, e.g. 00700."
_SOURCE = ("Where the row came from: akshare (the live upstream sites) or sample (the offline simulated "
           "market); a suffix names a secondary endpoint, e.g. akshare/spot for the whole-market quote list.")
_RUN_ID = "ID of the Dagster run (CLI runs are Dagster runs too) that wrote the row."
_INGESTED_AT = "When the row was written: an instant (TIMESTAMPTZ), written in UTC."
_LINEAGE = {"source": _SOURCE, "run_id": _RUN_ID, "ingested_at": _INGESTED_AT}
_CN_DAY = "exchange day (Asia/Shanghai)"
_HK_DAY = "exchange day (Asia/Hong_Kong)"
_REPORT_DATE = ("Report period: the quarter end the report covers (03-31 Q1, 06-30 half year, 09-30 Q3, "
                "12-31 annual), a calendar date, not a trading day.")
_YTD = "year-to-date (cumulative from January 1 to report_date)"

_BAR_PRICES = {
    "open": "Opening price, unadjusted, CNY (upstream: 开盘).",
    "high": "Highest price of the session, unadjusted, CNY (upstream: 最高).",
    "low": "Lowest price of the session, unadjusted, CNY (upstream: 最低).",
    "close": "Closing price, unadjusted, CNY (upstream: 收盘).",
    "volume": "Shares traded (upstream: 成交量, in lots of 100 shares; converted to shares on load).",
    "amount": "Turnover value, CNY (upstream: 成交额).",
    "pct_change": "Change of close against the previous close, percent (5.0 = +5%; upstream: 涨跌幅).",
    "turnover_rate": "Volume over free-float shares, percent (upstream: 换手率); NULL on rows from the quote list.",
}
_HK_PRICES = {
    "open": "Opening price, unadjusted, in the trading currency (HKD for the main board; upstream: 开盘).",
    "high": "Highest price of the session, unadjusted, in the trading currency (HKD; upstream: 最高).",
    "low": "Lowest price of the session, unadjusted, in the trading currency (HKD; upstream: 最低).",
    "close": "Closing price, unadjusted, in the trading currency (HKD; upstream: 收盘).",
}
_ADJUSTED = ("{kind} {what} price, CNY: {formula}; computed on read from adjustment_factors.")

#: table or view -> column -> comment.
COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "trading_calendar": {
        "market": "Calendar market: CN (SSE, SZSE and BSE share one calendar) or HK (HKEX).",
        "trade_date": f"A day the market's calendar lists as a trading day, {_CN_DAY} for CN, {_HK_DAY} for HK. "
                      "Days found closed are in market_closures; read trading_sessions for the days that traded.",
        **_LINEAGE,
    },
    "securities": {
        "symbol": _A_SYMBOL,
        "exchange": "Listing exchange: SH (Shanghai), SZ (Shenzhen), BJ (Beijing Stock Exchange, BSE).",
        "board": "Board and its daily price limit: main (±10%), chinext (±20%), star (±20%), bse (±30%); "
                 "ST names on the main board have a narrower limit (see README).",
        "name": "Short name as the exchange lists it today, ST prefix included; dated names are in "
                "security_names and security_profiles.",
        "is_st": "True when today's name carries a special-treatment prefix (ST, *ST, S*ST, SST).",
        "list_date": f"Listing date, {_CN_DAY}.",
        "delist_date": f"Delisting date, {_CN_DAY}; the last bar is on the trading day before. NULL while listed.",
        **_LINEAGE,
        "status": "listed: shown by its exchange's latest list (listing or delisting list), fetched; dropped: no "
                  "longer shown and no successor found, kept and readable but not fetched; switched: the old code "
                  "of a symbol_changes row, kept and readable but not fetched. Only listed codes are fetched.",
        "last_listed": f"Source day ({_CN_DAY}) of the last securities load whose exchange lists showed the code; "
                       "NULL for rows loaded before this column existed.",
    },
    "daily_bars": {
        "symbol": _A_SYMBOL,
        "trade_date": f"Trading day of the bar, {_CN_DAY}.",
        **_BAR_PRICES,
        **_LINEAGE,
        "prev_close": "The previous session's unadjusted close, CNY: close minus the change (upstream: 涨跌额, "
                      "close-to-close also on ex-dates) on rows from the history endpoint, the stored previous "
                      "close on rows from the quote list.",
        "reference_price": "The exchange's reference previous close, CNY, where upstream gives one: the quote "
                           "list's previous close (upstream: 昨收), which on an ex-date is the ex-rights price. NULL "
                           "on rows from the history endpoint, whose change is close-to-close.",
    },
    "bar_coverage": {
        "symbol": _A_SYMBOL,
        "covered_from": f"First trading day ({_CN_DAY}) of a range fetched successfully: a day inside a covered "
                        "range without a bar is a day the symbol did not trade (e.g. suspended).",
        "covered_to": f"Last trading day ({_CN_DAY}) of the covered range, inclusive.",
        "run_id": "ID of the Dagster run that last extended the range.",
        "updated_at": "When the range was last written: an instant (TIMESTAMPTZ), written in UTC.",
    },
    "ingest_state": {
        "dataset": "The dataset (asset and table name, e.g. daily_bars, security_profiles) the attempt was for.",
        "symbol": "The code asked for (six-digit A-share, five-digit HK or index code).",
        "status": "Outcome of the last attempt: ok (rows received), empty (upstream answered with no rows), "
                  "failed (see error; retried on the next run).",
        "last_attempt_at": "When the last attempt ended: an instant (TIMESTAMPTZ), written in UTC.",
        "last_success_at": "When the last ok or empty attempt ended: an instant (TIMESTAMPTZ), written in UTC; "
                           "NULL if none succeeded.",
        "error": "The last failure, one line (exception type and message); NULL after a success.",
        "run_id": "ID of the Dagster run of the last attempt.",
        "as_of": f"The source's \"today\" at the last attempt ({_CN_DAY}): the latest date upstream could know.",
    },
    "pipeline_settings": {
        "key": "Setting name, e.g. daily_bars.history_start, or the key recording the day a reference dataset "
               "was last refreshed from a source.",
        "value": "Setting value as text (dates ISO yyyy-mm-dd, exchange day Asia/Shanghai).",
    },
    "schema_migrations": {
        "version": "Migration number (the NNNN of migrations/NNNN_name.sql); the warehouse's schema version is the highest.",
        "name": "File name of the applied migration.",
        "applied_at": "When the migration was applied: an instant (TIMESTAMPTZ), written in UTC.",
    },
    "quarantine": {
        "table_name": "The table the row was meant for (daily_bars, hk_daily_bars, ...).",
        "row_key": "The row's key in that table, as text (e.g. symbol and trade_date).",
        "symbol": "Code of the offending row (A-share, HK or index code).",
        "trade_date": "Date of the offending row, exchange day of its market (Asia/Shanghai or Asia/Hong_Kong).",
        "rules": "Comma-separated names of the failed rules (see README, Data quality).",
        "row_values": "The offending row as JSON, as it arrived from the source (units as upstream sent them).",
        "source": _SOURCE,
        "run_id": "ID of the Dagster run that quarantined the row.",
        "quarantined_at": "When the row was quarantined: an instant (TIMESTAMPTZ), written in UTC.",
    },
    "adjustment_factors": {
        "symbol": _A_SYMBOL,
        "ex_date": f"First trading day ({_CN_DAY}) the factor applies to: an ex-dividend / ex-rights date, or "
                   "the first row of the history with factor 1.",
        "hfq_factor": "Cumulative backward (hfq) adjustment factor, dimensionless ratio: hfq price = unadjusted "
                      "x hfq_factor; qfq price = unadjusted x hfq_factor / the latest hfq_factor.",
        **_LINEAGE,
        "derived_from": "NULL for upstream's factors (sina). For a factor upstream has not published yet, how the "
                        "pipeline derived its step: quote_list_reference (prev close / the quote list's reference price) or "
                        "corporate_actions (the exchange's ex-rights formula, rounded to the fen). Replaced when "
                        "upstream's factor arrives.",
    },
    "adjustment_gaps": {
        "symbol": _A_SYMBOL,
        "ex_date": f"Known ex-date ({_CN_DAY}) that no factor covers.",
        "evidence": "Where the ex-date is known from: quote_list_reference (the quote list's reference price differs from "
                    "the previous close), corporate_actions (the distribution plan), or both joined by +.",
        "reason": "Why no factor covers it, one line, with the price step (ratio) the evidence implies.",
        "noticed_at": "When the gap was recorded: an instant (TIMESTAMPTZ), written in UTC.",
    },
    "hk_securities": {
        "symbol": _HK_SYMBOL,
        "name": "Short name as HKEX's main-board list shows it (upstream: 名称).",
        "currency": "Trading currency of the security's prices and amounts, ISO 4217 (HKD).",
        **_LINEAGE,
    },
    "hk_daily_bars": {
        "symbol": _HK_SYMBOL,
        "trade_date": f"Trading day of the bar on the HK calendar, {_HK_DAY}.",
        **_HK_PRICES,
        "volume": "Shares traded (eastmoney reports HK volume in shares; upstream: 成交量).",
        "amount": "Turnover value in the trading currency (HKD; upstream: 成交额).",
        "pct_change": "Change of close against the previous close, percent (upstream: 涨跌幅).",
        "turnover_rate": "Turnover rate, percent (upstream: 换手率).",
        "prev_close": "The previous session's unadjusted close in the trading currency (HKD): close minus the change (upstream: 涨跌额).",
        "currency": "Trading currency of prices and amount, ISO 4217, e.g. HKD.",
        **_LINEAGE,
    },
    "hk_adjustment_factors": {
        "symbol": _HK_SYMBOL,
        "ex_date": f"First day ({_HK_DAY}) the row applies to: an ex-dividend / ex-rights date, or sina's "
                   "1900-01-01 start row.",
        "hfq_factor": "Cumulative backward share factor (bonus issues, splits), dimensionless ratio.",
        "hfq_cash": "Cumulative cash added back by the backward adjustment, in the trading currency (HKD) per "
                    "hfq-adjusted share: hfq price = unadjusted x hfq_factor + hfq_cash.",
        "qfq_factor": "Forward factor, dimensionless ratio: the product of the price ratios of the later ex-dates "
                      "sina knew when fetched; qfq price = unadjusted x qfq_factor.",
        **_LINEAGE,
    },
    "hk_quote_list": {
        "symbol": _HK_SYMBOL,
        "as_of": f"The source's day when fetched ({_HK_DAY}, after the close): the session the list should show. "
                 "Verified by the day check before bars are taken from it (accepted).",
        "name": "Short name as the quote list shows it (upstream: 名称).",
        "open": "Opening price of the session, HKD (upstream: 今开); NULL when the symbol did not trade.",
        "high": "Highest price of the session, HKD (upstream: 最高); NULL when the symbol did not trade.",
        "low": "Lowest price of the session, HKD (upstream: 最低); NULL when the symbol did not trade.",
        "close": "After the close, the session's close, HKD (upstream: 最新价). NULL when the symbol did not trade.",
        "reference_price": "The reference previous close, HKD (upstream: 昨收). On an ex-date it may be the "
                           "ex-rights price rather than the last traded close; where it differs from the stored "
                           "close it signals an ex-date.",
        "volume": "Shares traded (eastmoney's HK volumes are in shares, as in stock_hk_hist; upstream: 成交量).",
        "amount": "Turnover value, HKD (upstream: 成交额).",
        "pct_change": "Change against reference_price, percent (upstream: 涨跌幅).",
        "accepted": "true once the bar loader's day check found the list shows as_of (its reference_price equals the stored "
                    "previous close for most symbols); a refused list's rows are deleted.",
        **_LINEAGE,
    },
    "indices": {
        "symbol": "Six-digit index code, e.g. 000300 (CSI 300); 399xxx are SZSE indices.",
        "exchange": "Publishing side of the index code: SH (Shanghai, incl. CSI indices) or SZ (Shenzhen).",
        "name": "English name of the index, e.g. CSI 300.",
    },
    "index_daily_bars": {
        "symbol": "Six-digit index code, e.g. 000300 (CSI 300); 399xxx are SZSE indices.",
        "trade_date": f"Trading day on the CN calendar, {_CN_DAY}.",
        "open": "Opening level, index points.",
        "high": "Highest level of the session, index points.",
        "low": "Lowest level of the session, index points.",
        "close": "Closing level, index points (upstream: 收盘).",
        "volume": "Shares traded in the constituents (eastmoney reports lots of 100; converted to shares on load).",
        "amount": "Turnover value of the constituents, CNY (upstream: 成交额).",
        **_LINEAGE,
    },
    "security_profiles": {
        "symbol": _A_SYMBOL,
        "valid_from": f"The day ({_CN_DAY}) the pipeline first saw this version (upstream does not date profile "
                      "changes).",
        "valid_to": f"The day ({_CN_DAY}) the next version was first seen (exclusive); NULL for the current version.",
        "name": "Short name in this version, ST prefix included.",
        "is_st": "True when this version's name carries a special-treatment prefix (ST, *ST, S*ST, SST).",
        "industry": "eastmoney industry board name as upstream sends it, in Chinese (upstream: 行业).",
        "total_shares": "Total shares outstanding, shares (not lots, not 10k shares).",
        "float_shares": "Free-float (tradable A) shares, shares.",
        "list_date": f"Listing date, {_CN_DAY}.",
        "total_market_cap": "Total market value, CNY, as observed on observed_on; market values are refreshed in "
                            "place, not versioned.",
        "float_market_cap": "Free-float market value, CNY, as observed on observed_on; refreshed in place, not "
                            "versioned.",
        "observed_on": f"The source's today ({_CN_DAY}) when this version was last confirmed.",
        **_LINEAGE,
        "shares_source": "How total_shares/float_shares were obtained: exchange_list (SZSE/BSE list, counted by the "
                         "exchange); market_value/price (derived from the quote list: total and free-float market value / "
                         "price, a fallback, e.g. for SSE symbols whose list carries no shares); individual_info "
                         "(stock_individual_info_em); NULL for rows written before this column existed.",
    },
    "financial_indicators": {
        "symbol": _A_SYMBOL,
        "report_date": _REPORT_DATE,
        "section": "Section of the indicator, in Chinese: sina's section (upstream: 选项) or the eastmoney "
                   "whole-market table it came from: results summary, balance sheet, income statement or cash "
                   "flow statement (upstream: 业绩报表, 资产负债表, 利润表, 现金流量表).",
        "indicator": "The upstream label, kept as sent, also when the pipeline has no English name for it.",
        "metric": "English metric name (see key_financials), NULL for a label the pipeline does not map.",
        "value": f"The indicator's value in upstream's unit: money CNY (flows {_YTD}), per-share figures CNY "
                 "per share, ratios (roe, margins, debt_to_assets, growth) percent.",
        **_LINEAGE,
        "notice_date": f"The day ({_CN_DAY}) the report was announced, where the source says (eastmoney's "
                       "whole-market tables; upstream: 公告日期 or 最新公告日期); NULL for sina's indicators.",
    },
    "financial_statements": {
        "symbol": _A_SYMBOL,
        "statement": "balance (balance sheet, at report_date), income (income statement) or cash_flow "
                     "(cash flow statement).",
        "report_date": _REPORT_DATE,
        "item": "eastmoney's item name, e.g. TOTAL_ASSETS, PARENT_NETPROFIT, NETCASH_OPERATE.",
        "value": f"Amount in currency (CNY): balance items at report_date, income and cash-flow items {_YTD}; "
                 "per-share items (BASIC_EPS) CNY per share.",
        "notice_date": f"The day ({_CN_DAY}) the report was announced (NOTICE_DATE); point-in-time reads use it.",
        "currency": "Reporting currency, ISO 4217 (CNY), as upstream states it (CURRENCY) or CNY for the "
                    "whole-market tables.",
        **_LINEAGE,
    },
    "financial_report_periods": {
        "report_date": _REPORT_DATE,
        "status": "ok (rows written), empty (upstream had no report for the period yet), failed (a table did not "
                  "load: fetched again next run).",
        "fetched_on": f"The source's today (a trading day, {_CN_DAY}) of the last fetch: a second run on the same "
                      "day fetches nothing.",
        "companies": "Companies written for the period (all tables) on the last fetch, count.",
        "requests": "Upstream requests the last fetch cost (the four or five tables, pages included), count.",
        "error": "Why the last fetch failed, one line; NULL when it did not.",
        "run_id": "ID of the Dagster run of the last fetch.",
        "updated_at": "When the row was last written: an instant (TIMESTAMPTZ), written in UTC.",
    },
    "corporate_actions": {
        "symbol": _A_SYMBOL,
        "report_period": "The report (quarter end, calendar date) the distribution is paid from.",
        "plan_announced_on": f"Date ({_CN_DAY}) the plan was first announced (upstream: 预案公告日).",
        "record_date": f"Record date, {_CN_DAY} (upstream: 股权登记日).",
        "ex_date": f"Ex-dividend / ex-rights date, {_CN_DAY} (upstream: 除权除息日); NULL while the plan is not "
                   "implemented.",
        "pay_date": f"Payment date, {_CN_DAY}, where the source gives one (stock_fhps_em does not: NULL).",
        "cash_per_share": "Cash dividend per share, pre-tax, CNY (upstream quotes it per 10 shares).",
        "bonus_shares_per_share": "Bonus shares per share held, ratio (upstream: 送转股份-送转比例, per 10 shares).",
        "transfer_shares_per_share": "Shares transferred from capital reserve per share held, ratio (upstream: 送转股份-转股比例, per 10 shares).",
        "rights_shares_per_share": "Rights-issue shares per share held, ratio, where present (not in "
                                   "stock_fhps_em).",
        "rights_price": "Rights-issue subscription price, CNY per share, where present.",
        "plan_progress": "Upstream's plan progress as sent, in Chinese: implemented, approved by shareholders or "
                         "board proposal (upstream: 方案进度, e.g. 实施分配, 股东大会决议通过, 董事会预案).",
        "announced_on": f"Date ({_CN_DAY}) of the latest announcement about the plan (upstream: 最新公告日期).",
        **_LINEAGE,
    },
    "dataset_status": {
        "dataset": "Asset name, equal to the table it writes (daily_bars, hk_daily_bars, financial_statements, ...).",
        "status": "ok: the last load completed; failed: it stopped (see reason), the dataset is stale.",
        "reason": "Why the last load failed, one line (circuit breaker, upstream error, gate refusal); NULL when ok.",
        "run_id": "ID of the Dagster run of the last attempt.",
        "attempted_at": "When the last attempt ended: an instant (TIMESTAMPTZ), written in UTC.",
        "last_good_at": "When the last completed load ended: an instant (TIMESTAMPTZ), written in UTC; on a first "
                        "failure, the table's newest ingested_at; NULL if nothing was ever loaded.",
        "last_good_run_id": "ID of the Dagster run of the last completed load (on a first failure, the run of the "
                            "table's newest row).",
    },
    "symbol_changes": {
        "old_symbol": "Six-digit code traded before the change; securities.status = switched.",
        "new_symbol": "Six-digit code traded from change_date on.",
        "change_date": f"First trading day ({_CN_DAY}) under the new code, as far as the pipeline can tell: the "
                       "first trading day after the last source day whose list showed the old code (NULL when the "
                       "old code was never seen listed by this warehouse).",
        "matched_by": "exchange_list: the exchange list named the previous code (upstream: 原代码); "
                      "name_and_list_date: a code that dropped out and a new code with the identical name and "
                      "listing date.",
        "name": "Security name both codes carried when matched.",
        "list_date": f"Listing date both codes carry ({_CN_DAY}; the company's original listing, kept by the new code).",
        **_LINEAGE,
    },
    "market_closures": {
        "market": "Calendar market, as in trading_calendar: CN (SSE, SZSE, BSE) or HK.",
        "day": "The closed day, exchange day of the market (Asia/Shanghai for CN, Asia/Hong_Kong for HK).",
        "detected_at": "When the run that recorded the closure found it: an instant (TIMESTAMPTZ), written in UTC.",
        "evidence": "Why it is believed closed, e.g. \"412 of 412 symbols asked for 2023-09-01 answered empty; "
                    "probe 00700 answered 2023-08-31, nothing for 2023-09-01\".",
        "run_id": "ID of the Dagster run that recorded it.",
    },
    "quote_list_snapshot": {
        "symbol": _A_SYMBOL,
        "name": "Security name as the list shows it, ST prefix included (upstream: 名称).",
        "price": "CNY per share: the latest price (after the close, the close; upstream: 最新价), else the previous "
                 "close for a symbol without a trade (upstream: 昨收).",
        "total_market_cap": "Total market value, CNY (upstream: 总市值).",
        "float_market_cap": "Free-float market value, CNY (upstream: 流通市值).",
        "observed_on": f"The source day the list was taken for, {_CN_DAY}.",
        **_LINEAGE,
    },
    "exchange_shares": {
        "symbol": _A_SYMBOL,
        "total_shares": "Total shares outstanding, shares (not lots, not 10k shares; upstream: A股总股本 or 总股本).",
        "float_shares": "Free-float shares, shares (upstream: A股流通股本 or 流通股本); NULL where the list has none.",
        "observed_on": f"The source day of the exchange list, {_CN_DAY}.",
        **_LINEAGE,
    },
    "industry_assignments": {
        "symbol": _A_SYMBOL,
        "industry": "eastmoney industry board name as upstream sends it, in Chinese (upstream: 板块名称, e.g. 银行).",
        "board_code": "eastmoney board code, e.g. BK0475.",
        "observed_on": f"The source day of the weekly refresh that found the assignment, {_CN_DAY}.",
        **_LINEAGE,
    },
    "security_names": {
        "symbol": _A_SYMBOL,
        "valid_from": f"First day of the name ({_CN_DAY}): the change date, or the listing date for the name "
                      "before the first recorded change.",
        "valid_to": f"The next recorded change date ({_CN_DAY}, exclusive); NULL after the last one.",
        "name": "Short name valid from valid_from to valid_to, ST prefix included.",
        "is_st": "The name marks special treatment (ST, *ST, S*ST, SST prefix).",
        **_LINEAGE,
    },
    "former_names": {
        "symbol": _A_SYMBOL,
        "position": "1 = the oldest name sina lists; the last is normally the current name. No dates.",
        "name": "A name the symbol carried (upstream: name), undated.",
        "is_st": "The name marks special treatment (ST, *ST, S*ST, SST prefix).",
        **_LINEAGE,
    },
    # -- views -------------------------------------------------------------------------------
    "trading_sessions": {
        "market": "Calendar market: CN (SSE, SZSE and BSE) or HK (HKEX).",
        "trade_date": "A day the market traded (its calendar day less recorded closures), exchange day "
                      "(Asia/Shanghai for CN, Asia/Hong_Kong for HK).",
    },
    "bars_adjusted": {
        "symbol": _A_SYMBOL,
        "trade_date": f"Trading day of the bar, {_CN_DAY}.",
        **_BAR_PRICES,
        "hfq_factor": "Cumulative backward adjustment factor in force on trade_date (1.0 before the first ex-date "
                      "or without factors), dimensionless ratio.",
        **{f"{field}_hfq": _ADJUSTED.format(kind="Backward-adjusted (hfq)", what=label,
                                            formula=f"{field} x hfq_factor")
           for field, label in (("open", "opening"), ("high", "highest"), ("low", "lowest"), ("close", "closing"))},
        **{f"{field}_qfq": _ADJUSTED.format(kind="Forward-adjusted (qfq)", what=label,
                                            formula=f"{field} x hfq_factor / the symbol's latest hfq_factor in the "
                                                    "warehouse (equals the unadjusted price after the last ex-date)")
           for field, label in (("open", "opening"), ("high", "highest"), ("low", "lowest"), ("close", "closing"))},
    },
    "latest_profiles": {
        "symbol": _A_SYMBOL,
        "exchange": "Listing exchange: SH (Shanghai), SZ (Shenzhen), BJ (Beijing Stock Exchange, BSE).",
        "board": "Board: main (±10%), chinext (±20%), star (±20%), bse (±30%) daily price limit.",
        "name": "Current short name (the current profile's, else the exchange list's), ST prefix included.",
        "is_st": "True when the current name carries a special-treatment prefix (ST, *ST, S*ST, SST).",
        "industry": "eastmoney industry board name of the current profile, as upstream sends it (Chinese); NULL "
                    "without a profile.",
        "total_shares": "Total shares outstanding, shares; NULL without a profile.",
        "float_shares": "Free-float shares, shares; NULL without a profile.",
        "total_market_cap": "Total market value, CNY, as of observed_on; NULL without a profile.",
        "float_market_cap": "Free-float market value, CNY, as of observed_on; NULL without a profile.",
        "observed_on": f"The source day ({_CN_DAY}) the current profile was last confirmed; NULL without a profile.",
        "list_date": f"Listing date, {_CN_DAY}.",
        "delist_date": f"Delisting date, {_CN_DAY}; NULL while listed.",
    },
    "report_announcements": {
        "symbol": _A_SYMBOL,
        "report_date": _REPORT_DATE,
        "available_from": f"The day ({_CN_DAY}) the report became public: the earliest announcement date any "
                          "source gives, else the statutory deadline (Q1 04-30, H1 08-31, Q3 10-31, annual 04-30 "
                          "of the next year).",
        "available_from_estimated": "True when available_from is the statutory deadline, not a known "
                                    "announcement date.",
    },
    "key_financials": {
        "symbol": _A_SYMBOL,
        "report_date": _REPORT_DATE,
        "available_from": f"The day ({_CN_DAY}) the report became public (see report_announcements); "
                          "point-in-time reads keep rows with available_from <= the as-of day.",
        "available_from_estimated": "True when available_from is the statutory deadline, not a known "
                                    "announcement date.",
        "revenue": f"Total operating revenue, CNY, {_YTD} (upstream: 营业总收入).",
        "net_profit": f"Net profit including minority interests, CNY, {_YTD} (upstream: 净利润).",
        "parent_net_profit": f"Net profit attributable to the parent's shareholders, CNY, {_YTD} "
                             "(upstream: 归母净利润).",
        "deducted_net_profit": f"Parent net profit excluding non-recurring items, CNY, {_YTD} (upstream: 扣非净利润).",
        "operating_cash_flow": f"Net cash flow from operating activities, CNY, {_YTD}.",
        "total_equity": "Total shareholders' equity (net assets) at report_date, CNY.",
        "eps_basic": f"Basic earnings per share, CNY per share, {_YTD}.",
        "bvps": "Book value (parent equity) per share at report_date, CNY per share.",
        "roe": f"Return on equity, percent, {_YTD} and not annualised (a Q1 value covers one quarter): parent net "
               "profit over average parent equity (eastmoney's weighted ROE).",
        "gross_margin": f"Gross margin, percent: (revenue - operating cost) / revenue, {_YTD}; NULL for banks.",
        "net_margin": f"Net margin, percent: net profit / revenue, {_YTD}.",
        "debt_to_assets": "Total liabilities / total assets at report_date, percent.",
    },
}


#: The comment of every table and view (`COMMENT ON TABLE` / `COMMENT ON VIEW`), applied by `apply` like
#: the column comments: a re-created view loses its comment too. BI tools show it as the table's description.
TABLE_COMMENTS = {
    "adjustment_factors": ('Cumulative backward (hfq) adjustment factor of each symbol from ex_date on, until its next '
        'ex_date. hfq price = unadjusted x hfq_factor; qfq price = unadjusted x hfq_factor / the latest '
        'hfq_factor (or the one in force on an as-of date).'),
    "adjustment_gaps": ("Ex-dates that are known (corporate_actions or the quote list's reference price) but that no "
        'factor covers, upstream or derived: qfq prices before them and hfq prices from them on are not '
        'adjusted for that event. Rewritten by every factor load.'),
    "bar_coverage": ("Which trading-day ranges of each A-share's bars have been fetched successfully (one row per "
        'contiguous range): coverage, not the presence of bars, decides what is fetched again, so a '
        'suspended day inside a range is no gap.'),
    "bars_adjusted": ('A-share daily bars with unadjusted prices (CNY), hfq_factor, backward-adjusted *_hfq and '
        'forward-adjusted *_qfq prices (relative to the latest factor in the warehouse), computed on read'
        ' from adjustment_factors; volume in shares, amount CNY.'),
    "corporate_actions": ('Distributions (cash dividends, bonus and transferred shares) per symbol and report period, from '
        "eastmoney's whole-market dividend table (stock_fhps_em); a period is replaced as a whole when it"
        ' is refetched.'),
    "daily_bars": 'Unadjusted daily bars. Adjusted prices are computed on read, never stored.',
    "dataset_status": ('One row per dataset (the asset and table name, e.g. hk_daily_bars): how its last load ended. '
        'status failed = its table still holds the rows of last_good_run_id (or older), nothing of the '
        'failed run that did not pass the gate.'),
    "exchange_shares": ("Share counts from the exchanges' own lists, written with each securities load: SZSE (A股总股本, "
        "A股流通股本) and BSE (总股本, 流通股本). SSE's list carries none."),
    "financial_indicators": ('Key financial indicators, long: one row per report date, section and upstream label. From '
        "eastmoney's whole-market tables (sections 业绩报表, 资产负债表, 现金流量表) or, for the watchlist, sina's "
        'stock_financial_abstract (its own sections); metric names the same number the same way whichever'
        ' source filled it.'),
    "financial_report_periods": ("One row per report period (quarter end) of eastmoney's whole-market report tables: the last "
        'fetch and its outcome.'),
    "financial_statements": ('Balance sheet, income statement and cash flow statement by report period, long: any company '
        "layout (general, bank, insurer, broker) fits. From eastmoney's whole-market tables "
        '(stock_zcfz_em, stock_lrb_em, stock_xjll_em: the main items) or, for the watchlist, its per-'
        'symbol statements (every item); an item has one name on both paths. Income and cash flow items '
        'are year-to-date, CNY.'),
    "former_names": ("sina's 证券简称更名历史 of a symbol (stock_info_change_name): every name it carried, oldest first, "
        "WITHOUT dates. It says that a symbol was once ST, not when: reads never use it for a day's name."),
    "hk_adjustment_factors": ("sina's HK adjustment of each symbol from ex_date on, until its next ex_date (stock_hk_daily hfq-"
        'factor and qfq-factor). hfq price = unadjusted x hfq_factor + hfq_cash; qfq price = unadjusted x'
        ' qfq_factor (1 from the latest ex-date on), or x qfq_factor / the qfq_factor in force on an as-'
        'of date. A symbol without rows has no corporate action: adjusted = unadjusted.'),
    "hk_daily_bars": 'Unadjusted HKEX daily bars on the HK trading calendar. No daily price limit applies.',
    "hk_quote_list": ('The HK main-board quote list as fetched after the close, per fetch day. A symbol listed without '
        'a trade (no price or no volume) has NULL prices: on an accepted day it is covered without a bar,'
        ' as the history endpoint has none for it.'),
    "hk_securities": 'HKEX main board securities as last listed upstream; names no longer listed are kept.',
    "index_daily_bars": 'Daily index levels on the SSE calendar. Indices have no turnover rate and need no adjustment.',
    "indices": 'The CN indices the pipeline loads: six-digit code, publishing side, English name.',
    "industry_assignments": ('eastmoney industry board of each symbol (stock_board_industry_name_em + '
        'stock_board_industry_cons_em per board), refreshed weekly as a whole; the same classification '
        'stock_individual_info_em calls 行业.'),
    "ingest_state": ('The outcome of the last fetch attempt per dataset and symbol (ok, empty or failed, with the '
        'error), so that failed symbols are retried on the next run.'),
    "key_financials": ('Key metrics per symbol and report date with English names (CNY; eps and bvps in CNY per share; '
        'roe, margins and debt_to_assets in percent; flows year-to-date), and when each report became '
        'public.'),
    "latest_profiles": ('Every A-share with its current profile: name, ST flag, industry, shares, market values (CNY, as '
        'of observed_on), listing and delisting dates.'),
    "market_closures": ('Days on which a market did not trade although trading_calendar (the library calendar) lists '
        'them, found from the answers of a run; not trading days for any reader (see trading_sessions).'),
    "pipeline_settings": ("The pipeline's own key/value settings and bookkeeping (e.g. the history start of daily_bars, the"
        ' day a reference dataset was last refreshed); not market data.'),
    "quarantine": 'Rows kept out by the quality gate: table, key, failed rules, offending values, run.',
    "quote_list_snapshot": ('The last whole-market quote list fetched (by the nightly bars step or, when it did not fetch '
        'one, by the profile step), one row per listed symbol: what the profile step reads instead of '
        'asking upstream again.'),
    "report_announcements": ('When each report became public: the earliest announcement date of its statements or indicators, '
        'or the statutory deadline when none is known (available_from_estimated).'),
    "schema_migrations": ('The schema migrations applied to this warehouse, one row each; the highest version is the schema'
        ' version.'),
    "securities": 'A-share universe as last reported by the exchanges, delisted names kept.',
    "security_names": ('Dated names from official name-change records (SZSE 简称变更): each change closes the name before it'
        ' and opens the one after it. Reads use them for days before the first observed profile version.'),
    "security_profiles": ("One row per version of a security's profile: a change of name, ST status, industry, share count "
        'or listing date starts a new version. The version valid on day D has valid_from <= D < '
        'coalesce(valid_to, infinity).'),
    "symbol_changes": ("A listed company that changed its trading code (e.g. the BSE's 43/83/87xxxx -> 920xxx switch of "
        "October 2025). read.daily_bars of either code returns the joined history: the old code's bars "
        "before change_date, the new code's from it on."),
    "trading_calendar": 'Trading days per market; CN = SSE, SZSE and BSE, which share one calendar.',
    "trading_sessions": ('The days each market traded: trading_calendar less market_closures. Read this, not '
        'trading_calendar, for trading days.'),
    "warehouse_sources": ('Market data sources whose data this warehouse holds, recorded on their first write; more than '
        'one row means a mixed warehouse.'),
}


def apply(conn: duckdb.DuckDBPyConnection) -> int:
    """Write every comment of `COLUMN_COMMENTS` and `TABLE_COMMENTS` that differs from the
    stored one; return how many were written (0 on an up-to-date warehouse: two catalog
    queries). Tables and columns that do not exist (in this version of the schema) are
    skipped; those without an entry are left as they are (the test of the published warehouse
    lists them)."""
    stored = {(table, column): comment for table, column, comment in conn.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal").fetchall()}
    relations = {name: (kind, comment) for name, kind, comment in conn.execute(
        "SELECT table_name, 'TABLE', comment FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal "
        "UNION ALL SELECT view_name, 'VIEW', comment FROM duckdb_views() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal").fetchall()}
    changes = [f'COMMENT ON COLUMN "{table}"."{column}" IS {_literal(text)}'
               for table, columns in COLUMN_COMMENTS.items() for column, text in columns.items()
               if (table, column) in stored and stored[(table, column)] != text]
    changes += [f'COMMENT ON {relations[name][0]} "{name}" IS {_literal(text)}'
                for name, text in TABLE_COMMENTS.items() if name in relations and relations[name][1] != text]
    if not changes:
        return 0
    conn.execute("BEGIN TRANSACTION")
    try:
        for statement in changes:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(changes)


def _literal(text: str) -> str:
    """`text` as a SQL string literal (COMMENT ON takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"
