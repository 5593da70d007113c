"""Upstream faults, through the source seam and through HTTP fakes under the real akshare code.

Every fault ends retried to success, or isolated to its symbol and recorded (and retried by
the next run); nothing already published is lost, and bad rows never reach the warehouse.
"""

import datetime as dt

import duckdb
import pandas as pd
import pytest
import requests
import responses

from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.quality.gate import GateFailed
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests import faults
from quantdb_pipeline_tests.faults import FakeEastmoney, FaultyMarket

pytestmark = pytest.mark.slow  # each case runs the pipeline through Dagster against faulty HTTP answers

TODAY = "2024-08-30"
BASE = (dt.date(2024, 7, 1), dt.date(2024, 7, 31))
NEXT = (dt.date(2024, 8, 1), dt.date(2024, 8, 30))
SYMBOL = "600000"


def load(published, source, window, run_id):
    conn = open_working(published)
    try:
        migrate(conn)
        return load_daily_bars(conn, source, *window, Lineage.now(source.name, run_id))
    finally:
        conn.close()
        publish(published)


def published_rows(published, sql, params=()):
    with duckdb.connect(str(published), read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


@pytest.fixture
def published(tmp_path):
    """A published warehouse with July loaded cleanly from the sample market."""
    market = SampleMarket(today=TODAY)
    path = faults.published_sample_warehouse(tmp_path / "quantdb.duckdb", market, *BASE)
    return path


def base_rows(published):
    return published_rows(
        published, "SELECT * FROM daily_bars WHERE symbol = ? AND trade_date <= ? ORDER BY ALL", [SYMBOL, BASE[1]]
    )


REFUSED = {  # fault -> words the recorded error must contain
    "renamed_column": ["'收盘'", "missing"],
    "wrong_dtype": ["'收盘'", "numeric"],
    "connection_error": ["ConnectionError"],
}
QUARANTINED = {  # fault -> the rule that must catch it
    "negative_price": "close_positive",
    "duplicate_dates": "key_unique",
    "future_date": "not_in_future",
    "volume_in_shares": "vwap_above_low",
}


@pytest.mark.parametrize("fault", sorted(REFUSED))
def test_a_refused_answer_is_isolated_recorded_and_retried(published, fault):
    before = base_rows(published)
    report = load(published, FaultyMarket(today=TODAY, symbol=SYMBOL, fault=getattr(faults, fault)), NEXT, "bad")
    assert SYMBOL in report.failed and all(w in report.failed[SYMBOL] for w in REFUSED[fault])
    state = published_rows(published, "SELECT status, error FROM ingest_state WHERE symbol = ?", [SYMBOL])
    assert state[0][0] == "failed" and all(w in state[0][1] for w in REFUSED[fault])
    assert base_rows(published) == before  # nothing published is lost
    assert published_rows(
        published, "SELECT count(*) FROM daily_bars WHERE symbol = ? AND trade_date > ?", [SYMBOL, BASE[1]]
    ) == [(0,)]
    others = published_rows(published, "SELECT count(DISTINCT symbol) FROM daily_bars WHERE trade_date > ?", [BASE[1]])
    assert others[0][0] >= 55
    healed = load(published, SampleMarket(today=TODAY), NEXT, "heal")
    assert healed.requests == 1 and healed.symbols_updated == 1 and not healed.failed


@pytest.mark.parametrize("fault", sorted(QUARANTINED))
def test_bad_rows_are_quarantined_with_their_rule_and_the_rest_is_loaded(published, fault):
    before = base_rows(published)
    report = load(published, FaultyMarket(today=TODAY, symbol=SYMBOL, fault=getattr(faults, fault)), NEXT, "bad")
    rule = QUARANTINED[fault]
    assert report.rows_quarantined >= 1
    assert rule in report.failed[SYMBOL]
    quarantine = published_rows(published, "SELECT symbol, rules, row_values, run_id FROM quarantine")
    assert quarantine and all(row[0] == SYMBOL and row[3] == "bad" for row in quarantine)
    assert any(rule in row[1].split(",") for row in quarantine)
    assert base_rows(published) == before
    clean = SampleMarket(today=TODAY).a_share_daily_raw(SYMBOL, *NEXT)
    stored = published_rows(
        published, "SELECT count(*) FROM daily_bars WHERE symbol = ? AND trade_date > ?", [SYMBOL, BASE[1]]
    )[0][0]
    # the good rows of the window are there, the bad ones are not
    expected_stored = {
        "negative_price": len(clean) - 1,
        "duplicate_dates": len(clean) - 1,
        "future_date": len(clean),
        "volume_in_shares": 0,
    }[fault]
    assert stored == expected_stored
    for values in published_rows(published, "SELECT close, volume FROM daily_bars WHERE symbol = ?", [SYMBOL]):
        assert values[0] > 0
    # what passed is covered: the next run asks again for the quarantined trading days only,
    # and a clean answer clears the quarantine
    healed = load(published, SampleMarket(today=TODAY), NEXT, "heal")
    if fault == "future_date":
        # the row dated after today is no day of the window: the window is covered, nothing is
        # asked again; its quarantine row stays until the symbol's next clean answer
        assert healed.requests == 0 and not healed.failed
        assert published_rows(published, "SELECT count(*) FROM quarantine") == [(1,)]
        return
    assert healed.requests == 1 and not healed.failed
    assert published_rows(published, "SELECT count(*) FROM quarantine") == [(0,)]
    expected = [(d, c) for d, c in zip(clean["日期"], clean["收盘"])]
    assert (
        published_rows(
            published,
            "SELECT trade_date, close FROM daily_bars WHERE symbol = ? AND trade_date > ? ORDER BY 1",
            [SYMBOL, BASE[1]],
        )
        == expected
    )


def test_an_extra_column_loads_normally(published):
    report = load(published, FaultyMarket(today=TODAY, symbol=SYMBOL, fault=faults.extra_column), NEXT, "x")
    assert not report.failed and report.rows_per_symbol[SYMBOL] > 0


def test_an_empty_answer_is_not_taken_as_no_data(published):
    report = load(published, FaultyMarket(today=TODAY, symbol=SYMBOL, fault=faults.empty_frame), NEXT, "x")
    assert report.empty == [SYMBOL]
    assert published_rows(published, "SELECT status FROM ingest_state WHERE symbol = ?", [SYMBOL]) == [("empty",)]
    again = load(published, SampleMarket(today=TODAY), NEXT, "y")
    assert again.requests == 1 and again.rows_per_symbol[SYMBOL] > 0


def test_a_batch_missing_most_symbols_is_refused_whole(published, tmp_path):
    class HalfEmpty(SampleMarket):
        def a_share_daily_raw(self, symbol, start, end):
            raw = super().a_share_daily_raw(symbol, start, end)
            return pd.DataFrame() if int(symbol) % 2 else raw

    snapshot = published.read_bytes()
    conn = open_working(published)
    with pytest.raises(GateFailed, match="daily_universe_coverage"):
        load_daily_bars(conn, HalfEmpty(today=TODAY), *NEXT, Lineage.now("sample", "x"), breaker_threshold=1000)
    after = conn.execute("SELECT count(*) FROM daily_bars WHERE trade_date > ?", [BASE[1]]).fetchall()
    conn.close()
    assert after == [(0,)]  # nothing of the batch was written, not even the good half
    assert published.read_bytes() == snapshot


# -- through the real akshare functions --------------------------------------------------


@pytest.fixture
def eastmoney():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeEastmoney(SampleMarket(today=TODAY), mock)


def akshare(**kwargs) -> AkshareSource:
    from zoneinfo import ZoneInfo

    return AkshareSource(
        requests_per_second=1000,
        backoff_seconds=0.01,
        sleep=lambda s: None,
        now=lambda: dt.datetime(2024, 8, 30, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        **kwargs,
    )


@pytest.mark.parametrize(
    "fault",
    [requests.ConnectionError("reset"), requests.ReadTimeout("timed out"), 502, "captcha"],
    ids=["connection_error", "timeout", "http_502", "captcha"],
)
def test_transient_http_faults_are_retried_to_success(published, eastmoney, fault):
    eastmoney.queue(SYMBOL, fault, fault)
    report = load(published, akshare(max_retries=3), NEXT, "http")
    assert not report.failed
    assert eastmoney.calls.count(SYMBOL) == 3
    clean = SampleMarket(today=TODAY).a_share_daily_raw(SYMBOL, *NEXT)
    assert published_rows(
        published, "SELECT count(*) FROM daily_bars WHERE symbol = ? AND trade_date > ?", [SYMBOL, BASE[1]]
    ) == [(len(clean),)]


@pytest.mark.parametrize(
    "fault, rule",
    [
        (faults.negative_price, "close_positive"),
        (faults.duplicate_dates, "key_unique"),
        (faults.future_date, "not_in_future"),
        (faults.volume_in_shares, "vwap_above_low"),
    ],
    ids=["negative_price", "duplicate_dates", "future_date", "volume_in_shares"],
)
def test_bad_payloads_through_akshare_are_quarantined(published, eastmoney, fault, rule):
    before = base_rows(published)
    eastmoney.queue(SYMBOL, fault)
    report = load(published, akshare(), NEXT, "http")
    assert rule in report.failed[SYMBOL]
    assert any(
        rule in r[0] for r in published_rows(published, "SELECT rules FROM quarantine WHERE symbol = ?", [SYMBOL])
    )
    assert base_rows(published) == before


def test_one_quarantined_row_keeps_the_rest_covered_and_only_its_day_is_asked_again(published, eastmoney):
    clean = SampleMarket(today=TODAY).a_share_daily_raw(SYMBOL, *NEXT)
    bad_day = clean["日期"].iloc[len(clean) // 2]  # faults.negative_price turns the middle row's close negative
    eastmoney.queue(SYMBOL, faults.negative_price)
    report = load(published, akshare(), NEXT, "bad")
    assert report.rows_quarantined == 1 and "close_positive" in report.failed[SYMBOL]
    assert (SYMBOL, *NEXT) in eastmoney.ranges
    stored = published_rows(
        published,
        "SELECT trade_date, close FROM daily_bars WHERE symbol = ? AND trade_date > ? ORDER BY 1",
        [SYMBOL, BASE[1]],
    )
    assert stored == [(d, c) for d, c in zip(clean["日期"], clean["收盘"]) if d != bad_day]
    # covered: July through the day before the bad one, and the day after it through the window's end
    coverage = published_rows(
        published, "SELECT covered_from, covered_to FROM bar_coverage WHERE symbol = ? ORDER BY 1", [SYMBOL]
    )
    days = list(clean["日期"])
    at = days.index(bad_day)
    assert coverage == [(BASE[0], days[at - 1]), (days[at + 1], NEXT[1])]

    eastmoney.ranges.clear()
    healed = load(published, akshare(), NEXT, "heal")
    assert eastmoney.ranges == [(SYMBOL, bad_day, bad_day)]  # one request, for the quarantined day only
    assert healed.requests == 1 and not healed.failed and healed.rows_written == 1
    assert published_rows(
        published, "SELECT close FROM daily_bars WHERE symbol = ? AND trade_date = ?", [SYMBOL, bad_day]
    ) == [(clean["收盘"].iloc[at],)]
    assert published_rows(
        published, "SELECT covered_from, covered_to FROM bar_coverage WHERE symbol = ?", [SYMBOL]
    ) == [(BASE[0], NEXT[1])]
    assert published_rows(published, "SELECT count(*) FROM quarantine") == [(0,)]


def test_persistent_failures_are_recorded_and_a_ban_like_streak_opens_the_circuit(published, eastmoney):
    market = SampleMarket(today=TODAY)
    symbols = sorted(market.universe()["code"])
    for symbol in symbols:
        eastmoney.queue(symbol, *[requests.ConnectionError("connection reset by peer")] * 10)
    report = load(published, akshare(max_retries=1), NEXT, "ban")
    assert report.circuit_open and "8 consecutive" in report.circuit_open
    assert len(report.failed) == 8 and report.not_attempted > 40
    assert len(eastmoney.calls) == 8 * 2  # each of 8 symbols tried twice, then the run stopped asking
    states = published_rows(published, "SELECT count(*) FROM ingest_state WHERE status = 'failed' AND run_id = 'ban'")
    assert states == [(8,)]
