"""Holes before the latest coverage are revisited: a day some symbols lack (left out of a quote
list whose pages overlap, a refused quote list, days the calendar learned late, an HK day
without a bar) is fetched by the next run, through the real akshare functions behind HTTP
fakes or through the Dagster assets, and `read.status()` lists what is still missing."""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.assets import (
    daily_bars,
    hk_daily_bars,
    hk_securities,
    hk_trading_calendar,
    securities,
    trading_calendar,
)
from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.quality.gate import GateFailed
from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.sample import SUSPENDED_SYMBOL, SampleMarket
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.conftest import d, failure_messages
from quantdb_pipeline_tests.faults import FakeEastmoney, FakeQuoteList, published_sample_warehouse

pytestmark = pytest.mark.slow  # each test runs several nights through Dagster

SIZE = 150  # two pages of the quote list (100 rows a page)
BACKFILL = (d("2024-05-06"), d("2024-06-04"))
DAY1, DAY2 = d("2024-06-05"), d("2024-06-06")
VALUES = ["open", "high", "low", "close", "volume", "amount"]


def akshare_at(day: dt.date) -> AkshareSource:
    evening = dt.datetime.combine(day, dt.time(18), tzinfo=ZoneInfo("Asia/Shanghai"))
    return AkshareSource(requests_per_second=1e9, backoff_seconds=0.01, sleep=lambda s: None, now=lambda: evening)


@pytest.fixture
def published(tmp_path):
    """A published warehouse of 150 sample symbols, May 6 .. June 4 2024 loaded cleanly."""
    market = SampleMarket(today=BACKFILL[1].isoformat(), size=SIZE)
    path = published_sample_warehouse(tmp_path / "quantdb.duckdb", market, *BACKFILL)
    return path


def night(path, day: dt.date, **quote_list):
    """The nightly load of `day` through akshare: the quote list and the kline endpoint faked
    from the sample market; published when it succeeds. Returns (report, quote fake, kline fake)."""
    market = SampleMarket(today=day.isoformat(), size=SIZE)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        quotes = FakeQuoteList(market, mock, **quote_list)
        history = FakeEastmoney(market, mock)
        conn = open_working(path)
        try:
            report = load_daily_bars(
                conn,
                akshare_at(day),
                day,
                day,
                Lineage.now("akshare", f"night-{day}"),
                use_spot=True,
                reconcile_symbols=0,
            )
        finally:
            conn.close()
    publish(path)
    return report, quotes, history


def stored_bars(path, day: dt.date, symbols) -> pd.DataFrame:
    with read.connect(path) as conn:
        return conn.execute(
            f"SELECT symbol, {', '.join(VALUES)} FROM daily_bars WHERE trade_date = ? "
            "AND list_contains(?, symbol) ORDER BY symbol",
            [day, sorted(symbols)],
        ).df()


def history_bars(day: dt.date, symbols, today: dt.date) -> pd.DataFrame:
    market = SampleMarket(today=today.isoformat(), size=SIZE)
    frames = [normalize.a_share_bars(market.a_share_daily_raw(s, day, day), s, "sample") for s in sorted(symbols)]
    return pd.concat(frames, ignore_index=True)[["symbol", *VALUES]].astype({"symbol": object})


def cn_holes(path) -> list[tuple]:
    holes = read.status(warehouse=path)["holes"]
    holes = holes[holes["market"] == "CN"]
    return [
        (r.symbol, r.first_missing.date(), r.last_missing.date(), r.trading_days, bool(r.revisited))
        for r in holes.itertuples()
    ]


def test_codes_left_out_by_overlapping_quote_list_pages_get_the_missed_bar_the_next_night(published):
    # eastmoney's pages overlap: page 2 starts 3 rows early, repeating 3 codes and leaving the last 3 out
    report, quotes, _ = night(published, DAY1, overlap=3)
    codes = sorted(quotes.quotes["代码"])
    left_out = codes[-3:]
    assert quotes.pages == [1, 2] and report.duplicates_dropped == 3
    assert sorted(report.empty) == left_out  # recorded empty for DAY1, not covered
    assert stored_bars(published, DAY1, left_out).empty
    assert cn_holes(published) == [(s, DAY1, DAY1, 1, True) for s in left_out]

    report, quotes, history = night(published, DAY2)
    # the left-out codes ask the history endpoint from their hole; everyone else takes DAY2 from the list
    assert sorted(history.ranges) == [(s, DAY1, DAY2) for s in left_out]
    assert report.requests == 2 + 3 and report.spot_symbols == len(codes) - 3
    pd.testing.assert_frame_equal(
        stored_bars(published, DAY1, left_out), history_bars(DAY1, left_out, DAY2), check_dtype=False
    )
    assert len(stored_bars(published, DAY2, codes)) == len(codes) - 1  # all but the suspended symbol
    assert cn_holes(published) == []


def test_a_refused_quote_list_leaves_its_day_missing_and_the_next_night_fetches_it(published):
    # the list truncated to its first page (its total says 100): the day's batch is refused whole
    with pytest.raises(GateFailed, match="daily_universe_coverage"):
        night(published, DAY1, first_page_only=True)
    codes = sorted(SampleMarket(today=DAY1.isoformat(), size=SIZE).a_share_spot_raw()["代码"])
    assert stored_bars(published, DAY1, codes).empty

    report, quotes, history = night(published, DAY2)
    traded = [s for s in codes if s != SUSPENDED_SYMBOL]
    # every symbol lacks DAY1: one history request each for DAY1..DAY2, no quote list
    assert quotes.pages == [] and report.requests == len(codes)
    assert sorted(history.ranges) == [(s, DAY1, DAY2) for s in codes]
    pd.testing.assert_frame_equal(
        stored_bars(published, DAY1, traded), history_bars(DAY1, traded, DAY2), check_dtype=False
    )
    # the suspended symbol's empty answer is not trusted: still missing, and asked again next run
    assert cn_holes(published) == [(SUSPENDED_SYMBOL, DAY1, DAY2, 2, True)]


class CalendarMarket(MarketSourceResource):
    """The sample market whose trading calendar ends at `calendar_ends`, as akshare's does on
    31 December until the vendor publishes the new year."""

    calendar_ends: str = ""

    def build(self):
        market = super().build()
        original = market.trading_calendar_raw

        def trading_calendar_raw():
            calendar = original()
            if self.calendar_ends:
                calendar = calendar[calendar["trade_date"] <= d(self.calendar_ends)]
            return calendar

        market.trading_calendar_raw = trading_calendar_raw
        return market


def test_days_the_calendar_learns_late_are_fetched_by_the_next_run(pipeline):
    assets = [trading_calendar, securities, daily_bars]
    old_year = CalendarMarket(kind="sample", sample_today="2024-12-31", calendar_ends="2024-12-31")
    assert pipeline.run("2024-12-02", "2024-12-31", today="2024-12-31", market=old_year, assets=assets).success
    # 6 Jan: the calendar still ends on 31 Dec, so nothing of the new year is a trading day yet
    unknown = CalendarMarket(kind="sample", sample_today="2025-01-06", calendar_ends="2024-12-31")
    result = pipeline.run("2025-01-06", "2025-01-06", today="2025-01-06", market=unknown, assets=assets)
    assert result.success, failure_messages(result)
    assert pipeline.bars_metadata(result)["upstream_requests"] == 0
    assert pipeline.query("SELECT count(*) AS n FROM daily_bars WHERE trade_date > '2024-12-31'")["n"][0] == 0
    # 14 Feb, the calendar knows 2025: 26 trading days since 2 Jan, more than the trailing window's 20
    result = pipeline.run("2025-02-14", "2025-02-14", today="2025-02-14", assets=assets)
    assert result.success, failure_messages(result)
    meta = pipeline.bars_metadata(result)
    listed = pipeline.query("SELECT count(*) AS n FROM securities WHERE list_date <= '2025-02-14'")["n"][0]
    assert meta["upstream_requests"] == listed  # one request per symbol, from 2 Jan
    market = SampleMarket(today="2025-02-14")
    days = pipeline.query(
        "SELECT trade_date FROM trading_calendar WHERE market = 'CN' "
        "AND trade_date BETWEEN '2025-01-02' AND '2025-02-14' ORDER BY 1"
    )["trade_date"]
    assert len(days) == 26
    stored = pipeline.query(
        "SELECT trade_date, close FROM daily_bars WHERE symbol = '600000' AND trade_date > '2024-12-31' ORDER BY 1"
    )
    truth = market.a_share_daily_raw("600000", d("2025-01-02"), d("2025-02-14"))
    assert [t.date() for t in stored["trade_date"]] == [t.date() for t in days] == list(truth["日期"])
    assert stored["close"].tolist() == truth["收盘"].tolist()
    per_day = pipeline.query("SELECT count(DISTINCT symbol) AS n FROM daily_bars WHERE trade_date = '2025-01-02'")
    assert per_day["n"][0] >= listed - 1  # at most a suspended symbol lacks it
    assert read.status(warehouse=pipeline.warehouse)["holes"].query("market == 'CN'").empty


class HkHoleMarket(MarketSourceResource):
    """The sample market whose HK answers lack one day (`hk_missing` "symbol:YYYY-MM-DD"), as a
    suspended symbol's or a lost row's would."""

    hk_missing: str = ""

    def build(self):
        market = super().build()
        original = market.hk_daily_raw

        def hk_daily_raw(symbol, start, end):
            raw = original(symbol, start, end)
            if self.hk_missing and symbol == self.hk_missing.split(":")[0]:
                raw = raw[raw["日期"] != d(self.hk_missing.split(":")[1])].reset_index(drop=True)
            return raw

        market.hk_daily_raw = hk_daily_raw
        return market


def test_an_hk_day_without_a_bar_is_asked_again_once_a_night_inside_the_trailing_window(pipeline):
    assets = [hk_trading_calendar, hk_securities, hk_daily_bars]
    hole = d("2024-10-29")
    holey = HkHoleMarket(kind="sample", sample_today="2024-10-31", hk_symbols="00700,00005", hk_missing=f"00700:{hole}")
    assert pipeline.run("2024-10-02", "2024-10-31", today="2024-10-31", market=holey, assets=assets).success
    holes = read.status(warehouse=pipeline.warehouse)["holes"].query("market == 'HK'")
    assert [(r.symbol, r.first_missing.date(), r.trading_days, r.revisited) for r in holes.itertuples()] == [
        ("00700", hole, 1, True)
    ]
    # a rerun of the same night with the day still missing (a suspension): not asked again tonight
    rerun = pipeline.run("2024-10-31", "2024-10-31", today="2024-10-31", market=holey, assets=assets)
    assert pipeline.metadata(rerun, "hk_daily_bars")["upstream_requests"] == 0
    # the next night asks 00700 from its hole (one request; 00005, missing only the night, takes it
    # from the quote list hk_securities fetched), and the bar arrives
    result = pipeline.run("2024-11-01", "2024-11-01", today="2024-11-01", assets=assets, hk_symbols="00700,00005")
    assert result.success, failure_messages(result)
    assert pipeline.metadata(result, "hk_daily_bars")["upstream_requests"] == 1
    assert pipeline.metadata(result, "hk_daily_bars")["spot_quotes"].startswith("2024-11-01: 1 symbols in 0 requests")
    truth = SampleMarket(today="2024-11-01").hk_daily_raw("00700", hole, hole)
    stored = pipeline.query("SELECT close, volume FROM hk_daily_bars WHERE symbol = '00700' AND trade_date = ?", [hole])
    assert stored.values.tolist() == [[truth["收盘"].iloc[0], truth["成交量"].iloc[0]]]
    assert read.status(warehouse=pipeline.warehouse)["holes"].query("market == 'HK'").empty
    again = pipeline.run("2024-11-01", "2024-11-01", today="2024-11-01", assets=assets, hk_symbols="00700,00005")
    assert pipeline.metadata(again, "hk_daily_bars")["upstream_requests"] == 0


def test_a_complete_warehouse_costs_no_extra_request_and_holes_beyond_the_window_are_listed(published, capsys):
    from quantdb_pipeline.cli import _default_start, main

    market = SampleMarket(today=BACKFILL[1].isoformat(), size=SIZE)
    conn = open_working(published)
    try:
        rerun = load_daily_bars(conn, market, BACKFILL[1], BACKFILL[1], Lineage.now("sample", "rerun"))
        off = load_daily_bars(conn, market, BACKFILL[1], BACKFILL[1], Lineage.now("sample", "off"), revisit_days=0)
        assert rerun.requests == off.requests == 0  # the trailing window costs nothing on a complete warehouse
        # 600000 lacks 2024-05-07, before the trailing window (the 20 trading days 05-08..06-04);
        # 000001 lacks 2024-05-21, inside it
        conn.execute("DELETE FROM bar_coverage WHERE symbol IN ('600000', '000001')")
        conn.execute(
            "INSERT INTO bar_coverage VALUES ('600000', '2024-05-06', '2024-05-06', 'x', now()), "
            "('600000', '2024-05-08', '2024-06-04', 'x', now()), "
            "('000001', '2024-05-06', '2024-05-20', 'x', now()), "
            "('000001', '2024-05-22', '2024-06-04', 'x', now())"
        )
    finally:
        conn.close()
    publish(published)
    holes = read.status(warehouse=published)["holes"]
    assert [
        (r.market, r.symbol, r.first_missing.date(), r.last_missing.date(), r.trading_days, r.revisited)
        for r in holes.itertuples()
    ] == [
        ("CN", "000001", d("2024-05-21"), d("2024-05-21"), 1, True),
        ("CN", "600000", d("2024-05-07"), d("2024-05-07"), 1, False),
    ]
    assert _default_start(published, BACKFILL[1], None) == d("2024-05-21")  # the CLI's range shows the hole
    assert main(["status", "--warehouse", str(published)]) == 0
    printed = capsys.readouterr().out
    section = printed.split("missing trading days per symbol")[1].split("\n\n")[0]
    rows = [line.split() for line in section.splitlines()]
    assert ["CN", "000001", "2024-05-21", "2024-05-21", "1", "True"] in rows
    assert ["CN", "600000", "2024-05-07", "2024-05-07", "1", "False"] in rows

    conn = open_working(published)
    try:
        nightly = load_daily_bars(conn, market, BACKFILL[1], BACKFILL[1], Lineage.now("sample", "again"))
        assert nightly.requests == 1 and nightly.rows_per_symbol == {"000001": 1}  # the revisited hole only
        # the older hole waits for a run whose own range covers it
        filled = load_daily_bars(conn, market, d("2024-05-07"), d("2024-05-07"), Lineage.now("sample", "fill"))
    finally:
        conn.close()
    publish(published)
    assert filled.requests == 1 and filled.rows_per_symbol == {"600000": 1}
    assert read.status(warehouse=published)["holes"].empty


def test_days_the_a_shares_missed_while_the_indices_loaded_are_holes(tmp_path):
    """A-share bars failed for two nights while the indices (same calendar) were loaded: the
    A-shares' missing days are holes, though `daily_bars` itself ends before them."""
    from quantdb_pipeline.loaders.markets import INDEX, load_market_bars

    market = SampleMarket(today="2024-06-04", size=12)
    path = published_sample_warehouse(tmp_path / "quantdb.duckdb", market, d("2024-05-06"), d("2024-06-04"))
    conn = open_working(path)
    load_market_bars(
        conn,
        SampleMarket(today="2024-06-06", size=12),
        INDEX,
        d("2024-05-06"),
        d("2024-06-06"),
        Lineage.now("sample", "indices"),
        symbols=["000300"],
    )
    conn.close()
    publish(path)
    holes = read.status(warehouse=path)["holes"].query("market == 'CN'")
    covered = (
        read.connect(warehouse=path)
        .execute(
            "SELECT DISTINCT c.symbol FROM bar_coverage c JOIN securities s USING (symbol) "
            "WHERE c.covered_to = DATE '2024-06-04' AND (s.delist_date IS NULL OR s.delist_date > DATE '2024-06-06')"
        )
        .fetchall()
    )
    assert sorted(holes["symbol"]) == sorted(s for (s,) in covered) and len(holes) >= 10
    assert set(holes["first_missing"].astype(str)) == {"2024-06-05"}
    assert set(holes["last_missing"].astype(str)) == {"2024-06-06"}
    assert holes["trading_days"].eq(2).all() and holes["revisited"].all()
