"""The one per-item fetch loop's rules: what counts toward the breaker, what is spared, what is excused."""

import pandas as pd
import pytest

from quantdb_pipeline.loaders.fetching import fetch_chunks, fetch_each
from quantdb_pipeline.sources.pacing import RetriesExhausted

ROWS, EMPTY = pd.DataFrame({"x": [1, 2]}), pd.DataFrame()


def answers(script: dict[str, object]):
    def fetch(item: str) -> pd.DataFrame:
        answer = script[item]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch


ITEMS = [f"s{i}" for i in range(6)]


def test_empty_answers_open_the_breaker_only_where_empty_is_suspicious():
    script = {item: EMPTY for item in ITEMS}
    bars = fetch_each(ITEMS, answers(script), dataset="bars", empty_is_suspicious=True, breaker_threshold=3)
    assert bars.circuit_open == (
        "stopped after 3 consecutive symbols failed or answered empty (last: s2); "
        "3 symbols not attempted, to be retried by the next run"
    )
    assert bars.empty == ["s0", "s1", "s2"] and bars.not_attempted == ["s3", "s4", "s5"]
    factors = fetch_each(ITEMS, answers(script), dataset="factors", empty_is_suspicious=False, breaker_threshold=3)
    assert factors.circuit_open is None and factors.empty == ITEMS and factors.not_attempted == []


def test_only_exhausted_retries_count_other_errors_and_answers_reset_the_streak():
    script = {
        "s0": RetriesExhausted("ban"),
        "s1": RetriesExhausted("ban"),
        "s2": KeyError("收盘"),
        "s3": RetriesExhausted("ban"),
        "s4": RetriesExhausted("ban"),
        "s5": ROWS,
    }
    got = fetch_each(ITEMS, answers(script), dataset="bars", empty_is_suspicious=True, breaker_threshold=3)
    assert got.circuit_open is None and set(got.failed) == {"s0", "s1", "s2", "s3", "s4"}
    assert got.failed["s2"] == "KeyError: '收盘'" and [item for item, _ in got.answers] == ["s5"]
    script["s5"] = RetriesExhausted("ban")
    got = fetch_each(
        ITEMS + ["s6"], answers({**script, "s6": ROWS}), dataset="bars", empty_is_suspicious=False, breaker_threshold=3
    )
    assert got.circuit_open.startswith("stopped after 3 consecutive symbols failed (last: s5)")
    assert got.not_attempted == ["s6"]


def test_a_judge_may_excuse_a_streak_and_the_later_empties_it_explains():
    script = {item: EMPTY for item in ITEMS}
    streaks = []

    def judge(streak, answered):
        streaks.append([item for item, _ in streak])
        return lambda item, answer: item != "s5"

    progress = []
    got = fetch_each(
        ITEMS,
        answers(script),
        dataset="bars",
        empty_is_suspicious=True,
        breaker_threshold=3,
        judge_streak=judge,
        progress=lambda *call: progress.append(call),
    )
    assert streaks == [["s0", "s1", "s2"]]  # asked once; s5 alone is no streak
    assert got.closed == ["s0", "s1", "s2", "s3", "s4"] and got.empty == ["s5"] and got.circuit_open is None
    assert progress[-1] == (6, 6, "s5", 0)


def test_a_judge_that_finds_no_innocent_cause_lets_the_breaker_open():
    got = fetch_each(
        ITEMS,
        answers({item: EMPTY for item in ITEMS}),
        dataset="bars",
        empty_is_suspicious=True,
        breaker_threshold=3,
        judge_streak=lambda streak, answered: None,
    )
    assert got.circuit_open and got.not_attempted == ["s3", "s4", "s5"] and got.closed == []


@pytest.mark.slow
def test_dividend_periods_the_breaker_spared_keep_their_stored_plans(tmp_path):
    import datetime as dt

    from quantdb_pipeline.loaders.bars import load_daily_bars
    from quantdb_pipeline.loaders.corporate_actions import load_corporate_actions
    from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
    from quantdb_pipeline.sources.sample import SampleMarket
    from quantdb_pipeline.warehouse.schema import connect
    from quantdb_pipeline.warehouse.writes import Lineage

    class Banned(SampleMarket):
        def dividends_raw(self, period):
            raise RetriesExhausted(f"stock_fhps_em({period:%Y%m%d}): connection reset, 4 retries")

    market, lineage = SampleMarket(today="2024-08-30"), Lineage.now("sample", "base")
    conn = connect(tmp_path / "w.duckdb")
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    load_daily_bars(conn, market, dt.date(2023, 1, 3), dt.date(2024, 8, 30), lineage)
    first = load_corporate_actions(conn, market, lineage, dt.date(2023, 1, 3))
    stored = conn.execute("SELECT count(*) FROM corporate_actions").fetchall()[0][0]
    assert first.rows_written == stored > 0 and len(first.needed) > 3

    banned = load_corporate_actions(
        conn,
        Banned(today="2024-08-30"),
        Lineage.now("sample", "ban"),
        dt.date(2023, 1, 3),
        refresh=True,
        breaker_threshold=2,
    )
    assert banned.circuit_open.startswith("stopped after 2 consecutive periods failed")
    assert banned.not_attempted == len(banned.needed) - 2 and len(banned.failed) == 2
    assert conn.execute("SELECT count(*) FROM corporate_actions").fetchall()[0][0] == stored  # nothing lost


def chunked(items, script, **options):
    return [
        [item for item, _ in chunk.answers] + list(chunk.failed)
        for chunk in fetch_chunks(items, answers(script), dataset="bars", **options)
    ]


def test_chunks_close_at_the_symbol_bound_or_at_the_symbol_that_reaches_the_row_bound():
    items = [f"s{i}" for i in range(7)]
    script = {item: ROWS for item in items}  # two rows each
    assert chunked(items, script, empty_is_suspicious=True, max_items=3, max_rows=None) == [
        ["s0", "s1", "s2"],
        ["s3", "s4", "s5"],
        ["s6"],
    ]
    assert chunked(items, script, empty_is_suspicious=True, max_items=100, max_rows=5) == [
        ["s0", "s1", "s2"],
        ["s3", "s4", "s5"],
        ["s6"],
    ]
    assert chunked(items, script, empty_is_suspicious=True, max_items=2, max_rows=3) == [
        ["s0", "s1"],
        ["s2", "s3"],
        ["s4", "s5"],
        ["s6"],
    ]


def test_a_chunk_stays_open_while_a_suspicious_streak_is_open():
    # s1..s3 empty: the streak may still be excused as a whole, so no chunk closes inside it
    script = {"s0": ROWS, "s1": EMPTY, "s2": EMPTY, "s3": EMPTY, "s4": ROWS, "s5": ROWS}
    assert chunked(ITEMS, script, empty_is_suspicious=True, max_items=2, max_rows=None, breaker_threshold=8) == [
        ["s0", "s1", "s2", "s3", "s4"],
        ["s5"],
    ]
    # where empty is an ordinary answer there is no streak: chunks close on the bound
    assert chunked(ITEMS, script, empty_is_suspicious=False, max_items=2, max_rows=None) == [
        ["s0", "s1"],
        ["s2", "s3"],
        ["s4", "s5"],
    ]


def test_the_breaker_ends_the_last_chunk_with_what_was_not_attempted():
    script = {"s0": ROWS, "s1": ROWS, "s2": EMPTY, "s3": EMPTY, "s4": EMPTY, "s5": ROWS}
    chunks = list(
        fetch_chunks(
            ITEMS,
            answers(script),
            dataset="bars",
            empty_is_suspicious=True,
            max_items=2,
            max_rows=None,
            breaker_threshold=3,
        )
    )
    assert [[item for item, _ in c.answers] for c in chunks] == [["s0", "s1"], ["s2", "s3", "s4"]]
    assert chunks[-1].not_attempted == ["s5"] and "stopped after 3 consecutive" in chunks[-1].circuit_open
    assert all(c.circuit_open is None for c in chunks[:-1])
