"""Upstream requests are counted as the HTTP requests they are, and every report of them agrees
with what an HTTP fake saw: the source's counts, each asset's metadata, the publishing run's
tag, `published_warehouse`'s metadata and the CLI summary, over multi-day ranges and an
index-only load, through the CLI and through the jobs of `definitions.py` on a real instance.

The real akshare functions run behind `responses` fakes shaped like their upstreams (see
`faults.py`), served from the sample market.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections import Counter
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from dagster import Definitions

from quantdb_pipeline.cli import EXIT_OK, main
from quantdb_pipeline.sources import request_counting
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.pacing import RateLimiter
from quantdb_pipeline.sources.sample import INDEX_SYMBOLS, SampleMarket
from quantdb_pipeline_tests.faults import (
    KLINE_URL,
    QUOTE_LIST_URL,
    FakeDataCenter,
    FakeEastmoney,
    FakeExchangeLists,
    FakeQuoteList,
    FakeSina,
)

SINA_CALENDAR_URL = "https://finance.sina.com.cn/realstock/company/klc_td_sh.txt"
HK_LIST_URL = "https://81.push2.eastmoney.com/api/qt/clist/get"
TODAY = "2025-09-30"  # after the sample's SSE delisting: the SSE delisting list has a row
SYMBOLS = ["600000", "600002", "600003", "000001", "000002", "300002", "300003", "688002", "688003"]  # sample codes
INDICES = ["000300", "399006", "000905"]


def quiet_source() -> AkshareSource:
    return AkshareSource(requests_per_second=1e9, backoff_seconds=0.01, sleep=lambda seconds: None)


# -- the counter itself -------------------------------------------------------------------------


@responses.activate
def test_a_retried_request_counts_twice():
    responses.get(KLINE_URL, status=502, body="<html>502 Bad Gateway</html>")
    responses.get(
        KLINE_URL,
        json={
            "rc": 0,
            "data": {
                "code": "600000",
                "market": 1,
                "klines": ["2024-01-02,6.60,6.58,6.62,6.55,337123,222000000.00,1.06,-0.30,-0.02,0.11"],
            },
        },
    )
    source = quiet_source()
    raw = source.a_share_daily_raw("600000", dt.date(2024, 1, 2), dt.date(2024, 1, 2))
    assert len(raw) == 1
    assert source.requests == Counter({"stock_zh_a_hist": 2}) and len(responses.calls) == 2


@pytest.mark.slow
def test_a_paged_endpoint_counts_its_pages_and_akshares_own_retries(monkeypatch):
    monkeypatch.setattr("akshare.utils.request.time.sleep", lambda seconds: None)
    monkeypatch.setattr("akshare.utils.func.time.sleep", lambda seconds: None)
    market = SampleMarket(today=TODAY, size=250)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(QUOTE_LIST_URL, status=503, body="busy")  # akshare retries this page by itself
        fake = FakeQuoteList(market, mock)
        source = quiet_source()
        quotes = source.a_share_spot_raw()
        pages = -(-len(fake.quotes) // 100)
        assert pages == 3 and len(quotes) == len(fake.quotes)
        # one refused attempt + every page: what eastmoney saw, not one akshare call
        assert (
            source.requests
            == Counter({"stock_zh_a_spot_em": pages + 1})
            == Counter({"stock_zh_a_spot_em": len(mock.calls)})
        )


def test_the_data_center_asks_for_page_one_twice_and_each_page_counts():
    market = SampleMarket(today=TODAY, size=64)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeDataCenter(market, mock, page_size=10)
        source = quiet_source()
        rows = source.dividends_raw(dt.date(2023, 12, 31))
        assert len(rows) > 10
        assert source.requests["stock_fhps_em"] == len(fake.calls) == len(mock.calls) == 1 + -(-len(rows) // 10)


def test_each_page_of_a_data_center_table_waits_for_the_rate_limiter():
    """akshare sends a table's pages back to back; paced per HTTP request, they are spaced like
    separate calls (at 2 requests/s: 0.5 s apart), not one burst after one wait."""
    market = SampleMarket(today=TODAY, size=64)
    slept: list[float] = []
    clock = [0.0]
    source = AkshareSource(requests_per_second=2.0, sleep=slept.append)
    source._limiter = RateLimiter(2.0, clock=lambda: clock[0], sleep=slept.append)  # a frozen clock
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeDataCenter(market, mock, page_size=10)
        source.dividends_raw(dt.date(2023, 12, 31))
        sent = len(mock.calls)
    assert sent >= 4
    # the first request goes at once, every later one waits its turn: 0.5, 1.0, 1.5 ... s
    assert slept == [0.5 * k for k in range(1, sent)]


def test_requests_outside_a_source_call_are_kept_apart():
    source = quiet_source()
    before = request_counting.unlabelled()
    with responses.RequestsMock() as mock:
        mock.get("https://telemetry.example.com/ping", body="ok")
        request_counting.install()
        request_counting.install()  # once per process, however often asked
        requests.get("https://telemetry.example.com/ping")
        assert len(mock.calls) == 1
    assert sum(source.requests.values()) == 0
    assert request_counting.unlabelled()["telemetry.example.com"] == before["telemetry.example.com"] + 1


def test_a_request_on_a_thread_started_inside_a_call_counts_under_its_endpoint():
    counts: Counter = Counter()
    with responses.RequestsMock() as mock:
        mock.get("https://upstream.example.com/page", body="ok")

        def fetch_in_thread():
            worker = threading.Thread(target=requests.get, args=("https://upstream.example.com/page",))
            worker.start()
            worker.join()
            requests.get("https://upstream.example.com/page")

        with request_counting.counting(counts, "paged_endpoint"):
            fetch_in_thread()
        assert counts == Counter({"paged_endpoint": 2}) == Counter({"paged_endpoint": len(mock.calls)})


def test_a_thread_that_ran_before_the_call_is_not_the_calls():
    counts: Counter = Counter()
    go, done = threading.Event(), threading.Event()

    def analytics():  # a library's background thread, started before any source call
        go.wait()
        requests.get("https://analytics.example.com/batch")
        done.set()

    with responses.RequestsMock() as mock:
        mock.get("https://analytics.example.com/batch", body="ok")
        worker = threading.Thread(target=analytics)
        worker.start()
        before = request_counting.unlabelled()["analytics.example.com"]
        with request_counting.counting(counts, "stock_zh_a_hist"):
            go.set()
            done.wait(5)
        worker.join()
        assert len(mock.calls) == 1
    assert counts == Counter()
    assert request_counting.unlabelled()["analytics.example.com"] == before + 1


# -- a fake of every endpoint a CN + index run touches ---------------------------------------------


class _Unregistered:
    """Takes a fake's registration: the kline URL is shared by stocks and indices (see `Upstream`)."""

    def add_callback(self, *args, **kwargs):
        pass


class Upstream:
    """Every endpoint a CN + index (+ HK list) run asks, from the sample market as of `today`:
    sina's calendar (an error page: akshare's bundled calendar is used, after one request), the
    exchange lists, eastmoney's klines (stocks and, on the same URL, indices), sina's hfq
    factors, eastmoney's dividend table and the HK main board list."""

    def __init__(self, mock: responses.RequestsMock, today: str = TODAY):
        self.market = SampleMarket(today=today, size=24)
        self.mock = mock
        mock.get(SINA_CALENDAR_URL, status=503, body="unavailable")
        self.lists = FakeExchangeLists(self.market, mock)
        self.stocks = FakeEastmoney(self.market, _Unregistered())
        self.index_calls: list[str] = []
        self.indices_down = False  # True: eastmoney answers every index request with a 502 page
        mock.add_callback(responses.GET, KLINE_URL, callback=self._kline)
        self.factors = FakeSina(self.market, mock)
        self.dividends = FakeDataCenter(self.market, mock)
        mock.add_callback(responses.GET, HK_LIST_URL, callback=self._hk_list)

    def _kline(self, request):
        params = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        market, code = params["secid"].split(".")
        key = ("sh" if market == "1" else "sz") + code
        if key not in INDEX_SYMBOLS:
            return self.stocks._answer(request)
        self.index_calls.append(code)
        if self.indices_down:
            return 502, {}, "<html><body>502 Bad Gateway</body></html>"
        raw = self.market.index_daily_raw(
            code,
            dt.datetime.strptime(params["beg"], "%Y%m%d").date(),
            dt.datetime.strptime(params["end"], "%Y%m%d").date(),
        )
        klines = [f"{r.date},{r.open},{r.close},{r.high},{r.low},{r.volume},{r.amount},0.00" for r in raw.itertuples()]
        return 200, {}, json.dumps({"rc": 0, "data": {"code": code, "klines": klines} if klines else None})

    def _hk_list(self, request):
        fields = [f"f{i}" for i in range(1, 19)] + [
            "f20",
            "f21",
            "f22",
            "f23",
            "f24",
            "f25",
            "f62",
            "f115",
            "f128",
            "f136",
            "f140",
            "f141",
            "f152",
        ]
        listing = self.market.hk_listings_raw()
        diff = [
            {
                **{f: "-" for f in fields},
                "f2": r.最新价,
                "f3": r.涨跌幅,
                "f4": r.涨跌额,
                "f5": r.成交量,
                "f6": r.成交额,
                "f12": r.代码,
                "f14": r.名称,
                "f15": r.最高,
                "f16": r.最低,
                "f17": r.今开,
                "f18": r.昨收,
            }
            for r in listing.itertuples()
        ]
        return 200, {}, json.dumps({"rc": 0, "data": {"total": len(diff), "diff": diff}})

    def calls_by_asset(self, since: int = 0) -> Counter:
        """What each asset asked, told from the fakes' URLs alone (not from our counting)."""
        by_asset: Counter = Counter()
        for call in self.mock.calls[since:]:
            url = call.request.url
            if url.startswith(SINA_CALENDAR_URL):
                by_asset["trading_calendar"] += 1
            elif re.match(r"https://(query\.sse\.com\.cn|www\.szse\.cn|www\.bse\.cn)/", url):
                by_asset["securities"] += 1
            elif url.startswith(KLINE_URL):
                secid = parse_qs(urlparse(url).query)["secid"][0].split(".")
                is_index = ("sh" if secid[0] == "1" else "sz") + secid[1] in INDEX_SYMBOLS
                by_asset["index_daily_bars" if is_index else "daily_bars"] += 1
            elif "finance.sina.com.cn/realstock/company/" in url:
                by_asset["adjustment_factors"] += 1
            elif url.startswith("https://datacenter-web.eastmoney.com/"):
                by_asset["corporate_actions"] += 1
            elif url.startswith(HK_LIST_URL):
                by_asset["hk_securities"] += 1
            else:
                by_asset[f"unexpected {url}"] += 1
        return by_asset


@pytest.fixture
def upstream(monkeypatch):
    monkeypatch.setattr("akshare.utils.request.time.sleep", lambda seconds: None)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Upstream(mock)


def summary_value(output: str, label: str) -> str:
    for line in output.splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label) :].strip()
    raise AssertionError(f"{label!r} not in summary:\n{output}")


def summary_table(output: str) -> dict[str, int]:
    """The summary's per-dataset table: asset -> requests."""
    lines = output.split("upstream requests by dataset", 1)[1].splitlines()[1:]
    table = {}
    for line in lines:
        if not line.startswith("  ") or line.startswith("   "):
            break
        name, count = line.split()[:2]
        table[name] = int(count)
    return table


def published_and_tag(workdir) -> tuple[int, int, str]:
    """(run_upstream_requests of published_warehouse, the publishing run's tag, its by-asset table)."""
    from dagster import AssetKey, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        event = inst.get_latest_materialization_event(AssetKey("published_warehouse"))
        run = inst.get_run_by_id(event.run_id)
        metadata = event.asset_materialization.metadata
        return (
            metadata["run_upstream_requests"].value,
            int(run.tags["quantdb/upstream_requests"]),
            metadata["upstream_requests_by_asset"].value,
        )


def cli(*args: str) -> list[str]:
    return [
        "run",
        "--source",
        "akshare",
        "--requests-per-second",
        "1000",
        "--warehouse",
        "warehouse/q.duckdb",
        "--no-progress",
        "--symbols",
        ",".join(SYMBOLS),
        "--indices",
        ",".join(INDICES),
        *args,
    ]


# -- the CLI ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_counts_of_a_multi_day_range_equal_the_fakes_and_cover_every_asset(workdir, upstream, capsys):
    assert main(cli("--markets", "cn,index", "--start", "2025-09-01", "--end", TODAY)) == EXIT_OK
    out = capsys.readouterr().out
    fakes = len(upstream.mock.calls)
    by_asset = upstream.calls_by_asset()
    assert not [a for a in by_asset if a.startswith("unexpected")], by_asset
    assert int(summary_value(out, "upstream requests (all)")) == fakes
    published, tag, table = published_and_tag(workdir)
    assert published == tag == fakes
    # per dataset: what each asset's own fakes saw; every asset that asked is in the table
    shown = summary_table(out)
    assert {a: n for a, n in shown.items() if n and a != "total"} == dict(by_asset)
    assert shown["total"] == fakes and set(by_asset) == {
        "trading_calendar",
        "securities",
        "daily_bars",
        "adjustment_factors",
        "corporate_actions",
        "index_daily_bars",
    }
    assert by_asset["daily_bars"] == len(SYMBOLS) == len(upstream.stocks.calls)  # one per symbol, not per day
    assert by_asset["securities"] == 7  # bse.cn's page 0 is asked twice
    for asset, n in by_asset.items():
        assert f"| {asset} | {n:,} |" in table


@pytest.mark.slow
def test_cli_index_only_load_over_years_counts_one_request_per_index(workdir, upstream, capsys):
    # about 500 trading-day partitions (two years): each repeats the asset's metadata, none may count again
    assert main(cli("--markets", "index", "--start", "2023-09-01", "--end", TODAY)) == EXIT_OK
    out = capsys.readouterr().out
    fakes = len(upstream.mock.calls)
    assert fakes == 1 + len(INDICES)  # sina's calendar (then the bundled one), one range per index
    assert int(summary_value(out, "upstream requests (all)")) == fakes
    published, tag, _ = published_and_tag(workdir)
    assert published == tag == fakes
    assert summary_table(out) == {"index_daily_bars": len(INDICES), "trading_calendar": 1, "total": fakes}


# -- the jobs of definitions.py, as the UI runs them ------------------------------------------------------


def job_definitions(warehouse, max_retries: int = 4):
    from quantdb_pipeline import definitions
    from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource

    return Definitions(
        assets=definitions.defs.assets,
        jobs=definitions.defs.jobs,
        executor=definitions.defs.executor,
        resources={
            "market": MarketSourceResource(
                kind="akshare",
                requests_per_second=1000,
                symbols=",".join(SYMBOLS),
                indices=",".join(INDICES),
                hk_symbols="00700",
                max_retries=max_retries,
            ),
            "warehouse": WarehouseResource(database=str(warehouse)),
        },
    )


def run_job(defs, instance, name: str, start: str | None = None, end: str | None = None, assets=None):
    from quantdb_pipeline.range_runs import RANGE_END_TAG, RANGE_START_TAG

    tags = {RANGE_START_TAG: start, RANGE_END_TAG: end} if start else {}
    result = defs.resolve_job_def(name).execute_in_process(
        instance=instance,
        tags=tags,
        asset_selection=assets,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    return result


def run_counts(instance, result) -> tuple[int, int]:
    from quantdb_pipeline.assets.outcome import run_metadata

    published = run_metadata(result)["published_warehouse"]["run_upstream_requests"]
    return published, int(instance.get_run_by_id(result.run_id).tags["quantdb/upstream_requests"])


@pytest.mark.slow
def test_dagster_jobs_report_what_the_fakes_saw_for_a_range_and_an_index_only_load(instance, warehouse, upstream):
    from dagster import AssetKey

    defs = job_definitions(warehouse)
    seen = 0
    reference = run_job(defs, instance, "reference_job")
    assert reference.success
    assert run_counts(instance, reference) == (len(upstream.mock.calls),) * 2
    assert upstream.calls_by_asset() == Counter({"securities": 7, "trading_calendar": 1, "hk_securities": 1})
    seen = len(upstream.mock.calls)

    bars = run_job(defs, instance, "daily_bars_job", "2025-09-01", TODAY)  # a range: one run, 22 partitions
    assert bars.success
    asked = len(upstream.mock.calls) - seen
    assert asked > len(SYMBOLS) and run_counts(instance, bars) == (asked, asked)
    from quantdb_pipeline.assets.outcome import run_metadata

    metadata = run_metadata(bars)
    by_asset = upstream.calls_by_asset(seen)
    assert {a: metadata[a]["upstream_requests"] for a in by_asset} == dict(by_asset)
    assert set(by_asset) == {"daily_bars", "adjustment_factors", "corporate_actions", "index_daily_bars"}
    seen = len(upstream.mock.calls)

    index_only = run_job(
        defs,
        instance,
        "daily_bars_job",
        "2023-09-01",
        "2025-08-29",
        assets=[AssetKey("index_daily_bars"), AssetKey("published_warehouse")],
    )
    asked = len(upstream.mock.calls) - seen
    assert index_only.success and asked == len(INDICES) and run_counts(instance, index_only) == (asked, asked)


@pytest.mark.slow
def test_a_dataset_that_failed_still_reports_what_it_asked(instance, warehouse, upstream):
    from dagster import AssetKey

    defs = job_definitions(warehouse, max_retries=1)
    assert run_job(defs, instance, "reference_job").success
    seen = len(upstream.mock.calls)
    upstream.indices_down = True
    result = run_job(
        defs,
        instance,
        "daily_bars_job",
        "2025-09-01",
        TODAY,
        assets=[AssetKey("index_daily_bars"), AssetKey("published_warehouse")],
    )
    asked = len(upstream.mock.calls) - seen
    assert not result.success and asked == len(INDICES) * 2  # each index: the request and one retry
    from quantdb_pipeline.assets.outcome import run_metadata

    index = run_metadata(result)["index_daily_bars"]
    assert index["dataset_status"] == "failed" and index["upstream_requests"] == asked
    assert index["upstream_requests_by_endpoint"] == f"stock_zh_index_daily_em {asked}"
    # nothing was published (the run's one dataset failed), the run still says what it cost
    assert "published_warehouse" not in run_metadata(result)
    assert instance.get_run_by_id(result.run_id).tags["quantdb/upstream_requests"] == str(asked)
