"""A BI tool holding the published file read-write does not stop the write side.

The lock is real: another process opens the DuckDB file read-write and keeps it open, as
DBeaver's default connection or `duckdb warehouse/quantdb.duckdb` without `-readonly` do.
The CLI's default start, the nightly schedule and the new-listings sensor plan from the
working file; when every file is locked they skip, naming the process that holds the lock.
"""

import datetime as dt
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from dagster import RunRequest, SkipReason, build_schedule_context, build_sensor_context

from quantdb_pipeline import read
from quantdb_pipeline.cli import EXIT_NOT_PUBLISHED, EXIT_OK, main
from quantdb_pipeline.loaders.bars import resume_date
from quantdb_pipeline.schedules import nightly_bars_schedule
from quantdb_pipeline.sensors import new_listings_sensor
from quantdb_pipeline.settings import DEFAULT_REVISIT_DAYS
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline.warehouse.planning import planning_connection
from quantdb_pipeline.warehouse.publish import open_working, working_path
from quantdb_pipeline_tests.faults import published_sample_warehouse

REPO = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Opens each file read-write and keeps it open until its stdin closes.
HOLDER = """
import sys, duckdb
held = [duckdb.connect(path) for path in sys.argv[1:]]
print("holding", flush=True)
sys.stdin.read()
"""


@contextmanager
def held_open(*paths: Path):
    """Another process holding `paths` open read-write (a BI tool); yields its Popen."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *map(str, paths)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.stdin.close()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


def tick(day: str):
    at = dt.datetime.fromisoformat(day).replace(hour=17, tzinfo=SHANGHAI)
    return nightly_bars_schedule(build_schedule_context(scheduled_execution_time=at))


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A published warehouse (and its working file): the calendar, the universe, bars of
    2024-09-23..30 for two symbols only, so the other listed symbols are new listings."""
    path = tmp_path / "warehouse" / "quantdb.duckdb"
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(path))
    return published_sample_warehouse(
        path, SampleMarket(today="2024-10-11"), dt.date(2024, 9, 23), dt.date(2024, 9, 30), symbols=["600000", "000001"]
    )


def test_the_lock_holder_really_blocks_readers_of_the_published_file(published):
    """The premise: DuckDB refuses even a read-only reader while another process writes."""
    with held_open(published) as holder:
        with pytest.raises(read.WarehouseBusyError) as busy:
            read.connect(published)
    assert busy.value.holder.endswith(f"(PID {holder.pid})") and f"PID {holder.pid}" in str(busy.value)


def test_schedule_and_sensor_plan_from_the_working_file_while_a_bi_tool_holds_the_published_one(published):
    with held_open(published):
        request = tick("2024-09-30")
        assert isinstance(request, RunRequest) and request.partition_key == "2024-09-30"
        holiday = tick("2024-10-01")
        assert isinstance(holiday, SkipReason) and "exchange holiday" in holiday.skip_message
        listings = new_listings_sensor(build_sensor_context())
        assert isinstance(listings, RunRequest) and listings.partition_key == "2024-09-30"
        assert listings.tags["quantdb/new_listings"].startswith("000002, 000003")


def test_during_a_run_holding_the_working_file_they_fall_back_to_the_published_file(published):
    with held_open(working_path(published)):
        assert isinstance(tick("2024-09-30"), RunRequest)
        assert "exchange holiday" in tick("2024-10-01").skip_message
        assert isinstance(new_listings_sensor(build_sensor_context()), RunRequest)


def test_a_fresh_clone_with_only_the_published_file_plans_from_it(published):
    working_path(published).unlink()
    with planning_connection() as conn:
        assert conn.execute("SELECT max(trade_date) FROM daily_bars").fetchall() == [(dt.date(2024, 9, 30),)]
    assert isinstance(tick("2024-09-30"), RunRequest)
    assert not working_path(published).exists()  # planning reads; it never creates the working file


def test_with_both_files_locked_the_schedule_and_sensor_skip_naming_the_holder(published):
    with held_open(published, working_path(published)) as holder:
        skipped = tick("2024-09-30")
        listings = new_listings_sensor(build_sensor_context())
    for reason in (skipped, listings):
        assert isinstance(reason, SkipReason)
        assert f"(PID {holder.pid})" in reason.skip_message
        assert str(published) in reason.skip_message and str(working_path(published)) in reason.skip_message
    assert tick("2024-09-30").partition_key == "2024-09-30"  # the lock gone, the next tick runs


def test_with_only_a_locked_published_file_they_skip_naming_the_holder(published):
    working_path(published).unlink()
    with held_open(published) as holder:
        skipped = tick("2024-09-30")
    assert isinstance(skipped, SkipReason) and f"(PID {holder.pid})" in skipped.skip_message
    assert "read-only" in skipped.skip_message


CLI_TODAY, CLI_END_OF_LOAD = "2024-07-24", dt.date(2024, 7, 19)


@pytest.fixture
def cli_warehouse(workdir) -> Path:
    """Published bars of 2024-07-08..19 for a 10-symbol sample market; the CLI's sample
    market is the same one, on 2024-07-24."""
    path = workdir / "warehouse" / "quantdb.duckdb"
    published_sample_warehouse(path, SampleMarket(today=CLI_TODAY, size=10), dt.date(2024, 7, 8), CLI_END_OF_LOAD)
    return path


@pytest.mark.slow
def test_cli_run_without_start_succeeds_while_a_bi_tool_holds_the_published_file(cli_warehouse, capsys):
    end = dt.date.fromisoformat(CLI_TODAY)
    with read.connect(cli_warehouse) as conn:  # the start it chooses with no lock anywhere
        unlocked = resume_date(conn, end, None, DEFAULT_REVISIT_DAYS)
    assert unlocked == dt.date(2024, 7, 20)
    with held_open(cli_warehouse):
        code = main(
            [
                "run",
                "--no-progress",
                "--markets",
                "index",
                "--indices",
                "000001",
                "--sample-size",
                "10",
                "--sample-today",
                CLI_TODAY,
                "--warehouse",
                str(cli_warehouse),
            ]
        )
        out, err = capsys.readouterr()
        # published by rename: a new file the holder never had open, so readers see it at once
        with read.connect(cli_warehouse) as conn:
            index_days = conn.execute("SELECT min(trade_date), max(trade_date) FROM index_daily_bars").fetchall()
    assert code == EXIT_OK, err
    assert f"Loading sample market {unlocked}..{end}" in err
    assert index_days == [(dt.date(2024, 7, 22), end)]  # the run's range: Monday 22nd to Wednesday 24th
    assert "bars cover" in out and "Traceback" not in err


@pytest.mark.slow
def test_cli_with_both_files_locked_prints_one_line_naming_the_holder(cli_warehouse, workdir):
    before = cli_warehouse.stat().st_mtime_ns
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANTDB_", "DAGSTER_HOME"))}
    env["PYTHONPATH"] = str(REPO)
    with held_open(cli_warehouse, working_path(cli_warehouse)) as holder:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "quantdb_pipeline.cli",
                "run",
                "--no-progress",
                "--sample-size",
                "10",
                "--sample-today",
                CLI_TODAY,
                "--warehouse",
                str(cli_warehouse),
            ],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == EXIT_NOT_PUBLISHED and done.stdout == ""
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("quantdb-pipeline: cannot decide the start (pass --start to run anyway)")
    assert f"(PID {holder.pid})" in lines[0] and "quantdb.work.duckdb" in lines[0]
    assert cli_warehouse.stat().st_mtime_ns == before
    with duckdb.connect(str(cli_warehouse), read_only=True) as conn:  # untouched, readable once the lock is gone
        assert conn.execute("SELECT max(trade_date) FROM daily_bars").fetchall() == [(CLI_END_OF_LOAD,)]


#: Opens the file read-only, as a schedule tick does for a moment, and lets go after argv[2] seconds.
BRIEF_READER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.mark.slow
def test_a_step_waits_for_a_tick_reading_the_working_file_and_not_for_a_second_run(published, monkeypatch):
    from quantdb_pipeline.warehouse import publish as publishing

    working = working_path(published)
    reader = subprocess.Popen(
        [sys.executable, "-c", BRIEF_READER, str(working), "1.0"], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout.readline().strip() == "holding"
    began = time.monotonic()
    conn = open_working(published)  # would fail at once without the wait
    waited = time.monotonic() - began
    conn.close()
    reader.wait(timeout=10)
    assert 0.3 < waited < publishing.LOCK_WAIT_SECONDS
    monkeypatch.setattr(publishing, "LOCK_WAIT_SECONDS", 0.5)
    with held_open(working) as holder:  # another writer: after the wait, DuckDB's error naming it
        with pytest.raises(duckdb.IOException, match=f"PID {holder.pid}"):
            open_working(published)
