"""Dead runs and interrupts, with real CLI processes on a real Dagster instance (the repo's
dagster.yaml in a temporary directory) and the sample market:

- a run that ended (killed, then failed by Dagster) but kept the `upstream_api` slot does not
  block the next CLI run;
- a SIGKILLed CLI run (STARTED, dead pid) is failed by `dead_run_sensor`, its slot freed, and
  `run_failure_alert` records it;
- a CLI run waiting for a live holder names it, and Ctrl-C / SIGTERM stop it at once;
- Ctrl-C before or during a run: exit 130, one line, no NOT_STARTED/STARTED run left;
- a terminal's Ctrl-C (or SIGTERM) mid-step, sent to the CLI's whole process group as a terminal
  does: the same one line, no child process's traceback.

The holder is a CLI run paused mid-fetch (`QUANTDB_PAUSE_AT=fetch`) while it holds the slot.
"""

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
    build_run_status_sensor_context,
    build_sensor_context,
)
from dagster._core.instance.ref import InstanceRef

from quantdb_pipeline.faults import PAUSE_ENV, PAUSE_SECONDS_ENV
from quantdb_pipeline.run_recovery import PID_TAG, dead_run_sensor, holders
from quantdb_pipeline.sensors import ALERTS_FILE, run_failure_alert

pytestmark = pytest.mark.slow  # kills and interrupts CLI processes

REPO = Path(__file__).resolve().parents[1]
POOL = "upstream_api"
# history fetches (not only the quote list), so the fetch pause point is reached
ARGS = ["--sample-today", "2024-07-31", "--start", "2024-07-01", "--markets", "cn", "--sample-size", "10"]
UNFINISHED = {
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
}


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A directory like the repo root; the test runs in it, since dagster.yaml's paths are
    relative to the directory the instance is opened from."""
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.chdir(tmp_path)
    open_instance(tmp_path).dispose()  # create the storage now: two processes creating it at once collide
    yield tmp_path
    for process in STARTED:  # a failed test must not leave a paused run behind
        if process.poll() is None:
            process.kill()
            process.wait()
    STARTED.clear()


STARTED: list[subprocess.Popen] = []


def open_instance(workdir: Path) -> DagsterInstance:
    """The CLI's instance (the test's cwd is `workdir`), opened afresh for each look."""
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir)))


def runs(workdir: Path) -> list:
    with open_instance(workdir) as inst:
        return inst.get_runs()


def cli_env() -> dict:
    """The environment of a CLI process: this checkout's code, no QUANTDB_ settings or DAGSTER_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANTDB_", "DAGSTER_HOME"))}
    return {**env, "PYTHONPATH": str(REPO)}


def start(workdir: Path, name: str, pause: bool = False, own_group: bool = False) -> subprocess.Popen:
    """A `quantdb-pipeline run` in `workdir`; its stderr goes to `<name>.err` (read while it runs).

    `own_group`: in a session and process group of its own, led by the CLI, as a shell starts a
    foreground job (the terminal's Ctrl-C signals that whole group: `os.killpg(pid, ...)`)."""
    env = cli_env()
    if pause:
        env.update({PAUSE_ENV: "fetch", PAUSE_SECONDS_ENV: "300"})
    with (workdir / f"{name}.err").open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "quantdb_pipeline.cli", "run", "--no-progress", *ARGS],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=own_group,
        )
    STARTED.append(process)
    return process


def catches(pid: int, signo: int) -> bool:
    """Whether process `pid` has a handler installed for `signo` (Linux: SigCgt in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signo - 1) & 1)
    return False


def stderr_of(workdir: Path, name: str) -> str:
    return (workdir / f"{name}.err").read_text()


def wait_for(condition, timeout: float = 180, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_of(workdir: Path, process: subprocess.Popen):
    with open_instance(workdir) as inst:
        found = inst.get_runs(RunsFilter(tags={PID_TAG: str(process.pid)}))
    return found[0] if found else None


def slot_runs(workdir: Path) -> set[str]:
    with open_instance(workdir) as inst:
        return {slot.run_id for slot in inst.event_log_storage.get_concurrency_info(POOL).claimed_slots}


def holding_the_slot(workdir: Path, own_group: bool = False) -> tuple[subprocess.Popen, str]:
    """A live CLI run paused mid-fetch, holding the pool slot, and its run id."""
    holder = start(workdir, "holder", pause=True, own_group=own_group)
    run = wait_for(lambda: run_of(workdir, holder), what="the holder's run")
    wait_for(lambda: run.run_id in slot_runs(workdir), what="the holder to claim the slot")
    return holder, run.run_id


def kill_9(process: subprocess.Popen) -> None:
    process.kill()
    assert process.wait(timeout=30) == -signal.SIGKILL


def test_a_slot_kept_by_a_run_that_ended_is_freed_and_the_next_cli_run_completes(workdir):
    holder, run_id = holding_the_slot(workdir)
    kill_9(holder)
    # what Dagster does for a killed UI run: the run is failed, its slot stays claimed
    with open_instance(workdir) as instance:
        instance.report_run_failed(instance.get_run_by_id(run_id), "run worker exited unexpectedly (-9)")
    assert run_id in slot_runs(workdir)

    nxt = subprocess.run(
        [sys.executable, "-m", "quantdb_pipeline.cli", "run", "--no-progress", *ARGS],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=240,
        env=cli_env(),
    )
    assert nxt.returncode == 0, nxt.stderr
    assert f"freed the pool slot run {run_id} held after it ended" in nxt.stderr
    assert slot_runs(workdir) == set()
    assert [r.status for r in runs(workdir)] == [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]  # newest first


def test_a_killed_cli_run_is_failed_by_the_sensor_its_slot_freed_and_an_alert_recorded(workdir, monkeypatch):
    holder, run_id = holding_the_slot(workdir)
    kill_9(holder)
    instance = open_instance(workdir)
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED  # nothing else would ever end it
    assert [h.run_id for h in holders(instance)] == [run_id]  # it blocks the queue and the slot

    verdict = dead_run_sensor(build_sensor_context(instance=instance))
    assert "marked 1 dead run(s) failed" in verdict.skip_message
    run = instance.get_run_by_id(run_id)
    assert run.status == DagsterRunStatus.FAILURE
    assert slot_runs(workdir) == set() and holders(instance) == []
    assert "no dead runs" in dead_run_sensor(build_sensor_context(instance=instance)).skip_message  # done once

    # the failure event it wrote is what the daemon hands to run_failure_alert
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(workdir / "warehouse" / "quantdb.duckdb"))
    failure = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)[-1].dagster_event
    run_failure_alert(
        build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=failure, dagster_instance=instance, dagster_run=run
        ).for_run_failure()
    )
    recorded = json.loads((workdir / "warehouse" / ALERTS_FILE).read_text().splitlines()[-1])
    assert recorded["run_id"] == run_id
    assert f"process {holder.pid}" in recorded["error"] and "died" in recorded["error"]
    instance.dispose()


def test_a_waiting_cli_run_names_the_live_holder_and_stops_on_ctrl_c_and_sigterm(workdir):
    holder, run_id = holding_the_slot(workdir)
    for name, signo, code in (("ctrl_c", signal.SIGINT, 130), ("sigterm", signal.SIGTERM, 143)):
        waiter = start(workdir, name)
        wait_for(lambda: f"waiting: run {run_id}" in stderr_of(workdir, name), what=f"{name} waiter to name the holder")
        assert f"quantdb-pipeline pid {holder.pid}" in stderr_of(workdir, name)
        time.sleep(1.5)  # it keeps waiting in its own loop: several polls, still interruptible
        sent = time.monotonic()
        waiter.send_signal(signo)
        assert waiter.wait(timeout=10) == code
        assert time.monotonic() - sent < 5
        last = stderr_of(workdir, name).splitlines()[-1]
        assert last.startswith("quantdb-pipeline: stopped by") and "no run was started" in last
        assert "Traceback" not in stderr_of(workdir, name)

    # the holder itself, interrupted mid-fetch: 130, one line, its run FAILURE, its slot free
    holder.send_signal(signal.SIGINT)
    assert holder.wait(timeout=30) == 130
    lines = stderr_of(workdir, "holder").splitlines()
    assert lines[0].startswith("Loading sample market") and len(lines) == 2, lines
    assert lines[1].startswith(f"quantdb-pipeline: stopped by Ctrl-C; run {run_id} FAILURE")
    assert {r.status for r in runs(workdir)} == {DagsterRunStatus.FAILURE}
    assert slot_runs(workdir) == set()


@pytest.mark.parametrize("moment", ["while importing", "as the run is created"])
def test_ctrl_c_before_the_run_starts_exits_130_with_one_line_and_leaves_no_run_behind(workdir, moment):
    process = start(workdir, "cli")
    if moment == "while importing":  # as soon as the CLI catches SIGTERM too: it is in `run`, importing Dagster
        wait_for(lambda: catches(process.pid, signal.SIGTERM), what="the CLI's signal handlers")
    else:
        wait_for(lambda: run_of(workdir, process), what="the run record")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    err = stderr_of(workdir, "cli")
    stops = [line for line in err.splitlines() if not line.startswith("Loading sample market")]
    assert len(stops) == 1 and stops[0].startswith("quantdb-pipeline: stopped by Ctrl-C"), err
    if moment == "while importing":
        assert runs(workdir) == [] and "no run was started" in stops[0]
        return
    left = runs(workdir)
    assert len(left) == 1 and left[0].status in {DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE}
    assert not {r.status for r in left} & UNFINISHED
    assert slot_runs(workdir) == set()


@pytest.mark.parametrize("signo, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_terminal_ctrl_c_mid_step_reaches_the_whole_process_group_and_prints_one_line(workdir, signo, code, name):
    """A terminal signals the foreground process group, not only the CLI: any helper process a
    step starts in that group (Dagster's compute-log `tail -F` and its `watch_orphans.py` watcher
    did, and died printing `KeyboardInterrupt` tracebacks) would get the signal too."""
    holder, run_id = holding_the_slot(workdir, own_group=True)
    assert os.getpgid(holder.pid) == holder.pid  # it leads its group, like a shell's foreground job
    os.killpg(holder.pid, signo)
    assert holder.wait(timeout=30) == code
    err = stderr_of(workdir, "holder")
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Loading sample market"), lines
    assert lines[1].startswith(f"quantdb-pipeline: stopped by {name}; run {run_id} FAILURE"), lines
    assert lines[1].endswith(f"; alert recorded in {Path('warehouse') / ALERTS_FILE}"), lines
    log = re.search(r"; details: (\S+);", lines[1])  # the run's log file, for what the line leaves out
    assert log and (workdir / log.group(1)).is_file() and "warehouse/logs/quantdb-pipeline-" in log.group(1), lines
    left = runs(workdir)
    assert [r.run_id for r in left] == [run_id] and not {r.status for r in left} & UNFINISHED
    assert slot_runs(workdir) == set()
    # the CLI alerted its interrupted run itself (no daemon runs here), once: the sensor adds nothing
    alerts = workdir / "warehouse" / ALERTS_FILE
    recorded = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [(a["run_id"], a["status"], a["alerted_by"]) for a in recorded] == [(run_id, "FAILURE", "cli")]
    assert recorded[0]["error"].startswith(f"stopped by {name} ({signal.Signals(signo).name})\n")
    with open_instance(workdir) as instance:
        failure = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)[-1].dagster_event
        run_failure_alert(
            build_run_status_sensor_context(
                sensor_name="run_failure_alert",
                dagster_event=failure,
                dagster_instance=instance,
                dagster_run=instance.get_run_by_id(run_id),
            ).for_run_failure()
        )
    assert len(alerts.read_text().splitlines()) == 1
    # the run's history is in the instance the UI reads: the step it was in, and Dagster's verdict
    with open_instance(workdir) as instance:
        steps = {(e.step_key, e.dagster_event.event_type) for e in instance.all_logs(run_id) if e.is_dagster_event}
    assert {(None, DagsterEventType.RUN_START), (None, DagsterEventType.RUN_FAILURE)} <= steps
    assert any(kind == DagsterEventType.STEP_START for _, kind in steps)
