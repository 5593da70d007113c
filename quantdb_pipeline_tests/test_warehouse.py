import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.pacing import RateLimiter
from quantdb_pipeline.warehouse import connect, migrate, schema_version
from quantdb_pipeline.warehouse.coverage import TradingDays, merge, missing_span
from quantdb_pipeline.warehouse.schema import migrations
from quantdb_pipeline.warehouse.writes import Lineage, write_bar_batch

D = dt.date
# a week with a holiday: Mon 2024-09-30, National Day 10-01..10-07, Tue 10-08 ...
DAYS = TradingDays(
    [D(2024, 9, 26), D(2024, 9, 27), D(2024, 9, 30), D(2024, 10, 8), D(2024, 10, 9), D(2024, 10, 10), D(2024, 10, 11)]
)


def test_intervals_separated_only_by_a_holiday_merge():
    assert merge([(D(2024, 9, 26), D(2024, 9, 30)), (D(2024, 10, 8), D(2024, 10, 9))], DAYS) == [
        (D(2024, 9, 26), D(2024, 10, 9))
    ]


def test_intervals_with_a_trading_day_between_do_not_merge():
    assert merge([(D(2024, 9, 26), D(2024, 9, 27)), (D(2024, 10, 8), D(2024, 10, 9))], DAYS) == [
        (D(2024, 9, 26), D(2024, 9, 27)),
        (D(2024, 10, 8), D(2024, 10, 9)),
    ]


def test_overlapping_and_contained_intervals_merge():
    assert merge(
        [(D(2024, 10, 8), D(2024, 10, 11)), (D(2024, 9, 26), D(2024, 10, 9)), (D(2024, 10, 9), D(2024, 10, 10))], DAYS
    ) == [(D(2024, 9, 26), D(2024, 10, 11))]


def test_missing_span_is_the_smallest_range_holding_every_uncovered_day():
    window = DAYS.between(D(2024, 9, 26), D(2024, 10, 11))
    assert missing_span([], window) == (D(2024, 9, 26), D(2024, 10, 11))
    assert missing_span([(D(2024, 9, 26), D(2024, 10, 9))], window) == (D(2024, 10, 10), D(2024, 10, 11))
    assert missing_span([(D(2024, 9, 27), D(2024, 10, 9))], window) == (D(2024, 9, 26), D(2024, 10, 11))
    assert missing_span([(D(2024, 9, 1), D(2024, 10, 31))], window) is None
    assert missing_span([], DAYS.between(D(2024, 10, 1), D(2024, 10, 7))) is None  # holiday only


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as conn:
        assert schema_version(conn) == len(migrations())
        assert migrate(conn) == len(migrations())  # idempotent
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchall()[0][0] == len(migrations())
        comments = dict(
            conn.execute("SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'daily_bars'").fetchall()
        )
        assert "shares" in comments["volume"].lower() and "CNY" in comments["amount"]


def test_primary_keys_are_enforced(tmp_path):
    with connect(tmp_path / "w.duckdb") as conn:
        conn.execute("INSERT INTO pipeline_settings VALUES ('k', 'v')")
        with pytest.raises(duckdb.ConstraintException):
            conn.execute("INSERT INTO pipeline_settings VALUES ('k', 'w')")


def bars(symbol: str, days: list[dt.date], close: float) -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            "日期": days,
            "股票代码": symbol,
            "开盘": close,
            "收盘": close,
            "最高": close,
            "最低": close,
            "成交量": 10,
            "成交额": close * 1000,
            "振幅": 0.0,
            "涨跌幅": 0.0,
            "涨跌额": 0.0,
            "换手率": 0.1,
        }
    )
    return normalize.a_share_bars(raw, symbol, "test")


def write(conn, frame, start, end, run="r1"):
    symbol = frame["symbol"].iloc[0]
    return write_bar_batch(
        conn,
        frame,
        pd.DataFrame([(symbol, start, end)], columns=["symbol", "fetched_from", "fetched_to"]),
        {symbol: [(start, end)]},
        pd.DataFrame([(symbol, "ok", None)], columns=["symbol", "status", "error"]),
        Lineage.now("test", run),
    )


def test_a_window_is_replaced_and_rows_outside_it_are_kept(tmp_path):
    week = [D(2024, 10, 8), D(2024, 10, 9), D(2024, 10, 10), D(2024, 10, 11)]
    with connect(tmp_path / "w.duckdb") as conn:
        write(conn, bars("600000", week, 10.0), week[0], week[-1])
        write(conn, bars("600000", week[1:3], 11.0), week[1], week[2], run="r2")
        rows = conn.execute("SELECT trade_date, close, run_id FROM daily_bars ORDER BY 1").fetchall()
    assert [(r[1], r[2]) for r in rows] == [(10.0, "r1"), (11.0, "r2"), (11.0, "r2"), (10.0, "r1")]


def test_duplicate_keys_in_one_batch_keep_the_last_row_not_an_arbitrary_one(tmp_path):
    day = D(2024, 10, 8)
    batch = pd.concat([bars("600000", [day], 10.0), bars("600000", [day], 12.0)], ignore_index=True)
    with connect(tmp_path / "w.duckdb") as conn:
        assert write(conn, batch, day, day) == 1
        assert conn.execute("SELECT close FROM daily_bars").fetchall() == [(12.0,)]


def test_a_failing_write_rolls_back_and_loses_nothing(tmp_path):
    week = [D(2024, 10, 8), D(2024, 10, 9)]
    with connect(tmp_path / "w.duckdb") as conn:
        write(conn, bars("600000", week, 10.0), week[0], week[-1])
        before = conn.execute("SELECT * FROM daily_bars ORDER BY ALL").fetchall()
        coverage = conn.execute("SELECT * FROM bar_coverage ORDER BY ALL").fetchall()
        broken = bars("600000", week, 11.0)
        broken.loc[1, "close"] = np.nan  # violates NOT NULL after the delete already ran
        broken["close"] = broken["close"].astype(object).where(broken["close"].notna(), None)
        with pytest.raises(duckdb.ConstraintException):
            write(conn, broken, week[0], week[-1], run="r2")
        assert conn.execute("SELECT * FROM daily_bars ORDER BY ALL").fetchall() == before
        assert conn.execute("SELECT * FROM bar_coverage ORDER BY ALL").fetchall() == coverage


def test_rate_limiter_spaces_calls_evenly():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == pytest.approx([0.25, 0.25, 0.25, 0.25])
    now[0] += 10  # an idle pause does not bank a burst
    limiter.wait()
    limiter.wait()
    assert slept[-1] == pytest.approx(0.25)


def test_every_akshare_source_of_the_market_resource_shares_one_limiter_per_rate():
    from quantdb_pipeline.resources import MarketSourceResource

    market = MarketSourceResource(kind="akshare", requests_per_second=2.0)
    a, b = market.build(), market.build()
    assert a._limiter is b._limiter is market.limiter  # two asset steps, one spacing of requests
    faster = MarketSourceResource(kind="akshare", requests_per_second=5.0)
    assert faster.build()._limiter is not a._limiter and faster.limiter.interval == pytest.approx(0.2)
