"""The Dagster UI as a user starts it: `dagster dev` on 127.0.0.1 with the repo's dagster.yaml,
checked through its GraphQL API: the whole pipeline is listed, and a run launched there on the
sample market succeeds (queued, dequeued by the daemon, executed, published)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts the Dagster UI

REPO = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")

ASSETS_AND_CHECKS = """
{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } }
  repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
      schedules { name scheduleState { status } } sensors { name sensorState { status } } } } } }
"""
LAUNCH = """
mutation($selector: JobOrPipelineSelector!, $tags: [ExecutionTag!]) {
  launchRun(executionParams: {selector: $selector, executionMetadata: {tags: $tags}}) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } } } }
"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
START_SCHEDULE = """
mutation($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) { __typename } }
"""
RUNS = "{ runsOrError { ... on Runs { results { runId status } } } }"
BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) { __typename
  ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on InvalidSubsetError { message } } }
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status numPartitions
  runs(limit: 10) { status tags { key value } } } } }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        method="POST",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def dagster_dev(tmp_path):
    """Starts `dagster dev` from a directory holding the repo's dagster.yaml, like the repo root."""
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")  # [tool.dagster] finds the code
    started = []

    def start() -> int:
        if started:
            stop(started.pop())
        process, port = launch(tmp_path)
        started.append(process)
        return port

    yield start, tmp_path
    for process in started:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a user stops `dagster dev` (it exits in seconds); SIGKILL if it has not after 20 s."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def launch(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "QUANTDB_WAREHOUSE": str(tmp_path / "warehouse" / "quantdb.duckdb"),
        "QUANTDB_SOURCE": "sample",
        "QUANTDB_SAMPLE_TODAY": "2024-09-30",
        "QUANTDB_SYMBOLS": "600000,000001,300001",
        "QUANTDB_HK_SYMBOLS": "00700",
        "QUANTDB_INDICES": "000300",
        "DAGSTER_HOME": "",
    }
    env.pop("DAGSTER_HOME")
    process = subprocess.Popen(
        [str(DAGSTER), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "dagster-dev.log", "ab"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while True:
        try:
            graphql(port, "{ version }")
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(
                    "dagster dev did not start: " + (tmp_path / "dagster-dev.log").read_text()[-3000:]
                ) from None
            time.sleep(1)


def wait_for(port: int, run_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(2)
    return "TIMEOUT"


def test_the_ui_lists_the_pipeline_and_runs_it_on_the_sample_market(dagster_dev, monkeypatch):
    start, home = dagster_dev
    port = start()
    data = graphql(port, ASSETS_AND_CHECKS)
    assets = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert {
        "trading_calendar",
        "securities",
        "corporate_actions",
        "daily_bars",
        "adjustment_factors",
        "hk_daily_bars",
        "index_daily_bars",
        "security_profiles",
        "financial_statements",
        "financial_indicators",
        "published_warehouse",
    } <= set(assets)
    checks = {c["name"] for n in assets.values() for c in n["assetChecksOrError"].get("checks", [])}
    assert {
        "daily_bars_rows_suite",
        "daily_bars_batch_suite",
        "adjustment_factors_suite",
        "corporate_actions_suite",
        "security_profiles_suite",
        "financial_statements_suite",
    } <= checks
    repository = data["repositoriesOrError"]["nodes"][0]
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    assert schedules == {
        "reference_schedule": "STOPPED",
        "nightly_bars_schedule": "STOPPED",
        "nightly_hk_bars_schedule": "STOPPED",
        "nightly_profiles_schedule": "STOPPED",
        "weekly_profiles_schedule": "STOPPED",
        "financials_schedule": "STOPPED",
    }
    assert sensors == {"new_listings_sensor": "STOPPED", "run_failure_alert": "RUNNING", "dead_run_sensor": "RUNNING"}

    selector = {"repositoryLocationName": repository["location"]["name"], "repositoryName": repository["name"]}
    for job, tags in (("reference_job", []), ("daily_bars_job", [{"key": "dagster/partition", "value": "2024-09-30"}])):
        launched = graphql(port, LAUNCH, {"selector": {**selector, "jobName": job}, "tags": tags})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        status = wait_for(port, launched["run"]["runId"])
        assert status == "SUCCESS", (job, status, (home / "dagster-dev.log").read_text()[-3000:])
    published = home / "warehouse" / "quantdb.duckdb"
    from quantdb_pipeline import read

    bars = read.daily_bars(["600000", "000001"], "2024-09-30", "2024-09-30", warehouse=published)
    assert len(bars) == 2  # the run launched in the UI fetched, checked and published the day

    # a backfill of a range, as the UI's Materialize > partition range launches it: one run for the
    # range (single-run backfill policy), whose partitions are the range's SSE sessions only
    params = {
        "partitionsByAssets": [
            {
                "assetKey": {"path": ["daily_bars"]},
                "partitions": {"range": {"start": "2024-09-20", "end": "2024-09-27"}},
            },
            {"assetKey": {"path": ["published_warehouse"]}, "partitions": None},
        ]
    }
    launched = graphql(port, BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + 400
    while (backfill := graphql(port, BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"])[
        "status"
    ] == "REQUESTED" and time.monotonic() < deadline:
        time.sleep(3)
    assert backfill["status"] == "COMPLETED_SUCCESS", (backfill, (home / "dagster-dev.log").read_text()[-3000:])
    assert backfill["numPartitions"] == 6  # 09-20 and 09-23..27: the weekend is no partition
    ranges = [{t["key"]: t["value"] for t in run["tags"]} for run in backfill["runs"]]
    assert [
        (r["dagster/asset_partition_range_start"], r["dagster/asset_partition_range_end"])
        for r in ranges
        if "dagster/asset_partition_range_start" in r
    ] == [("2024-09-20", "2024-09-27")]
    bars = read.daily_bars(["600000", "000001"], "2024-09-20", "2024-09-27", warehouse=published)
    assert sorted(bars["trade_date"].dt.strftime("%m-%d").unique()) == [
        "09-20",
        "09-23",
        "09-24",
        "09-25",
        "09-26",
        "09-27",
    ]
    assert (home / ".dagster" / "storage").is_dir()  # run history lives in the instance of dagster.yaml

    # the daemon created that ONE run with one planned materialization for the range (the event
    # log's setting reaches the daemon), and recorded every partition of the range
    from dagster import AssetKey, DagsterEventType, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    monkeypatch.chdir(home)  # dagster.yaml's storage paths are relative to where Dagster starts
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home / ".dagster"), config_dir=str(home))) as instance:
        every = instance.get_runs()
        runs = [
            r
            for r in every
            if r.tags.get("dagster/backfill") == launched["backfillId"]
            and "dagster/asset_partition_range_start" in r.tags
        ]
        assert len(runs) == 1 and runs[0].is_success, [(r.run_id, r.status, r.tags, r.asset_selection) for r in every]
        planned = instance.all_logs(runs[0].run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        assert [e.dagster_event.asset_key.to_user_string() for e in planned].count("daily_bars") == 1
        recorded = set(instance.get_materialized_partitions(AssetKey("daily_bars")))
        assert {"2024-09-20", "2024-09-23", "2024-09-27"} <= recorded and "2024-09-21" not in recorded

    # runs and a schedule turned on survive a restart of `dagster dev`
    started = graphql(port, START_SCHEDULE, {"selector": {**selector, "scheduleName": "nightly_bars_schedule"}})
    assert started["startSchedule"]["__typename"] == "ScheduleStateResult"
    port = start()
    runs = graphql(port, RUNS)["runsOrError"]["results"]
    assert len(runs) >= 2 and all(r["status"] == "SUCCESS" for r in runs)
    repository = graphql(port, ASSETS_AND_CHECKS)["repositoriesOrError"]["nodes"][0]
    assert {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}[
        "nightly_bars_schedule"
    ] == "RUNNING"
