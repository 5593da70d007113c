"""Partitions are trading days: SSE sessions from 1990-12-19 for A-shares and indices, HKEX sessions
for HK bars; ranges are snapped to them, and a range without one starts no run."""

import datetime as dt
import subprocess
import sys

import duckdb
from dagster import DagsterInstance, RunsFilter
from dagster._core.instance.ref import InstanceRef
import pytest

from quantdb_pipeline.assets import daily_bars, hk_daily_bars, index_daily_bars
from quantdb_pipeline.cli import EXIT_OK, main
from quantdb_pipeline.partitions import (
    CALENDAR_LAST,
    CALENDAR_LEAD_DAYS,
    HK_DAYS,
    SSE_DAYS,
    hk_partitions,
    sse_partitions,
)
from quantdb_pipeline.sources.base import bundled_sse_calendar
from quantdb_pipeline.sources.calendars import hk_trading_days
from quantdb_pipeline_tests import faults
from quantdb_pipeline_tests.test_cli import ARGS, SMALL, summary_value


def keys_of(partitions_def, year: int) -> list[str]:
    return [k for k in partitions_def.get_partition_keys() if k.startswith(str(year))]


def test_2024_keys_are_exactly_the_242_sse_trading_days():
    keys = keys_of(sse_partitions, 2024)
    assert len(keys) == 242
    assert keys == [d.isoformat() for d in bundled_sse_calendar() if d.year == 2024]
    assert sse_partitions.get_first_partition_key() == "1990-12-19"  # the first SSE session
    for closed in ("2024-01-06", "2024-02-12", "2024-10-01"):  # Saturday, Spring Festival, National Day
        assert not sse_partitions.has_partition_key(closed)
    assert daily_bars.partitions_def is sse_partitions and index_daily_bars.partitions_def is sse_partitions


def test_hk_keys_are_the_hkex_sessions():
    keys = keys_of(hk_partitions, 2024)
    assert len(keys) == 246
    assert keys == [d.isoformat() for d in hk_trading_days() if d.year == 2024]
    assert hk_partitions.has_partition_key("2024-10-02")  # HKEX trades, the SSE is closed
    assert not hk_partitions.has_partition_key("2024-12-25") and sse_partitions.has_partition_key("2024-12-25")
    assert hk_daily_bars.partitions_def is hk_partitions


def test_both_definitions_build_offline_and_fast():
    # a fresh interpreter: akshare is not imported (its calendar.json is read as a file), and no
    # network is reachable through the proxy variables
    code = (
        "import sys, time; t = time.perf_counter(); from quantdb_pipeline import partitions as p; "
        "print(time.perf_counter() - t, 'akshare' in sys.modules, len(p.SSE_DAYS.closures))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "PYTHONPATH": ":".join(sys.path),
        },
    ).stdout.split()
    seconds, akshare_imported, closures = float(out[0]), out[1], int(out[2])
    assert akshare_imported == "False" and closures == 605
    assert seconds < 15  # ~1-3 s on a shared machine, mostly exchange_calendars' import


def test_the_bundled_calendar_reaches_ahead_of_today():
    """Fails when akshare's calendar.json ends within CALENDAR_LEAD_DAYS: after its last day
    every weekday is a partition (holidays included); upgrade akshare for a newer calendar."""
    assert CALENDAR_LAST >= dt.date.today() + dt.timedelta(days=CALENDAR_LEAD_DAYS), (
        f"the bundled SSE calendar ends {CALENDAR_LAST}: upgrade akshare"
    )
    assert HK_DAYS.known_until == CALENDAR_LAST  # HK pinned to the same day, not a year past today


def test_ranges_snap_to_sessions_of_their_market():
    d = dt.date.fromisoformat
    assert SSE_DAYS.snap(d("2024-01-06"), d("2024-01-10")) == (d("2024-01-08"), d("2024-01-10"))  # Saturday start
    assert SSE_DAYS.snap(d("2024-01-02"), d("2024-01-07")) == (d("2024-01-02"), d("2024-01-05"))  # Sunday end
    assert SSE_DAYS.snap(d("2024-10-01"), d("2024-10-07")) is None  # National Day week
    assert HK_DAYS.snap(d("2024-10-01"), d("2024-10-07")) == (d("2024-10-02"), d("2024-10-07"))
    assert SSE_DAYS.snap(d("1980-01-01"), d("1990-12-20")) == (d("1990-12-19"), d("1990-12-20"))
    # the same rule as the definition's keys, day by day
    keys = set(keys_of(sse_partitions, 2023))
    every = [d("2023-01-01") + dt.timedelta(n) for n in range(365)]
    assert {day.isoformat() for day in every if SSE_DAYS.is_session(day)} == keys


@pytest.mark.slow
def test_a_cli_range_ending_on_a_sunday_records_only_its_sessions(workdir, capsys):
    args = [a if a != "2024-07-19" else "2024-07-21" for a in ARGS]  # --end a Sunday
    args = [a if a != "2024-07-01" else "2024-07-13" for a in args]  # --start a Saturday
    assert main(args + SMALL + ["--no-progress", "--markets", "cn,hk"]) == EXIT_OK
    out = capsys.readouterr().out
    assert summary_value(out, "date range") == "2024-07-15..2024-07-19"
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        runs = inst.get_runs(RunsFilter(tags={"quantdb/launched_by": "cli"}))
        assert len(runs) == 2  # HK, then A-shares + publish
        recorded = {
            key: sorted(inst.get_materialized_partitions(daily_bars.key if key == "cn" else hk_daily_bars.key))
            for key in ("cn", "hk")
        }
    week = ["2024-07-15", "2024-07-16", "2024-07-17", "2024-07-18", "2024-07-19"]
    assert recorded == {"cn": week, "hk": week}  # not Monday 07-22, which a Sunday end tag would record


@pytest.mark.slow
def test_a_cli_range_without_a_trading_day_starts_no_run_and_fetches_nothing(workdir, capsys, monkeypatch):
    assert main(ARGS + SMALL + ["--no-progress"]) == EXIT_OK
    capsys.readouterr()
    snapshot = (workdir / "warehouse" / "cli.duckdb").read_bytes()
    for endpoint in ("a_share_daily_raw", "hk_daily_raw", "index_daily_raw", "trading_calendar_raw"):
        monkeypatch.setattr(faults.SampleMarket, endpoint, faults.refuse(endpoint))
    holiday = [
        "run",
        "--source",
        "sample",
        "--sample-today",
        "2024-10-31",
        "--start",
        "2024-10-01",
        "--end",
        "2024-10-01",
        "--warehouse",
        "warehouse/cli.duckdb",
        "--no-progress",
        *SMALL,
        "--markets",
        "cn,index",
    ]
    assert main(holiday) == EXIT_OK
    assert capsys.readouterr().err.strip() == (
        "quantdb-pipeline: no trading day in 2024-10-01..2024-10-01: nothing to load, no run started"
    )
    assert (workdir / "warehouse" / "cli.duckdb").read_bytes() == snapshot
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        assert len(inst.get_runs(RunsFilter(tags={"quantdb/launched_by": "cli"}))) == 2  # the first command's two
        assert "2024-10-08" not in inst.get_materialized_partitions(daily_bars.key)


@pytest.mark.slow
def test_a_range_holding_hk_sessions_only_runs_hk_alone(workdir, capsys):
    # 2024-10-02..04: SSE closed (National Day), HKEX open
    args = [
        "run",
        "--source",
        "sample",
        "--sample-today",
        "2024-10-31",
        "--start",
        "2024-10-02",
        "--end",
        "2024-10-04",
        "--warehouse",
        "warehouse/cli.duckdb",
        "--no-progress",
        *SMALL,
        "--markets",
        "cn,hk",
    ]
    assert main(args) == EXIT_OK
    captured = capsys.readouterr()
    assert "no SSE trading day in 2024-10-02..2024-10-04: corporate_actions, daily_bars not run" in captured.err
    assert summary_value(captured.out, "date range") == "2024-10-02..2024-10-04"
    with duckdb.connect("warehouse/cli.duckdb", read_only=True) as conn:
        days = conn.execute("SELECT DISTINCT trade_date::VARCHAR FROM hk_daily_bars ORDER BY 1").fetchall()
        assert days == [("2024-10-02",), ("2024-10-03",), ("2024-10-04",)]
        assert conn.execute("SELECT count(*) FROM daily_bars").fetchall() == [(0,)]


@pytest.mark.slow
def test_a_range_past_the_sources_today_ends_there_and_records_no_later_partition(workdir, capsys):
    # the sample's today is 2024-07-19 (a Friday): later sessions have no final bars yet
    swap = {"2024-08-30": "2024-07-19", "2024-07-01": "2024-07-15", "2024-07-19": "2024-08-30"}
    args = [swap.get(a, a) for a in ARGS]
    assert main(args + SMALL + ["--no-progress", "--markets", "cn"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "--end 2024-08-30 is after the source's last final day 2024-07-19: the range ends there" in captured.err
    assert summary_value(captured.out, "date range") == "2024-07-15..2024-07-19"
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        assert sorted(inst.get_materialized_partitions(daily_bars.key)) == [
            "2024-07-15",
            "2024-07-16",
            "2024-07-17",
            "2024-07-18",
            "2024-07-19",
        ]
    future = [a if a != "2024-07-15" else "2024-07-22" for a in args]
    assert main(future + SMALL + ["--no-progress", "--markets", "cn"]) == EXIT_OK
    assert "nothing to load, no run started" in capsys.readouterr().err
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        assert len(inst.get_runs(RunsFilter(tags={"quantdb/launched_by": "cli"}))) == 1
