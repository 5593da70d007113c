"""The seam between the pipeline and wherever market data comes from."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

import pandas as pd


@dataclass(frozen=True)
class ListingFrames:
    """The exchanges' own security lists, raw, as the akshare functions return them."""

    sh_main: pd.DataFrame  # stock_info_sh_name_code("主板A股")
    sh_star: pd.DataFrame  # stock_info_sh_name_code("科创板")
    sz: pd.DataFrame  # stock_info_sz_name_code("A股列表")
    bj: pd.DataFrame  # stock_info_bj_name_code()
    sh_delisted: pd.DataFrame  # stock_info_sh_delist("全部")
    sz_delisted: pd.DataFrame  # stock_info_sz_delist("终止上市公司")


@dataclass(frozen=True)
class HkFactorFrames:
    """sina's two factor scripts of one HK symbol, raw, as `stock_hk_daily` returns them.

    Both newest first, as sina sends them (its last row is a `1900-01-01` start row); values
    as sina's text or as numbers. A frame of one row or none means no corporate action: for
    such a frame akshare's own `stock_hk_daily(adjust="hfq"/"qfq")` returns unadjusted prices.
    """

    hfq: pd.DataFrame  # stock_hk_daily(adjust="hfq-factor"): date, hfq_factor, cash (hfq = price x hfq_factor + cash)
    qfq: pd.DataFrame  # stock_hk_daily(adjust="qfq-factor"): date, qfq_factor (qfq = price x qfq_factor)


class MarketSource(Protocol):
    """What the pipeline needs from a market data source.

    Every method returns raw frames in akshare's shape and counts its upstream requests
    in `requests` (endpoint -> count), which runs report as metadata.
    """

    name: str
    requests: Counter

    def today(self) -> dt.date:
        """The latest date whose daily bars are final (after that day's close)."""

    def now(self) -> dt.datetime:
        """The source's clock (timezone-aware): the wall clock, or a simulated one."""

    def trading_calendar_raw(self) -> pd.DataFrame:
        """SSE trading days, shaped like `tool_trade_date_hist_sina()`."""

    def listings_raw(self) -> ListingFrames:
        """Listed and delisted A-shares from the three exchanges."""

    def a_share_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Unadjusted daily bars of one symbol, shaped like `stock_zh_a_hist(adjust="")`."""

    def a_share_spot_raw(self) -> pd.DataFrame:
        """The whole A-share market's latest quotes, shaped like `stock_zh_a_spot_em()`.

        After the close these are the day's bars of every symbol, in pages of 100 rows: each
        page is one upstream request. The frame carries no date; which trading day it shows
        is for the caller to verify.
        """

    def hk_trading_calendar_raw(self) -> pd.DataFrame:
        """HKEX trading days (column `trade_date`)."""

    def hk_listings_raw(self) -> pd.DataFrame:
        """The HK main board, shaped like `stock_hk_main_board_spot_em()`."""

    def hk_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Unadjusted HK daily bars of a five-digit code, shaped like `stock_hk_hist(adjust="")`."""

    def hk_adjustment_factors_raw(self, symbol: str) -> HkFactorFrames:
        """sina's HK hfq factors (affine: price x hfq_factor + cash, HKD) and qfq factors
        (price x qfq_factor) of a five-digit code, from each date on until the next.

        One upstream request per kind (sina's `hfq.js`, `qfq.js`): two per symbol.
        """

    def index_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily bars of a six-digit CN index code, shaped like `stock_zh_index_daily_em()`."""

    def individual_info_raw(self, symbol: str) -> pd.DataFrame:
        """A profile as of today, shaped like `stock_individual_info_em(symbol)` (item, value)."""

    def industry_boards_raw(self) -> pd.DataFrame:
        """eastmoney's industry boards, shaped like `stock_board_industry_name_em()` (板块名称,
        板块代码, ...): one request per 100 boards."""

    def industry_constituents_raw(self, board_code: str) -> pd.DataFrame:
        """The symbols of one industry board (a BKxxxx code), shaped like
        `stock_board_industry_cons_em(symbol=board_code)` (代码, 名称, ...): one request per 100."""

    def sz_name_changes_raw(self) -> pd.DataFrame:
        """SZSE's whole-exchange short-name changes, shaped like `stock_info_sz_change_name("简称变更")`
        (变更日期, 证券代码, 证券简称, 变更前简称, 变更后简称): one request (an xlsx)."""

    def former_names_raw(self, symbol: str) -> pd.DataFrame:
        """sina's former names of one symbol, shaped like `stock_info_change_name(symbol)` (index,
        name; oldest first, undated); empty when sina lists none. One request."""

    def statement_raw(self, symbol: str, statement: str) -> pd.DataFrame:
        """eastmoney's "balance", "income" or "cash_flow" statement by report period, as
        `stock_balance_sheet_by_report_em` / `stock_profit_sheet_by_report_em` /
        `stock_cash_flow_sheet_by_report_em` return it."""

    def financial_abstract_raw(self, symbol: str) -> pd.DataFrame:
        """sina's key indicators, shaped like `stock_financial_abstract(symbol)`."""

    def report_table_raw(self, table: str, period: dt.date) -> pd.DataFrame:
        """One of eastmoney's whole-market report tables (`REPORT_TABLES`) for one report
        period (a quarter end), shaped like the akshare function (`stock_yjbb_em(date=
        "YYYYMMDD")` etc.): every company that has announced that period's report, one row
        each, with its announcement date. 500 rows a page (`data_center_requests`). An empty
        frame when upstream has nothing for the period."""

    def adjustment_factors_raw(self, symbol: str) -> pd.DataFrame:
        """Cumulative hfq factors of one symbol, shaped like `stock_zh_a_daily(adjust="hfq-factor")`.

        An empty frame means upstream knows no corporate action of the symbol.
        """

    def dividends_raw(self, period: dt.date) -> pd.DataFrame:
        """Every company's distribution plan for one report period (a quarter end), shaped like
        `stock_fhps_em(date="YYYYMMDD")`. An empty frame when upstream has none for it."""


#: eastmoney's quote list answers 100 rows a request (`pz=100`), akshare pages through them.
SPOT_PAGE_ROWS = 100


#: eastmoney's data-center tables answer 500 rows a request; akshare asks for page 1 twice.
DATA_CENTER_PAGE_ROWS = 500


def data_center_requests(rows: int) -> int:
    """Upstream requests akshare makes for a data-center table of `rows` rows (`stock_fhps_em`):
    one to learn the page count, then every page; one when the table is empty."""
    return 1 + -(-rows // DATA_CENTER_PAGE_ROWS)


#: The whole-market report tables (eastmoney data center, one report period a call): table ->
#: the akshare function. akshare 1.19.5's balance, income and cash-flow tables exclude the
#: Beijing exchange (`TRADE_MARKET_CODE!="069001017"`); it has a BSE balance sheet
#: (`stock_zcfz_bj_em`) but no BSE income or cash-flow table, so BSE companies get their
#: balance sheet from "balance_bse" and their revenue and profit from the results summary,
#: which is not filtered by exchange. Should upstream ever include BSE in the main tables,
#: the duplicate rows are dropped (first table wins), so either answer loads the same.
REPORT_TABLES = {
    "summary": "stock_yjbb_em",
    "balance": "stock_zcfz_em",
    "balance_bse": "stock_zcfz_bj_em",
    "income": "stock_lrb_em",
    "cash_flow": "stock_xjll_em",
}


def spot_pages(rows: int) -> int:
    """Upstream requests a quote list of `rows` rows costs."""
    return max(1, -(-rows // SPOT_PAGE_ROWS))


#: eastmoney's F10 statements (`stock_*_sheet_by_report_em`) answer 5 report periods a request.
STATEMENT_PAGE_REPORTS = 5


def statement_requests(reports: int, company_type_known: bool) -> int:
    """Upstream requests akshare makes for one per-symbol statement of `reports` periods: the
    company type (cached by akshare per symbol and process), the list of report dates, then
    5 periods a request."""
    return (0 if company_type_known else 1) + 1 + -(-reports // STATEMENT_PAGE_REPORTS)


#: bse.cn's list answers a page at a time (assumed 20 rows; the page size is not documented,
#: only the `totalPages` it reports); akshare asks for page 0 to learn the page count, then
#: for every page, page 0 again included.
BSE_LIST_PAGE_ROWS = 20


def bse_list_requests(rows: int) -> int:
    """Upstream requests `stock_info_bj_name_code` makes for a list of `rows` rows."""
    return 1 + -(-rows // BSE_LIST_PAGE_ROWS)


def bundled_sse_calendar() -> list[dt.date]:
    """The SSE trading calendar that akshare ships as `file_fold/calendar.json`.

    Located without importing akshare (its import takes seconds).
    """
    spec = find_spec("akshare")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("akshare is not installed; it ships the SSE trading calendar")
    path = Path(next(iter(spec.submodule_search_locations))) / "file_fold" / "calendar.json"
    days = json.loads(path.read_text(encoding="utf-8"))
    return [dt.date(int(d[:4]), int(d[4:6]), int(d[6:8])) for d in days]
