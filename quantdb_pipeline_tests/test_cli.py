"""`quantdb-pipeline run`, in process, against the instance of the directory's dagster.yaml."""

import subprocess
import sys

import duckdb
import pytest
from dagster import DagsterInstance, RunsFilter
from dagster._core.instance.ref import InstanceRef

from quantdb_pipeline.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main

pytestmark = pytest.mark.slow  # runs the CLI in subprocesses and builds warehouses through it

ARGS = [
    "run",
    "--source",
    "sample",
    "--sample-today",
    "2024-08-30",
    "--start",
    "2024-07-01",
    "--end",
    "2024-07-19",
    "--warehouse",
    "warehouse/cli.duckdb",
]
#: Enough symbols for what the run-twice and continue tests assert (the coverage gate needs more).
SMALL = ["--sample-size", "16"]


def summary_value(output: str, label: str) -> str:
    for line in output.splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label) :].strip()
    raise AssertionError(f"{label!r} not in summary:\n{output}")


def test_run_twice_loads_then_makes_zero_bar_requests_and_is_recorded_in_the_instance(workdir, capsys):
    assert main(ARGS + SMALL) == EXIT_OK
    first = capsys.readouterr()
    assert "succeeded" in first.out
    assert int(summary_value(first.out, "bar rows written")) > 0
    assert int(summary_value(first.out, "upstream requests (bars)")) == int(summary_value(first.out, "symbols updated"))
    assert "daily_bars" in first.err  # the progress bar
    with duckdb.connect("warehouse/cli.duckdb", read_only=True) as conn:
        snapshot = conn.execute("SELECT * FROM daily_bars ORDER BY ALL").fetchall()

    assert main(ARGS + SMALL + ["--no-progress"]) == EXIT_OK
    second = capsys.readouterr()
    assert summary_value(second.out, "upstream requests (bars)") == "0"
    assert summary_value(second.out, "upstream requests (all)") == "0"  # reference lists: once a day
    assert summary_value(second.out, "bar rows written") == "0"
    assert summary_value(second.out, "bar rows in warehouse") == str(len(snapshot))
    with duckdb.connect("warehouse/cli.duckdb", read_only=True) as conn:
        assert conn.execute("SELECT * FROM daily_bars ORDER BY ALL").fetchall() == snapshot

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        runs = inst.get_runs(RunsFilter(tags={"quantdb/launched_by": "cli"}))
    # two commands, each two runs: HK bars (HKEX-session partitions), then the rest, which publishes for both
    assert len(runs) == 4 and all(r.is_success for r in runs)
    publishing = [r for r in runs if "quantdb/publishes_runs" in r.tags]
    assert len(publishing) == 2
    assert {r.tags["quantdb/publishes_runs"] for r in publishing} == {r.run_id for r in runs} - {
        r.run_id for r in publishing
    }
    assert (workdir / ".dagster" / "storage").is_dir()  # storage from dagster.yaml, not a temp dir
    # listed under the project's named jobs (not __ephemeral_asset_job__), each with its asset selection
    from quantdb_pipeline.definitions import defs

    assert {r.job_name for r in runs} == {"hk_range_job", "cn_range_job"} <= {j.name for j in defs.jobs}
    assert {a.to_user_string() for r in publishing for a in r.asset_selection} == {
        "trading_calendar",
        "securities",
        "corporate_actions",
        "daily_bars",
        "adjustment_factors",
        "index_daily_bars",
        "security_profiles",
        "financial_statements",
        "financial_indicators",
        "published_warehouse",
    }


def test_without_start_a_run_continues_where_the_warehouse_ends(workdir, capsys):
    assert main(ARGS + SMALL + ["--no-progress"]) == EXIT_OK
    capsys.readouterr()
    later = ["run", "--sample-today", "2024-07-26", "--warehouse", "warehouse/cli.duckdb", "--no-progress", *SMALL]
    assert main(later) == EXIT_OK
    out = capsys.readouterr().out
    # the warehouse ends on Friday 07-19: the range starts on the next trading day, Monday 07-22
    assert summary_value(out, "date range") == "2024-07-22..2024-07-26"
    assert summary_value(out, "bars cover") == "2024-07-01..2024-07-26"
    assert main(later) == EXIT_OK
    out = capsys.readouterr().out
    assert summary_value(out, "date range") == "2024-07-26..2024-07-26"
    assert summary_value(out, "upstream requests (bars)") == "0"


def test_bad_arguments_exit_with_a_usage_error(workdir, capsys, monkeypatch):
    assert main(["run", "--symbols", "12345", "--sample-today", "2024-08-30"]) == EXIT_USAGE
    assert "12345" in capsys.readouterr().err
    assert main(["run", "--start", "2024-08-01", "--end", "2024-07-01", "--sample-today", "2024-08-30"]) == EXIT_USAGE
    assert "after" in capsys.readouterr().err
    # also when the start is after the source's today: the order of the dates is the mistake
    assert main(["run", "--start", "2024-09-05", "--end", "2024-09-01", "--sample-today", "2024-08-30"]) == EXIT_USAGE
    assert "--start 2024-09-05 is after --end 2024-09-01" in capsys.readouterr().err
    monkeypatch.setenv("QUANTDB_CHUNK_SYMBOLS", "abc")  # caught before any run is recorded
    assert main(["run", "--sample-today", "2024-08-30", "--warehouse", "warehouse/cli.duckdb"]) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == (
        "quantdb-pipeline: $QUANTDB_CHUNK_SYMBOLS must be a positive integer, got 'abc'"
    )
    assert not (workdir / ".dagster").exists() and not (workdir / "warehouse" / "cli.duckdb").exists()


def test_help_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "quantdb_pipeline.cli", "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--sample-today" in out and "--warehouse" in out


def test_a_refused_batch_exits_2_names_its_dataset_and_the_other_datasets_are_published(workdir, capsys, monkeypatch):
    # a batch rule the sample does not meet: each day must have rows for every symbol (it has
    # suspended and not yet listed ones); above 1 is a usage error since the CLI checks the variable
    monkeypatch.setenv("QUANTDB_MIN_DAILY_COVERAGE", "1")
    assert main(ARGS + ["--no-progress"]) == EXIT_PARTIAL
    out = capsys.readouterr()
    assert "FAILED" in out.out and "daily_bars_batch_suite" in out.out
    refused = [line.strip() for line in out.out.splitlines() if line.startswith("  daily_bars: ")]
    assert len(refused) == 1 and "quality gate refused the batch: daily_universe_coverage" in refused[0]
    assert "Error occurred while executing op" not in out.out + out.err and "Traceback" not in out.err
    with duckdb.connect("warehouse/cli.duckdb", read_only=True) as conn:
        # nothing of the refused days (the sample's suspensions fall in 07-01..07-12)
        assert conn.execute("SELECT count(*) FROM daily_bars WHERE trade_date <= '2024-07-12'").fetchall() == [(0,)]
        assert conn.execute("SELECT count(*) FROM hk_daily_bars").fetchall()[0][0] > 0  # the others published


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("--min-daily-coverage", "1.5", "not a share between 0 (exclusive) and 1"),
        ("--min-daily-coverage", "0", "not a share between 0 (exclusive) and 1"),
        ("--revisit-days", "-3", "not a number of trading days (0 or more)"),
    ],
)
def test_out_of_range_settings_are_usage_errors_naming_the_option(option, value, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["run", option, value])
    assert stopped.value.code == EXIT_USAGE  # not 2: that is a partial publish
    assert f"argument {option}: '{value}' is {says}" in capsys.readouterr().err


def test_the_financials_watchlist_and_years_reach_cli_runs(workdir, capsys, monkeypatch):
    """The CLI reads $QUANTDB_FINANCIALS_WATCHLIST and $QUANTDB_FINANCIAL_YEARS as the UI's
    resources do: a cron run must not load the watchlist's symbols from the whole-market tables
    (which would replace their full statements) nor ten years when two were asked for."""
    monkeypatch.setenv("QUANTDB_FINANCIALS_WATCHLIST", "600000")
    monkeypatch.setenv("QUANTDB_FINANCIAL_YEARS", "2")
    args = [
        "run",
        "--source",
        "sample",
        "--sample-today",
        "2024-08-30",
        "--markets",
        "fundamentals",
        "--warehouse",
        "warehouse/cli.duckdb",
        "--no-progress",
        *SMALL,
    ]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert summary_value(out, "financial periods / watchlist symbols") == "8 / 1"
    with duckdb.connect("warehouse/cli.duckdb", read_only=True) as conn:
        per_symbol = conn.execute(
            "SELECT count(DISTINCT item) FROM financial_statements WHERE symbol = '600000' "
            "AND report_date = '2024-03-31'"
        ).fetchall()[0][0]
        whole_market = conn.execute(
            "SELECT max(n) FROM (SELECT count(DISTINCT item) AS n FROM financial_statements "
            "WHERE symbol <> '600000' AND report_date = '2024-03-31' GROUP BY symbol)"
        ).fetchall()[0][0]
    assert per_symbol > whole_market  # every statement item, not the whole-market tables' subset
    monkeypatch.setenv("QUANTDB_FINANCIAL_YEARS", "two")
    assert main(args) == EXIT_USAGE
    assert "$QUANTDB_FINANCIAL_YEARS='two'" in capsys.readouterr().err
