"""The request budget: how many upstream HTTP requests each job asks at full-market size,
counted through the real akshare functions behind HTTP fakes, against the goals.

Everything real but the network: `AkshareSource` (no pacing sleep), akshare's own functions,
the real loaders on a real DuckDB warehouse file, in the order and with the arguments the
jobs' assets use. Upstream is `responses` fakes in the upstreams' payload shapes
(`quantdb_pipeline_tests.faults`; `test_akshare_fundamentals.fake_upstreams` for the per-symbol paths) served from
`budget_market.BudgetMarket` (5,000 A-shares, 2,600 HK main-board names by default). A step's
count is the number of HTTP requests the fakes recorded while it ran (`len(mock.calls)`),
per endpoint (host and path); `source.requests` is recorded beside it as a cross-check.

The timeline (`timeline()`): a first full load on Thursday 2026-09-24 (outside the disclosure
windows), the same day again (the no-op rerun), then every day up to the first session after
the National Day holiday (2026-10-08, inside the Q3 window) with the jobs its schedules run:
reference and profiles on weekdays, A-share bars on SSE sessions, HK bars on HKEX sessions
(HKEX trades on 10-02 and 10-05..07 while the SSE is closed), financials on every day of an
open disclosure window. On a weekday the profiles job's weekly refresh is due, that job is the
"weekly refresh" scenario and the rest of the night a "night". Rows: the first full load, the
costliest night outside a window (the normal night), the costliest night inside one, the
costliest weekly refresh, the no-op rerun.

The financials watchlist (`QUANTDB_FINANCIALS_WATCHLIST`) is modelled empty (`WATCHLIST`), the
default: the per-symbol statements and indicators then ask nothing. Every step runs for every
symbol: nothing is sampled or scaled.

One modelling step that is not a job: after the first load, the HK factor fetch dates are
spread evenly over the 30-day refresh period (`loaders.hk_factors.REFRESH_AFTER_DAYS`), the
state a warehouse reaches after a month of nights; without it no HK factor would be due by age
for 30 days; with it the nights pay the capped age refresh (`hk_factors.REFRESH_PER_RUN`).

Plugging in a new endpoint:
1. its fake: a class in `quantdb_pipeline_tests.faults` registering a `responses` callback,
   constructed in `install_fakes` (and refreshed in `Upstream.move_to` if it precomputes);
2. its label: a line in `ENDPOINTS` (host/path regex, optional query test, akshare function);
   an unlabelled request still counts, under its host/path;
3. its step: a `Step` in the job it belongs to in `JOBS` (a function of `Run`), in the order
   the job's assets run; a new job also gets its days in `timeline()`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import responses

from benchmarks.budget_market import BudgetMarket
from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.loaders.corporate_actions import load_corporate_actions
from quantdb_pipeline.loaders.factors import load_adjustment_factors
from quantdb_pipeline.loaders.financial_reports import load_financial_reports
from quantdb_pipeline.loaders.fundamentals import load_indicators, load_statements, open_report_periods
from quantdb_pipeline.loaders.hk_factors import DATASET as HK_FACTORS, REFRESH_AFTER_DAYS
from quantdb_pipeline.loaders.hk_factors import load_hk_adjustment_factors
from quantdb_pipeline.loaders.hk_spot import DEFAULT_HK_RECONCILE_SYMBOLS
from quantdb_pipeline.loaders.markets import (
    HK,
    INDEX,
    load_hk_calendar,
    load_hk_securities,
    load_market_bars,
    register_indices,
)
from quantdb_pipeline.loaders.profiles import load_profiles
from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.loaders.spot import DEFAULT_RECONCILE_SYMBOLS
from quantdb_pipeline.settings import DEFAULT_INDICES, MARKET_TIMEZONE, PARTITIONS_START
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.calendars import FIRST_DAY as HK_FIRST_DAY
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.faults import (
    HK_QUOTE_LIST_URL,
    FakeDataCenter,
    FakeEastmoney,
    FakeExchangeLists,
    FakeIndustryBoards,
    FakeQuoteList,
    FakeSina,
    FakeSinaFormerNames,
    FakeSinaHongKong,
    kline_strings,
)

#: The goals (issue: full market at a polite request budget): row -> (comparison, requests).
GOALS = {
    "first full load": ("<=", 20_000),
    "normal night": ("<=", 150),
    "disclosure-window night": ("<=", 250),
    "weekly refresh": ("<=", 300),
    "no-op rerun": ("=", 0),
}
GOAL_TEXT = {
    "first full load": "all A-shares and HK from listing, factors, profiles, 10 years of financial reports",
    "normal night": "the costliest weekday night outside the disclosure windows",
    "disclosure-window night": "the costliest night inside a disclosure window",
    "weekly refresh": "the profiles job on the night its weekly industry and name-history refresh is due",
    "no-op rerun": "every job of the first load again, the same day",
}

# -- endpoints ------------------------------------------------------------------------------

#: (host/path regex, query test or None, label): the first match labels a request.
ENDPOINTS: list[tuple[str, Callable[[dict], bool] | None, str]] = [
    (r"finance\.sina\.com\.cn/realstock/company/klc_td_sh\.txt", None, "tool_trade_date_hist_sina"),
    (r"query\.sse\.com\.cn/sseQuery/commonQuery\.do", None, "stock_info_sh_name_code"),
    (r"query\.sse\.com\.cn/commonQuery\.do", None, "stock_info_sh_delist"),
    (r"www\.szse\.cn/api/report/ShowReport", lambda q: q.get("CATALOGID") == "1793_ssgs", "stock_info_sz_delist"),
    (r"www\.szse\.cn/api/report/ShowReport", lambda q: q.get("CATALOGID") == "SSGSGMXX", "stock_info_sz_change_name"),
    (r"www\.szse\.cn/api/report/ShowReport", None, "stock_info_sz_name_code"),
    (r"www\.bse\.cn/", None, "stock_info_bj_name_code"),
    (
        r"^push2his\.eastmoney\.com/api/qt/stock/kline/get",
        lambda q: q.get("secid") in INDEX_SECIDS,
        "stock_zh_index_daily_em",
    ),
    (r"^push2his\.eastmoney\.com/api/qt/stock/kline/get", None, "stock_zh_a_hist"),
    (r"^33\.push2his\.eastmoney\.com/api/qt/stock/kline/get", None, "stock_hk_hist"),
    (r"^82\.push2\.eastmoney\.com/api/qt/clist/get", None, "stock_zh_a_spot_em (pages)"),
    (r"^81\.push2\.eastmoney\.com/api/qt/clist/get", None, "stock_hk_main_board_spot_em (pages)"),
    (r"^17\.push2\.eastmoney\.com/api/qt/clist/get", None, "stock_board_industry_name_em (pages)"),
    (r"^29\.push2\.eastmoney\.com/api/qt/clist/get", None, "stock_board_industry_cons_em (pages)"),
    (r"vip\.stock\.finance\.sina\.com\.cn/corp/go\.php/vCI_CorpInfo/", None, "stock_info_change_name"),
    (r"finance\.sina\.com\.cn/realstock/company/\w+/hfq\.js", None, "stock_zh_a_daily hfq-factor"),
    (r"finance\.sina\.com\.cn/stock/hkstock/\d+/klc2_kl\.js", None, "stock_hk_daily (klc2_kl.js history)"),
    (r"finance\.sina\.com\.cn/stock/hkstock/\d+/hfq\.js", None, "sina HK hfq.js"),
    (r"finance\.sina\.com\.cn/stock/hkstock/\d+/qfq\.js", None, "sina HK qfq.js"),
    (
        r"datacenter-web\.eastmoney\.com/api/data/v1/get",
        lambda q: q.get("reportName") == "RPT_SHAREBONUS_DET",
        "stock_fhps_em (pages)",
    ),
    (
        r"datacenter-web\.eastmoney\.com/api/data/v1/get",
        lambda q: q.get("reportName") == "RPT_LICO_FN_CPD",
        "stock_yjbb_em (pages)",
    ),
    (
        r"datacenter-web\.eastmoney\.com/api/data/v1/get",
        lambda q: (
            q.get("reportName") == "RPT_DMSK_FN_BALANCE" and 'TRADE_MARKET_CODE="069001017"' in q.get("filter", "")
        ),
        "stock_zcfz_bj_em (pages)",
    ),
    (
        r"datacenter-web\.eastmoney\.com/api/data/v1/get",
        lambda q: q.get("reportName") == "RPT_DMSK_FN_BALANCE",
        "stock_zcfz_em (pages)",
    ),
    (
        r"datacenter-web\.eastmoney\.com/api/data/v1/get",
        lambda q: q.get("reportName") == "RPT_DMSK_FN_INCOME",
        "stock_lrb_em (pages)",
    ),
    (
        r"datacenter-web\.eastmoney\.com/api/data/v1/get",
        lambda q: q.get("reportName") == "RPT_DMSK_FN_CASHFLOW",
        "stock_xjll_em (pages)",
    ),
    (r"^push2\.eastmoney\.com/api/qt/stock/get", None, "stock_individual_info_em"),
    (
        r"emweb\.securities\.eastmoney\.com/PC_HSF10/NewFinanceAnalysis/Index",
        None,
        "*_by_report_em company type (F10 Index)",
    ),
    (
        r"emweb\.securities\.eastmoney\.com/PC_HSF10/NewFinanceAnalysis/\w+DateAjaxNew",
        None,
        "*_by_report_em report dates",
    ),
    (
        r"emweb\.securities\.eastmoney\.com/PC_HSF10/NewFinanceAnalysis/\w+AjaxNew",
        None,
        "*_by_report_em statement pages",
    ),
    (r"quotes\.sina\.cn/cn/api/openapi\.php/CompanyFinanceService", None, "stock_financial_abstract"),
]
#: FakeDataCenter's report keys -> the labels above.
DATA_CENTER_LABELS = {
    "RPT_SHAREBONUS_DET": "stock_fhps_em (pages)",
    "RPT_LICO_FN_CPD": "stock_yjbb_em (pages)",
    "RPT_DMSK_FN_BALANCE": "stock_zcfz_em (pages)",
    "RPT_DMSK_FN_BALANCE/BJ": "stock_zcfz_bj_em (pages)",
    "RPT_DMSK_FN_INCOME": "stock_lrb_em (pages)",
    "RPT_DMSK_FN_CASHFLOW": "stock_xjll_em (pages)",
}
INDEX_SECIDS = {("1." if code.startswith("000") else "0.") + code for code in DEFAULT_INDICES}


def endpoint_of(url: str) -> str:
    """The label of a request: the akshare function behind it, else its host/path."""
    parts = urlparse(url)
    where = parts.netloc + parts.path
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for pattern, test, label in ENDPOINTS:
        if re.search(pattern, where) and (test is None or test(query)):
            return label
    return where


# -- the fakes --------------------------------------------------------------------------


class BudgetKlines(FakeEastmoney):
    """eastmoney's push2his klines for A-shares (`stock_zh_a_hist`, as `FakeEastmoney`) and for the
    CN indices (`stock_zh_index_daily_em`: date, open, close, high, low, volume, amount, and one
    more field) on the same URL, told apart by `secid`."""

    def _answer(self, request):
        secid = request.params.get("secid", "")
        if secid not in INDEX_SECIDS:
            return super()._answer(request)
        code = secid.split(".")[1]
        start = dt.datetime.strptime(request.params["beg"], "%Y%m%d").date()
        end = dt.datetime.strptime(request.params["end"], "%Y%m%d").date()
        raw = self.market.index_daily_raw(code, start, end)
        klines = (
            [
                f"{d},{o},{c},{h},{lo},{v},{a},0"
                for d, o, c, h, lo, v, a in raw[
                    ["date", "open", "close", "high", "low", "volume", "amount"]
                ].itertuples(index=False)
            ]
            if len(raw)
            else []
        )
        return 200, {}, _json({"rc": 0, "data": {"code": code, "klines": klines} if klines else None})


class FakeHongKongKlines:
    """eastmoney's HK klines (`stock_hk_hist`, secid 116.<code>) from the market's HK bars. akshare
    asks for the whole history (`end=20500000`, `lmt=1000000`, no `beg`) and cuts the window itself."""

    URL = "https://33.push2his.eastmoney.com/api/qt/stock/kline/get"

    def __init__(self, market: BudgetMarket, mock: responses.RequestsMock):
        self.market = market
        self.calls: list[str] = []
        mock.add_callback(responses.GET, self.URL, callback=self._answer)

    def _answer(self, request):
        code = request.params["secid"].split(".")[1]
        self.calls.append(code)
        klines = kline_strings(self.market.hk_daily_raw(code, dt.date(1970, 1, 1), dt.date(2050, 1, 1)))
        return 200, {}, _json({"rc": 0, "data": {"code": code, "klines": klines} if klines else None})


def _json(body) -> str:
    import json

    return json.dumps(body, ensure_ascii=False)


@dataclass
class Upstream:
    """Every fake, served from one market, inside one `responses` mock."""

    market: BudgetMarket
    mock: responses.RequestsMock
    fakes: dict = field(default_factory=dict)
    fundamentals_calls: list = field(default_factory=list)  # (page, symbol) of `fake_upstreams`

    def recorded(self) -> Counter:
        """What each fake itself recorded so far (its own lists, independent of `mock.calls`)."""
        return Counter(
            {
                "stock_zh_a_hist": len(self.fakes["klines"].calls),
                "stock_zh_a_spot_em (pages)": len(self.fakes["quote list"].pages),
                "stock_hk_main_board_spot_em (pages)": len(self.fakes["hk quote list"].pages),
                "stock_hk_hist": len(self.fakes["hk klines"].calls),
                "stock_zh_a_daily hfq-factor": len(self.fakes["sina hfq"].calls),
                "sina HK scripts": len(self.fakes["sina hk"].calls),
                **{label: self.fakes["data center"].requests(report) for report, label in DATA_CENTER_LABELS.items()},
                "stock_board_industry_name_em (pages)": sum(
                    what == "boards" for what, _ in self.fakes["industry boards"].calls
                ),
                "stock_board_industry_cons_em (pages)": sum(
                    what != "boards" for what, _ in self.fakes["industry boards"].calls
                ),
                "stock_info_change_name": len(self.fakes["sina former names"].calls),
                "stock_individual_info_em": sum(page == "quote" for page, _ in self.fundamentals_calls),
                "stock_financial_abstract": sum(page == "sina" for page, _ in self.fundamentals_calls),
                "*_by_report_em (F10)": sum(page not in ("quote", "sina") for page, _ in self.fundamentals_calls),
            }
        )

    def move_to(self, day: dt.date) -> None:
        # the other fakes ask the market on every request; these two hold a precomputed frame
        self.market.move_to(day)
        self.fakes["quote list"].quotes = self.market.a_share_spot_raw()
        self.fakes["hk quote list"].quotes = self.market.hk_quote_list()


def install_fakes(market: BudgetMarket, mock: responses.RequestsMock) -> Upstream:
    """Register every upstream the jobs ask. New endpoints' fakes are added here."""
    from quantdb_pipeline_tests.test_akshare_fundamentals import fake_upstreams

    upstream = Upstream(market, mock)
    upstream.fakes["exchange lists"] = FakeExchangeLists(market, mock)
    upstream.fakes["klines"] = BudgetKlines(market, mock)
    upstream.fakes["quote list"] = FakeQuoteList(market, mock, quotes=market.a_share_spot_raw())
    upstream.fakes["hk quote list"] = FakeQuoteList(
        market, mock, quotes=market.hk_quote_list(), url=HK_QUOTE_LIST_URL, market_id=116
    )
    upstream.fakes["hk klines"] = FakeHongKongKlines(market, mock)
    upstream.fakes["sina hfq"] = FakeSina(market, mock)
    upstream.fakes["sina hk"] = FakeSinaHongKong(market, mock)
    upstream.fakes["data center"] = FakeDataCenter(market, mock)  # dividends and the whole-market report tables
    upstream.fakes["industry boards"] = FakeIndustryBoards(market, mock)
    upstream.fakes["sina former names"] = FakeSinaFormerNames(market, mock)
    # the per-symbol paths (push2 stock/get, F10 statements, sina indicators): no job should ask
    # them with an empty watchlist; answered, so that a request would show in the counts
    fake_upstreams(mock, market, upstream.fundamentals_calls)
    # sina's calendar script is answered 503: no encoder for it exists in the fakes, and the
    # source then uses the calendar akshare ships; one request either way (the calendar step's
    # source does not retry, see `Run.calendar_source`)
    mock.add(
        responses.GET, "https://finance.sina.com.cn/realstock/company/klc_td_sh.txt", status=503, body="unavailable"
    )
    return upstream


@contextlib.contextmanager
def no_akshare_paging_sleep() -> Iterator[None]:
    """akshare sleeps 0.5..1.5 s between the pages of a quote list (`utils.func`); no pacing here."""
    import akshare.utils.func as func

    real = func.time
    func.time = types.SimpleNamespace(**{name: getattr(real, name) for name in dir(real) if not name.startswith("_")})
    func.time.sleep = lambda seconds: None
    try:
        yield
    finally:
        func.time = real


# -- the jobs -------------------------------------------------------------------------------


@dataclass
class Run:
    """One job's run on `day`: a fresh source (as each Dagster run builds its own), the warehouse."""

    conn: object
    day: dt.date
    run_id: str

    def __post_init__(self):
        now = dt.datetime.combine(self.day, dt.time(18), ZoneInfo(MARKET_TIMEZONE))
        self.source = AkshareSource(requests_per_second=1e9, sleep=lambda s: None, backoff_seconds=0.0, now=lambda: now)
        # one request, no retries: the fake answers 503 and the source falls back (see install_fakes)
        self.calendar_source = AkshareSource(
            requests_per_second=1e9, sleep=lambda s: None, max_retries=0, now=lambda: now
        )
        self.lineage = Lineage.now("akshare", self.run_id)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Run, str], object]  # (run, kind) where kind is "first load" or "night"


def _bars(run: Run, kind: str):
    start = dt.date.fromisoformat(PARTITIONS_START) if kind == "first load" else run.day
    # the first load's answers hold the last sessions of each window only (see budget_market):
    # the batch rule would refuse the days they leave out; it is checked after fetching, so
    # turning it off changes no request
    return load_daily_bars(
        run.conn,
        run.source,
        start,
        run.day,
        run.lineage,
        use_spot=True,
        reconcile_symbols=DEFAULT_RECONCILE_SYMBOLS,
        min_daily_coverage=0.0 if kind == "first load" else 0.8,
    )


def _corporate_actions(run: Run, kind: str):
    start = dt.date.fromisoformat(PARTITIONS_START) if kind == "first load" else run.day
    return load_corporate_actions(run.conn, run.source, run.lineage, start)


def _index(run: Run, kind: str):
    start = dt.date.fromisoformat(PARTITIONS_START) if kind == "first load" else run.day
    codes = list(DEFAULT_INDICES)
    register_indices(run.conn, codes)
    return load_market_bars(run.conn, run.source, INDEX, start, run.day, run.lineage, symbols=codes)


def _hk_bars(run: Run, kind: str):
    """As the `hk_daily_bars` asset (`HkBarsConfig` defaults): the night's day from the main-board
    quote list `hk_securities` stored, history (`stock_hk_hist`) for ranges and new symbols."""
    start = HK_FIRST_DAY if kind == "first load" else run.day
    return load_market_bars(
        run.conn,
        run.source,
        HK,
        start,
        run.day,
        run.lineage,
        use_spot=True,
        reconcile_symbols=DEFAULT_HK_RECONCILE_SYMBOLS,
    )


#: The financials watchlist (`QUANTDB_FINANCIALS_WATCHLIST`) modelled: empty, the default.
WATCHLIST: list[str] = []


def _statements(run: Run, kind: str):
    """As the `financial_statements` asset: the whole-market tables (10 years on a first load,
    the open periods in a disclosure window), then the watchlist's per-symbol statements."""
    report = load_financial_reports(run.conn, run.source, run.lineage, symbols=None, exclude=WATCHLIST, years=10)
    if WATCHLIST:
        _clear_company_types()
        load_statements(run.conn, run.source, run.lineage, symbols=WATCHLIST)
    return report


def _clear_company_types() -> None:
    """akshare caches each symbol's company type per process; each Dagster run is a new process."""
    from akshare.stock_feature.stock_three_report_em import _stock_balance_sheet_by_report_ctype_em

    _stock_balance_sheet_by_report_ctype_em.cache_clear()


#: job -> its steps, in the order its assets run (`quantdb_pipeline.jobs`).
JOBS: dict[str, list[Step]] = {
    "reference_job": [
        Step("trading_calendar", lambda r, k: load_trading_calendar(r.conn, r.calendar_source, r.lineage)),
        Step("securities", lambda r, k: load_securities(r.conn, r.source, r.lineage)),
        Step("hk_trading_calendar", lambda r, k: load_hk_calendar(r.conn, r.source, r.lineage)),
        Step("hk_securities", lambda r, k: load_hk_securities(r.conn, r.source, r.lineage)),
    ],
    "daily_bars_job": [
        Step("corporate_actions", _corporate_actions),
        Step("daily_bars", _bars),
        Step("adjustment_factors", lambda r, k: load_adjustment_factors(r.conn, r.source, r.lineage)),
        Step("index_daily_bars", _index),
    ],
    "hk_daily_bars_job": [
        Step("hk_daily_bars", _hk_bars),
        Step("hk_adjustment_factors", lambda r, k: load_hk_adjustment_factors(r.conn, r.source, r.lineage)),
    ],
    # after daily_bars_job: the quote list the bars step stored is reused (weekly: boards, names)
    "profiles_job": [
        Step("security_profiles", lambda r, k: load_profiles(r.conn, r.source, r.lineage)),
    ],
    "financials_job": [
        Step("financial_statements", _statements),
        # the asset passes the watchlist (in scope): nothing to ask without one
        Step("financial_indicators", lambda r, k: load_indicators(r.conn, r.source, r.lineage, symbols=WATCHLIST)),
    ],
}
ALL_JOBS = tuple(JOBS)

#: The first load: the last session before the Mid-Autumn weekend, outside any disclosure window.
FIRST_LOAD_DAY = dt.date(2026, 9, 24)
#: The last night run: the first session after the National Day holiday, inside the Q3 window
#: (open from 10-01), a fortnight after the first load fetched every period.
LAST_NIGHT = dt.date(2026, 10, 8)


def timeline(first: dt.date = FIRST_LOAD_DAY, last: dt.date = LAST_NIGHT) -> list[tuple[dt.date, str, tuple[str, ...]]]:
    """(day, what, jobs) in order: the first load, the no-op rerun, then each day's jobs as their
    schedules (`quantdb_pipeline.schedules`) run them: reference and profiles every weekday,
    A-share bars on SSE sessions, HK bars on HKEX sessions (which the SSE's National Day holiday
    does not close), financials every day a disclosure window is open. On the weekday the
    profiles job's weekly refresh is due (`profiles.WEEKLY_REFRESH_DAYS` after the last, the
    first load's), that job is its own row, "weekly refresh", after the rest of the night."""
    from quantdb_pipeline.loaders.profiles import WEEKLY_REFRESH_DAYS
    from quantdb_pipeline.sources.calendars import hk_trading_days
    from quantdb_pipeline.sources.sample.universe import _calendar

    sse, hkex = set(_calendar()), set(hk_trading_days())
    days = [(first, "first load", ALL_JOBS), (first, "no-op rerun", ALL_JOBS)]
    refreshed, day = first, first + dt.timedelta(days=1)
    while day <= last:
        weekday = day.weekday() < 5
        jobs = [
            job
            for job, runs in (
                ("reference_job", weekday),
                ("daily_bars_job", day in sse),
                ("hk_daily_bars_job", day in hkex),
                ("profiles_job", weekday),
                ("financials_job", bool(open_report_periods(day))),
            )
            if runs
        ]
        weekly = weekday and (day - refreshed).days >= WEEKLY_REFRESH_DAYS
        if weekly:
            jobs.remove("profiles_job")
            refreshed = day
        if jobs:
            days.append((day, "night", tuple(jobs)))
        if weekly:
            days.append((day, "weekly refresh", ("profiles_job",)))
        day += dt.timedelta(days=1)
    return days


# -- running and counting -------------------------------------------------------------------


@dataclass
class StepCount:
    job: str
    step: str
    http: Counter  # endpoint -> requests the fakes recorded
    source: int  # sum of source.requests for the step (the source's own bookkeeping)
    seconds: float
    failed: int = 0


@dataclass
class Scenario:
    day: dt.date
    what: str
    steps: list[StepCount] = field(default_factory=list)
    requests_seen: int = 0  # len(mock.calls) over the whole scenario
    fakes_recorded: Counter = field(default_factory=Counter)  # what the fakes' own lists grew by

    @property
    def http(self) -> Counter:
        total = Counter()
        for step in self.steps:
            total.update(step.http)
        return total

    def total(self) -> int:
        return sum(sum(s.http.values()) for s in self.steps)


def _failed(report) -> int:
    return len(getattr(report, "failed", {}) or {})


def run_budget(
    workdir: Path,
    size: int = 5000,
    hk_size: int = 2600,
    days: list | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> list[Scenario]:
    """Run the timeline (default `timeline()`) on a fresh warehouse in `workdir`; one `Scenario`
    per (day, what). Every step runs for every symbol: nothing is sampled or scaled."""
    days = days or timeline()
    market = BudgetMarket(days[0][0], size=size, hk_size=hk_size)
    path = workdir / "budget.duckdb"
    scenarios = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock, no_akshare_paging_sleep():
        upstream = install_fakes(market, mock)
        aged = False
        for n, (day, what, jobs) in enumerate(days):
            upstream.move_to(day)
            if what == "night" and not aged:
                _spread_hk_factor_dates(path, day)
                aged = True
            scenario = Scenario(day, what)
            calls_before, recorded_before = len(mock.calls), upstream.recorded()
            for job in jobs:
                conn = open_working(path)
                try:
                    migrate(conn)
                    run = Run(conn, day, f"{what}-{day}-{job}-{n}")
                    for step in JOBS[job]:
                        before, began = len(mock.calls), time.perf_counter()
                        requests_before = sum(run.source.requests.values()) + sum(run.calendar_source.requests.values())
                        report = step.run(run, "first load" if what == "first load" else "night")
                        http = Counter(endpoint_of(call.request.url) for call in list(mock.calls)[before:])
                        counted = (
                            sum(run.source.requests.values())
                            + sum(run.calendar_source.requests.values())
                            - requests_before
                        )
                        scenario.steps.append(
                            StepCount(job, step.name, http, counted, time.perf_counter() - began, _failed(report))
                        )
                finally:
                    conn.close()
                publish(path)
            scenario.requests_seen = len(mock.calls) - calls_before
            scenario.fakes_recorded = upstream.recorded()
            scenario.fakes_recorded.subtract(recorded_before)
            log(
                f"{day} {what}: {scenario.total()} requests "
                f"({', '.join(f'{s.step} {sum(s.http.values())}' for s in scenario.steps if s.http)})"
            )
            scenarios.append(scenario)
    return scenarios


def _spread_hk_factor_dates(path: Path, day: dt.date) -> None:
    """The HK factor fetch dates of a warehouse a month old: spread evenly over the refresh period.
    Without it no HK factor is due by age for 30 days after the first load; with it some are due
    every night, as in the steady state, and the nights show the cap (`hk_factors.REFRESH_PER_RUN`)
    at work rather than an empty step."""
    conn = open_working(path)
    try:
        conn.execute(
            f"""
            UPDATE ingest_state SET as_of = ?::DATE - CAST(r.k % {REFRESH_AFTER_DAYS} AS INTEGER) - 1
            FROM (SELECT symbol, row_number() OVER (ORDER BY symbol) AS k FROM ingest_state
                  WHERE dataset = '{HK_FACTORS}') r
            WHERE ingest_state.dataset = '{HK_FACTORS}' AND ingest_state.symbol = r.symbol
            """,
            [day],
        )
    finally:
        conn.close()


# -- the report ---------------------------------------------------------------------------


def rows(scenarios: list[Scenario]) -> dict[str, Scenario]:
    """The report's rows: goal row -> the scenario measured for it."""
    by_what = {}
    by_what["first full load"] = next(s for s in scenarios if s.what == "first load")
    by_what["no-op rerun"] = next(s for s in scenarios if s.what == "no-op rerun")
    weekly = [s for s in scenarios if s.what == "weekly refresh"]
    if weekly:
        by_what["weekly refresh"] = max(weekly, key=lambda s: s.total())
    nights = [s for s in scenarios if s.what == "night"]
    window = [s for s in nights if open_report_periods(s.day)]
    normal = [s for s in nights if not open_report_periods(s.day)]
    if window:
        by_what["disclosure-window night"] = max(window, key=lambda s: s.total())
    if normal:
        by_what["normal night"] = max(normal, key=lambda s: s.total())
    return by_what


def met(goal: str, value: int) -> bool:
    op, limit = GOALS[goal]
    return value == limit if op == "=" else value <= limit


def section(
    scenarios: list[Scenario], size: int, hk_size: int, seconds: float, cpu_seconds: float | None = None
) -> str:
    """The report's request-budget section (markdown)."""
    chosen = rows(scenarios)
    took = f"Whole run: {seconds:.0f} s" + (f" ({cpu_seconds:.0f} s CPU)" if cpu_seconds is not None else "") + "."
    lines = [
        "## Request budget: upstream HTTP requests per job",
        "",
        f"{size:,} A-shares and {hk_size:,} HK main-board names (`benchmarks/budget_market.py`), the real akshare "
        "functions behind HTTP fakes, `AkshareSource` without pacing, the real loaders on a DuckDB file, in the "
        "order the jobs' assets call them; counted as the HTTP requests the fakes recorded "
        "(`benchmarks/request_budget.py`). Every step ran for every symbol: no count is sampled or scaled. "
        "The financials watchlist is empty (the default), so the per-symbol statements and indicators ask "
        "nothing. The days after the first load run each job as its schedule does (reference and profiles on "
        "weekdays, A-share bars on SSE sessions, HK bars on HKEX sessions, financials on every day of an open "
        "disclosure window); on a night the profiles job's weekly refresh is due, that job is the weekly-refresh "
        "row and the rest of the night its own row. Before the first night the HK factor fetch dates are spread "
        "over their 30-day refresh period, the state of a month-old warehouse, so the nights pay the capped "
        "age refresh. " + took,
        "",
        "| job | requests | goal | met | day |",
        "|---|---:|---:|---|---|",
    ]
    for goal in GOALS:
        scenario = chosen.get(goal)
        if scenario is None:
            lines.append(f"| {goal} ({GOAL_TEXT[goal]}) | not run | {GOALS[goal][0]} {GOALS[goal][1]:,} | | |")
            continue
        total = scenario.total()
        lines.append(
            f"| {goal} ({GOAL_TEXT[goal]}) | {total:,} | {GOALS[goal][0]} {GOALS[goal][1]:,} "
            f"| {'yes' if met(goal, total) else '**no**'} | {scenario.day} |"
        )
    for goal in GOALS:
        scenario = chosen.get(goal)
        if scenario is None:
            continue
        lines += [
            "",
            f"### {goal}: {scenario.day}, per endpoint",
            "",
            "| job | step | endpoint | requests |",
            "|---|---|---|---:|",
        ]
        for step in scenario.steps:
            for endpoint, count in sorted(step.http.items()):
                lines.append(f"| {step.job} | {step.step} | {endpoint} | {count:,} |")
        lines.append(f"| | | **total** | **{scenario.total():,}** |")
        mismatched = [
            f"{s.step} (HTTP {sum(s.http.values())}, source.requests {s.source})"
            for s in scenario.steps
            if s.source != sum(s.http.values())
        ]
        if mismatched:
            lines += ["", "The source's own count differs from the HTTP count in: " + "; ".join(mismatched) + "."]
        failed = [f"{s.step} ({s.failed})" for s in scenario.steps if s.failed]
        if failed:
            lines += ["", "Steps with failed symbols or periods: " + "; ".join(failed) + "."]
    later = [s for s in scenarios if s.what in ("night", "weekly refresh")]
    if later:
        lines += [
            "",
            "### Every day of the timeline after the first load",
            "",
            "| day | what | jobs | requests | of which financials | of which profiles |",
            "|---|---|---|---:|---:|---:|",
        ]
        for s in later:
            jobs = ", ".join(dict.fromkeys(t.job.removesuffix("_job") for t in s.steps))
            fin = sum(sum(t.http.values()) for t in s.steps if t.job == "financials_job")
            prof = sum(sum(t.http.values()) for t in s.steps if t.job == "profiles_job")
            lines.append(f"| {s.day} | {s.what} | {jobs} | {s.total():,} | {fin:,} | {prof:,} |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- request-budget -->", "<!-- /request-budget -->"


def main(size: int = 5000, hk_size: int = 2600, log: Callable[[str], None] = print) -> tuple[str, list[Scenario]]:
    """Run the budget at full size (every symbol); the report section between its markers."""
    began, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        scenarios = run_budget(Path(tmp), size, hk_size, log=log)
    text = section(scenarios, size, hk_size, time.perf_counter() - began, time.process_time() - cpu)
    return f"{BEGIN}\n{text}{END}\n", scenarios


def replace_section(report: str, text: str) -> str:
    """`report` with its request-budget section replaced by (or, if it has none, ended with) `text`."""
    if BEGIN in report and END in report:
        return report[: report.index(BEGIN)] + text + report[report.index(END) + len(END) + 1 :]
    return report.rstrip("\n") + "\n\n" + text


if __name__ == "__main__":
    import sys

    text, _ = main(*(int(a) for a in sys.argv[1:3]))
    print(text)
