"""Market closures the library calendar does not know, through the real akshare functions behind
HTTP fakes: HKEX's typhoon / black-rainstorm closures of 2023-09-01 and 2023-09-08, which
exchange_calendars 4.13.2 still lists as sessions, and a ban that must still open the breaker."""

import datetime as dt
import json
import re
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.loaders.markets import HK, load_hk_calendar, load_market_bars
from quantdb_pipeline.quality.gate import GateFailed
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.calendars import hk_trading_days
from quantdb_pipeline.sources.sample import HK_SYMBOLS, SampleMarket
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.conftest import d, failure_messages
from quantdb_pipeline_tests.faults import FakeEastmoney, kline_strings, published_sample_warehouse

TYPHOON, RAINSTORM = d("2023-09-01"), d("2023-09-08")  # HKEX closed all day; the library lists both
HK_KLINE = re.compile(r"https://(\d+\.)?push2his\.eastmoney\.com/api/qt/stock/kline/get")
SYMBOLS = sorted(HK_SYMBOLS)  # eight symbols
THRESHOLD = 4  # the breaker would open after four empty symbols, with four left to ask


class FakeHongKongKlines:
    """eastmoney's HK daily klines (`stock_hk_hist`, secid 116.<code>) from the sample market.

    akshare asks for the whole history (beg=0, end=20500000) and cuts the window itself, so
    each answer is the history up to `now` less the days the exchange did not trade
    (`closed`), which is what eastmoney serves after a closure. `banned` answers every
    request with `"data": null`, as eastmoney does when it throttles.
    """

    def __init__(self, market: SampleMarket, mock: responses.RequestsMock, closed: set[dt.date]):
        self.market, self.closed, self.banned = market, set(closed), False
        self.now = d("2023-08-31")
        self.calls: list[str] = []
        mock.add_callback(responses.GET, HK_KLINE, callback=self._answer)

    def _answer(self, request):
        code = request.params["secid"].split(".")[1]
        self.calls.append(code)
        raw = self.market.hk_daily_raw(code, dt.date(1990, 1, 1), self.now)
        raw = raw[~raw["日期"].isin(self.closed)]
        klines = [] if self.banned else kline_strings(raw)
        body = {"rc": 0, "data": {"code": code, "market": 116, "klines": klines} if klines else None}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


def akshare_on(day: dt.date) -> AkshareSource:
    return AkshareSource(
        requests_per_second=1e9,
        backoff_seconds=0.0,
        max_retries=1,
        sleep=lambda s: None,
        now=lambda: dt.datetime(day.year, day.month, day.day, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
    )


def night(path, fake: FakeHongKongKlines, day: dt.date, start: dt.date | None = None):
    """One nightly HK load of [start or day, day] on the working file, then publish."""
    fake.now = day
    conn = open_working(path)
    try:
        migrate(conn)
        return load_market_bars(
            conn,
            akshare_on(day),
            HK,
            start or day,
            day,
            Lineage.now("akshare", f"night-{day}"),
            symbols=SYMBOLS,
            breaker_threshold=THRESHOLD,
        )
    finally:
        conn.close()
        publish(path)


@pytest.fixture
def hk(tmp_path):
    """A published warehouse with the HK calendar and August 2023's HK bars, and the fake."""
    path = tmp_path / "quantdb.duckdb"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeHongKongKlines(SampleMarket(today="2023-09-29"), mock, closed={TYPHOON, RAINSTORM})
        conn = open_working(path)
        migrate(conn)
        load_hk_calendar(conn, akshare_on(d("2023-08-31")), Lineage.now("exchange_calendars", "setup"))
        conn.close()
        august = night(path, fake, d("2023-08-31"), start=d("2023-08-01"))
        assert not august.failed and august.rows_written == len(SYMBOLS) * 23
        fake.calls.clear()
        yield path, fake


def test_the_library_calendar_lists_both_closed_days_as_sessions():
    days = hk_trading_days()
    assert TYPHOON in days and RAINSTORM in days  # why the closures must be found from the answers


@pytest.mark.slow
def test_a_typhoon_day_is_recorded_as_a_closure_not_a_ban(hk):
    path, fake = hk
    report = night(path, fake, TYPHOON)

    assert report.circuit_open is None and not report.failed and report.not_attempted == 0
    assert report.empty == [] and report.rows_written == 0
    # eight symbols asked once each, plus ONE probe that showed the source healthy
    assert len(fake.calls) == len(SYMBOLS) + 1 and report.requests == len(SYMBOLS) + 1
    closures = read.market_closures(warehouse=path)
    assert closures[["market", "day"]].astype(str).values.tolist() == [["HK", "2023-09-01"]]
    evidence = closures["evidence"].iloc[0]
    assert evidence.startswith("8 of 8 symbols asked for 2023-09-01 answered empty; probe ")
    assert "answered 2023-08-31, nothing for 2023-09-01" in evidence
    assert report.closures == [f"2023-09-01: {evidence}"]
    days = list(read.trading_days("2023-08-30", "2023-09-05", market="HK", warehouse=path).date)
    assert days == [d("2023-08-30"), d("2023-08-31"), d("2023-09-04"), d("2023-09-05")]
    with read.connect(path) as conn:
        states = conn.execute(
            "SELECT status, count(*) FROM ingest_state WHERE dataset = 'hk_daily_bars' AND run_id = ? GROUP BY ALL",
            [f"night-{TYPHOON}"],
        ).fetchall()
    assert states == [("ok", 8)]  # covered for the closed day: nothing waits for a retry
    assert read.status(warehouse=path)["closures"]["day"].astype(str).tolist() == ["2023-09-01"]

    # the same partition again (a retry of the night): the closed day holds no session to fetch
    fake.calls.clear()
    again = night(path, fake, TYPHOON)
    assert fake.calls == [] and again.symbols_skipped == len(SYMBOLS) and again.circuit_open is None

    # the next night asks each symbol once for its new day, with no probe, and stores it
    fake.calls.clear()
    monday = night(path, fake, d("2023-09-04"))
    assert len(fake.calls) == len(SYMBOLS) and not monday.empty and monday.closures == []
    bars = read.daily_bars(SYMBOLS, "2023-08-31", "2023-09-04", warehouse=path)
    assert sorted(set(bars["trade_date"].dt.date)) == [d("2023-08-31"), d("2023-09-04")]
    assert len(read.market_closures("HK", warehouse=path)) == 1


@pytest.mark.slow
def test_the_rainstorm_day_a_week_later_is_a_second_closure(hk):
    path, fake = hk
    for day in (TYPHOON, d("2023-09-04"), d("2023-09-05"), d("2023-09-06"), d("2023-09-07"), RAINSTORM):
        report = night(path, fake, day)
        assert report.circuit_open is None and not report.failed
    assert read.market_closures("HK", warehouse=path)["day"].astype(str).tolist() == ["2023-09-01", "2023-09-08"]
    days = list(read.trading_days("2023-09-01", "2023-09-08", market="HK", warehouse=path).date)
    assert days == [d("2023-09-04"), d("2023-09-05"), d("2023-09-06"), d("2023-09-07")]


@pytest.mark.slow
def test_a_later_bar_for_a_closed_day_removes_the_closure(hk):
    path, fake = hk
    night(path, fake, TYPHOON)
    fake.closed = {RAINSTORM}  # upstream now serves a bar for 2023-09-01: the closure was wrong
    backfill = night(path, fake, d("2023-09-04"), start=d("2023-07-03"))  # reaches back over 09-01
    assert backfill.reopened == [TYPHOON] and backfill.circuit_open is None and not backfill.failed
    assert read.market_closures(warehouse=path).empty
    assert TYPHOON in list(read.trading_days("2023-09-01", "2023-09-01", market="HK", warehouse=path).date)
    bars = read.daily_bars(SYMBOLS, TYPHOON, TYPHOON, warehouse=path)
    assert len(bars) == len(SYMBOLS)  # the day's bars are stored, not quarantined as "not a trading day"


def test_a_real_ban_still_opens_the_breaker(hk):
    path, fake = hk
    fake.banned = True  # every answer empty, the probe's too
    report = night(path, fake, d("2023-09-04"))  # an open day
    assert report.circuit_open and f"{THRESHOLD} consecutive symbols failed or answered empty" in report.circuit_open
    assert report.not_attempted == len(SYMBOLS) - THRESHOLD
    assert len(fake.calls) == THRESHOLD + 1  # four symbols, one probe, then the run stopped asking
    assert report.closures == [] and read.market_closures(warehouse=path).empty
    assert d("2023-09-04") in list(read.trading_days("2023-09-04", "2023-09-04", market="HK", warehouse=path).date)


def test_a_ban_on_a_closed_looking_day_is_still_a_ban(hk):
    path, fake = hk
    fake.banned = True  # the symbols AND the probe answer empty: no evidence the source is healthy
    report = night(path, fake, TYPHOON)
    assert report.circuit_open and report.not_attempted == len(SYMBOLS) - THRESHOLD
    assert read.market_closures(warehouse=path).empty


# -- through Dagster: the HK closure does not fail the night, the A-share bars are published


class HongKongThroughAkshare(SampleMarket):
    """The sample market, except that HK bars come from akshare's real `stock_hk_hist` behind
    the HTTP fake (so the closure is seen as eastmoney would show it). The akshare source, built
    in the same step, counts those HTTP requests: the step reports both sources' counts."""

    def __init__(self, *args, akshare: AkshareSource, **kwargs):
        super().__init__(*args, **kwargs)
        self.akshare = akshare

    def hk_daily_raw(self, symbol, start, end):
        return self.akshare.hk_daily_raw(symbol, start, end)


@pytest.mark.slow
def test_the_typhoon_night_publishes_every_market_through_dagster(pipeline):
    from quantdb_pipeline.assets import daily_bars, hk_daily_bars, hk_securities, hk_trading_calendar
    from quantdb_pipeline.assets import securities, trading_calendar
    from quantdb_pipeline.resources import MarketSourceResource

    class Typhoon(MarketSourceResource):
        def build(self):
            return HongKongThroughAkshare(today=self.sample_today, akshare=akshare_on(d(self.sample_today)))

    assets = [trading_calendar, securities, daily_bars, hk_trading_calendar, hk_securities, hk_daily_bars]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeHongKongKlines(SampleMarket(today="2023-09-29"), mock, closed={TYPHOON, RAINSTORM})
        for start, day in (("2023-08-28", "2023-08-31"), ("2023-09-01", "2023-09-01")):
            fake.now = d(day)
            market = Typhoon(kind="sample", sample_today=day, breaker_threshold=THRESHOLD)
            # the history path: the sample's HK quote list does not know the closure (eastmoney's
            # would still show the previous session, which the quote-list day check refuses)
            result = pipeline.run(
                start, day, today=day, assets=assets, market=market, ops={"hk_daily_bars": {"config": {"spot": False}}}
            )
            assert result.success, failure_messages(result)
    hk_meta = pipeline.metadata(result, "hk_daily_bars")
    assert "2023-09-01: 8 of 8 symbols asked for 2023-09-01 answered empty" in hk_meta["market_closures"]
    assert hk_meta["upstream_requests"] == len(SYMBOLS) + 1
    a_shares = read.daily_bars(
        read.securities(warehouse=pipeline.warehouse)["symbol"].tolist(), TYPHOON, TYPHOON, warehouse=pipeline.warehouse
    )
    assert len(a_shares) > 50  # the A-share bars of the night are published
    assert TYPHOON not in list(read.trading_days(TYPHOON, TYPHOON, market="HK", warehouse=pipeline.warehouse).date)
    assert TYPHOON in list(read.trading_days(TYPHOON, TYPHOON, market="CN", warehouse=pipeline.warehouse).date)


# -- A-shares: a whole-market closure behaves the same -------------------------------------

CN_TODAY = "2024-08-30"
CN_CLOSED = d("2024-08-30")  # a Friday: suppose the SSE, SZSE and BSE closed all day


@pytest.fixture
def a_shares(tmp_path):
    """A published warehouse with the sample A-shares through 2024-08-29, and their codes."""
    market = SampleMarket(today=CN_TODAY)
    path = published_sample_warehouse(tmp_path / "quantdb.duckdb", market, d("2024-08-01"), d("2024-08-29"))
    return path, market, sorted(market.universe()["code"])


def a_share_night(path, market, empty_for: list[str]):
    """The night of CN_CLOSED through akshare's real kline function; `empty_for` lack the day."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        eastmoney = FakeEastmoney(market, mock)
        for symbol in empty_for:  # twice: one symbol may also be probed
            eastmoney.queue(symbol, *[lambda raw: raw[raw["日期"] != CN_CLOSED]] * 2)
        conn = open_working(path)
        report = load_daily_bars(conn, akshare_on(CN_CLOSED), CN_CLOSED, CN_CLOSED, Lineage.now("akshare", "closed"))
        conn.close()
        publish(path)
    return report, eastmoney


@pytest.mark.slow
def test_a_whole_market_a_share_closure_is_recorded_and_the_night_succeeds(a_shares):
    path, market, symbols = a_shares
    report, eastmoney = a_share_night(path, market, symbols)
    assert report.circuit_open is None and not report.failed and report.empty == []
    asked = Counter(eastmoney.calls)
    assert report.requests == len(eastmoney.calls) == len(asked) + 1  # one request a symbol, one probe
    assert [n for n in asked.values() if n > 1] == [2]
    assert report.batch_checks.failed == []  # the day is not a session: no coverage rule for it
    closures = read.market_closures("CN", warehouse=path)
    assert closures["day"].astype(str).tolist() == [str(CN_CLOSED)]
    empty, asked_for_day = map(
        int,
        re.match(
            r"(\d+) of (\d+) symbols asked for 2024-08-30 answered empty; probe", closures["evidence"].iloc[0]
        ).groups(),
    )
    assert empty == asked_for_day == len(asked) and "nothing for 2024-08-30" in closures["evidence"].iloc[0]
    assert CN_CLOSED not in list(read.trading_days("2024-08-26", "2024-08-30", warehouse=path).date)
    assert read.status(warehouse=path)["gaps"].query("kind == 'day without bars'").empty


@pytest.mark.slow
def test_empty_answers_on_a_day_others_traded_are_no_closure_and_cost_no_probe(a_shares):
    path, market, symbols = a_shares
    report, eastmoney = a_share_night(path, market, symbols[-10:])  # ten adjacent codes lost the day
    assert report.circuit_open and "8 consecutive symbols failed or answered empty" in report.circuit_open
    assert report.not_attempted == 2 and report.closures == []
    assert max(Counter(eastmoney.calls).values()) == 1  # no probe: the other symbols' bars show the day traded
    assert read.market_closures(warehouse=path).empty
    assert CN_CLOSED in list(read.trading_days("2024-08-30", "2024-08-30", warehouse=path).date)


@pytest.mark.slow
def test_a_closure_the_night_missed_is_learned_from_the_next_nights_answers(a_shares):
    """The closed night's quote list was refused, so nothing was asked that night; the next
    night asks every symbol for both days and every answer skips the closed one."""
    path, _, symbols = a_shares
    next_day = d("2024-09-02")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        eastmoney = FakeEastmoney(SampleMarket(today=str(next_day)), mock)
        for symbol in symbols:
            eastmoney.queue(symbol, lambda raw: raw[raw["日期"] != CN_CLOSED])
        conn = open_working(path)
        report = load_daily_bars(conn, akshare_on(next_day), CN_CLOSED, next_day, Lineage.now("akshare", "next"))
        conn.close()
        publish(path)
    assert report.circuit_open is None and not report.failed
    assert len(eastmoney.calls) == len(set(eastmoney.calls))  # no probe: the answers are the evidence
    assert report.batch_checks.failed == []  # without the closure: 0 of 63 symbols have a bar on 08-30
    closures = read.market_closures("CN", warehouse=path)
    assert closures["day"].astype(str).tolist() == [str(CN_CLOSED)]
    assert "no answer has a bar for 2024-08-30" in closures["evidence"].iloc[0]
    assert CN_CLOSED not in list(read.trading_days("2024-08-26", "2024-09-02", warehouse=path).date)
    bars = read.daily_bars(symbols[0], "2024-08-29", "2024-09-02", warehouse=path)
    assert bars["trade_date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-08-29", "2024-09-02"]
    assert read.status(warehouse=path)["holes"].empty


def test_a_day_nobody_has_yet_is_no_closure_without_later_bars(a_shares):
    """The last day of every window, missing from every answer (not published yet, say), is
    not taken for a closure: no answer shows a later session, so the gate refuses the batch."""
    path, market, symbols = a_shares
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        eastmoney = FakeEastmoney(market, mock)
        for symbol in symbols:
            eastmoney.queue(symbol, lambda raw: raw[raw["日期"] != CN_CLOSED])
        conn = open_working(path)
        with pytest.raises(GateFailed, match="daily_universe_coverage"):
            load_daily_bars(
                conn, akshare_on(CN_CLOSED), d("2024-08-28"), CN_CLOSED, Lineage.now("akshare", "lag"), lag_days=3
            )
        assert conn.execute("SELECT count(*) FROM market_closures").fetchall() == [(0,)]
        conn.close()
    assert len(eastmoney.calls) == len(set(eastmoney.calls))  # no probe either


def test_sessions_before_every_symbols_history_are_no_closures(tmp_path):
    """A backfill reaching back before upstream's history (the sample's HK bars begin 2016-01-04,
    though its symbols listed earlier; akshare's histories also begin years after some listings):
    the empty sessions before every symbol's first bar are not closures, the later ones load."""
    market = SampleMarket(today="2020-01-31")  # every one of the eight listed by then
    path = tmp_path / "quantdb.duckdb"
    conn = open_working(path)
    try:
        migrate(conn)
        load_hk_calendar(conn, market, Lineage.now("exchange_calendars", "setup"))
        report = load_market_bars(
            conn, market, HK, d("2015-11-02"), d("2020-01-31"), Lineage.now("sample", "old"), symbols=SYMBOLS
        )
        first = conn.execute("SELECT min(trade_date) FROM hk_daily_bars").fetchone()[0]
        recorded = conn.execute("SELECT count(*) FROM market_closures").fetchone()[0]
    finally:
        conn.close()
    assert report.closures == [] and recorded == 0 and not report.failed
    assert first == d("2016-01-04")
