"""A deterministic, offline simulated A-share market that answers in akshare's shape.

The same seed, size and "today" always give identical frames. Each symbol's price path is
generated over the whole calendar from a fixed origin and then cut at "today", so moving
"today" forward only appends days: the sample market can be replayed day by day to show
incremental runs.

What it contains, so that tests can catch real bugs:

- the real SSE trading calendar (the one akshare ships);
- SH main board, SZ main board, ChiNext, STAR and BSE symbols, with each board's daily
  price limit on each date as `market_rules` states it (±10%; ChiNext ±10% before the
  2020-08-24 reform, ±20% from it; ±20%; ±30%) and the ST limit for the ST name (main board
  ±5%, ±10% from 2026-07-06);
- listings inside the simulated range with the first days `market_rules` gives them: no limit
  for five days on a registration-based board, a +44%/-36% band around the issue price on an
  approval-based listing's first day; `IPO_SYMBOL` lists on `IPO_DATE`;
- `DELISTED_SYMBOL` delisted on `DELIST_DATE` (its last bar is the trading day before);
- `SUSPENDED_SYMBOL` suspended from `SUSPENSION[0]` to `SUSPENSION[1]` (no rows, like
  eastmoney);
- `ST_SYMBOL`, renamed "*ST ..." on `ST_DATE` (the ST limit from then on; a limit-up day on
  `ST_LIMIT_UP_DATE`, under the main board's 10% ST limit), listed in SZSE's name-change
  records (`sz_name_changes_raw`); `RENAMED_SYMBOL` (SSE) renamed on `RENAME_DATE`, known only
  from sina's undated former names (`former_names_raw`); and
  `INDUSTRY_CHANGE_SYMBOL`, whose industry changes on `INDUSTRY_CHANGE_DATE`; profiles in
  the shape of `stock_individual_info_em`, and eastmoney's industry boards with their
  constituents (`industry_boards_raw`, `industry_constituents_raw`, codes `INDUSTRY_BOARDS`);
- quarterly financial statements in eastmoney's shape (a bank's layout for `BANK_SYMBOL`)
  and sina's key indicators, each report visible from its announcement date on, per symbol
  and as eastmoney's whole-market tables of a report period (`report_table_raw`: results
  summary, balance sheet, the BSE's balance sheet, income, cash flow), cut from the same
  reports;
- corporate actions: most symbols pay a yearly cash dividend (ex-dates in June..August),
  some issue bonus shares, and `SPLIT_SYMBOL` splits 1:2 (10转10) on `SPLIT_DATE`;
  `DIVIDEND_SYMBOL` pays on `DIVIDEND_DATE`. On an ex-date the exchange's reference
  previous close is `(close - cash) / (1 + shares per share)`, rounded to the fen; the
  price limit is measured from it. As in eastmoney's unadjusted klines, the history's
  涨跌额/涨跌幅 stay close-to-close on ex-dates; only the quote list's 昨收 shows the
  reference price. `dividends_raw(period)` answers eastmoney's whole-market dividend table
  (`stock_fhps_em`) and `adjustment_factors_raw` sina's cumulative hfq factors;
- Hong Kong: `HK_SYMBOLS` on HKEX's own calendar (no price limit, volume in shares, HKD),
  with cash dividends (once or twice a year; `HK_FIXED_ACTIONS` for `HK_ACTION_SYMBOL`,
  including one bonus issue) and `HK_NO_ACTION_SYMBOL` paying none. On an HK ex-date the
  price path continues from (close - cash) / (1 + bonus shares per share) while 涨跌额 is
  measured against the previous unadjusted close, as eastmoney does; the bars never show
  the ex-date, the main-board quote list (`hk_listings_raw`, the day's OHLC after the close)
  shows it in 昨收, the ex-rights reference price. `hk_adjustment_factors_raw` answers
  sina's HK factors (affine hfq, qfq);
- indices: `INDEX_SYMBOLS`, the major CN indices, on the SSE calendar;
- the BSE code switch: the sample's BSE codes are the 920xxx codes traded from
  `BSE_SWITCH_DATE` on; before it each traded as `old_bse_code(code)` (83xxxx). As on the
  real market, the BSE list shows the code of the day, and from the switch eastmoney answers
  the old codes with no data and serves the whole history under the new ones.
  `universe()` shows each security's code on "today".

Modules: `universe` (the calendar, the securities and their special cases, each one's code,
name and industry on a day), `prices` (A-share bars), `corporate_actions` (A-share actions and
the dividend table), `quotes` (the A-share quote list), `hong_kong`, `indices`, `financials`
(reports and the whole-market report tables) and `market` (`SampleMarket`, the source). This
package re-exports the source and the named cases tests and demos rely on.
"""

from quantdb_pipeline.sources.sample.corporate_actions import (
    DIVIDEND_DATE,
    DIVIDEND_PERIOD,
    DIVIDEND_SYMBOL,
    SPLIT_DATE,
    SPLIT_SYMBOL,
)
from quantdb_pipeline.sources.sample.financials import FIRST_REPORT
from quantdb_pipeline.sources.sample.hong_kong import (
    HK_ACTION_SYMBOL,
    HK_BONUS_DATE,
    HK_NO_ACTION_SYMBOL,
    HK_SYMBOLS,
)
from quantdb_pipeline.sources.sample.indices import INDEX_SYMBOLS
from quantdb_pipeline.sources.sample.market import SampleMarket
from quantdb_pipeline.sources.sample.prices import ST_LIMIT_UP_DATE
from quantdb_pipeline.sources.sample.universe import (
    BANK_SYMBOL,
    BSE_SWITCH_DATE,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    DELIST_DATE,
    DELISTED_SYMBOL,
    FORMER_NAME,
    INDUSTRY_BOARDS,
    INDUSTRY_CHANGE_DATE,
    INDUSTRY_CHANGE_SYMBOL,
    IPO_DATE,
    IPO_SYMBOL,
    RENAME_DATE,
    RENAMED_SYMBOL,
    SIMULATION_ORIGIN,
    ST_DATE,
    ST_SYMBOL,
    SUSPENDED_SYMBOL,
    SUSPENSION,
    code_on,
    industry_on,
    name_changes,
    name_on,
    old_bse_code,
)

__all__ = [
    "BANK_SYMBOL",
    "BSE_SWITCH_DATE",
    "DEFAULT_SEED",
    "DEFAULT_SIZE",
    "DELISTED_SYMBOL",
    "DELIST_DATE",
    "DIVIDEND_DATE",
    "DIVIDEND_PERIOD",
    "DIVIDEND_SYMBOL",
    "FIRST_REPORT",
    "FORMER_NAME",
    "HK_ACTION_SYMBOL",
    "HK_BONUS_DATE",
    "HK_NO_ACTION_SYMBOL",
    "HK_SYMBOLS",
    "INDEX_SYMBOLS",
    "INDUSTRY_BOARDS",
    "INDUSTRY_CHANGE_DATE",
    "INDUSTRY_CHANGE_SYMBOL",
    "IPO_DATE",
    "IPO_SYMBOL",
    "RENAMED_SYMBOL",
    "RENAME_DATE",
    "SIMULATION_ORIGIN",
    "SPLIT_DATE",
    "SPLIT_SYMBOL",
    "ST_DATE",
    "ST_LIMIT_UP_DATE",
    "ST_SYMBOL",
    "SUSPENDED_SYMBOL",
    "SUSPENSION",
    "SampleMarket",
    "code_on",
    "industry_on",
    "name_changes",
    "name_on",
    "old_bse_code",
]
