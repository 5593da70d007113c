"""`run_failure_alert`, evaluated the way the daemon evaluates it, alerts failed runs that the
`quantdb-pipeline` CLI executed in process (nightly cron runs, and the CLI runs that
`dead_run_sensor` fails), not only runs launched from the UI or a schedule.

A CLI run is an ephemeral in-process job: it carries no code-location origin, and a run-status
sensor that monitors only its own code location skips it without a word.
"""

import json

from dagster import DagsterInstance, SensorEvaluationContext, asset, materialize
from dagster._core.remote_origin import RegisteredCodeLocationOrigin

from quantdb_pipeline.definitions import defs
from quantdb_pipeline.sensors import ALERTS_FILE, run_failure_alert


@asset
def doomed():
    raise RuntimeError("the vendor said no")


def tick(instance: DagsterInstance, cursor: str | None):
    """One evaluation of the sensor as the daemon does it: in the code location that `dagster dev`
    loads (`[tool.dagster]` in pyproject.toml), with the sensor's own run filter."""
    context = SensorEvaluationContext(
        instance_ref=None, instance=instance, cursor=cursor, sensor_name=run_failure_alert.name,
        repository_name="__repository__", repository_def=defs.get_repository_def(),
        code_location_origin=RegisteredCodeLocationOrigin("quantdb_pipeline.definitions"))
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
