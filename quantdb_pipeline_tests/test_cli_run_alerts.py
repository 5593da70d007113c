"""Failed runs of the `quantdb-pipeline` CLI are alerted, with or without a daemon:

- the CLI alerts its own failed run as it ends (alerts.jsonl beside the warehouse, an ALERT log
  line, the webhook), once, and `run_failure_alert` evaluated afterwards adds no second entry;
- `run_failure_alert`, evaluated the way the daemon evaluates it, alerts failed runs executed in
  process (the CLI runs that `dead_run_sensor` fails, whose process cannot alert them), not only
  runs launched from the UI or a schedule: such a run carries no code-location origin, and a
  run-status sensor that monitors only its own code location skips it without a word.

Interrupted CLI runs (Ctrl-C, SIGTERM) are alerted too: see test_dead_runs.py, which interrupts
real CLI processes.
"""

import json
from pathlib import Path

import pytest
import responses
from dagster import DagsterInstance, DagsterRunStatus, SensorEvaluationContext, asset, materialize
from dagster._core.remote_origin import RegisteredCodeLocationOrigin

from quantdb_pipeline.cli import EXIT_PARTIAL, main
from quantdb_pipeline.definitions import defs
from quantdb_pipeline.sensors import ALERTED_TAG, ALERTS_FILE, run_failure_alert


@asset
def doomed():
    raise RuntimeError("the vendor said no")


def tick(instance: DagsterInstance, cursor: str | None):
    """One evaluation of the sensor as the daemon does it: in the code location that `dagster dev`
    loads (`[tool.dagster]` in pyproject.toml), with the sensor's own run filter."""
    context = SensorEvaluationContext(
        instance_ref=None,
        instance=instance,
        cursor=cursor,
        sensor_name=run_failure_alert.name,
        repository_name="__repository__",
        repository_def=defs.get_repository_def(),
        code_location_origin=RegisteredCodeLocationOrigin("quantdb_pipeline.definitions"),
    )
    result = run_failure_alert.evaluate_tick(context)
    return result.cursor


def test_a_failed_in_process_run_like_the_clis_is_alerted(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(tmp_path / "warehouse" / "quantdb.duckdb"))
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        cursor = tick(instance, None)  # the first tick only sets the cursor, as in the daemon
        result = materialize([doomed], instance=instance, raise_on_error=False)  # what the CLI does
        assert not result.success
        tick(instance, cursor)
    lines = (tmp_path / "warehouse" / ALERTS_FILE).read_text().splitlines()
    recorded = json.loads(lines[-1])
    assert recorded["run_id"] == result.run_id
    assert "the vendor said no" in recorded["error"]


@pytest.mark.slow
def test_a_cli_run_failing_at_the_http_level_alerts_once_naming_run_steps_and_cause(
    workdir, instance, monkeypatch, capsys
):
    """No network (every HTTP request refused): the CLI's own run records one alert; the sensor,
    evaluated afterwards over the same failure as a daemon would, adds none."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the source's backoff between retries
    cursor = tick(instance, None)
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # nothing registered: refused
        code = main(
            [
                "run",
                "--source",
                "akshare",
                "--markets",
                "index",
                "--indices",
                "000300",
                "--start",
                "2024-07-01",
                "--end",
                "2024-07-05",
                "--requests-per-second",
                "1000",
                "--no-progress",
            ]
        )
    assert code == EXIT_PARTIAL
    failed = [r for r in instance.get_runs() if r.status == DagsterRunStatus.FAILURE]
    assert len(failed) == 1
    run = failed[0]
    alerts = workdir / "warehouse" / ALERTS_FILE
    lines = alerts.read_text().splitlines()
    assert len(lines) == 1
    recorded = json.loads(lines[0])
    assert recorded["run_id"] == run.run_id and recorded["job"] == "cn_range_job" == run.job_name
    assert recorded["status"] == "FAILURE" and recorded["alerted_by"] == "cli"
    assert list(recorded["failed_datasets"]) == ["index_daily_bars"]
    # the failed step's dataset and the root cause: exception type and the host that refused
    cause = recorded["error"]
    assert cause.startswith("index_daily_bars: every symbol failed for 2024-07-01..2024-07-05")
    assert "ConnectionError (" in cause and "push2his.eastmoney.com" in cause
    assert "HTTPSConnectionPool" not in cause  # the plain cause, not requests' wrapper
    assert instance.get_run_by_id(run.run_id).tags[ALERTED_TAG] == "cli"
    out = capsys.readouterr().out
    assert f"ALERT run {run.run_id} failed: recorded in {Path('warehouse') / ALERTS_FILE}" in out
    assert f"  {cause}\n" in out  # a cron user reading the alert learns what the terminal said

    tick(instance, cursor)  # the daemon's sensor sees the same RUN_FAILURE afterwards
    assert alerts.read_text().splitlines() == lines
