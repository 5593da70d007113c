"""A load killed at about 80% of its symbols resumes: the rerun asks upstream only for what the
killed run had not written, and ends with the warehouse an uninterrupted run builds.

Each run is a separate process (the Dagster pipeline of the conftest fixture: calendar,
securities, corporate actions, bars, factors, publish) over the offline sample market, whose
bar endpoint appends one line per request to a file, so a SIGKILLed run's requests are
counted too. Chunks are made small (`QUANTDB_CHUNK_SYMBOLS`) so a short load has many.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from quantdb_pipeline.faults import CRASH_ENV
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.settings import CHUNK_SYMBOLS_ENV

pytestmark = pytest.mark.slow  # kills a run and resumes it

REPO = Path(__file__).resolve().parents[1]
SIZE = 40
CHUNK_SYMBOLS = 3
TODAY, START = "2024-08-30", "2024-05-06"
POINT = "most_written:daily_bars"
#: What is compared: every dataset's contents, without load timestamps and run ids.
TABLES = {
    "daily_bars": "SELECT symbol, trade_date, open, high, low, close, volume, amount, pct_change, turnover_rate, "
    "reference_price, source FROM daily_bars",
    "bar_coverage": "SELECT symbol, covered_from, covered_to FROM bar_coverage",
    "ingest_state": "SELECT dataset, symbol, status, error, as_of FROM ingest_state",
    "adjustment_factors": "SELECT symbol, ex_date, hfq_factor, derived_from FROM adjustment_factors",
    "adjustment_gaps": "SELECT symbol, ex_date, evidence, reason FROM adjustment_gaps",
    "corporate_actions": "SELECT * EXCLUDE (run_id, ingested_at) FROM corporate_actions",
    "securities": "SELECT symbol, exchange, board, name, is_st, list_date, delist_date, status FROM securities",
    "quarantine": "SELECT table_name, row_key, rules FROM quarantine",
    "market_closures": "SELECT market, day FROM market_closures",
}


class CountingSample(MarketSourceResource):
    """The sample market whose A-share bar endpoint appends the symbol asked to `count_file`."""

    count_file: str = ""

    def build(self):
        market = super().build()
        original = market.a_share_daily_raw

        def counted(symbol, start, end):
            with open(self.count_file, "a") as out:  # unbuffered enough: closed before the answer is used
                out.write(f"{symbol} {start} {end}\n")
            return original(symbol, start, end)

        market.a_share_daily_raw = counted
        return market


def run_pipeline(workdir: Path, count_file: Path) -> bool:
    """One pipeline run over [START, TODAY] into `workdir`'s warehouse (what the subprocess does)."""
    from quantdb_pipeline.assets import (
        adjustment_factors,
        corporate_actions,
        daily_bars,
        published_warehouse,
        securities,
        trading_calendar,
    )

    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [trading_calendar, securities, corporate_actions, daily_bars, adjustment_factors, published_warehouse],
            resources={
                "market": CountingSample(
                    kind="sample", sample_today=TODAY, sample_size=SIZE, count_file=str(count_file)
                ),
                "warehouse": WarehouseResource(database=str(workdir / "warehouse" / "quantdb.duckdb")),
            },
            instance=instance,
            tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": TODAY},
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            raise_on_error=False,
        )
    return result.success


def run(workdir: Path, count_file: Path, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANTDB_", "DAGSTER_HOME"))}
    env["PYTHONPATH"] = str(REPO)
    env[CHUNK_SYMBOLS_ENV] = str(CHUNK_SYMBOLS)
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "quantdb_pipeline_tests.test_resume", str(workdir), str(count_file)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def requests(count_file: Path) -> list[str]:
    return count_file.read_text().splitlines() if count_file.exists() else []


def contents(published: Path) -> dict:
    with duckdb.connect(str(published), read_only=True) as conn:
        return {name: sorted(conn.execute(sql).fetchall(), key=repr) for name, sql in TABLES.items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, list[str]]:
    workdir = tmp_path_factory.mktemp("uninterrupted")
    done = run(workdir, workdir / "requests.txt")
    assert done.returncode == 0, done.stdout + done.stderr
    return contents(workdir / "warehouse" / "quantdb.duckdb"), requests(workdir / "requests.txt")


def test_a_load_killed_at_80_percent_resumes_with_a_quarter_of_the_requests_and_the_same_warehouse(
    tmp_path, uninterrupted
):
    reference, all_requests = uninterrupted
    assert len(all_requests) == len(reference["bar_coverage"]) >= 30  # one request per symbol, several chunks

    killed = run(tmp_path, tmp_path / "killed.txt", crash=POINT)
    assert killed.returncode == -9, killed.stdout + killed.stderr  # SIGKILL at the crash point
    first = requests(tmp_path / "killed.txt")
    assert 0.8 * len(all_requests) <= len(first) < len(all_requests)
    assert not (tmp_path / "warehouse" / "quantdb.duckdb").exists()  # never published: readers see nothing new

    rerun = run(tmp_path, tmp_path / "rerun.txt")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    again = requests(tmp_path / "rerun.txt")
    assert len(again) <= 0.25 * len(first), (len(again), len(first))
    # the rerun asked only for symbols the killed run had not written
    assert not {line.split()[0] for line in again} & {line.split()[0] for line in first[:-CHUNK_SYMBOLS]}
    assert contents(tmp_path / "warehouse" / "quantdb.duckdb") == reference


if __name__ == "__main__":  # the pipeline process of the tests above
    sys.exit(0 if run_pipeline(Path(sys.argv[1]), Path(sys.argv[2])) else 1)
