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
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quantdb_pipeline.market_rules import (
    board_limit_pct,
    ex_rights_reference,
    first_day_band_pct,
    st_limit_pct,
    unlimited_first_days,
)
from quantdb_pipeline.sources.base import (
    REPORT_TABLES,
    HkFactorFrames,
    ListingFrames,
    bse_list_requests,
    bundled_sse_calendar,
    data_center_requests,
    spot_pages,
    statement_requests,
)
from quantdb_pipeline.settings import MARKET_TIMEZONE
from quantdb_pipeline.sources.request_counting import note_source
from quantdb_pipeline.symbols import BSE_CODE_SWITCH_DATE, board_of, index_exchange

#: Board mix of the sample universe (share of symbols) and the first code of each board.
BOARD_MIX = (
    ("SH main", 0.28, 600000),
    ("SZ main", 0.25, 1),
    ("ChiNext", 0.20, 300001),
    ("STAR", 0.15, 688001),
    ("BSE", 0.12, 920001),
)
#: The board's launch date bounds the listing dates drawn for its symbols.
BOARD_OPENED = {
    "main": dt.date(2005, 1, 4),
    "chinext": dt.date(2009, 10, 30),
    "star": dt.date(2019, 7, 22),
    "bse": dt.date(2021, 11, 15),
}
LATEST_RANDOM_LISTING = dt.date(2023, 6, 30)

#: Prices are simulated from this date (or the listing date, if later). An A-share listed
#: before it also has bars from its listing date on (`_pre_origin_history`, built backwards
#: from its price at the origin, so the bars from the origin on do not depend on it); corporate
#: actions, factors, reports, HK and index bars start at the origin.
SIMULATION_ORIGIN = dt.date(2016, 1, 4)

ST_SYMBOL = "000002"
ST_DATE = dt.date(2023, 5, 4)
#: `ST_SYMBOL` closes at its limit up on this day: +10%, the main-board ST limit from 2026-07-06.
ST_LIMIT_UP_DATE = dt.date(2026, 7, 8)
INDUSTRY_CHANGE_SYMBOL, INDUSTRY_CHANGE_DATE = "600003", dt.date(2024, 1, 2)
INDUSTRIES = ("电子", "医药生物", "计算机", "汽车", "食品饮料", "机械设备", "基础化工", "电力设备")
#: An SSE symbol renamed on `RENAME_DATE`: `FORMER_NAME` before it. SSE publishes no name-change
#: list; sina's former-names page lists both names, undated.
RENAMED_SYMBOL, RENAME_DATE, FORMER_NAME = "600008", dt.date(2021, 3, 1), "Old SH main 009"
#: eastmoney industry board code of each sample industry (BK0475 is eastmoney's 银行 board).
INDUSTRY_BOARDS = {name: f"BK{1031 + i:04d}" for i, name in enumerate(INDUSTRIES)} | {"银行": "BK0475", "非银金融": "BK0473"}
BANK_SYMBOL = "000001"
#: First quarter end with financial statements in the sample.
FIRST_REPORT = dt.date(2016, 3, 31)
SUSPENDED_SYMBOL = "000004"
SUSPENSION = (dt.date(2024, 6, 3), dt.date(2024, 7, 12))
DELISTED_SYMBOL = "600001"
DELIST_DATE = dt.date(2025, 3, 17)
IPO_SYMBOL = "300001"
IPO_DATE = dt.date(2025, 9, 16)
#: Fixed corporate actions that tests rely on: (ex-date, cash per share, new shares per share).
DIVIDEND_SYMBOL = "600002"
DIVIDEND_DATE = dt.date(2026, 7, 15)
SPLIT_SYMBOL = "000003"
SPLIT_DATE = dt.date(2025, 6, 20)
FIXED_ACTIONS = {
    DIVIDEND_SYMBOL: ((DIVIDEND_DATE, 0.85, 0.3),),
    SPLIT_SYMBOL: ((SPLIT_DATE, 0.0, 1.0),),
}
#: The dividend of `DIVIDEND_SYMBOL` is paid from its Q1 report: eastmoney's dividend table lists
#: it under 0331 only (akshare#3656: ask every quarter end, not only 0630 and 1231). Every other
#: sample distribution is paid from the previous year's annual report.
DIVIDEND_PERIOD = dt.date(2026, 3, 31)
#: New shares are transferred from capital reserve (转增) for these, bonus shares (送股) otherwise.
TRANSFER_SYMBOLS = {SPLIT_SYMBOL}
#: Yearly odds of a cash dividend and of bonus shares for the other symbols.
DIVIDEND_ODDS, BONUS_ODDS = 0.6, 0.12
BONUS_RATIOS = (0.2, 0.3, 0.5, 1.0)

#: Hong Kong sample universe: code -> (name, first price in HKD).
HK_SYMBOLS = {
    "00700": ("Tencent (sample)", 380.0), "00005": ("HSBC (sample)", 60.0),
    "09988": ("Alibaba (sample)", 160.0), "00941": ("China Mobile (sample)", 70.0),
    "01299": ("AIA (sample)", 75.0), "03690": ("Meituan (sample)", 120.0),
    "02318": ("Ping An (sample)", 50.0), "00388": ("HKEX (sample)", 300.0),
}
HK_LISTED_FROM = {"09988": dt.date(2019, 11, 26), "03690": dt.date(2018, 9, 20)}
#: HK corporate actions that tests rely on: (ex-date, cash HKD per share, bonus shares per share).
HK_ACTION_SYMBOL = "00700"
HK_BONUS_DATE = dt.date(2023, 9, 15)
HK_FIXED_ACTIONS = {
    HK_ACTION_SYMBOL: tuple((dt.date(year, 5, day), cash, 0.0) for year, day, cash in (
        (2016, 20, 0.55), (2017, 19, 0.61), (2018, 18, 0.88), (2019, 17, 1.00), (2020, 15, 1.20),
        (2021, 21, 1.60), (2022, 20, 1.60), (2023, 19, 2.40), (2024, 17, 3.40), (2025, 16, 4.50),
        (2026, 15, 5.30))) + ((HK_BONUS_DATE, 0.0, 0.1),),
}
#: Pays no dividend: sina's factor scripts for it hold only their start row.
HK_NO_ACTION_SYMBOL = "03690"
#: Symbols paying an interim and a final dividend; the others pay once a year (June).
HK_TWICE_A_YEAR = ("00005", "00941", "01299", "02318", "00388")
#: Index sample: akshare symbol -> first level.
INDEX_SYMBOLS = {
    "sh000001": 3500.0, "sz399001": 12000.0, "sz399006": 2700.0, "sh000300": 3700.0,
    "sh000905": 7000.0, "sh000852": 7500.0, "sh000016": 2500.0, "sh000688": 1000.0,
}
INDEX_FIRST_DAY = {"sh000688": dt.date(2020, 1, 2)}  # the STAR 50 starts later

#: First trading day under the BSE's 920xxx codes; the sample's BSE symbols listed before it
#: traded as 83xxxx until then.
BSE_SWITCH_DATE = BSE_CODE_SWITCH_DATE

DEFAULT_SIZE = 64
DEFAULT_SEED = 20240101

_BAR_COLUMNS = ["日期", "股票代码", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"]


@lru_cache(maxsize=1)
def _calendar() -> tuple[dt.date, ...]:
    return tuple(bundled_sse_calendar())


def _first_trading_day_on_or_after(day: dt.date) -> dt.date:
    days = _calendar()
    return days[bisect_left(days, day)]


def old_bse_code(code: str) -> str:
    """The code a sample BSE symbol (920xxx) traded under before `BSE_SWITCH_DATE`: 83 + its last four digits."""
    return "83" + code[2:]


def code_on(record: dict, day: dt.date) -> str:
    """The code a sample security trades under on `day` (its own, but an old BSE code before the switch)."""
    if record["board"] == "bse" and record["list_date"] < BSE_SWITCH_DATE and day < BSE_SWITCH_DATE:
        return old_bse_code(record["code"])
    return record["code"]


class SampleMarket:
    """The offline market. Implements `MarketSource`."""

    name = "sample"

    def __init__(self, today: dt.date | str | None = None, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED):
        if size < 10:
            raise ValueError("the sample market needs at least 10 symbols to hold its special cases")
        calendar = _calendar()
        last_day = calendar[-1]
        if today is None or today == "":
            today = min(dt.date.today(), last_day)
        elif isinstance(today, str):
            today = dt.date.fromisoformat(today)
        if today > last_day:
            raise ValueError(
                f"sample market today {today} is after the end of the bundled SSE calendar ({last_day})"
            )
        self._today = today
        self.size = size
        self.seed = seed
        self.requests: Counter = Counter()
        self._company_types: set[str] = set()  # symbols whose company type akshare would have cached
        self._universe = _universe(size, seed)
        self._market_reports: pd.DataFrame | None = None  # built on the first whole-market table
        note_source(self)  # an asset step reports the requests of the sources it built

    # -- MarketSource -------------------------------------------------------------------

    def today(self) -> dt.date:
        return self._today

    def now(self) -> dt.datetime:
        """The end of the simulated day (Asia/Shanghai): every market of it has closed."""
        return dt.datetime.combine(self._today, dt.time(23, 59), ZoneInfo(MARKET_TIMEZONE))

    def trading_calendar_raw(self) -> pd.DataFrame:
        self.requests["tool_trade_date_hist_sina"] += 1
        return pd.DataFrame({"trade_date": list(_calendar())})

    def listings_raw(self) -> ListingFrames:
        for endpoint in ("stock_info_sh_name_code", "stock_info_sh_name_code", "stock_info_sz_name_code",
                         "stock_info_sh_delist", "stock_info_sz_delist"):
            self.requests[endpoint] += 1
        u = self.universe().assign(name=[name_on(r, self._today) for r in self._universe.to_dict("records")])
        listed = u[(u["list_date"] <= self._today) & ~(u["delist_date"] <= self._today)]
        delisted = u[u["delist_date"] <= self._today]
        self.requests["stock_info_bj_name_code"] += bse_list_requests(int((listed["exchange"] == "BJ").sum()))

        def sh(frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({
                "证券代码": frame["code"], "证券简称": frame["name"], "证券全称": frame["name"],
                "公司简称": frame["name"], "公司全称": frame["name"] + " Co., Ltd.",
                "上市日期": frame["list_date"],
            }).reset_index(drop=True)

        sz = listed[listed["exchange"] == "SZ"]
        bj = listed[listed["exchange"] == "BJ"]
        delisted_sh = delisted[delisted["exchange"] == "SH"]
        delisted_sz = delisted[delisted["exchange"] == "SZ"]
        return ListingFrames(
            sh_main=sh(listed[(listed["exchange"] == "SH") & (listed["board"] == "main")]),
            sh_star=sh(listed[listed["board"] == "star"]),
            sz=pd.DataFrame({
                "板块": np.where(sz["board"] == "chinext", "创业板", "主板"),
                "A股代码": sz["code"], "A股简称": sz["name"],
                "A股上市日期": sz["list_date"].map(dt.date.isoformat),
                "A股总股本": sz["total_shares"], "A股流通股本": sz["float_shares"], "所属行业": "C 制造业",
            }).reset_index(drop=True),
            bj=pd.DataFrame({
                "证券代码": bj["code"], "证券简称": bj["name"], "总股本": bj["total_shares"],
                "流通股本": bj["float_shares"], "上市日期": bj["list_date"], "所属行业": "制造业",
                "地区": "北京市", "报告日期": self._today,
            }).reset_index(drop=True),
            sh_delisted=delisted_sh[["code", "name", "list_date", "delist_date"]].set_axis(
                ["公司代码", "公司简称", "上市日期", "暂停上市日期"], axis=1).reset_index(drop=True),
            sz_delisted=delisted_sz[["code", "name", "list_date", "delist_date"]].set_axis(
                ["证券代码", "证券简称", "上市日期", "终止上市日期"], axis=1).reset_index(drop=True),
        )

    def a_share_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        self.requests["stock_zh_a_hist"] += 1
        record = self._record(symbol)
        if record is None:
            return pd.DataFrame()  # eastmoney answers an unknown code with no klines
        history = _history(self.seed, record)[0]
        if start < SIMULATION_ORIGIN and record["list_date"] < SIMULATION_ORIGIN:
            history = pd.concat([_pre_origin_history(self.seed, record), history], ignore_index=True)
        end = min(end, self._today)
        dates = history["日期"]
        lo, hi = bisect_left(dates.tolist(), start), bisect_right(dates.tolist(), end)
        if lo >= hi:
            return pd.DataFrame()
        bars = history.iloc[lo:hi].reset_index(drop=True)
        return bars if symbol == record["code"] else bars.assign(股票代码=symbol)

    def a_share_spot_raw(self) -> pd.DataFrame:
        """Every listed symbol's quote after the close, shaped like `stock_zh_a_spot_em()`.

        It shows the last session up to "today": on a day without trading the list still shows
        the previous session's quotes, as eastmoney's does, which is what the pipeline's check
        of the quotes' day must catch. A suspended symbol shows no trade (eastmoney's "-",
        which akshare reads as NaN) and its last close as 昨收.
        """
        calendar = _calendar()
        session = calendar[bisect_right(calendar, self._today) - 1]
        universe = self._universe
        listed = universe[(universe["list_date"] <= session)
                          & ~universe["delist_date"].map(lambda d: d is not None and d <= session)]
        last_rows, references = [], []
        for record in listed.to_dict("records"):
            history, _, events = _history(self.seed, record)
            position = bisect_right(history["日期"].tolist(), session) - 1
            last_rows.append(history.iloc[position] if position >= 0 else None)
            references.append(ex_date_reference(events, session))
        names = [name_on(record, session) for record in listed.to_dict("records")]
        listed = listed.assign(code=[code_on(record, session) for record in listed.to_dict("records")])
        quotes = spot_quotes(listed, names, last_rows, session, references)
        self.requests["stock_zh_a_spot_em"] += spot_pages(len(quotes))
        return quotes

    def adjustment_factors_raw(self, symbol: str) -> pd.DataFrame:
        """Cumulative hfq factors from each ex-date on, newest first, like sina's `hfq-factor`.

        The first row (factor 1.0) is the first simulated day; ex-dates after today are not
        announced yet and not answered.
        """
        self.requests["stock_zh_a_daily_hfq_factor"] += 1
        record = self._record(symbol)
        if record is None:
            raise ValueError("sina hfq factor not available")  # what akshare raises for no data
        factors = _history(self.seed, record)[1]
        factors = factors[factors["date"] <= pd.Timestamp(self._today)]
        return factors.iloc[::-1].reset_index(drop=True)

    def hk_listings_raw(self) -> pd.DataFrame:
        """The HK main board after the close, shaped like `stock_hk_main_board_spot_em()`, counted
        as the real list's pages (100 rows a request).

        It shows the last HK session up to "today" (on a day without trading, still the previous
        session's quotes, as eastmoney's does): each symbol's day from the same history
        `hk_daily_raw` answers, 成交量 in shares, and 昨收 the reference previous close: the
        last close, or on an ex-date the ex-rights price (last close - cash) / (1 + bonus shares),
        with 涨跌额/涨跌幅 measured from it. A symbol without a bar on the session shows "-"
        (NaN) prices and its last close as 昨收. Sorted by 涨跌幅, best first, as akshare joins its pages.
        """
        from quantdb_pipeline.sources.calendars import hk_trading_days

        days = list(hk_trading_days(_calendar()[-1]))
        session = days[bisect_right(days, self._today) - 1]
        listed = [code for code in HK_SYMBOLS if HK_LISTED_FROM.get(code, dt.date.min) <= session]
        rows = []
        for code in listed:
            history, events = _hk_simulation(self.seed, code)
            upto = history[history["日期"] <= session]
            bar = upto.iloc[-1]
            traded = bar["日期"] == session
            previous = float(upto["收盘"].iloc[-2]) if traded and len(upto) > 1 else float(bar["收盘"])
            event = events[events["ex_date"] == session] if traded else events.iloc[0:0]
            if len(event):
                cash, shares = float(event["cash"].iloc[0]), float(event["shares"].iloc[0])
                previous = round((previous - cash) / (1 + shares), 3)
            day = (lambda column: float(bar[column])) if traded else (lambda column: np.nan)
            close = day("收盘")
            rows.append({"代码": code, "名称": HK_SYMBOLS[code][0], "最新价": close,
                         "涨跌额": round(close - previous, 3), "涨跌幅": round((close / previous - 1) * 100, 2),
                         "今开": day("开盘"), "最高": day("最高"), "最低": day("最低"), "昨收": previous,
                         "成交量": day("成交量"), "成交额": day("成交额")})
        self.requests["stock_hk_main_board_spot_em"] += spot_pages(len(rows))
        frame = pd.DataFrame(rows, columns=["代码", "名称", "最新价", "涨跌额", "涨跌幅", "今开", "最高", "最低",
                                            "昨收", "成交量", "成交额"])
        frame = frame.sort_values("涨跌幅", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
        frame.insert(0, "序号", np.arange(1, len(frame) + 1))
        return frame

    def hk_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Unadjusted HK bars, shaped like `stock_hk_hist(adjust="")`: volume in shares, HKD."""
        self.requests["stock_hk_hist"] += 1
        if symbol not in HK_SYMBOLS:
            return pd.DataFrame()
        return _cut(self.hk_daily_history(symbol), "日期", start, min(end, self._today))

    def index_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Bars of the index with six-digit code `symbol`, shaped like
        `stock_zh_index_daily_em(symbol="sh000300")`: volume in lots."""
        self.requests["stock_zh_index_daily_em"] += 1
        key = index_exchange(symbol).lower() + symbol
        if key not in INDEX_SYMBOLS:
            return pd.DataFrame()
        return _cut(_index_history(self.seed, key), "date", start, min(end, self._today))

    def hk_trading_calendar_raw(self) -> pd.DataFrame:
        """HKEX trading days from `exchange_calendars`, through the end of the SSE calendar."""
        from quantdb_pipeline.sources.calendars import hk_trading_days

        return pd.DataFrame({"trade_date": list(hk_trading_days(_calendar()[-1]))})

    def hk_daily_history(self, symbol: str) -> pd.DataFrame:
        return _hk_history(self.seed, symbol)

    def hk_corporate_actions(self, symbol: str) -> pd.DataFrame:
        """HK ex-dates up to today: ex_date, cash (HKD per share), shares (bonus per share),
        previous_close (the last unadjusted close before the ex-date)."""
        events = _hk_simulation(self.seed, symbol)[1]
        return events[events["ex_date"] <= self._today].reset_index(drop=True)

    def hk_adjustment_factors_raw(self, symbol: str) -> HkFactorFrames:
        """sina's HK factors as `stock_hk_daily(adjust="hfq-factor"/"qfq-factor")` return them:
        newest first, ending with a 1900-01-01 start row; ex-dates after today are not answered.

        hfq is affine, continuous across each ex-date: the cash dividend D enters as
        cash += D x hfq_factor, bonus shares s as hfq_factor x= 1 + s. qfq multiplies the
        price by the product of (close - D) / ((1 + s) x close) over the later ex-dates, so
        the newest row is 1. One request per script, as `AkshareSource` fetches them.
        """
        self.requests["sina_hk_hfq_factor_js"] += 1
        self.requests["sina_hk_qfq_factor_js"] += 1
        if symbol not in HK_SYMBOLS:
            return HkFactorFrames(pd.DataFrame(), pd.DataFrame())
        events = self.hk_corporate_actions(symbol)
        start = dt.date(1900, 1, 1)
        hfq, qfq = [(start, 1.0, 0.0)], [(start, 1.0)]
        factor, cash = 1.0, 0.0
        for event in events.itertuples():
            cash += event.cash * factor
            factor *= 1 + event.shares
            hfq.append((event.ex_date, factor, cash))
        ratios = [(e.previous_close - e.cash) / ((1 + e.shares) * e.previous_close) for e in events.itertuples()]
        for i, day in enumerate(events["ex_date"]):
            qfq.append((day, float(np.prod(ratios[i + 1:]))))
        qfq[0] = (start, float(np.prod(ratios)))
        return HkFactorFrames(pd.DataFrame(hfq[::-1], columns=["date", "hfq_factor", "cash"]),
                              pd.DataFrame(qfq[::-1], columns=["date", "qfq_factor"]))

    def individual_info_raw(self, symbol: str) -> pd.DataFrame:
        """A profile as of today, shaped like `stock_individual_info_em(symbol)` (item, value)."""
        self.requests["stock_individual_info_em"] += 1
        record = self._record(symbol)
        if record is None or record["list_date"] > self._today:
            raise KeyError("data")  # eastmoney answers an unknown code with "data": null
        total, floating = self.shares_on(symbol, self._today)
        history = _history(self.seed, record)[0]
        past = history[history["日期"] <= self._today]
        price = float(past["收盘"].iloc[-1]) if len(past) else record["start_price"]
        values = {
            "最新": price, "股票代码": symbol, "股票简称": name_on(record, self._today),
            "总股本": float(total), "流通股": float(floating), "总市值": round(total * price, 2),
            "流通市值": round(floating * price, 2), "行业": industry_on(record, self._today),
            "上市时间": int(record["list_date"].strftime("%Y%m%d")),
        }
        return pd.DataFrame({"item": list(values), "value": list(values.values())})

    def _listed_records(self) -> list[dict]:
        """Universe records listed on today, each under its code of today."""
        return [{**r, "code": code_on(r, self._today)} for r in self._universe.to_dict("records")
                if r["list_date"] <= self._today and not (r["delist_date"] is not None and r["delist_date"] <= self._today)]

    def industry_boards_raw(self) -> pd.DataFrame:
        """The industry boards of today's listed symbols, shaped like `stock_board_industry_name_em()`;
        a request per 100 boards, as akshare pages them."""
        industries = sorted({industry_on(r, self._today) for r in self._listed_records()})
        self.requests["stock_board_industry_name_em"] += spot_pages(len(industries))
        n = len(industries)
        return pd.DataFrame({
            "排名": np.arange(1, n + 1), "板块名称": industries, "板块代码": [INDUSTRY_BOARDS[i] for i in industries],
            "最新价": 1000.0, "涨跌额": 0.0, "涨跌幅": 0.0, "总市值": np.nan, "换手率": np.nan,
            "上涨家数": 0, "下跌家数": 0, "领涨股票": "-", "领涨股票-涨跌幅": 0.0})

    def industry_constituents_raw(self, board_code: str) -> pd.DataFrame:
        """Today's listed symbols of one board, shaped like `stock_board_industry_cons_em(board_code)`;
        a request per 100 rows (one for an empty board, where akshare then fails)."""
        members = [r for r in self._listed_records() if INDUSTRY_BOARDS[industry_on(r, self._today)] == board_code]
        self.requests["stock_board_industry_cons_em"] += spot_pages(len(members))
        n = len(members)
        return pd.DataFrame({
            "序号": np.arange(1, n + 1), "代码": [r["code"] for r in members],
            "名称": [name_on(r, self._today) for r in members], "最新价": 10.0, "涨跌幅": 0.0, "涨跌额": 0.0,
            "成交量": 0.0, "成交额": 0.0, "振幅": 0.0, "最高": 10.0, "最低": 10.0, "今开": 10.0, "昨收": 10.0,
            "换手率": 0.0, "市盈率-动态": np.nan, "市净率": np.nan})

    def sz_name_changes_raw(self) -> pd.DataFrame:
        """SZSE's short-name changes up to today, shaped like `stock_info_sz_change_name("简称变更")`
        (sorted by 变更日期, as akshare sorts them); one request."""
        self.requests["stock_info_sz_change_name"] += 1
        rows = [(day, record["code"], name_on(record, self._today), before, after)
                for record in self._listed_records() if record["exchange"] == "SZ"
                for day, before, after in name_changes(record, self._today)]
        frame = pd.DataFrame(rows, columns=["变更日期", "证券代码", "证券简称", "变更前简称", "变更后简称"])
        return frame.sort_values("变更日期", kind="stable", ignore_index=True)

    def former_names_raw(self, symbol: str) -> pd.DataFrame:
        """sina's 证券简称更名历史 of `symbol` as `stock_info_change_name` returns it: (index, name),
        oldest first, ending with today's name; empty for a symbol never renamed. One request."""
        self.requests["stock_info_change_name"] += 1
        record = self._record(symbol)
        changes = name_changes(record, self._today) if record is not None else []
        if not changes:
            return pd.DataFrame()
        names = [changes[0][1]] + [after for _, _, after in changes]
        return pd.DataFrame({"index": np.arange(1, len(names) + 1), "name": names})

    def shares_on(self, symbol: str, day: dt.date) -> tuple[int, int]:
        """(total, free-float) shares on `day`: bonus shares and splits multiply them."""
        record = self._record(symbol)
        events = _history(self.seed, record)[2]
        ratio = float(np.prod([1 + s for d, s in zip(events["ex_date"], events["shares"]) if d <= day]))
        return int(round(record["total_shares"] * ratio)), int(round(record["float_shares"] * ratio))

    def financial_reports(self, symbol: str) -> pd.DataFrame:
        """Every simulated report of `symbol` (also those not announced yet), canonical names."""
        record = self._record(symbol)
        return _reports(self.seed, record["code"], record["list_date"], record["total_shares"])

    def statement_raw(self, symbol: str, statement: str) -> pd.DataFrame:
        """One of eastmoney's three statements by report period, as akshare returns it
        (`stock_balance_sheet_by_report_em` etc.): one row per announced report, newest first."""
        endpoint = {"balance": "stock_balance_sheet_by_report_em", "income": "stock_profit_sheet_by_report_em",
                    "cash_flow": "stock_cash_flow_sheet_by_report_em"}[statement]
        record = self._record(symbol)
        if record is None:
            self.requests[endpoint] += statement_requests(0, symbol in self._company_types)
            self._company_types.add(symbol)
            return pd.DataFrame()
        reports = self.financial_reports(symbol)
        announced = (reports["notice_date"] <= self._today).to_numpy()
        # as akshare asks: the company type (once per symbol), the report dates, 5 reports a request
        self.requests[endpoint] += statement_requests(int(announced.sum()), symbol in self._company_types)
        self._company_types.add(symbol)
        bank = symbol == BANK_SYMBOL
        items = STATEMENT_ITEMS[statement]["bank" if bank else "general"]
        yoy = {item: np.round(reports[column].pct_change(4).to_numpy()[announced][::-1] * 100, 4)
               for item, column in items.items()}
        reports = reports[announced].iloc[::-1]
        frame = pd.DataFrame({
            "SECUCODE": f"{symbol}.{record['exchange']}", "SECURITY_CODE": symbol,
            "SECURITY_NAME_ABBR": name_on(record, self._today), "ORG_CODE": f"10{symbol}",
            "ORG_TYPE": "银行" if bank else "通用", "REPORT_DATE": [f"{d} 00:00:00" for d in reports["report_date"]],
            "REPORT_TYPE": reports["report_type"].to_numpy(), "REPORT_DATE_NAME": reports["report_type"].to_numpy(),
            "SECURITY_TYPE_CODE": "058001001",
            "NOTICE_DATE": [f"{d} 00:00:00" for d in reports["notice_date"]],
            "UPDATE_DATE": [f"{d} 00:00:00" for d in reports["notice_date"]], "CURRENCY": "CNY",
        })
        for item, column in items.items():
            frame[item] = reports[column].to_numpy()
            frame[f"{item}_YOY"] = yoy[item]
        return frame.reset_index(drop=True)

    def financial_abstract_raw(self, symbol: str) -> pd.DataFrame:
        """sina's key indicators, shaped like `stock_financial_abstract(symbol)`: 选项, 指标 and
        one column per announced report date ("20240930"), newest first."""
        self.requests["stock_financial_abstract"] += 1
        record = self._record(symbol)
        if record is None:
            raise KeyError("result")
        reports = self.financial_reports(symbol)
        reports = reports[reports["notice_date"] <= self._today].iloc[::-1]
        rows = [(section, label, column) for section, label, column in ABSTRACT_ROWS
                if not (symbol == BANK_SYMBOL and column == "gross_margin")]
        frame = pd.DataFrame({"选项": [r[0] for r in rows], "指标": [r[1] for r in rows]})
        for _, report in reports.iterrows():
            frame[report["report_date"].strftime("%Y%m%d")] = [
                float(report[column]) if column in report and pd.notna(report[column]) else np.nan
                for _, _, column in rows]
        return frame

    def report_table_raw(self, table: str, period: dt.date) -> pd.DataFrame:
        """eastmoney's whole-market report table `table` (`REPORT_TABLES`) for report `period`
        as upstream answers it on "today", shaped like the akshare function: one row per
        company whose report of `period` is announced by today, built from the same reports
        `statement_raw` and `financial_abstract_raw` serve. As akshare 1.19.5's tables, the
        balance, income and cash-flow tables leave the BSE out and "balance_bse" holds only
        it. Costs what the real pages would (`data_center_requests`)."""
        if self._market_reports is None:
            self._market_reports = market_reports(self.seed, self._universe, self._today)
        frame = report_table(self._market_reports, table, period, self._today)
        self.requests[REPORT_TABLES[table]] += data_center_requests(len(frame))
        return frame

    def _record(self, symbol: str) -> dict | None:
        """The security trading as `symbol` on "today" (its history is keyed by its own code);
        None for an unknown code, an old BSE code after the switch and a 920 code before it."""
        canonical = "92" + symbol[2:] if symbol.startswith("83") else symbol
        matches = self._universe.index[self._universe["code"] == canonical]
        if len(matches) == 0:
            return None
        record = self._universe.loc[matches[0]].to_dict()
        return record if code_on(record, self._today) == symbol else None

    def corporate_actions(self, symbol: str) -> pd.DataFrame:
        """Every simulated ex-date of `symbol` (also those after today): cash, shares, reference price."""
        return _history(self.seed, self._record(symbol))[2].copy()

    def dividends_raw(self, period: dt.date) -> pd.DataFrame:
        """The whole market's distribution plans for report `period` as announced by today,
        shaped like `stock_fhps_em(date)` (amounts per 10 shares, ex-date once implemented)."""
        events = {code_on(record, self._today): _history(self.seed, record)[2]
                  for record in self._universe.to_dict("records") if record["list_date"] <= self._today}
        table = dividend_table(events, self.universe(), period, self._today)
        self.requests["stock_fhps_em"] += data_center_requests(len(table))
        return table

    # -- introspection for tests and demos ------------------------------------------------

    def universe(self) -> pd.DataFrame:
        """Every simulated security, including future listings and delisted names, under its
        code on "today" (`code`); `code_after_switch` is its 920xxx code where it has one."""
        universe = self._universe.copy()
        universe["code_after_switch"] = universe["code"].where(universe["board"] == "bse")
        universe["code"] = [code_on(record, self._today) for record in self._universe.to_dict("records")]
        return universe


_SPOT_COLUMNS = ["序号", "代码", "名称", "最新价", "涨跌幅", "涨跌额", "成交量", "成交额", "振幅", "最高", "最低",
                 "今开", "昨收", "量比", "换手率", "市盈率-动态", "市净率", "总市值", "流通市值", "涨速", "5分钟涨跌",
                 "60日涨跌幅", "年初至今涨跌幅"]


FHPS_COLUMNS = ["代码", "名称", "送转股份-送转总比例", "送转股份-送转比例", "送转股份-转股比例", "现金分红-现金分红比例",
                "现金分红-股息率", "每股收益", "每股净资产", "每股公积金", "每股未分配利润", "净利润同比增长", "总股本",
                "预案公告日", "股权登记日", "除权除息日", "方案进度", "最新公告日期"]
#: Days between a plan's first announcement and its ex-date, and between the implementation
#: notice and the ex-date, in the sample.
PLAN_LEAD_DAYS, IMPLEMENTATION_LEAD_DAYS = 75, 6


def report_period_of(code: str, ex_date: dt.date) -> dt.date:
    """The report a sample distribution is paid from."""
    if code == DIVIDEND_SYMBOL and ex_date == DIVIDEND_DATE:
        return DIVIDEND_PERIOD
    return dt.date(ex_date.year - 1, 12, 31)


def dividend_table(events: dict[str, pd.DataFrame], universe: pd.DataFrame, period: dt.date,
                   today: dt.date) -> pd.DataFrame:
    """`stock_fhps_em(period)` as upstream would answer it on `today`, from each code's events
    (`corporate_actions` frames): plans appear when announced, ex-dates when implemented."""
    names = dict(zip(universe["code"], universe["name"]))
    calendar = _calendar()
    rows = []
    for code, frame in events.items():
        for event in frame.to_dict("records"):
            ex_date = event["ex_date"]
            if report_period_of(code, ex_date) != period:
                continue
            planned = max(period + dt.timedelta(days=30), ex_date - dt.timedelta(days=PLAN_LEAD_DAYS))
            if planned > today:
                continue
            implemented = ex_date - dt.timedelta(days=IMPLEMENTATION_LEAD_DAYS)
            transfer = code in TRANSFER_SYMBOLS
            shares = event["shares"] * 10
            rows.append({
                "代码": code, "名称": names.get(code, code),
                "送转股份-送转总比例": shares or np.nan, "送转股份-送转比例": np.nan if transfer or not shares else shares,
                "送转股份-转股比例": shares if transfer and shares else np.nan,
                "现金分红-现金分红比例": round(event["cash"] * 10, 4) or np.nan,
                "现金分红-股息率": round(event["cash"] / event["previous_close"], 6) or np.nan,
                "每股收益": np.nan, "每股净资产": np.nan, "每股公积金": np.nan, "每股未分配利润": np.nan,
                "净利润同比增长": np.nan, "总股本": np.nan, "预案公告日": planned,
                "股权登记日": calendar[bisect_left(calendar, ex_date) - 1] if implemented <= today else pd.NaT,
                "除权除息日": ex_date if implemented <= today else pd.NaT,
                "方案进度": ("实施分配" if implemented <= today else
                         "股东大会决议通过" if planned + dt.timedelta(days=30) <= today else "董事会预案"),
                "最新公告日期": (implemented if implemented <= today else
                           planned + dt.timedelta(days=30) if planned + dt.timedelta(days=30) <= today else planned),
            })
    table = pd.DataFrame(rows, columns=FHPS_COLUMNS)
    for column in ("预案公告日", "股权登记日", "除权除息日", "最新公告日期"):
        table[column] = pd.to_datetime(table[column], errors="coerce").dt.date
    return table.sort_values("最新公告日期", kind="stable", ignore_index=True)


def ex_date_reference(events: pd.DataFrame, day: dt.date) -> float:
    """The exchange's ex-rights reference price if `day` is an ex-date in `events`, else NaN."""
    on_day = events["reference_close"][events["ex_date"] == day]
    return float(on_day.iloc[0]) if len(on_day) else np.nan


def spot_quotes(listed: pd.DataFrame, names: list[str], last_rows: list, session: dt.date,
                references: list[float] | None = None) -> pd.DataFrame:
    """The quote list after `session`'s close, as `stock_zh_a_spot_em()` returns it.

    `listed` holds the universe records shown, `last_rows` each one's last history row up to
    the session (None before its first bar), `references` the exchange's reference price of
    the symbols whose ex-date the session is (NaN for the others). 昨收 is the exchange's
    reference previous close, so on an ex-date it and the day's 涨跌额/涨跌幅 differ from the
    history klines, which are close-to-close. A symbol whose last row is older did not trade:
    its price fields are NaN and 昨收 is its last close. Sorted by 涨跌幅, best first, as
    akshare sorts the pages it joins.
    """
    n = len(listed)
    traded = np.array([row is not None and row["日期"] == session for row in last_rows], dtype=bool)

    def field(column: str, when_idle=np.nan) -> np.ndarray:
        values = np.array([np.nan if row is None else float(row[column]) for row in last_rows])
        return np.where(traded, values, when_idle)

    close = field("收盘")
    last_close = np.array([np.nan if row is None else float(row["收盘"]) for row in last_rows])
    reference = np.full(n, np.nan) if references is None else np.asarray(references, dtype="float64")
    previous = np.where(np.isnan(reference), np.round(close - field("涨跌额"), 2), reference)
    change = np.round(close - previous, 2)
    shares = listed["total_shares"].to_numpy(dtype="float64")
    float_shares = listed["float_shares"].to_numpy(dtype="float64")
    price = np.where(traded, close, last_close)
    frame = pd.DataFrame({
        "序号": np.arange(1, n + 1),
        "代码": listed["code"].to_numpy(),
        "名称": names,
        "最新价": close,
        "涨跌幅": np.where(np.isnan(reference), field("涨跌幅"), np.round((close / previous - 1) * 100, 2)),
        "涨跌额": change,
        "成交量": field("成交量"),
        "成交额": field("成交额"),
        "振幅": field("振幅"),
        "最高": field("最高"),
        "最低": field("最低"),
        "今开": field("开盘"),
        "昨收": np.where(traded, previous, last_close),
        "量比": np.where(traded, 1.0, np.nan),
        "换手率": field("换手率"),
        "市盈率-动态": np.nan,
        "市净率": np.nan,
        "总市值": np.round(shares * price, 0),
        "流通市值": np.round(float_shares * price, 0),
        "涨速": np.where(traded, 0.0, np.nan),
        "5分钟涨跌": np.where(traded, 0.0, np.nan),
        "60日涨跌幅": np.nan,
        "年初至今涨跌幅": np.nan,
    }, columns=_SPOT_COLUMNS)
    frame = frame.sort_values("涨跌幅", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
    frame["序号"] = np.arange(1, n + 1)
    return frame


def _universe(size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 0])
    counts = [math.floor(size * share) for _, share, _ in BOARD_MIX]
    counts[0] += size - sum(counts)
    rows = []
    for (label, _, first_code), count in zip(BOARD_MIX, counts):
        for i in range(count):
            code = f"{first_code + i:06d}"
            board = board_of(code)
            opened = BOARD_OPENED[board]
            span = (LATEST_RANDOM_LISTING - opened).days
            list_date = _first_trading_day_on_or_after(opened + dt.timedelta(days=int(rng.integers(0, span))))
            total = int(rng.integers(2, 400)) * 10_000_000
            rows.append({
                "code": code,
                "exchange": {"SH main": "SH", "STAR": "SH", "SZ main": "SZ", "ChiNext": "SZ", "BSE": "BJ"}[label],
                "board": board,
                "name": f"{label} {i + 1:03d}",
                "list_date": list_date,
                "delist_date": None,
                "total_shares": total,
                "float_shares": int(total * rng.uniform(0.3, 1.0)),
                "start_price": round(float(rng.uniform(3, 80)), 2),
                "drift": float(rng.normal(0.0002, 0.0004)),
                "volatility": float(rng.uniform(0.012, 0.035)),
            })
    frame = pd.DataFrame(rows).set_index("code", drop=False)
    frame["industry"] = [INDUSTRIES[int(c) % len(INDUSTRIES)] for c in frame["code"]]
    frame.loc[BANK_SYMBOL, "industry"] = "银行"
    frame.loc[IPO_SYMBOL, "list_date"] = _first_trading_day_on_or_after(IPO_DATE)
    frame.loc[DELISTED_SYMBOL, "delist_date"] = DELIST_DATE
    frame["delist_date"] = frame["delist_date"].astype(object)
    frame.index.name = None
    return frame.reset_index(drop=True)


def _limit(record: dict, day: dt.date) -> float:
    """The daily limit of the record's symbol on `day` as a fraction (0.1 for ±10%), by the
    exchanges' rules (`market_rules`): its board's, or the ST limit from `ST_DATE` on."""
    st = record["code"] == ST_SYMBOL and day >= ST_DATE
    pct = st_limit_pct(record["board"], day) if st else board_limit_pct(record["board"], day)
    if math.isnan(pct):
        raise ValueError(f"no daily limit known for board {record['board']} on {day}")
    return pct / 100


def name_on(record: dict, day: dt.date) -> str:
    """The security's name on `day`: `ST_SYMBOL` is "*ST ..." from `ST_DATE` on, `RENAMED_SYMBOL`
    is `FORMER_NAME` before `RENAME_DATE`."""
    if record["code"] == ST_SYMBOL and day >= ST_DATE:
        return "*ST " + record["name"]
    if record["code"] == RENAMED_SYMBOL and day < RENAME_DATE:
        return FORMER_NAME
    return record["name"]


def name_changes(record: dict, today: dt.date) -> list[tuple[dt.date, str, str]]:
    """(first day of the new name, name before, name after) of each rename up to `today`."""
    days = {ST_SYMBOL: (ST_DATE,), RENAMED_SYMBOL: (RENAME_DATE,)}.get(record["code"], ())
    return [(day, name_on(record, day - dt.timedelta(days=1)), name_on(record, day))
            for day in days if record["list_date"] < day <= today]


def industry_on(record: dict, day: dt.date) -> str:
    if record["code"] == INDUSTRY_CHANGE_SYMBOL and day >= INDUSTRY_CHANGE_DATE:
        return "非银金融"
    return record["industry"]


def _actions(seed: int, code: str, days: list[dt.date]) -> dict[int, tuple[float | None, float]]:
    """Day index -> (cash per share, or None for a drawn yield; new shares per share)."""
    position = {d: i for i, d in enumerate(days)}
    if code in FIXED_ACTIONS:
        return {position[d]: (cash, shares) for d, cash, shares in FIXED_ACTIONS[code] if d in position}
    rng = np.random.default_rng([seed, int(code), 7])
    actions = {}
    for year in range(days[0].year, days[-1].year + 1) if days else ():
        pay, bonus, pick = rng.random(), rng.random(), rng.random()
        ratio = BONUS_RATIOS[int(rng.integers(0, len(BONUS_RATIOS)))]
        season = [i for d, i in position.items() if d.year == year and 6 <= d.month <= 8 and i >= 120]
        if not season or (pay >= DIVIDEND_ODDS and bonus >= BONUS_ODDS):
            continue
        actions[season[int(pick * len(season))]] = (None if pay < DIVIDEND_ODDS else 0.0,
                                                      ratio if bonus < BONUS_ODDS else 0.0)
    return actions


@lru_cache(maxsize=256)
def _history_cached(seed: int, key: tuple) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    record = dict(key)
    code = record["code"]
    calendar = _calendar()
    first = max(record["list_date"], SIMULATION_ORIGIN)
    last_exclusive = record["delist_date"] or dt.date.max
    days = [d for d in calendar[bisect_left(calendar, first):] if d < last_exclusive]
    if code == SUSPENDED_SYMBOL:
        days = [d for d in days if not (SUSPENSION[0] <= d <= SUSPENSION[1])]
    n = len(days)
    rng = np.random.default_rng([seed, int(code)])
    vol = record["volatility"]
    # Python floats: the loop below is sequential (each limit depends on the previous close).
    shocks = (rng.standard_t(4, n) * vol / math.sqrt(2) + record["drift"]).tolist()
    gaps = rng.normal(0, vol / 3, n).tolist()
    wick_up = np.abs(rng.normal(0, vol / 2, n)).tolist()
    wick_down = np.abs(rng.normal(0, vol / 2, n)).tolist()
    activity = np.exp(rng.normal(0, 0.4, n))
    yields = rng.uniform(0.005, 0.03, n).tolist()
    listed_inside = record["list_date"] >= SIMULATION_ORIGIN
    ipo_days = unlimited_first_days(record["board"], record["list_date"]) if listed_inside else 0
    band = first_day_band_pct(record["board"], record["list_date"]) if listed_inside else None
    anchor = math.log(record["start_price"])
    actions = _actions(seed, code, days)

    last_close = np.empty(n)  # the previous session's unadjusted close: what eastmoney's 涨跌额 is measured from
    ohlc = np.empty((n, 4))
    moves = np.empty(n)
    prev = record["start_price"]
    factor, factors, events = 1.0, [(days[0], 1.0)] if n else [], []
    for i in range(n):
        last_close[i] = prev
        if i in actions:  # ex-date: trading resumes from the exchange's reference price
            cash, shares = actions[i]
            cash = round(prev * yields[i], 3) if cash is None else cash
            reference = ex_rights_reference(prev, cash, shares)  # half-up to the fen, as the exchanges round
            factor *= prev / reference
            factors.append((days[i], factor))
            events.append((days[i], cash, shares, prev, reference))
            anchor -= math.log(prev / reference)  # mean reversion towards the adjusted level
            prev = reference
        if i == 0 and band is not None:  # approval-based IPO: a band around the issue price on day one
            up, down = round(prev * (1 + band[0] / 100), 2), round(prev * (1 + band[1] / 100), 2)
            shock = 0.6
        elif i < ipo_days:
            up, down = prev * 3, prev * 0.5  # no limit on the first days after listing
            shock = 0.6 if i == 0 else shocks[i] * 2
        else:
            limit = _limit(record, days[i])
            up, down = round(prev * (1 + limit), 2), round(prev * (1 - limit), 2)
            # a little mean reversion keeps simulated prices in a realistic range for years
            shock = shocks[i] - 0.004 * (math.log(prev) - anchor)
            if code == ST_SYMBOL and days[i] == ST_LIMIT_UP_DATE:
                shock = 0.2  # clamped to the limit price below
        close = min(max(round(prev * math.exp(shock), 2), down), up)
        open_ = min(max(round(prev * math.exp(gaps[i]), 2), down), up)
        high = min(max(round(max(open_, close) * (1 + wick_up[i]), 2), open_, close), up)
        low = max(min(round(min(open_, close) * (1 - wick_down[i]), 2), open_, close), down)
        ohlc[i] = (open_, close, high, low)
        moves[i] = abs(shock)
        prev = close

    open_, close, high, low = ohlc.T
    lots = np.maximum(1, (record["float_shares"] / 100 * 0.01 * activity * (1 + 20 * moves)).astype("int64"))
    vwap = ohlc.mean(axis=1)
    bars = pd.DataFrame({
        "日期": days,
        "股票代码": code,
        "开盘": open_,
        "收盘": close,
        "最高": high,
        "最低": low,
        "成交量": lots,
        "成交额": np.round(lots * 100 * vwap, 2),
        # close-to-close, also on ex-dates, as eastmoney's unadjusted klines are (recorded:
        # 000001 on 2024-06-14, 10.80 -> 10.18, 涨跌额 -0.62): history bars never show an ex-date
        "振幅": np.round((high - low) / last_close * 100, 2),
        "涨跌幅": np.round((close / last_close - 1) * 100, 2),
        "涨跌额": np.round(close - last_close, 2),
        "换手率": np.round(lots * 100 / record["float_shares"] * 100, 2),
    }, columns=_BAR_COLUMNS)
    factor_frame = pd.DataFrame({"date": pd.to_datetime([d for d, _ in factors]),
                                 "hfq_factor": [f for _, f in factors]})
    event_frame = pd.DataFrame(events, columns=["ex_date", "cash", "shares", "previous_close", "reference_close"])
    return bars, factor_frame, event_frame


_HISTORY_KEYS = ("code", "board", "list_date", "delist_date", "float_shares", "start_price", "drift", "volatility")


def _history(seed: int, record: dict) -> pd.DataFrame:
    return _history_cached(seed, tuple((k, record[k]) for k in _HISTORY_KEYS))


def _pre_origin_history(seed: int, record: dict) -> pd.DataFrame:
    """The bars of a symbol listed before `SIMULATION_ORIGIN`, from its listing day to the day
    before the origin (no corporate actions), shaped like `a_share_daily_raw`'s frames."""
    return _pre_origin_cached(seed, tuple((k, record[k]) for k in _HISTORY_KEYS))


def _round_fen(value: float) -> float:
    return round(value, 2)


#: Few: only a bar request reaching before the origin asks for it (once per symbol in a load),
#: and each entry holds years of bars, so a larger cache would make a long backfill's memory
#: grow with its range (the histories from the origin on are cached for 256 symbols: their
#: length does not depend on what a load asks for).
@lru_cache(maxsize=8)
def _pre_origin_cached(seed: int, key: tuple) -> pd.DataFrame:
    """Walked backwards from the price at the origin, so that the last close before the origin is
    `start_price` (what the bars from the origin on are measured from) and each day's close stays
    within the limit of the day before's close, rounded to the fen, under `market_rules`."""
    record = dict(key)
    calendar = _calendar()
    days = list(calendar[bisect_left(calendar, record["list_date"]):bisect_left(calendar, SIMULATION_ORIGIN)])
    n = len(days)
    if not n:
        return pd.DataFrame(columns=_BAR_COLUMNS)
    rng = np.random.default_rng([seed, int(record["code"]), 2005])
    vol = record["volatility"]
    shocks = (rng.standard_t(4, n) * vol / math.sqrt(2)).tolist()
    gaps = rng.normal(0, vol / 3, n).tolist()
    wick_up = np.abs(rng.normal(0, vol / 2, n)).tolist()
    wick_down = np.abs(rng.normal(0, vol / 2, n)).tolist()
    activity = np.exp(rng.normal(0, 0.4, n))
    anchor = math.log(record["start_price"])
    closes = np.empty(n)
    close = record["start_price"]
    for i in range(n - 1, 0, -1):
        closes[i] = close
        limit = _limit(record, days[i])
        # backwards, mean reversion pulls the earlier price towards the anchor too
        previous = max(0.5, _round_fen(close / math.exp(shocks[i] + 0.004 * (math.log(close) - anchor))))
        if close > _round_fen(previous * (1 + limit)):
            previous = math.ceil(close / (1 + limit) * 100) / 100
            while close > _round_fen(previous * (1 + limit)):
                previous = _round_fen(previous + 0.01)
        elif close < _round_fen(previous * (1 - limit)):
            previous = math.floor(close / (1 - limit) * 100) / 100
            while close < _round_fen(previous * (1 - limit)):
                previous = _round_fen(previous - 0.01)
        close = previous
    closes[0] = close
    # the listing day is measured from the issue price, within the first-day band where there is one
    band = first_day_band_pct(record["board"], record["list_date"])
    issue = _round_fen(close / 1.3)
    if band is not None:
        issue = max(issue, math.ceil(close / (1 + band[0] / 100) * 100) / 100)
        while close > _round_fen(issue * (1 + band[0] / 100)):
            issue = _round_fen(issue + 0.01)
    last_close = np.concatenate([[issue], closes[:-1]])
    ohlc = np.empty((n, 4))
    for i in range(n):
        prev, close = float(last_close[i]), float(closes[i])
        if i == 0:
            up, down = ((_round_fen(prev * (1 + band[0] / 100)), _round_fen(prev * (1 + band[1] / 100)))
                        if band is not None else (math.inf, 0.0))
        else:
            limit = _limit(record, days[i])
            up, down = _round_fen(prev * (1 + limit)), _round_fen(prev * (1 - limit))
        open_ = min(max(_round_fen(prev * math.exp(gaps[i])), down), up)
        high = min(max(_round_fen(max(open_, close) * (1 + wick_up[i])), open_, close), up)
        low = max(min(_round_fen(min(open_, close) * (1 - wick_down[i])), open_, close), down)
        ohlc[i] = (open_, close, high, low)
    open_, close, high, low = ohlc.T
    moves = np.abs(np.log(close / last_close))
    lots = np.maximum(1, (record["float_shares"] / 100 * 0.01 * activity * (1 + 20 * moves)).astype("int64"))
    return pd.DataFrame({
        "日期": days, "股票代码": record["code"], "开盘": open_, "收盘": close, "最高": high, "最低": low,
        "成交量": lots, "成交额": np.round(lots * 100 * ohlc.mean(axis=1), 2),
        "振幅": np.round((high - low) / last_close * 100, 2),
        "涨跌幅": np.round((close / last_close - 1) * 100, 2),
        "涨跌额": np.round(close - last_close, 2),
        "换手率": np.round(lots * 100 / record["float_shares"] * 100, 2),
    }, columns=_BAR_COLUMNS)


def _cut(history: pd.DataFrame, column: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    dates = history[column].tolist()
    lo, hi = bisect_left(dates, start), bisect_right(dates, end)
    return pd.DataFrame() if lo >= hi else history.iloc[lo:hi].reset_index(drop=True)


def _walk(rng: np.random.Generator, n: int, start: float, vol: float, decimals: int):
    """Open, high, low, close and previous close of an unlimited random walk with mean reversion."""
    shocks = rng.standard_t(4, n) * vol / math.sqrt(2)
    gaps, up, down = rng.normal(0, vol / 3, n), np.abs(rng.normal(0, vol / 2, n)), np.abs(rng.normal(0, vol / 2, n))
    closes, prev, anchor = np.empty(n), start, math.log(start)
    previous = np.empty(n)
    for i in range(n):
        previous[i] = prev
        prev = round(prev * math.exp(shocks[i] - 0.004 * (math.log(prev) - anchor)), decimals)
        closes[i] = prev
    opens = np.round(previous * np.exp(gaps), decimals)
    highs = np.round(np.maximum(opens, closes) * (1 + up), decimals)
    lows = np.round(np.minimum(opens, closes) * (1 - down), decimals)
    return opens, highs, lows, closes, previous, np.abs(shocks)


def _hk_actions(seed: int, code: str, days: list[dt.date]) -> dict[int, tuple[float | None, float]]:
    """Day index -> (cash per share, or None for a drawn yield; bonus shares per share)."""
    if code == HK_NO_ACTION_SYMBOL or not days:
        return {}

    def on_or_after(day: dt.date) -> int | None:
        i = bisect_left(days, day)
        return i if 0 < i < len(days) else None  # never the first simulated day

    if code in HK_FIXED_ACTIONS:
        found = {on_or_after(d): (cash, shares) for d, cash, shares in HK_FIXED_ACTIONS[code]}
        return {i: action for i, action in found.items() if i is not None}
    rng = np.random.default_rng([seed, int(code), 853])
    actions = {}
    for year in range(days[0].year, days[-1].year + 1):
        for month in (5, 9) if code in HK_TWICE_A_YEAR else (6,):
            i = on_or_after(dt.date(year, month, 1 + int(rng.integers(0, 25))))
            if i is not None:
                actions[i] = (None, 0.0)
    return actions


@lru_cache(maxsize=16)
def _hk_simulation(seed: int, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(unadjusted bars shaped like `stock_hk_hist`, ex-date events) of one HK symbol."""
    from quantdb_pipeline.sources.calendars import hk_trading_days

    first = max(SIMULATION_ORIGIN, HK_LISTED_FROM.get(code, dt.date.min))
    days = [d for d in hk_trading_days(_calendar()[-1]) if d >= first]
    rng = np.random.default_rng([seed, int(code), 852])
    opens, highs, lows, closes, previous, moves = _walk(rng, len(days), HK_SYMBOLS[code][1], 0.02, 2)
    shares = (rng.lognormal(16.5, 0.5, len(days)) * (1 + 20 * moves)).astype("int64") // 100 * 100
    # the walk is the total-return path; each ex-date scales the traded prices from then on
    actions = _hk_actions(seed, code, days)
    yields = np.random.default_rng([seed, int(code), 854]).uniform(0.008, 0.025, len(days))
    walk = np.column_stack([opens, highs, lows, closes])
    traded = walk.copy()
    scale, events = 1.0, []
    for i in sorted(actions):
        last = float(traded[i - 1, 3])
        cash, bonus = actions[i]
        cash = round(last * float(yields[i]), 3) if cash is None else cash
        scale *= (last - cash) / ((1 + bonus) * last)
        events.append((days[i], cash, bonus, last))
        traded[i:] = np.round(walk[i:] * scale, 2)
    opens, highs, lows, closes = traded.T
    previous = np.concatenate([previous[:1], closes[:-1]])  # the last unadjusted close
    amount = np.round(shares * (opens + highs + lows + closes) / 4, 2)
    bars = pd.DataFrame({
        "日期": days, "开盘": opens, "收盘": closes, "最高": highs, "最低": lows,
        "成交量": shares, "成交额": amount,
        "振幅": np.round((highs - lows) / previous * 100, 2),
        "涨跌幅": np.round((closes / previous - 1) * 100, 2),
        "涨跌额": np.round(closes - previous, 3),
        "换手率": np.round(shares / 5e9 * 100, 2),
    })
    return bars, pd.DataFrame(events, columns=["ex_date", "cash", "shares", "previous_close"])


def _hk_history(seed: int, code: str) -> pd.DataFrame:
    return _hk_simulation(seed, code)[0]


@lru_cache(maxsize=16)
def _index_history(seed: int, symbol: str) -> pd.DataFrame:
    first = max(SIMULATION_ORIGIN, INDEX_FIRST_DAY.get(symbol, dt.date.min))
    days = [d for d in _calendar() if d >= first]
    rng = np.random.default_rng([seed, int(symbol[2:]), 300])
    opens, highs, lows, closes, _, moves = _walk(rng, len(days), INDEX_SYMBOLS[symbol], 0.012, 2)
    lots = (rng.lognormal(18.5, 0.3, len(days)) * (1 + 10 * moves)).astype("int64")
    return pd.DataFrame({
        "date": days, "open": opens, "close": closes, "high": highs, "low": lows,
        "volume": lots, "amount": np.round(lots * 100 * rng.uniform(8, 15, len(days)), 2),
    })


#: Canonical report columns -> eastmoney item names, per statement and layout.
STATEMENT_ITEMS = {
    "balance": {
        "general": {"TOTAL_ASSETS": "total_assets", "TOTAL_CURRENT_ASSETS": "current_assets",
                    "MONETARYFUNDS": "cash", "TOTAL_LIABILITIES": "total_liabilities",
                    "TOTAL_CURRENT_LIAB": "current_liabilities", "TOTAL_EQUITY": "total_equity",
                    "TOTAL_PARENT_EQUITY": "parent_equity", "TOTAL_LIAB_EQUITY": "total_assets"},
        "bank": {"TOTAL_ASSETS": "total_assets", "LOAN_ADVANCE": "loans", "CASH_DEPOSIT_PBC": "cash",
                 "TOTAL_LIABILITIES": "total_liabilities", "ACCEPT_DEPOSIT": "deposits",
                 "TOTAL_EQUITY": "total_equity", "TOTAL_PARENT_EQUITY": "parent_equity",
                 "TOTAL_LIAB_EQUITY": "total_assets"},
    },
    "income": {
        "general": {"TOTAL_OPERATE_INCOME": "revenue", "OPERATE_COST": "operating_cost", "NETPROFIT": "net_profit",
                    "PARENT_NETPROFIT": "parent_net_profit", "DEDUCT_PARENT_NETPROFIT": "deducted_net_profit",
                    "BASIC_EPS": "eps_basic"},
        "bank": {"OPERATE_INCOME": "revenue", "INTEREST_NI": "interest_income", "NETPROFIT": "net_profit",
                 "PARENT_NETPROFIT": "parent_net_profit", "DEDUCT_PARENT_NETPROFIT": "deducted_net_profit",
                 "BASIC_EPS": "eps_basic"},
    },
    "cash_flow": {
        "general": {"NETCASH_OPERATE": "operating_cash_flow", "NETCASH_INVEST": "investing_cash_flow",
                    "NETCASH_FINANCE": "financing_cash_flow"},
        "bank": {"NETCASH_OPERATE": "operating_cash_flow", "NETCASH_INVEST": "investing_cash_flow",
                 "NETCASH_FINANCE": "financing_cash_flow"},
    },
}
#: sina's key-indicator rows: (section, label, canonical report column). "研发费用率" has no
#: mapping on our side on purpose: the pipeline must keep labels it does not know.
ABSTRACT_ROWS = (
    ("常用指标", "归母净利润", "parent_net_profit"), ("常用指标", "营业总收入", "revenue"),
    ("常用指标", "营业成本", "operating_cost"), ("常用指标", "净利润", "net_profit"),
    ("常用指标", "扣非净利润", "deducted_net_profit"), ("常用指标", "股东权益合计(净资产)", "total_equity"),
    ("常用指标", "经营现金流量净额", "operating_cash_flow"), ("常用指标", "基本每股收益", "eps_basic"),
    ("常用指标", "每股净资产", "bvps"), ("常用指标", "净资产收益率(ROE)", "roe"),
    ("常用指标", "毛利率", "gross_margin"), ("常用指标", "销售净利率", "net_margin"),
    ("常用指标", "资产负债率", "debt_to_assets"), ("每股指标", "基本每股收益", "eps_basic"),
    ("每股指标", "每股净资产", "bvps"), ("盈利能力", "研发费用率", "rd_ratio"),
)
#: The columns akshare 1.19.5 returns for each whole-market report table, in its order, and the
#: sample report field each carries (None: not simulated, NaN as upstream's null).
REPORT_TABLE_COLUMNS = {
    "summary": {"股票代码": None, "股票简称": None, "每股收益": "eps_basic", "营业总收入-营业总收入": "revenue",
                "营业总收入-同比增长": "revenue_yoy", "营业总收入-季度环比增长": None,
                "净利润-净利润": "parent_net_profit", "净利润-同比增长": "parent_net_profit_yoy",
                "净利润-季度环比增长": None, "每股净资产": "bvps", "净资产收益率": "roe", "每股经营现金流量": None,
                "销售毛利率": "gross_margin", "所处行业": None, "最新公告日期": None},
    "balance": {"股票代码": None, "股票简称": None, "资产-货币资金": "cash", "资产-应收账款": None, "资产-存货": None,
                "资产-总资产": "total_assets", "资产-总资产同比": None, "负债-应付账款": None, "负债-预收账款": None,
                "负债-总负债": "total_liabilities", "负债-总负债同比": None, "资产负债率": "debt_to_assets",
                "股东权益合计": "total_equity", "公告日期": None},
    "income": {"股票代码": None, "股票简称": None, "净利润": "parent_net_profit", "净利润同比": None,
               "营业总收入": "revenue", "营业总收入同比": None, "营业总支出-营业支出": "operating_cost",
               "营业总支出-销售费用": None, "营业总支出-管理费用": None, "营业总支出-财务费用": None,
               "营业总支出-营业总支出": None, "营业利润": None, "利润总额": None, "公告日期": None},
    "cash_flow": {"股票代码": None, "股票简称": None, "净现金流-净现金流": "net_cash_flow", "净现金流-同比增长": None,
                  "经营性现金流-现金流量净额": "operating_cash_flow", "经营性现金流-净现金流占比": None,
                  "投资性现金流-现金流量净额": "investing_cash_flow", "投资性现金流-净现金流占比": None,
                  "融资性现金流-现金流量净额": "financing_cash_flow", "融资性现金流-净现金流占比": None, "公告日期": None},
}
REPORT_TABLE_COLUMNS["balance_bse"] = REPORT_TABLE_COLUMNS["balance"]


def market_reports(seed: int, universe: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Every report of every security listed by `today` (also those not announced yet), one
    row per (code, report_date), with what the whole-market tables add to `_reports`: the
    code and name on `today`, the board, the industry, year-on-year growth of revenue and
    parent net profit (as statement_raw's *_YOY, in percent) and the net cash flow; a bank
    has no 货币资金 (its cash is at the central bank) and no gross margin. Built once per
    sample market: the whole-market tables are cuts of it."""
    frames = []
    for record in universe.to_dict("records"):
        if record["list_date"] > today:
            continue
        reports = _reports(seed, record["code"], record["list_date"], record["total_shares"]).copy()
        for field in ("revenue", "parent_net_profit"):
            reports[f"{field}_yoy"] = np.round(reports[field].pct_change(4).to_numpy() * 100, 4)
        reports["net_cash_flow"] = np.round(reports["operating_cash_flow"] + reports["investing_cash_flow"]
                                            + reports["financing_cash_flow"], 2)
        if record["code"] == BANK_SYMBOL:
            reports["cash"], reports["gross_margin"] = np.nan, np.nan
        delisted = record["delist_date"] if pd.notna(record["delist_date"]) else None
        if delisted is not None:  # a delisted company reports no period after it left
            reports = reports[reports["report_date"] <= delisted]
        reports["code"], reports["name"] = code_on(record, today), name_on(record, today)
        reports["industry"], reports["board"] = industry_on(record, today), record["board"]
        frames.append(reports)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def report_table(reports: pd.DataFrame, table: str, period: dt.date, today: dt.date) -> pd.DataFrame:
    """A whole-market report table (akshare's frame) of `period` as known on `today`, cut from
    `market_reports`, newest announcement first (eastmoney sorts by NOTICE_DATE, SECURITY_CODE,
    both descending). The balance, income and cash-flow tables leave the BSE out; "balance_bse"
    holds only it; the summary holds everyone."""
    if reports.empty:
        return pd.DataFrame()
    chosen = (reports["report_date"] == period) & (reports["notice_date"] <= today)
    if table != "summary":
        chosen &= (reports["board"] == "bse") == (table == "balance_bse")
    rows = reports[chosen.to_numpy()]
    if rows.empty:
        return pd.DataFrame()
    columns = REPORT_TABLE_COLUMNS[table]
    notice = "最新公告日期" if table == "summary" else "公告日期"
    frame = pd.DataFrame({column: (rows[field].astype("float64").to_numpy() if field else np.nan)
                          for column, field in columns.items()})
    frame["股票代码"], frame["股票简称"] = rows["code"].to_numpy(), rows["name"].to_numpy()
    frame[notice] = rows["notice_date"].to_numpy()
    if table == "summary":
        frame["所处行业"] = rows["industry"].to_numpy()
    frame = frame.sort_values([notice, "股票代码"], ascending=False, kind="stable").reset_index(drop=True)
    frame.insert(0, "序号", range(1, len(frame) + 1))
    return frame


#: Statutory disclosure deadlines: Q1 by 04-30, H1 by 08-31, Q3 by 10-31, annual by 04-30 next year.
_NOTICE_WINDOWS = {3: ((4, 10), (4, 30), 0), 6: ((7, 20), (8, 31), 0), 9: ((10, 15), (10, 31), 0),
                   12: ((3, 1), (4, 30), 1)}
_REPORT_TYPES = {3: "一季报", 6: "中报", 9: "三季报", 12: "年报"}


@lru_cache(maxsize=256)
def _reports(seed: int, symbol: str, list_date: dt.date, total_shares: int) -> pd.DataFrame:
    """Quarterly reports of `symbol` from its listing on, as Chinese companies file them, with
    announcement dates inside the statutory windows. One row per report; money in CNY, per-share
    figures in CNY per share (on `total_shares`), ratios in percent.

    The statements hold together as real ones do, so that a researcher's first plot looks like
    a company's: each quarter's profit is a return on the equity at its start (a company's own
    annual ROE, mostly 4..20%, for about one company in eight a loss of up to 8%, plus noise) and its
    revenue a turnover of that equity (with a mild seasonal pattern), so revenue grows smoothly with
    equity; equity evolves as the previous quarter's equity + profit - the dividend (a payout of the
    previous year's parent profit, paid in Q3); liabilities follow a slowly drifting debt ratio
    and assets = liabilities + equity to the fen. Income and cash-flow items are year-to-date
    (Q1, H1, Q3, annual cumulative), balance items at the quarter end; roe is the year-to-date
    parent profit over the average of the parent equity at the year's start and at the period end
    (eastmoney's weighted ROE, not annualised). A company listed mid-year has run since January:
    its first report's year-to-date figures cover the whole year so far.
    """
    rng = np.random.default_rng([seed, int(symbol), 404])
    timing = np.random.default_rng([seed, int(symbol), 405])  # announcement dates, drawn apart
    bank = symbol == BANK_SYMBOL
    first_year = max(FIRST_REPORT.year, list_date.year)
    ends = [d.date() for d in pd.date_range(dt.date(first_year, 1, 1), _calendar()[-1], freq="QE")]
    n = len(ends)
    if bank:
        roe, turnover, debt_ratio = rng.uniform(0.09, 0.13), rng.uniform(0.25, 0.35), rng.uniform(0.9, 0.93)
    else:
        roe = rng.uniform(-0.08, 0.0) if rng.random() < 0.125 else rng.uniform(0.04, 0.2)
        turnover, debt_ratio = rng.uniform(0.5, 2.5), rng.uniform(0.3, 0.65)
    equity = total_shares * rng.uniform(2.0, 12.0)  # book value of 2..12 CNY a share when the reports start
    parent_share, payout, cash_share = rng.uniform(0.85, 1.0), rng.uniform(0.2, 0.5), rng.uniform(0.05, 0.2)
    gross_spread = rng.uniform(0.1, 0.35)  # gross margin above net margin
    season = np.array([0.23, 0.25, 0.25, 0.27]) * rng.uniform(0.97, 1.03, 4)
    season /= season.sum()
    roe_noise, revenue_noise = rng.normal(0.0, 0.025, n), np.exp(rng.normal(0.0, 0.04, n))
    debt_steps, cash_noise, rd = rng.normal(0.0, 0.01, n), rng.uniform(0.6, 1.6, n), rng.uniform(1, 8)
    low, high = (0.88, 0.94) if bank else (0.15, 0.8)
    rows, year_start_parent, last_annual_parent = [], equity * parent_share, 0.0
    ytd = dict.fromkeys(("revenue", "profit", "cash", "invest", "finance"), 0.0)
    for i, end in enumerate(ends):
        quarter = end.month // 3
        if quarter == 1:
            ytd = dict.fromkeys(ytd, 0.0)
        revenue = equity * turnover * season[quarter - 1] * revenue_noise[i]
        profit = equity * (roe + roe_noise[i]) * season[quarter - 1]
        dividend = payout * last_annual_parent / parent_share if quarter == 3 and last_annual_parent > 0 else 0.0
        operating_cash = profit * cash_noise[i] + revenue * 0.02
        equity += profit - dividend
        debt_ratio = min(max(debt_ratio + debt_steps[i], low), high)
        ytd["revenue"] += revenue
        ytd["profit"] += profit
        ytd["cash"] += operating_cash
        ytd["invest"] -= abs(operating_cash) * 0.5
        ytd["finance"] -= dividend + abs(operating_cash) * 0.1
        total_equity = round(equity, 2)
        liabilities = round(equity * debt_ratio / (1 - debt_ratio), 2)
        assets = round(total_equity + liabilities, 2)
        parent_equity = round(equity * parent_share, 2)
        parent = ytd["profit"] * parent_share
        if quarter == 4:
            last_annual_parent = parent
        net_margin = ytd["profit"] / ytd["revenue"]
        row = {
            "report_date": end, "report_type": _REPORT_TYPES[end.month],
            "notice_date": _notice_date(timing, end),
            "revenue": round(ytd["revenue"], 2),
            "operating_cost": round(ytd["revenue"] * (1 - max(net_margin + gross_spread, 0.05)), 2),
            "net_profit": round(ytd["profit"], 2), "parent_net_profit": round(parent, 2),
            "deducted_net_profit": round(parent - abs(parent) * 0.05, 2),
            "operating_cash_flow": round(ytd["cash"], 2), "investing_cash_flow": round(ytd["invest"], 2),
            "financing_cash_flow": round(ytd["finance"], 2), "interest_income": round(ytd["revenue"] * 0.7, 2),
            "total_assets": assets, "current_assets": round(assets * 0.55, 2), "cash": round(assets * cash_share, 2),
            "total_liabilities": liabilities, "current_liabilities": round(liabilities * 0.7, 2),
            "total_equity": total_equity, "parent_equity": parent_equity,
            "loans": round(assets * 0.5, 2), "deposits": round(liabilities * 0.75, 2),
            "eps_basic": round(parent / total_shares, 4), "bvps": round(parent_equity / total_shares, 4),
            "roe": round(parent / ((year_start_parent + parent_equity) / 2) * 100, 4),
            "gross_margin": round(max(net_margin + gross_spread, 0.05) * 100, 4),
            "net_margin": round(net_margin * 100, 4),
            "debt_to_assets": round(liabilities / assets * 100, 4), "rd_ratio": round(float(rd), 4),
        }
        if quarter == 4:
            year_start_parent = parent_equity
        if end >= list_date:
            rows.append(row)
    return pd.DataFrame(rows)


def _notice_date(rng: np.random.Generator, end: dt.date) -> dt.date:
    """A day inside the statutory disclosure window of the report for quarter end `end`."""
    (m1, d1), (m2, d2), next_year = _NOTICE_WINDOWS[end.month]
    first, last = dt.date(end.year + next_year, m1, d1), dt.date(end.year + next_year, m2, d2)
    return first + dt.timedelta(days=int(rng.integers(0, (last - first).days + 1)))
