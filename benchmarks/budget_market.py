"""A light full-size market for the request-budget benchmark: the sample market's universe at
5,000 A-shares and 2,600 HK main-board names, with answers that cost nothing to simulate.

Why not `SampleMarket(size=5000)` itself: its universe is built in a quarter second, but every
answer that touches prices simulates the symbol's whole path from 2016 (the quote list of 5,000
symbols takes about 150 s, a first load many times that). The request count of a job does not
depend on the length of a symbol's history (one kline request returns a symbol's whole range),
so this market keeps the sample's universe, boards, names, listing lists, report calendar and
statements, and answers prices flat:

- every symbol trades at one price (its sample start price), so no row rule, price limit,
  quote-list day check or reconciliation can fail for a reason of the benchmark's making;
- a history answer holds the last `BAR_ANSWER_SESSIONS` sessions of the window asked for (the
  window itself is whatever the loader asks: from listing on a first load);
- listing dates spread over each board's life (main boards from 1991, ChiNext from 2009-10-30,
  STAR from 2019-07-22, BSE from 2021-11-15) up to `LAST_LISTING`; `DELISTED_SHARE` of the SH/SZ
  names are delisted (the BSE has no delisting list in akshare, so none there);
- yearly cash dividends (ex-dates in June..August, paid from the previous annual report) for
  `DIVIDEND_SHARE` of the symbols, in eastmoney's dividend table and sina's hfq factors alike;
- HK: `hk_size` five-digit codes on the main board, flat bars, no corporate actions (sina's
  factor scripts hold only their start row).

Shapes are those of `SampleMarket` (akshare's frames), so the fakes in
`quantdb_pipeline_tests.faults` serve it unchanged. `move_to(day)` advances "today".
"""

from __future__ import annotations

import datetime as dt
import zlib
from bisect import bisect_left, bisect_right
from functools import lru_cache

import numpy as np
import pandas as pd

from quantdb_pipeline.sources.base import HkFactorFrames
from quantdb_pipeline.sources.calendars import hk_trading_days
from quantdb_pipeline.sources.sample import (
    BANK_SYMBOL,
    DELIST_DATE,
    DELISTED_SYMBOL,
    FIRST_REPORT,
    SampleMarket,
    code_on,
    name_on,
    industry_on,
)
from quantdb_pipeline.sources.sample.corporate_actions import dividend_table, report_period_of
from quantdb_pipeline.sources.sample.financials import _reports
from quantdb_pipeline.sources.sample.quotes import spot_quotes
from quantdb_pipeline.sources.sample.universe import _calendar, _first_trading_day_on_or_after

#: Sessions a history answer holds: the last ones of the window asked for.
BAR_ANSWER_SESSIONS = 3
#: Listings are drawn up to this day (the benchmark's days come after it).
LAST_LISTING = dt.date(2026, 1, 30)
#: When each board's listings start in this market (the main boards with the SSE itself).
BOARD_FIRST_LISTING = {
    "main": dt.date(1991, 1, 2),
    "chinext": dt.date(2009, 10, 30),
    "star": dt.date(2019, 7, 22),
    "bse": dt.date(2021, 11, 15),
}
DELISTED_SHARE = 0.05
DIVIDEND_SHARE = 0.6
#: Lots traded per day (A-shares) and shares (HK), the same every day.
LOTS, HK_SHARES = 20_000, 1_000_000


def _hash(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


class BudgetMarket(SampleMarket):
    """`SampleMarket`'s universe at full size with flat, cheap answers (see the module docstring)."""

    name = "budget"

    def __init__(self, today: dt.date, size: int = 5000, hk_size: int = 2600, seed: int = 20240101):
        super().__init__(today=today, size=size, seed=seed)
        rng = np.random.default_rng([seed, 16])
        universe = self._universe.copy()
        lists, delists = [], []
        for record in universe.to_dict("records"):
            first = BOARD_FIRST_LISTING[record["board"]]
            listed = _first_trading_day_on_or_after(
                first + dt.timedelta(days=int(rng.integers(0, (LAST_LISTING - first).days)))
            )
            delisted = None
            if record["board"] != "bse" and rng.random() < DELISTED_SHARE:
                span = (LAST_LISTING - listed).days
                if span > 400:
                    delisted = _first_trading_day_on_or_after(listed + dt.timedelta(days=int(rng.integers(365, span))))
            if record["code"] == DELISTED_SYMBOL:  # the sample's own delisting (the SSE list is never empty)
                listed, delisted = min(listed, dt.date(2015, 1, 5)), DELIST_DATE
            lists.append(listed)
            delists.append(delisted)
        universe["list_date"], universe["delist_date"] = lists, pd.Series(delists, dtype=object)
        self._universe = universe
        self._by_code = {record["code"]: record for record in universe.to_dict("records")}
        self.hk_codes = sorted(f"{code:05d}" for code in rng.choice(np.arange(1, 10000), hk_size, replace=False))
        self._events = self._dividend_events()
        # about ten symbols per residue: the first load's answers together cover (nearly) every session
        self.stride, self.hk_stride = max(1, size // 10), max(1, hk_size // 10)

    def move_to(self, day: dt.date) -> None:
        """The market as of `day` (after its close)."""
        self._today = day

    # -- records and prices ---------------------------------------------------------------

    def _record(self, symbol: str) -> dict | None:
        canonical = "92" + symbol[2:] if symbol.startswith("83") else symbol
        record = self._by_code.get(canonical)
        return record if record is not None and code_on(record, self._today) == symbol else None

    @staticmethod
    def _price(record: dict) -> float:
        return float(record["start_price"])

    def _sessions(self, first: dt.date, last: dt.date) -> list[dt.date]:
        days = _calendar()
        return list(days[bisect_left(days, first) : bisect_right(days, last)])

    def _last_trading_day(self, record: dict) -> dt.date:
        last = self._today
        if record["delist_date"] is not None:
            last = min(last, record["delist_date"] - dt.timedelta(days=1))
        return last

    @staticmethod
    def _bars(days: list[dt.date], price: float, lots: int, code: str) -> pd.DataFrame:
        n = len(days)
        return pd.DataFrame(
            {
                "日期": days,
                "股票代码": code,
                "开盘": [price] * n,
                "收盘": [price] * n,
                "最高": [price] * n,
                "最低": [price] * n,
                "成交量": [lots] * n,
                "成交额": [round(lots * 100 * price, 2)] * n,
                "振幅": [0.0] * n,
                "涨跌幅": [0.0] * n,
                "涨跌额": [0.0] * n,
                "换手率": [0.5] * n,
            }
        )

    # -- A-shares -------------------------------------------------------------------------

    def a_share_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        self.requests["stock_zh_a_hist"] += 1
        record = self._record(symbol)
        if record is None:
            return pd.DataFrame()
        days = _sparse(
            self._sessions(max(start, record["list_date"]), min(end, self._last_trading_day(record))),
            _calendar(),
            symbol,
            self.stride,
        )
        if not days:
            return pd.DataFrame()
        return self._bars(days, self._price(record), LOTS, symbol)

    def a_share_spot_raw(self) -> pd.DataFrame:
        session = _calendar()[bisect_right(_calendar(), self._today) - 1]
        universe = self._universe
        listed = universe[
            (universe["list_date"] <= session) & ~universe["delist_date"].map(lambda d: d is not None and d <= session)
        ]
        records = listed.to_dict("records")
        last_rows = [self._bars([session], self._price(r), LOTS, r["code"]).iloc[0] for r in records]
        names = [name_on(r, session) for r in records]
        listed = listed.assign(code=[code_on(r, session) for r in records])
        quotes = spot_quotes(listed, names, last_rows, session, None)
        self.requests["stock_zh_a_spot_em"] += -(-len(quotes) // 100)
        return quotes

    def _dividend_events(self) -> dict[dt.date, dict[str, pd.DataFrame]]:
        """report period -> code -> its events (`corporate_actions` frames): one cash dividend a
        year for `DIVIDEND_SHARE` of the symbols, ex-date in June..August of the next year."""
        calendar = _calendar()
        by_period: dict[dt.date, dict[str, list]] = {}
        self._ex_dates: dict[str, list[tuple[dt.date, float]]] = {}
        for record in self._universe.to_dict("records"):
            code = record["code"]
            if _hash(code, "pays") % 100 >= DIVIDEND_SHARE * 100:
                continue
            price = self._price(record)
            cash = max(0.01, round(price * 0.02, 2))
            for year in range(record["list_date"].year + 1, LAST_LISTING.year + 1):
                ex_date = calendar[
                    bisect_left(calendar, dt.date(year, 6, 1) + dt.timedelta(days=_hash(code, year) % 80))
                ]
                if record["delist_date"] is not None and ex_date >= record["delist_date"]:
                    break
                self._ex_dates.setdefault(code, []).append((ex_date, cash))
                period = report_period_of(code, ex_date)
                by_period.setdefault(period, {}).setdefault(code, []).append(
                    {
                        "ex_date": ex_date,
                        "cash": cash,
                        "shares": 0.0,
                        "previous_close": price,
                        "reference_close": round(price - cash, 2),
                    }
                )
        return {
            period: {code: pd.DataFrame(rows) for code, rows in codes.items()} for period, codes in by_period.items()
        }

    def dividends_raw(self, period: dt.date) -> pd.DataFrame:
        table = self._dividends(period, self._today)
        self.requests["stock_fhps_em"] += 1 + -(-len(table) // 500)
        return table.copy()

    @lru_cache(maxsize=64)
    def _dividends(self, period: dt.date, today: dt.date) -> pd.DataFrame:
        events = {
            code_on(self._by_code[code], today): frame
            for code, frame in self._events.get(period, {}).items()
            if self._by_code[code]["list_date"] <= today
        }
        return dividend_table(events, self.universe(), period, today)

    def adjustment_factors_raw(self, symbol: str) -> pd.DataFrame:
        """sina's cumulative hfq factors: 1.0 from the listing day, x price / (price - cash) on
        each ex-date up to today; newest first."""
        self.requests["stock_zh_a_daily_hfq_factor"] += 1
        record = self._record(symbol)
        if record is None:
            raise ValueError("sina hfq factor not available")
        price = self._price(record)
        rows, factor = [(pd.Timestamp(record["list_date"]), 1.0)], 1.0
        for ex_date, cash in self._ex_dates.get(record["code"], []):
            if ex_date > self._today:
                break
            factor *= price / (price - cash)
            rows.append((pd.Timestamp(ex_date), factor))
        return pd.DataFrame(rows[::-1], columns=["date", "hfq_factor"])

    def individual_info_raw(self, symbol: str) -> pd.DataFrame:
        self.requests["stock_individual_info_em"] += 1
        record = self._record(symbol)
        if record is None or record["list_date"] > self._today:
            raise KeyError("data")
        price, total, floating = self._price(record), record["total_shares"], record["float_shares"]
        values = {
            "最新": price,
            "股票代码": symbol,
            "股票简称": name_on(record, self._today),
            "总股本": float(total),
            "流通股": float(floating),
            "总市值": round(total * price, 2),
            "流通市值": round(floating * price, 2),
            "行业": "银行" if symbol == BANK_SYMBOL else industry_on(record, self._today),
            "上市时间": int(record["list_date"].strftime("%Y%m%d")),
        }
        return pd.DataFrame({"item": list(values), "value": list(values.values())})

    def statement_raw(self, symbol: str, statement: str) -> pd.DataFrame:
        """The sample's statement, kept per day: the F10 fake asks for it on every page request."""
        return self._statement(symbol, statement, self._today).copy()

    @lru_cache(maxsize=64)
    def _statement(self, symbol: str, statement: str, today: dt.date) -> pd.DataFrame:
        return super().statement_raw(symbol, statement)

    def financial_reports(self, symbol: str) -> pd.DataFrame:
        """The sample's reports, from `FIRST_REPORT` on for every symbol: eastmoney shows a new
        listing's reports from before its listing too (a symbol without any would fail)."""
        record = self._record(symbol)
        return _reports(self.seed, record["code"], min(record["list_date"], FIRST_REPORT), record["total_shares"])

    def shares_on(self, symbol: str, day: dt.date) -> tuple[int, int]:
        record = self._record(symbol)
        return int(record["total_shares"]), int(record["float_shares"])

    # -- Hong Kong ------------------------------------------------------------------------

    def _hk_price(self, code: str) -> float:
        return round(1 + _hash(code, "hk") % 20000 / 100, 2)

    def _hk_sessions(self, first: dt.date, last: dt.date) -> list[dt.date]:
        days = _hk_calendar()
        return list(days[bisect_left(days, first) : bisect_right(days, last)])

    def _hk_bars(self, code: str, days: list[dt.date]) -> pd.DataFrame:
        bars = self._bars(days, self._hk_price(code), HK_SHARES, code).drop(columns="股票代码")
        return bars.assign(成交额=round(HK_SHARES * self._hk_price(code), 2))

    def hk_listings_raw(self) -> pd.DataFrame:
        self.requests["stock_hk_main_board_spot_em"] += -(-len(self.hk_codes) // 100)
        return self.hk_quote_list()

    def hk_quote_list(self) -> pd.DataFrame:
        """The HK main board's quotes after today's close, with the quote-list columns the A-share
        fake encodes (eastmoney sends both lists with the same fields in the same order)."""
        prices = [self._hk_price(code) for code in self.hk_codes]
        n = len(prices)
        return pd.DataFrame(
            {
                "序号": range(1, n + 1),
                "代码": self.hk_codes,
                "名称": [f"HK {code}" for code in self.hk_codes],
                "最新价": prices,
                "涨跌额": 0.0,
                "涨跌幅": 0.0,
                "今开": prices,
                "最高": prices,
                "最低": prices,
                "昨收": prices,
                "成交量": float(HK_SHARES),
                "成交额": [round(HK_SHARES * p, 2) for p in prices],
                "振幅": 0.0,
                "换手率": 0.1,
                "市盈率-动态": np.nan,
                "量比": 1.0,
                "5分钟涨跌": 0.0,
                "总市值": np.nan,
                "流通市值": np.nan,
                "涨速": 0.0,
                "市净率": np.nan,
                "60日涨跌幅": np.nan,
                "年初至今涨跌幅": np.nan,
            }
        )

    def hk_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        self.requests["stock_hk_hist"] += 1
        if symbol not in set(self.hk_codes):
            return pd.DataFrame()
        days = _sparse(self._hk_sessions(start, min(end, self._today)), _hk_calendar(), symbol, self.hk_stride)
        return self._hk_bars(symbol, days) if days else pd.DataFrame()

    def hk_daily_history(self, symbol: str) -> pd.DataFrame:
        """What sina's `klc2_kl.js` holds: the last sessions up to today (akshare downloads it
        before each factor script and decodes it, whatever its length)."""
        return self._hk_bars(symbol, self._hk_sessions(dt.date(2010, 1, 1), self._today)[-BAR_ANSWER_SESSIONS:])

    def hk_corporate_actions(self, symbol: str) -> pd.DataFrame:
        return pd.DataFrame(columns=["ex_date", "cash", "shares", "previous_close"])

    def hk_adjustment_factors_raw(self, symbol: str) -> HkFactorFrames:
        self.requests["stock_hk_daily_hfq_factor"] += 2
        self.requests["stock_hk_daily_qfq_factor"] += 2
        start = dt.date(1900, 1, 1)
        return HkFactorFrames(
            pd.DataFrame([(start, 1.0, 0.0)], columns=["date", "hfq_factor", "cash"]),
            pd.DataFrame([(start, 1.0)], columns=["date", "qfq_factor"]),
        )


def _sparse(days: list[dt.date], calendar: tuple[dt.date, ...], symbol: str, stride: int) -> list[dt.date]:
    """The sessions an answer for the window `days` holds: its last `BAR_ANSWER_SESSIONS`.

    Contiguous on purpose: the loaders' closure judge takes a session that no answer of a run
    has a bar on, inside the answered spans of at least 8 symbols, for a market closure, and
    `ClosureJudge.finish` then costs (closures x windows x window length); answers with gaps
    (every n-th session besides the last ones) made a 5,000-symbol first load record closures
    and spend many minutes there. With contiguous answers no session inside a span lacks a bar;
    the judge still compares every session without a bar against every answer (quadratic in a
    first load of short answers: about a minute at 5,000 symbols). No request depends on it.
    `calendar`, `symbol` and `stride` are kept for a denser answer if that ever pays."""
    return days[-BAR_ANSWER_SESSIONS:]


@lru_cache(maxsize=1)
def _hk_calendar() -> tuple[dt.date, ...]:
    return tuple(hk_trading_days(_calendar()[-1]))
