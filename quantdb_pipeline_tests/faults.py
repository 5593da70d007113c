"""Fault injection for the reliability tests: a sample market that misbehaves on demand, and
a fake eastmoney kline endpoint (served from the sample market) for the real akshare code."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import requests
import responses

from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources.pacing import RetriesExhausted
from quantdb_pipeline.sources.sample import SampleMarket

KLINE_URL = "https://push2his.eastmoney.com/api/qt/stock/kline/get"
SINA_HFQ_URL = re.compile(r"https://finance\.sina\.com\.cn/realstock/company/(sh|sz|bj)(\d{6})/hfq\.js")
RAW_COLUMNS = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"]


# -- raw-frame faults (akshare-shaped frames, as a source would return them) ----------------


def renamed_column(raw):
    return raw.rename(columns={"收盘": "收盘价"})


def extra_column(raw):
    return raw.assign(新字段=1.0)


def wrong_dtype(raw):
    return raw.assign(收盘=raw["收盘"].map(lambda v: f"{v:.2f}"))


def negative_price(raw):
    raw = raw.copy()
    raw.loc[raw.index[len(raw) // 2], "收盘"] = -raw["收盘"].iloc[len(raw) // 2]
    return raw


def duplicate_dates(raw):
    twin = raw.iloc[[len(raw) // 2]].copy()
    twin["收盘"] = twin["收盘"] * 1.01
    return pd.concat([raw, twin], ignore_index=True)


def future_date(raw):
    extra = raw.iloc[[-1]].copy()
    extra["日期"] = extra["日期"].iloc[0] + dt.timedelta(days=30)
    return pd.concat([raw, extra], ignore_index=True)


def volume_in_shares(raw):
    """Upstream switching 成交量 from lots to shares: our x100 then overstates volume 100-fold."""
    return raw.assign(成交量=raw["成交量"] * 100)


def empty_frame(raw):
    return pd.DataFrame()


def connection_error(raw):
    raise requests.ConnectionError("connection reset by peer")


class FaultyMarket(SampleMarket):
    """The sample market, with `fault` applied to the answers for `symbol`."""

    def __init__(self, *args, symbol: str, fault: Callable, **kwargs):
        super().__init__(*args, **kwargs)
        self.fault_symbol, self.fault = symbol, fault

    def a_share_daily_raw(self, symbol, start, end):
        raw = super().a_share_daily_raw(symbol, start, end)
        return self.fault(raw) if symbol == self.fault_symbol else raw


def refuse(endpoint: str) -> Callable:
    """A stand-in for a source method whose endpoint is down: every call raises `RetriesExhausted`,
    as `AkshareSource` does once upstream kept failing through every retry (a ban or an outage:
    connection resets and empty bodies are what eastmoney sends then; which one does not matter,
    the source turns both into this after its retries)."""

    def down(self, *args, **kwargs):
        raise RetriesExhausted(f"{endpoint}: gave up after 5 attempts: ConnectionError: connection reset by peer")

    return down


class EndpointDown(SampleMarket):
    """The sample market with whole endpoints down: each method named in `down` (e.g.
    `hk_daily_raw`, `individual_info_raw`) raises `RetriesExhausted` on every call."""

    def __init__(self, *args, down: Iterable[str], **kwargs):
        super().__init__(*args, **kwargs)
        for name in down:
            setattr(self, name, refuse(name).__get__(self))


class EndpointDownResource(MarketSourceResource):
    """The sample market resource with the comma-separated source methods of `down` down."""

    down: str = ""

    def build(self):
        return EndpointDown(
            today=self.sample_today or None,
            size=self.sample_size,
            down=[n.strip() for n in self.down.split(",") if n.strip()],
        )


# -- HTTP-level: a fake eastmoney kline endpoint backed by the sample market ----------------


def kline_strings(raw: pd.DataFrame) -> list[str]:
    if raw.empty:
        return []
    rows = raw[RAW_COLUMNS].copy()
    rows["日期"] = rows["日期"].map(lambda d: d.isoformat() if hasattr(d, "isoformat") else str(d))
    return [",".join(str(v) for v in row) for row in rows.itertuples(index=False)]


class FakeEastmoney:
    """Answers `stock_zh_a_hist` requests from the sample market; faults are queued per symbol.

    Shaped like eastmoney's push2his kline payload as akshare 1.19.5 parses it ("date,open,
    close,high,low,volume,amount,amplitude,pct,chg,turnover"). Unadjusted 涨跌额/涨跌幅 are
    close-to-close on ex-dates, as recorded on real data (000001 on 2024-06-14: 10.80 -> 10.18,
    涨跌额 -0.62; 601398 on 2024-07-16). The pipeline never reads an ex-date from them, so it
    works whichever way upstream measures them.

    A queued fault is one of: an exception instance (raised by the transport), an int HTTP
    status, "captcha", "empty", or a callable applied to the raw frame before encoding.
    """

    def __init__(self, market: SampleMarket, mock: responses.RequestsMock):
        self.market = market
        self.faults: dict[str, list] = {}
        self.calls: list[str] = []
        self.ranges: list[tuple[str, dt.date, dt.date]] = []  # (symbol, beg, end) of each request answered
        mock.add_callback(responses.GET, KLINE_URL, callback=self._answer)

    def queue(self, symbol: str, *faults) -> None:
        self.faults.setdefault(symbol, []).extend(faults)

    def _answer(self, request):
        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        symbol = params["secid"].split(".")[1]
        self.calls.append(symbol)
        fault = self.faults.get(symbol, []).pop(0) if self.faults.get(symbol) else None
        if isinstance(fault, Exception):
            raise fault
        if isinstance(fault, int):
            return fault, {}, "<html><body>502 Bad Gateway</body></html>"
        if fault == "captcha":
            return 200, {"Content-Type": "text/html"}, "<html><title>验证码</title><body>请完成验证</body></html>"
        start = dt.datetime.strptime(params["beg"], "%Y%m%d").date()
        end = dt.datetime.strptime(params["end"], "%Y%m%d").date()
        self.ranges.append((symbol, start, end))
        raw = adjusted(self.market, symbol, self.market.a_share_daily_raw(symbol, start, end), params["fqt"])
        if fault == "empty":
            raw = pd.DataFrame()
        elif callable(fault):
            raw = fault(raw)
        body = {
            "rc": 0,
            "data": {
                "code": symbol,
                "market": int(params["secid"][0]),
                "name": symbol,
                "decimal": 2,
                "klines": kline_strings(raw),
            }
            if len(raw)
            else None,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


def adjusted(market: SampleMarket, symbol: str, raw: pd.DataFrame, fqt: str) -> pd.DataFrame:
    """Upstream's own adjusted klines (fqt=1 qfq, fqt=2 hfq): prices x factor, rounded to the fen,
    涨跌额/涨跌幅 of the adjusted series. How eastmoney computes its adjusted change is not
    documented; the tests compare our adjusted pct_change within the fen rounding only."""
    if fqt == "0" or raw.empty:
        return raw
    factors = market.adjustment_factors_raw(symbol).sort_values("date")
    days = pd.to_datetime(pd.Series(raw["日期"]).astype(str)).to_numpy()
    points, values = factors["hfq_factor"].to_numpy(), factors["date"].to_numpy()
    factor = points[np.maximum(np.searchsorted(values, days, side="right") - 1, 0)]
    before = points[np.maximum(np.searchsorted(values, days, side="left") - 1, 0)]  # the previous session's
    if fqt == "1":
        factor, before = factor / points[-1], before / points[-1]
    out = raw.copy()
    for column in ("开盘", "收盘", "最高", "最低"):
        out[column] = np.round(raw[column].to_numpy() * factor, 2)
    # unadjusted 涨跌额 is close-to-close: close - 涨跌额 is the previous unadjusted close
    previous = np.round((raw["收盘"] - raw["涨跌额"]).to_numpy() * before, 2)
    out["涨跌额"] = np.round(out["收盘"].to_numpy() - previous, 2)
    out["涨跌幅"] = np.round((out["收盘"].to_numpy() / previous - 1) * 100, 2)
    return out


class FakeSina:
    """Answers sina's hfq factor script (`stock_zh_a_daily(adjust="hfq-factor")`) from the sample
    market, in the shape akshare parses: `var hfq={"total": n, "data": [{"d": .., "f": ..}]}`."""

    def __init__(self, market: SampleMarket, mock: responses.RequestsMock):
        self.market = market
        self.faults: dict[str, list] = {}
        self.calls: list[str] = []
        mock.add_callback(responses.GET, SINA_HFQ_URL, callback=self._answer)

    def queue(self, symbol: str, *faults) -> None:
        self.faults.setdefault(symbol, []).extend(faults)

    def _answer(self, request):
        symbol = SINA_HFQ_URL.match(request.url).group(2)
        self.calls.append(symbol)
        fault = self.faults.get(symbol, []).pop(0) if self.faults.get(symbol) else None
        if isinstance(fault, Exception):
            raise fault
        if isinstance(fault, int):
            return fault, {}, "<html><body>502 Bad Gateway</body></html>"
        try:
            factors = self.market.adjustment_factors_raw(symbol)
        except ValueError:
            factors = pd.DataFrame({"date": [], "hfq_factor": []})
        if callable(fault):
            factors = fault(factors)
        rows = [{"d": d.strftime("%Y-%m-%d"), "f": f"{f:.10f}"} for d, f in zip(factors["date"], factors["hfq_factor"])]
        body = f"var hfq={json.dumps({'total': len(rows), 'data': rows})}\n/* sina finance */"
        return 200, {"Content-Type": "application/x-javascript"}, body


SINA_HK_URL = re.compile(r"https://finance\.sina\.com\.cn/stock/hkstock/(\d{5})/(klc2_kl|hfq|qfq)\.js")
#: Day 0 of the day count in sina's encoded histories (the decoder adds 7657 days to 1970-01-01).
SINA_DAY_ZERO = dt.date(1990, 12, 19)
_SINA_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class _Bits:
    """sina's bit stream: values written least significant bit first, six bits to a character."""

    def __init__(self):
        self.bits: list[int] = []

    def put(self, value: int, width: int, signed: bool = False) -> None:
        low, high = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
        if not low <= value < high:
            raise ValueError(f"{value} does not fit {width} bits")
        value &= (1 << width) - 1
        self.bits.extend((value >> k) & 1 for k in range(width))

    def text(self) -> str:
        assert len(self.bits) % 6 == 0, "the format keeps every record a whole number of characters"
        return "".join(
            _SINA_ALPHABET[sum(b << k for k, b in enumerate(self.bits[i : i + 6]))] for i in range(0, len(self.bits), 6)
        )


def encode_sina_history(bars: pd.DataFrame, decimals: int = 3, price_units: int = 8, volume_units: int = 12) -> str:
    """Daily bars (日期 开盘 最高 最低 收盘 成交量) in the encoding of sina's `klc2_kl.js`, as the
    decoder bundled with akshare (`akshare.stock.cons.hk_js_decode`, format 1479) reads it.

    Header: format 1479 (12 bits), 63 (6), price decimals (6), first day (18, signed), minimum
    price and volume widths (3 + 3, in units of 3 bits). Each record: a 6-bit control (0: the
    next weekday; 32 + 63: set the widths; 32 + 1: an absolute day follows in 18 bits), then the
    open against the last close (signed), high - open, open - low, close - open (signed) and the
    volume against the last volume (signed), each `price_units` / `volume_units` x 3 bits wide.
    """
    out = _Bits()
    scale = 10**decimals
    days = [(d - SINA_DAY_ZERO).days for d in bars["日期"]]
    low_price, low_volume = min(7, price_units), min(7, volume_units)
    out.put(1479, 12), out.put(63, 6), out.put(decimals, 6), out.put(days[0], 18, signed=True)
    out.put(low_price, 3), out.put(low_volume, 3)
    widen = volume_units % 2  # an odd volume width widens every field by one unit (the decoder's rule)
    price_bits, volume_bits = (price_units + widen) * 3, (volume_units + widen) * 3
    last_day, last_close, last_volume = days[0] - 1, 0, 0
    for i, (day, row) in enumerate(zip(days, bars.itertuples(index=False))):
        next_day = last_day + 1  # the next weekday: day numbers 3 and 4 (mod 7) are Saturdays and Sundays
        following = next_day + (2 if next_day % 7 == 3 else 1 if next_day % 7 == 4 else 0)
        if i == 0:  # the first record steps one weekday from the header's day - 1 and sets the widths
            out.put(32, 6), out.put(63, 6), out.put(price_units - low_price, 3), out.put(volume_units - low_volume, 3)
        elif day == following:
            out.put(0, 6)
        else:
            out.put(32, 6), out.put(1, 6), out.put(day, 18)
        o, h, lo, c = (round(float(getattr(row, name)) * scale) for name in ("开盘", "最高", "最低", "收盘"))
        volume = int(row.成交量)
        out.put(o - last_close, price_bits, signed=True), out.put(h - o, price_bits), out.put(o - lo, price_bits)
        out.put(c - o, price_bits, signed=True), out.put(volume - last_volume, volume_bits, signed=True)
        last_day, last_close, last_volume = day, c, volume
    return out.text()


class FakeSinaHongKong:
    """Answers sina's HK scripts from the sample market: the encoded unadjusted history
    (`klc2_kl.js`, which `stock_hk_daily` downloads before anything else) and the factor scripts
    `hfq.js` (`{"d", "f", "c"}`: hfq = price x f + c) and `qfq.js` (`{"d", "f"}`), newest first,
    one line each as akshare evaluates them. Faults are queued per (symbol, script): an int HTTP
    status, "nothing" (`{"total": 0, "data": []}`) or "one row" (the 1900-01-01 start row only).
    """

    def __init__(self, market: SampleMarket, mock):
        self.market = market
        self.faults: dict[tuple[str, str], list] = {}
        self.calls: list[tuple[str, str]] = []
        mock.add_callback(responses.GET, SINA_HK_URL, callback=self._answer)

    def queue(self, symbol: str, script: str, *faults) -> None:
        self.faults.setdefault((symbol, script), []).extend(faults)

    def _answer(self, request):
        symbol, script = SINA_HK_URL.match(request.url).groups()
        self.calls.append((symbol, script))
        queued = self.faults.get((symbol, script))
        fault = queued.pop(0) if queued else None
        if isinstance(fault, int):
            return fault, {}, '<html><head><meta charset="utf-8"></head><body>502 Bad Gateway</body></html>'
        if script == "klc2_kl":
            history = self.market.hk_daily_history(symbol)
            history = history[history["日期"] <= self.market.today()]
            return (
                200,
                {"Content-Type": "application/x-javascript"},
                f'var KLC_KL_hk{symbol}="{encode_sina_history(history)}";\n',
            )
        frames = self.market.hk_adjustment_factors_raw(symbol)
        frame = frames.hfq if script == "hfq" else frames.qfq
        if fault == "nothing":
            frame = frame.iloc[0:0]
        elif fault == "one row":
            frame = frame.iloc[-1:]
        rows = [
            {"d": str(r[0]), "f": f"{r[1]:.10f}", **({"c": f"{r[2]:.4f}"} if script == "hfq" else {})}
            for r in frame.itertuples(index=False)
        ]
        body = f"var hk{symbol}{script}={json.dumps({'total': len(rows), 'data': rows})}\n/* sina finance */"
        return 200, {"Content-Type": "application/x-javascript"}, body


QUOTE_LIST_URL = "https://82.push2.eastmoney.com/api/qt/clist/get"  # stock_zh_a_spot_em
HK_QUOTE_LIST_URL = "https://81.push2.eastmoney.com/api/qt/clist/get"  # stock_hk_main_board_spot_em
#: eastmoney's quote-list fields in the order its JSON lists them (akshare names them by position).
QUOTE_FIELDS = {
    "f1": None,
    "f2": "最新价",
    "f3": "涨跌幅",
    "f4": "涨跌额",
    "f5": "成交量",
    "f6": "成交额",
    "f7": "振幅",
    "f8": "换手率",
    "f9": "市盈率-动态",
    "f10": "量比",
    "f11": "5分钟涨跌",
    "f12": "代码",
    "f13": None,
    "f14": "名称",
    "f15": "最高",
    "f16": "最低",
    "f17": "今开",
    "f18": "昨收",
    "f20": "总市值",
    "f21": "流通市值",
    "f22": "涨速",
    "f23": "市净率",
    "f24": "60日涨跌幅",
    "f25": "年初至今涨跌幅",
    "f62": None,
    "f115": None,
    "f128": None,
    "f140": None,
    "f141": None,
    "f136": None,
    "f152": None,
}


def a_share_market_id(code: str) -> int:
    return 1 if str(code).startswith("6") else 0  # f13: 1 = SSE, 0 = SZSE/BSE


class FakeQuoteList:
    """Answers eastmoney's paged quote list (`pn`/`pz`) from a frame of akshare's columns: by
    default `stock_zh_a_spot_em` from the sample market's A-share quotes; with `url` =
    `HK_QUOTE_LIST_URL`, `quotes` = an HK list and `market_id` = 116, `stock_hk_main_board_spot_em`
    (the same fields in the same order; akshare names them by position). Numbers as eastmoney
    sends them with `fltt=2`, "-" where there is none (or the frame lacks the column).

    Two known upstream flaws on demand: `overlap` = k starts each later page k rows early, as
    when the list moves between page requests, so that k codes come twice and the last k never
    come (the page sizes and `total` stay right; akfamily/akshare#5640: "每次爬取的结果都有近百个是
    重复的，还有相同个数的遗漏"); `first_page_only` reports a `total` of one page, so that akshare
    stops after it (a truncated list, as when eastmoney capped its page size under akshare's
    paging: akfamily/akshare#5825, #6122). Whether a later page repeats or skips rows is not
    documented; the loader only trusts codes that came, so either shape leaves holes, not errors.

    `url`: eastmoney serves the HK main board's list (`stock_hk_main_board_spot_em`) from
    `HK_QUOTE_LIST_URL` with the same fields in the same order; pass `quotes` in these columns."""

    def __init__(
        self,
        market: SampleMarket | None,
        mock: responses.RequestsMock,
        quotes: pd.DataFrame | None = None,
        overlap: int = 0,
        first_page_only: bool = False,
        url: str = QUOTE_LIST_URL,
        market_id: Callable[[str], int] | int = a_share_market_id,
    ):
        self.quotes = market.a_share_spot_raw() if quotes is None else quotes
        self.overlap, self.first_page_only = overlap, first_page_only
        self.market_id = market_id if callable(market_id) else (lambda code: market_id)
        self.pages: list[int] = []
        self.params: list[dict] = []
        mock.add_callback(responses.GET, url, callback=self._answer)

    def _item(self, row) -> dict:
        item = {}
        for key, column in QUOTE_FIELDS.items():
            if key == "f13":
                value = self.market_id(row["代码"])
            else:
                value = row[column] if column and column in row else "-"
            if isinstance(value, float) and np.isnan(value):
                value = "-"
            item[key] = value.item() if hasattr(value, "item") else value
        return item

    def _answer(self, request):
        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        page, size = int(params["pn"]), int(params["pz"])
        self.pages.append(page)
        self.params.append(params)
        shift = (page - 1) * self.overlap
        first, last = (page - 1) * size, min(page * size, len(self.quotes))
        rows = self.quotes.sort_values("代码").iloc[first - shift : last - shift]
        total = min(size, len(self.quotes)) if self.first_page_only else len(self.quotes)
        body = {
            "rc": 0,
            "rt": 6,
            "svr": 181669,
            "lt": 1,
            "full": 1,
            "dlmkts": "",
            "data": {"total": total, "diff": [self._item(r) for _, r in rows.iterrows()]},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False)


INDUSTRY_BOARDS_URL = "https://17.push2.eastmoney.com/api/qt/clist/get"
INDUSTRY_CONSTITUENTS_URL = "https://29.push2.eastmoney.com/api/qt/clist/get"
#: Fields eastmoney's clist sends besides those asked for (akshare 1.19.5 names 32 columns of the
#: 30 fields `stock_board_industry_cons_em` asks for, as it names 31 of the quote list's 29).
CLIST_EXTRA_FIELDS = ("f140", "f141")


def clist_field_order(asked: str) -> list[str]:
    """The keys of one clist row in the order eastmoney's JSON lists them, which is the order
    akshare names the columns by: ascending field number, except that f136 follows f141 (as
    `QUOTE_FIELDS` records for the quote list)."""
    fields = set(asked.split(",")) | set(CLIST_EXTRA_FIELDS)
    return sorted(fields, key=lambda f: 141.5 if f == "f136" else int(f[1:]))


class FakeIndustryBoards:
    """Answers eastmoney's industry boards (`stock_board_industry_name_em`, `fs=m:90 t:2 f:!50`)
    and each board's constituents (`stock_board_industry_cons_em(BKxxxx)`, `fs=b:BKxxxx f:!50`)
    from the sample market, paged like the quote list (`page_size` rows a page, whatever `pz`
    asks: akshare reads the page size off the first page). Fields as `clist_field_order`: for a
    board f12 code, f14 name, f2 level, f3 change, f104/f105 up/down counts, f128/f140/f136 the
    leading stock; for a constituent f12 code, f14 name and the quote fields. `calls` records
    (board code or "boards", page) of each request."""

    def __init__(self, market: SampleMarket, mock: responses.RequestsMock, page_size: int = 100):
        self.market, self.page_size = market, page_size
        self.calls: list[tuple[str, int]] = []
        mock.add_callback(responses.GET, INDUSTRY_BOARDS_URL, callback=self._boards)
        mock.add_callback(responses.GET, INDUSTRY_CONSTITUENTS_URL, callback=self._constituents)

    def _page(self, what: str, params: dict, rows: list[dict]):
        page = int(params["pn"])
        self.calls.append((what, page))
        order = clist_field_order(params["fields"])
        chosen = rows[(page - 1) * self.page_size : page * self.page_size]
        diff = [{f: row.get(f, "-") for f in order} for row in chosen]
        body = {
            "rc": 0,
            "rt": 6,
            "svr": 181669,
            "lt": 1,
            "full": 1,
            "dlmkts": "",
            "data": {"total": len(rows), "diff": diff} if rows else None,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False)

    def _boards(self, request):
        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        assert params["fs"] == "m:90 t:2 f:!50", params["fs"]
        boards = self.market.industry_boards_raw()
        rows = [
            {
                "f1": 2,
                "f2": r["最新价"],
                "f3": r["涨跌幅"],
                "f4": r["涨跌额"],
                "f12": r["板块代码"],
                "f13": 90,
                "f14": r["板块名称"],
                "f104": int(r["上涨家数"]),
                "f105": int(r["下跌家数"]),
                "f128": "-",
                "f140": "-",
                "f141": 0,
                "f136": 0.0,
            }
            for _, r in boards.iterrows()
        ]
        return self._page("boards", params, rows)

    def _constituents(self, request):
        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        board = re.fullmatch(r"b:(BK\d+) f:!50", params["fs"]).group(1)
        members = self.market.industry_constituents_raw(board)
        rows = [
            {
                "f1": 2,
                "f2": r["最新价"],
                "f3": r["涨跌幅"],
                "f4": r["涨跌额"],
                "f12": r["代码"],
                "f13": 1 if str(r["代码"]).startswith("6") else 0,
                "f14": r["名称"],
                "f15": r["最高"],
                "f16": r["最低"],
                "f17": r["今开"],
                "f18": r["昨收"],
            }
            for _, r in members.iterrows()
        ]
        return self._page(board, params, rows)


SINA_CORP_INFO_URL = re.compile(
    r"https://vip\.stock\.finance\.sina\.com\.cn/corp/go\.php/vCI_CorpInfo/stockid/(\d{6})\.phtml"
)


class FakeSinaFormerNames:
    """Answers sina's company page (`stock_info_change_name(symbol)`) from the sample market: a
    GBK page whose fourth table holds label/value rows, one of them 证券简称更名历史： with the
    names oldest first, separated by spaces (akshare reads `pd.read_html(...)[3]`, splits the
    label at "："); a symbol never renamed has the row with an empty value. The sample's names
    hold spaces, which would split them: they are sent without. `calls` lists the symbols asked."""

    def __init__(self, market: SampleMarket, mock: responses.RequestsMock):
        self.market = market
        self.calls: list[str] = []
        mock.add_callback(responses.GET, SINA_CORP_INFO_URL, callback=self._answer)

    def _answer(self, request):
        symbol = SINA_CORP_INFO_URL.match(request.url).group(1)
        self.calls.append(symbol)
        names = self.market.former_names_raw(symbol)
        # names separated by spaces; the sample's names hold spaces, real short names do not: dropped
        history = " ".join(n.replace(" ", "") for n in names["name"]) if len(names) else ""
        record = self.market._record(symbol)
        table = "".join(
            f"<tr><td>{label}：</td><td>{value}</td><td>x：</td><td>y</td></tr>"
            for label, value in (
                ("公司名称", (record["name"] if record is not None else symbol) + "股份有限公司"),
                ("上市市场", "上海证券交易所"),
                ("证券简称更名历史", history),
                ("注册地址", "上海市"),
            )
        )
        filler = "<table><tr><td>新浪财经</td></tr></table>"
        page = (
            f"<html><head><title>{symbol}公司资料</title></head><body>{filler * 3}<table>{table}</table></body></html>"
        )
        return 200, {"Content-Type": "text/html; charset=gbk"}, page.encode("gbk")


DATA_CENTER_URL = "https://datacenter-web.eastmoney.com/api/data/v1/get"
#: RPT_SHAREBONUS_DET's fields in the order eastmoney sends them: akshare 1.19.5 names the
#: columns of `stock_fhps_em` by position, so the order is the contract.
FHPS_FIELDS = {
    "SECUCODE": None,
    "SECURITY_NAME_ABBR": "名称",
    "REPORT_DATE": "report_date",
    "ORG_CODE": None,
    "SECURITY_CODE": "代码",
    "BONUS_IT_RATIO": "送转股份-送转总比例",
    "BONUS_RATIO": "送转股份-送转比例",
    "IT_RATIO": "送转股份-转股比例",
    "PRETAX_BONUS_RMB": "现金分红-现金分红比例",
    "PLAN_NOTICE_DATE": "预案公告日",
    "EQUITY_RECORD_DATE": "股权登记日",
    "EX_DIVIDEND_DATE": "除权除息日",
    "EX_DIVIDEND_DAYS": None,
    "ASSIGN_PROGRESS": "方案进度",
    "IMPL_PLAN_PROFILE": None,
    "NOTICE_DATE": "最新公告日期",
    "BD10_CLOSE_ADJCHRATE": None,
    "D10_CLOSE_ADJCHRATE": None,
    "D30_CLOSE_ADJCHRATE": None,
    "BASIC_EPS": "每股收益",
    "BVPS": "每股净资产",
    "PER_CAPITAL_RESERVE": "每股公积金",
    "PER_UNASSIGN_PROFIT": "每股未分配利润",
    "PNP_YOY_RATIO": "净利润同比增长",
    "TOTAL_SHARES": "总股本",
    "PUBLISH_DATE": None,
    "DIVIDENT_RATIO": "现金分红-股息率",
    "EXECUTE_TRADE_MARKET": None,
    "ORG_TYPE": None,
    "PAYOUT_RATIO": None,
}


#: eastmoney's data-center report tables behind the whole-market financial functions, as
#: field -> the akshare column it becomes (None: a field akshare drops). akshare 1.19.5 names
#: these tables' columns by position (`big_df.columns = [...]`), so the order of the fields is
#: the contract; the names of the fields akshare drops are eastmoney's as far as known and do
#: not matter to akshare. Dates as eastmoney sends them ("YYYY-MM-DD 00:00:00").
_META = {
    "SECUCODE": None,
    "SECURITY_CODE": "股票代码",
    "INDUSTRY_CODE": None,
    "ORG_CODE": None,
    "SECURITY_NAME_ABBR": "股票简称",
    "INDUSTRY_NAME": None,
    "MARKET": None,
    "SECURITY_TYPE_CODE": None,
    "TRADE_MARKET_CODE": None,
    "DATE_TYPE_CODE": None,
    "REPORT_TYPE_CODE": None,
    "DATA_STATE": None,
    "NOTICE_DATE": "公告日期",
    "REPORT_DATE": "report_date",
}
BALANCE_FIELDS = {
    **_META,
    "TOTAL_ASSETS": "资产-总资产",
    "FIXED_ASSET": None,
    "MONETARYFUNDS": "资产-货币资金",
    "MONETARYFUNDS_RATIO": None,
    "ACCOUNTS_RECE": "资产-应收账款",
    "ACCOUNTS_RECE_RATIO": None,
    "INVENTORY": "资产-存货",
    "INVENTORY_RATIO": None,
    "TOTAL_LIABILITIES": "负债-总负债",
    "ACCOUNTS_PAYABLE": "负债-应付账款",
    "ACCOUNTS_PAYABLE_RATIO": None,
    "ADVANCE_RECEIVABLES": "负债-预收账款",
    "ADVANCE_RECEIVABLES_RATIO": None,
    "TOTAL_EQUITY": "股东权益合计",
    "TOTAL_EQUITY_RATIO": None,
    "TOTAL_ASSETS_RATIO": "资产-总资产同比",
    "TOTAL_LIAB_RATIO": "负债-总负债同比",
    "CURRENT_RATIO": None,
    "DEBT_ASSET_RATIO": "资产负债率",
    **{f"BALANCE_UNREAD_{i}": None for i in range(34, 58)},  # bank/insurer items akshare does not read
}
INCOME_FIELDS = {
    **_META,
    "PARENT_NETPROFIT": "净利润",
    "TOTAL_OPERATE_INCOME": "营业总收入",
    "TOTAL_OPERATE_COST": "营业总支出-营业总支出",
    "TOE_RATIO": None,
    "OPERATE_COST": "营业总支出-营业支出",
    "OPERATE_EXPENSE": None,
    "OPERATE_EXPENSE_RATIO": None,
    "SALE_EXPENSE": "营业总支出-销售费用",
    "MANAGE_EXPENSE": "营业总支出-管理费用",
    "FINANCE_EXPENSE": "营业总支出-财务费用",
    "OPERATE_PROFIT": "营业利润",
    "TOTAL_PROFIT": "利润总额",
    **{f"INCOME_UNREAD_{i}": None for i in range(27, 42)},
    "TOI_RATIO": "营业总收入同比",
    "OPERATE_PROFIT_RATIO": None,
    "PARENT_NETPROFIT_RATIO": "净利润同比",
    "DEDUCT_PARENT_NETPROFIT": None,
    "DPN_RATIO": None,
}
CASH_FLOW_FIELDS = {
    **_META,
    "NETCASH_OPERATE": "经营性现金流-现金流量净额",
    "NETCASH_OPERATE_RATIO": "经营性现金流-净现金流占比",
    "SALES_SERVICES": None,
    "SALES_SERVICES_RATIO": None,
    "PAY_STAFF_CASH": None,
    "PSC_RATIO": None,
    "NETCASH_INVEST": "投资性现金流-现金流量净额",
    "NETCASH_INVEST_RATIO": "投资性现金流-净现金流占比",
    "RECEIVE_INVEST_INCOME": None,
    "RII_RATIO": None,
    "CONSTRUCT_LONG_ASSET": None,
    "CLA_RATIO": None,
    "NETCASH_FINANCE": "融资性现金流-现金流量净额",
    "NETCASH_FINANCE_RATIO": "融资性现金流-净现金流占比",
    "CCE_ADD": "净现金流-净现金流",
    "CCE_ADD_RATIO": "净现金流-同比增长",
    **{f"CASH_FLOW_UNREAD_{i}": None for i in range(31, 49)},
}
#: RPT_LICO_FN_CPD (`stock_yjbb_em`): akshare's 最新公告日期 is UPDATE_DATE; the first
#: announcement (NOTICE_DATE) is dropped.
SUMMARY_FIELDS = {
    "SECURITY_CODE": "股票代码",
    "SECURITY_NAME_ABBR": "股票简称",
    "TRADE_MARKET_CODE": None,
    "TRADE_MARKET": None,
    "SECURITY_TYPE_CODE": None,
    "SECURITY_TYPE": None,
    "UPDATE_DATE": "最新公告日期",
    "REPORTDATE": "report_date",
    "BASIC_EPS": "每股收益",
    "DEDUCT_BASIC_EPS": None,
    "TOTAL_OPERATE_INCOME": "营业总收入-营业总收入",
    "PARENT_NETPROFIT": "净利润-净利润",
    "WEIGHTAVG_ROE": "净资产收益率",
    "YSTZ": "营业总收入-同比增长",
    "SJLTZ": "净利润-同比增长",
    "BPS": "每股净资产",
    "MGJYXJJE": "每股经营现金流量",
    "XSMLL": "销售毛利率",
    "YSHZ": "营业总收入-季度环比增长",
    "SJLHZ": "净利润-季度环比增长",
    "ASSIGNDSCRPT": None,
    "PAYYEAR": None,
    "PUBLISHNAME": "所处行业",
    "ZXGXL": None,
    "NOTICE_DATE": "最新公告日期",
    "ORG_CODE": None,
    "TRADE_MARKET_ZJG": None,
    "ISNEW": None,
    "QDATE": None,
    "DATATYPE": None,
    "DATAYEAR": None,
    "DATEMMDD": None,
    "EITIME": None,
    "SECUCODE": None,
    "BOARD_NAME": None,
    "ORI_BOARD_CODE": None,
    "BOARD_CODE": None,
}
BSE_MARKET_CODE = "069001017"


@dataclass(frozen=True)
class DataCenterTable:
    """One data-center report the fake answers: its fields in eastmoney's order (field -> the
    akshare column it carries, or None), the filter field holding the report period, and the
    sample market's akshare-shaped frame for a period."""

    fields: dict
    period_field: str
    frame: Callable[[SampleMarket, dt.date], pd.DataFrame]
    bse: bool | None = None  # the table's TRADE_MARKET_CODE filter: only BSE, no BSE, or none


#: reportName -> how to answer it. The balance sheet serves `stock_zcfz_em` (BSE excluded) and
#: `stock_zcfz_bj_em` (BSE only): the same report, told apart by the TRADE_MARKET_CODE filter.
DATA_CENTER_TABLES = {
    "RPT_SHAREBONUS_DET": DataCenterTable(FHPS_FIELDS, "REPORT_DATE", lambda m, p: m.dividends_raw(p)),
    "RPT_LICO_FN_CPD": DataCenterTable(SUMMARY_FIELDS, "REPORTDATE", lambda m, p: m.report_table_raw("summary", p)),
    "RPT_DMSK_FN_BALANCE": DataCenterTable(
        BALANCE_FIELDS, "REPORT_DATE", lambda m, p: m.report_table_raw("balance", p)
    ),
    "RPT_DMSK_FN_INCOME": DataCenterTable(INCOME_FIELDS, "REPORT_DATE", lambda m, p: m.report_table_raw("income", p)),
    "RPT_DMSK_FN_CASHFLOW": DataCenterTable(
        CASH_FLOW_FIELDS, "REPORT_DATE", lambda m, p: m.report_table_raw("cash_flow", p)
    ),
}


class FakeDataCenter:
    """Answers eastmoney's data-center tables from the sample market: the dividend table
    (`stock_fhps_em(date)`, report RPT_SHAREBONUS_DET) and the whole-market financial tables
    (`stock_yjbb_em`, `stock_zcfz_em`, `stock_zcfz_bj_em`, `stock_lrb_em`, `stock_xjll_em`):
    `page_size` rows a page (eastmoney: 500), fields in eastmoney's order, dates as
    "YYYY-MM-DD 00:00:00", and for a period without rows the answer eastmoney gives,
    `"result": null` with code 9201.

    `calls`: (period, page) of every request; `table_calls`: (reportName, period, page), the
    BSE balance sheet as "RPT_DMSK_FN_BALANCE/BJ". `queue(period, *faults, report=...)`: an
    int answers that HTTP status, a callable rewrites the akshare-shaped frame before it is
    served (`report`: only that table's requests; default the dividend table's).
    """

    def __init__(self, market: SampleMarket, mock: responses.RequestsMock, page_size: int = 500):
        self.market, self.page_size = market, page_size
        self.calls: list[tuple[str, int]] = []  # (period, page)
        self.table_calls: list[tuple[str, str, int]] = []  # (report, period, page)
        self.faults: dict[tuple[str, str], list] = {}
        mock.add_callback(responses.GET, DATA_CENTER_URL, callback=self._answer)

    def queue(self, period: str, *faults, report: str = "RPT_SHAREBONUS_DET") -> None:
        self.faults.setdefault((report, period), []).extend(faults)

    def requests(self, report: str) -> int:
        return sum(1 for r, _, _ in self.table_calls if r == report)

    @staticmethod
    def _value(value):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            return None
        if isinstance(value, dt.date):
            return f"{value.isoformat()} 00:00:00"
        return value.item() if hasattr(value, "item") else value

    def _answer(self, request):
        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        report = params["reportName"]
        assert report in DATA_CENTER_TABLES, report
        spec = DATA_CENTER_TABLES[report]
        period = re.search(rf"{spec.period_field}='(\d{{4}}-\d{{2}}-\d{{2}})'", params["filter"]).group(1)
        bse_filter = re.search(r'TRADE_MARKET_CODE(!?=)"069001017"', params["filter"])
        only_bse = bse_filter is not None and bse_filter.group(1) == "="
        key = report + ("/BJ" if only_bse else "")
        page = int(params["pageNumber"])
        self.calls.append((period, page))
        self.table_calls.append((key, period, page))
        queued = self.faults.get((key, period))
        fault = queued.pop(0) if queued else None
        if isinstance(fault, int):
            return fault, {}, "<html><body>502 Bad Gateway</body></html>"
        day = dt.date.fromisoformat(period)
        table = self.market.report_table_raw("balance_bse", day) if only_bse else spec.frame(self.market, day)
        if callable(fault):
            table = fault(table)
        if table.empty:
            body = {"version": None, "result": None, "success": False, "message": "返回数据为空", "code": 9201}
            return 200, {"Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False)
        rows = table.iloc[(page - 1) * self.page_size : page * self.page_size].assign(report_date=day)
        data = [
            {field: (self._value(row[column]) if column else None) for field, column in spec.fields.items()}
            for _, row in rows.iterrows()
        ]
        pages = -(-len(table) // self.page_size)
        body = {
            "version": "x",
            "result": {"pages": pages, "data": data, "count": len(table)},
            "success": True,
            "message": "ok",
            "code": 0,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False)


__all__ = [
    "DataCenterTable",
    "FakeDataCenter",
    "FakeEastmoney",
    "FakeIndustryBoards",
    "FakeQuoteList",
    "FakeSina",
    "FakeSinaFormerNames",
    "FakeSinaHongKong",
    "FaultyMarket",
    "adjusted",
    "encode_sina_history",
    "np",
]


# -- HTTP-level: the exchanges' security lists, served from the sample market ------------------

SSE_LIST_URL = "https://query.sse.com.cn/sseQuery/commonQuery.do"
SSE_DELIST_URL = "https://query.sse.com.cn/commonQuery.do"
SZSE_URL = "https://www.szse.cn/api/report/ShowReport"
BSE_URL = "https://www.bse.cn/nqxxController/nqxxCnzq.do"


def _xlsx(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    return buffer.getvalue()


def _yyyymmdd(day) -> str:
    return pd.Timestamp(day).strftime("%Y%m%d")


class FakeExchangeLists:
    """The SSE, SZSE and BSE lists (`stock_info_sh_name_code`, `stock_info_sz_name_code`,
    `stock_info_bj_name_code`, and the SSE/SZSE delisting lists) as of `market`'s today, in
    each exchange's own payload shape, as `test_akshare_contract.fake_exchange_lists` records
    them: SSE JSON (`result`), SZSE xlsx reports, bse.cn's JSONP page of positional fields
    (k00 上市日期, k11 流通股本, k36 总股本, k38 证券代码, k40 证券简称; akshare 1.19.5 keeps no
    previous-code field), and SZSE's name-change report (`stock_info_sz_change_name`, CATALOGID
    SSGSGMXX: an xlsx of 变更日期, 证券代码 as a number, 证券简称, 变更前简称, 变更后简称). The
    name-change headers follow akshare 1.19.5's reading of that report; their exact spelling is
    not documented, and the loader takes any column starting with 变更前/变更后, so either
    spelling loads. bse.cn's page size is not documented either: the fake sends one page, and
    counting follows the pages akshare asks for. Set `market` to move to another day."""

    def __init__(self, market: SampleMarket, mock: responses.RequestsMock):
        self.market = market
        mock.add_callback(responses.GET, SSE_LIST_URL, callback=self._sse)
        mock.add_callback(responses.GET, SSE_DELIST_URL, callback=self._sse_delisted)
        mock.add_callback(responses.GET, SZSE_URL, callback=self._szse)
        mock.add_callback(responses.POST, BSE_URL, callback=self._bse)

    def _lists(self):
        return self.market.listings_raw()

    def _sse(self, request):
        lists = self._lists()
        frame = lists.sh_star if request.params.get("STOCK_TYPE") == "8" else lists.sh_main
        rows = [
            {
                "A_STOCK_CODE": r["证券代码"],
                "SEC_NAME_CN": r["证券简称"],
                "SEC_NAME_FULL": r["证券全称"],
                "COMPANY_ABBR": r["公司简称"],
                "FULL_NAME": r["公司全称"],
                "LIST_DATE": _yyyymmdd(r["上市日期"]),
                "B_STOCK_CODE": "-",
            }
            for r in frame.to_dict("records")
        ]
        return 200, {}, json.dumps({"result": rows})

    def _sse_delisted(self, request):
        rows = [
            {
                "COMPANY_CODE": r["公司代码"],
                "COMPANY_ABBR": r["公司简称"],
                "LIST_DATE": _yyyymmdd(r["上市日期"]),
                "DELIST_DATE": _yyyymmdd(r["暂停上市日期"]),
            }
            for r in self._lists().sh_delisted.to_dict("records")
        ]
        return 200, {}, json.dumps({"result": rows})

    def _szse(self, request):
        if request.params.get("CATALOGID") == "SSGSGMXX":  # stock_info_sz_change_name: tab1 全称, tab2 简称
            changes = self.market.sz_name_changes_raw()
            if request.params.get("TABKEY") == "tab1":
                changes = changes.rename(columns={"变更前简称": "变更前全称", "变更后简称": "变更后全称"})
            return (
                200,
                {},
                _xlsx(
                    changes.assign(
                        证券代码=lambda f: f["证券代码"].astype(int), 变更日期=lambda f: f["变更日期"].map(str)
                    )
                ),
            )
        lists = self._lists()
        if request.params.get("CATALOGID") == "1793_ssgs":
            frame = lists.sz_delisted.assign(
                证券代码=lambda f: f["证券代码"].astype(int),
                上市日期=lambda f: f["上市日期"].map(str),
                终止上市日期=lambda f: f["终止上市日期"].map(str),
            )
        else:
            frame = lists.sz.assign(公司全称="x", 英文名称="x", A股代码=lambda f: f["A股代码"].astype(int))
        return 200, {}, _xlsx(frame)

    def _bse(self, request):
        rows = []
        for r in self._lists().bj.to_dict("records"):
            row = {f"k{i:02d}": "-" for i in range(48)}
            row.update(
                {
                    "k00": _yyyymmdd(r["上市日期"]),
                    "k11": int(r["流通股本"]),
                    "k17": r["所属行业"],
                    "k22": _yyyymmdd(r["报告日期"]),
                    "k29": r["地区"],
                    "k35": "x",
                    "k36": int(r["总股本"]),
                    "k38": r["证券代码"],
                    "k40": r["证券简称"],
                }
            )
            rows.append(row)
        return 200, {}, "null(" + json.dumps([{"content": rows, "totalPages": 1}]) + ")"


def published_sample_warehouse(path, market, start: dt.date, end: dt.date, symbols: list[str] | None = None):
    """`path` published with `market`'s CN calendar, securities and A-share bars of [start, end]
    (of `symbols` only, when given: the other listed symbols are then new listings), loaded
    cleanly through the real loaders (run id 'base'); returns `path`."""
    from quantdb_pipeline.loaders.bars import load_daily_bars
    from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
    from quantdb_pipeline.warehouse.publish import open_working, publish
    from quantdb_pipeline.warehouse.schema import migrate
    from quantdb_pipeline.warehouse.writes import Lineage

    conn = open_working(path)
    migrate(conn)
    lineage = Lineage.now("sample", "base")
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    load_daily_bars(conn, market, start, end, lineage, symbols=symbols)
    conn.close()
    publish(path)
    return path
