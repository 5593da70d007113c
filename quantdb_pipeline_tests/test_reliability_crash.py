"""kill -9 of a pipeline process during fetch, write and publish: the published file is unchanged
and readable, and a rerun converges to the warehouse of an uninterrupted run."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.faults import CRASH_ENV

pytestmark = pytest.mark.slow  # kills a run mid-load

REPO = Path(__file__).resolve().parents[1]
SIZE = ["--sample-size", "24"]
FIRST = [*SIZE, "--sample-today", "2024-07-31", "--start", "2024-07-01"]
SECOND = [*SIZE, "--sample-today", "2024-08-30"]  # continues from where the first run ended
TABLES = {
    "trading_calendar": "SELECT market, trade_date FROM trading_calendar",
    "securities": "SELECT symbol, exchange, board, name, is_st, list_date, delist_date FROM securities",
    "daily_bars": "SELECT symbol, trade_date, open, high, low, close, volume, amount, pct_change, turnover_rate "
    "FROM daily_bars",
    "bar_coverage": "SELECT symbol, covered_from, covered_to FROM bar_coverage",
    "ingest_state": "SELECT dataset, symbol, status, error FROM ingest_state",
    "quarantine": "SELECT table_name, row_key, rules FROM quarantine",
}


def cli(workdir: Path, args: list[str], crash: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANTDB_", "DAGSTER_HOME"))}
    env["PYTHONPATH"] = str(REPO)  # this checkout's code, whatever the venv's editable install points at
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "quantdb_pipeline.cli", "run", "--no-progress", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def fresh(path: Path) -> Path:
    path.mkdir()
    shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    return path


def contents(published: Path) -> dict:
    with duckdb.connect(str(published), read_only=True) as conn:
        return {name: sorted(conn.execute(sql).fetchall()) for name, sql in TABLES.items()}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def after_first(tmp_path_factory) -> Path:
    """A project directory (warehouse and Dagster instance) after the first run; copied per test."""
    workdir = fresh(tmp_path_factory.mktemp("first") / "repo")
    done = cli(workdir, FIRST)
    assert done.returncode == 0, done.stderr
    return workdir


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, after_first) -> dict:
    workdir = tmp_path_factory.mktemp("reference") / "repo"
    shutil.copytree(after_first, workdir)
    done = cli(workdir, SECOND)
    assert done.returncode == 0, done.stderr
    return contents(workdir / "warehouse" / "sample.duckdb")  # the sample source's default


@pytest.mark.parametrize("point", ["fetch", "write", "publish"])
def test_kill_9_leaves_the_published_file_intact_and_a_rerun_converges(tmp_path, after_first, uninterrupted, point):
    workdir = tmp_path / "repo"
    shutil.copytree(after_first, workdir)
    published = workdir / "warehouse" / "sample.duckdb"
    before = digest(published)
    july = read.daily_bars("600000", warehouse=published)

    crashed = cli(workdir, SECOND, crash=point)
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr  # SIGKILL
    assert digest(published) == before
    assert read.daily_bars("600000", warehouse=published).equals(july)  # still opens and reads

    rerun = cli(workdir, SECOND)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "its process died" in rerun.stderr  # the dead run was closed and its pool slot freed
    assert contents(published) == uninterrupted
    assert not list(published.parent.glob(".sample.duckdb.publishing-*"))  # stale temp file cleaned up
