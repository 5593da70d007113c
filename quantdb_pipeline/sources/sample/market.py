"""The sample market's source, `SampleMarket`: answers each `MarketSource` request in akshare's
shape from the simulated universe, prices, actions and reports, counting the requests the real
vendors would have cost."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import Counter
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quantdb_pipeline.settings import MARKET_TIMEZONE
from quantdb_pipeline.sources.base import (
    REPORT_TABLES,
    HkFactorFrames,
    ListingFrames,
    bse_list_requests,
    data_center_requests,
    spot_pages,
    statement_requests,
)
from quantdb_pipeline.sources.request_counting import note_source
from quantdb_pipeline.sources.sample.corporate_actions import dividend_table, ex_date_reference
from quantdb_pipeline.sources.sample.financials import (
    ABSTRACT_ROWS,
    STATEMENT_ITEMS,
    _reports,
    market_reports,
    report_table,
)
from quantdb_pipeline.sources.sample.hong_kong import HK_LISTED_FROM, HK_SYMBOLS, _hk_history, _hk_simulation
from quantdb_pipeline.sources.sample.indices import INDEX_SYMBOLS, _index_history
from quantdb_pipeline.sources.sample.prices import _cut, _history, _pre_origin_history
from quantdb_pipeline.sources.sample.quotes import spot_quotes
from quantdb_pipeline.sources.sample.universe import (
    BANK_SYMBOL,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    INDUSTRY_BOARDS,
    SIMULATION_ORIGIN,
    _calendar,
    _universe,
    code_on,
    industry_on,
    name_changes,
    name_on,
)
from quantdb_pipeline.symbols import index_exchange


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
            raise ValueError(f"sample market today {today} is after the end of the bundled SSE calendar ({last_day})")
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
        for endpoint in (
            "stock_info_sh_name_code",
            "stock_info_sh_name_code",
            "stock_info_sz_name_code",
            "stock_info_sh_delist",
            "stock_info_sz_delist",
        ):
            self.requests[endpoint] += 1
        u = self.universe().assign(name=[name_on(r, self._today) for r in self._universe.to_dict("records")])
        listed = u[(u["list_date"] <= self._today) & ~(u["delist_date"] <= self._today)]
        delisted = u[u["delist_date"] <= self._today]
        self.requests["stock_info_bj_name_code"] += bse_list_requests(int((listed["exchange"] == "BJ").sum()))

        def sh(frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame(
                {
                    "证券代码": frame["code"],
                    "证券简称": frame["name"],
                    "证券全称": frame["name"],
                    "公司简称": frame["name"],
                    "公司全称": frame["name"] + " Co., Ltd.",
                    "上市日期": frame["list_date"],
                }
            ).reset_index(drop=True)

        sz = listed[listed["exchange"] == "SZ"]
        bj = listed[listed["exchange"] == "BJ"]
        delisted_sh = delisted[delisted["exchange"] == "SH"]
        delisted_sz = delisted[delisted["exchange"] == "SZ"]
        return ListingFrames(
            sh_main=sh(listed[(listed["exchange"] == "SH") & (listed["board"] == "main")]),
            sh_star=sh(listed[listed["board"] == "star"]),
            sz=pd.DataFrame(
                {
                    "板块": np.where(sz["board"] == "chinext", "创业板", "主板"),
                    "A股代码": sz["code"],
                    "A股简称": sz["name"],
                    "A股上市日期": sz["list_date"].map(dt.date.isoformat),
                    "A股总股本": sz["total_shares"],
                    "A股流通股本": sz["float_shares"],
                    "所属行业": "C 制造业",
                }
            ).reset_index(drop=True),
            bj=pd.DataFrame(
                {
                    "证券代码": bj["code"],
                    "证券简称": bj["name"],
                    "总股本": bj["total_shares"],
                    "流通股本": bj["float_shares"],
                    "上市日期": bj["list_date"],
                    "所属行业": "制造业",
                    "地区": "北京市",
                    "报告日期": self._today,
                }
            ).reset_index(drop=True),
            sh_delisted=delisted_sh[["code", "name", "list_date", "delist_date"]]
            .set_axis(["公司代码", "公司简称", "上市日期", "暂停上市日期"], axis=1)
            .reset_index(drop=True),
            sz_delisted=delisted_sz[["code", "name", "list_date", "delist_date"]]
            .set_axis(["证券代码", "证券简称", "上市日期", "终止上市日期"], axis=1)
            .reset_index(drop=True),
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
        listed = universe[
            (universe["list_date"] <= session) & ~universe["delist_date"].map(lambda d: d is not None and d <= session)
        ]
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
            rows.append(
                {
                    "代码": code,
                    "名称": HK_SYMBOLS[code][0],
                    "最新价": close,
                    "涨跌额": round(close - previous, 3),
                    "涨跌幅": round((close / previous - 1) * 100, 2),
                    "今开": day("开盘"),
                    "最高": day("最高"),
                    "最低": day("最低"),
                    "昨收": previous,
                    "成交量": day("成交量"),
                    "成交额": day("成交额"),
                }
            )
        self.requests["stock_hk_main_board_spot_em"] += spot_pages(len(rows))
        frame = pd.DataFrame(
            rows,
            columns=["代码", "名称", "最新价", "涨跌额", "涨跌幅", "今开", "最高", "最低", "昨收", "成交量", "成交额"],
        )
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
            qfq.append((day, float(np.prod(ratios[i + 1 :]))))
        qfq[0] = (start, float(np.prod(ratios)))
        return HkFactorFrames(
            pd.DataFrame(hfq[::-1], columns=["date", "hfq_factor", "cash"]),
            pd.DataFrame(qfq[::-1], columns=["date", "qfq_factor"]),
        )

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
            "最新": price,
            "股票代码": symbol,
            "股票简称": name_on(record, self._today),
            "总股本": float(total),
            "流通股": float(floating),
            "总市值": round(total * price, 2),
            "流通市值": round(floating * price, 2),
            "行业": industry_on(record, self._today),
            "上市时间": int(record["list_date"].strftime("%Y%m%d")),
        }
        return pd.DataFrame({"item": list(values), "value": list(values.values())})

    def _listed_records(self) -> list[dict]:
        """Universe records listed on today, each under its code of today."""
        return [
            {**r, "code": code_on(r, self._today)}
            for r in self._universe.to_dict("records")
            if r["list_date"] <= self._today and not (r["delist_date"] is not None and r["delist_date"] <= self._today)
        ]

    def industry_boards_raw(self) -> pd.DataFrame:
        """The industry boards of today's listed symbols, shaped like `stock_board_industry_name_em()`;
        a request per 100 boards, as akshare pages them."""
        industries = sorted({industry_on(r, self._today) for r in self._listed_records()})
        self.requests["stock_board_industry_name_em"] += spot_pages(len(industries))
        n = len(industries)
        return pd.DataFrame(
            {
                "排名": np.arange(1, n + 1),
                "板块名称": industries,
                "板块代码": [INDUSTRY_BOARDS[i] for i in industries],
                "最新价": 1000.0,
                "涨跌额": 0.0,
                "涨跌幅": 0.0,
                "总市值": np.nan,
                "换手率": np.nan,
                "上涨家数": 0,
                "下跌家数": 0,
                "领涨股票": "-",
                "领涨股票-涨跌幅": 0.0,
            }
        )

    def industry_constituents_raw(self, board_code: str) -> pd.DataFrame:
        """Today's listed symbols of one board, shaped like `stock_board_industry_cons_em(board_code)`;
        a request per 100 rows (one for an empty board, where akshare then fails)."""
        members = [r for r in self._listed_records() if INDUSTRY_BOARDS[industry_on(r, self._today)] == board_code]
        self.requests["stock_board_industry_cons_em"] += spot_pages(len(members))
        n = len(members)
        return pd.DataFrame(
            {
                "序号": np.arange(1, n + 1),
                "代码": [r["code"] for r in members],
                "名称": [name_on(r, self._today) for r in members],
                "最新价": 10.0,
                "涨跌幅": 0.0,
                "涨跌额": 0.0,
                "成交量": 0.0,
                "成交额": 0.0,
                "振幅": 0.0,
                "最高": 10.0,
                "最低": 10.0,
                "今开": 10.0,
                "昨收": 10.0,
                "换手率": 0.0,
                "市盈率-动态": np.nan,
                "市净率": np.nan,
            }
        )

    def sz_name_changes_raw(self) -> pd.DataFrame:
        """SZSE's short-name changes up to today, shaped like `stock_info_sz_change_name("简称变更")`
        (sorted by 变更日期, as akshare sorts them); one request."""
        self.requests["stock_info_sz_change_name"] += 1
        rows = [
            (day, record["code"], name_on(record, self._today), before, after)
            for record in self._listed_records()
            if record["exchange"] == "SZ"
            for day, before, after in name_changes(record, self._today)
        ]
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
        record = self._known(symbol)
        events = _history(self.seed, record)[2]
        ratio = float(np.prod([1 + s for d, s in zip(events["ex_date"], events["shares"]) if d <= day]))
        return int(round(record["total_shares"] * ratio)), int(round(record["float_shares"] * ratio))

    def financial_reports(self, symbol: str) -> pd.DataFrame:
        """Every simulated report of `symbol` (also those not announced yet), canonical names."""
        record = self._known(symbol)
        return _reports(self.seed, record["code"], record["list_date"], record["total_shares"])

    def statement_raw(self, symbol: str, statement: str) -> pd.DataFrame:
        """One of eastmoney's three statements by report period, as akshare returns it
        (`stock_balance_sheet_by_report_em` etc.): one row per announced report, newest first."""
        endpoint = {
            "balance": "stock_balance_sheet_by_report_em",
            "income": "stock_profit_sheet_by_report_em",
            "cash_flow": "stock_cash_flow_sheet_by_report_em",
        }[statement]
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
        yoy = {
            item: np.round(reports[column].pct_change(4).to_numpy()[announced][::-1] * 100, 4)
            for item, column in items.items()
        }
        reports = reports[announced].iloc[::-1]
        frame = pd.DataFrame(
            {
                "SECUCODE": f"{symbol}.{record['exchange']}",
                "SECURITY_CODE": symbol,
                "SECURITY_NAME_ABBR": name_on(record, self._today),
                "ORG_CODE": f"10{symbol}",
                "ORG_TYPE": "银行" if bank else "通用",
                "REPORT_DATE": [f"{d} 00:00:00" for d in reports["report_date"]],
                "REPORT_TYPE": reports["report_type"].to_numpy(),
                "REPORT_DATE_NAME": reports["report_type"].to_numpy(),
                "SECURITY_TYPE_CODE": "058001001",
                "NOTICE_DATE": [f"{d} 00:00:00" for d in reports["notice_date"]],
                "UPDATE_DATE": [f"{d} 00:00:00" for d in reports["notice_date"]],
                "CURRENCY": "CNY",
            }
        )
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
        rows = [
            (section, label, column)
            for section, label, column in ABSTRACT_ROWS
            if not (symbol == BANK_SYMBOL and column == "gross_margin")
        ]
        frame = pd.DataFrame({"选项": [r[0] for r in rows], "指标": [r[1] for r in rows]})
        for _, report in reports.iterrows():
            frame[report["report_date"].strftime("%Y%m%d")] = [
                float(report[column]) if column in report and pd.notna(report[column]) else np.nan
                for _, _, column in rows
            ]
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

    def _known(self, symbol: str) -> dict:
        """`_record` of a symbol the caller knows trades today; KeyError naming it otherwise."""
        record = self._record(symbol)
        if record is None:
            raise KeyError(f"{symbol} does not trade in the sample market on {self._today}")
        return record

    def corporate_actions(self, symbol: str) -> pd.DataFrame:
        """Every simulated ex-date of `symbol` (also those after today): cash, shares, reference price."""
        return _history(self.seed, self._known(symbol))[2].copy()

    def dividends_raw(self, period: dt.date) -> pd.DataFrame:
        """The whole market's distribution plans for report `period` as announced by today,
        shaped like `stock_fhps_em(date)` (amounts per 10 shares, ex-date once implemented)."""
        events = {
            code_on(record, self._today): _history(self.seed, record)[2]
            for record in self._universe.to_dict("records")
            if record["list_date"] <= self._today
        }
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
