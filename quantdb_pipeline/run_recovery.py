"""Dead runs: close runs whose process died and free the pool slots and queue places they hold.

Why: every run writes the one DuckDB file, so the instance admits one run at a time
(`max_concurrent_runs: 1`) and one `upstream_api` step at a time (pool limit 1). A run
process killed with SIGKILL (OOM killer, `kill -9`, power loss) never releases either:

- a CLI run (in-process `materialize`) stays STARTED for ever, so the daemon's queue
  never starts another run and no failure alert fires;
- any run killed mid-step keeps its claim on the pool slot even after Dagster marked the
  run failed, and the next run waits for the slot for ever.

`recover(instance)` repairs both; the CLI calls it before every run and `dead_run_sensor`
calls it from the daemon every minute, so the repair does not wait for the next CLI run.
A CLI run is known dead when its host (tag `quantdb/host`) is this host and its pid
(tag `quantdb/pid`) is not a live process. Runs launched by the UI or the daemon carry no
pid: Dagster's run launcher reports their death itself; only their slots are freed here
(Dagster's `run_monitoring.free_slots_after_run_end_seconds` does the same, later).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from quantdb_pipeline.processes import alive

LAUNCHED_BY, PID_TAG, HOST_TAG = "quantdb/launched_by", "quantdb/pid", "quantdb/host"


@dataclass(frozen=True)
class Holder:
    """A live run that keeps the next run waiting: it holds a pool slot or the run queue."""

    run_id: str
    job: str
    status: str  # Dagster run status, e.g. "STARTED"
    launched_by: str  # "cli pid 1234 on host-a", or "the UI / daemon"
    holds: str  # "the upstream_api pool slot" or "the run queue (one run at a time)"

    def describe(self) -> str:
        return f"run {self.run_id} ({self.job}, {self.status}, launched by {self.launched_by}) holds {self.holds}"


def cli_process_died(run) -> bool:
    """True when `run` was started by the CLI on this host and its process is gone."""
    if run.tags.get(LAUNCHED_BY) != "cli" or run.tags.get(HOST_TAG) != socket.gethostname():
        return False
    pid = int(run.tags.get(PID_TAG, "0") or 0)
    return pid > 0 and not alive(pid)


def recover_dead_runs(instance) -> list[str]:
    """Report CLI runs of this host whose process died as failed and free their slots; their ids.

    The RUN_FAILURE event this writes is what `run_failure_alert` reacts to, and it frees the
    run's place in the queue.
    """
    from dagster import DagsterRunStatus, RunsFilter

    recovered = []
    for run in instance.get_runs(
        RunsFilter(
            statuses=[
                DagsterRunStatus.STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.NOT_STARTED,
                DagsterRunStatus.CANCELING,
            ],
            tags={LAUNCHED_BY: "cli"},
        )
    ):
        if not cli_process_died(run):
            continue
        instance.report_run_failed(
            run,
            f"process {run.tags.get(PID_TAG)} on {run.tags.get(HOST_TAG)} died "
            "during the run (killed?); marked failed and its pool slot freed",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered


def free_slots_of_ended_runs(instance) -> list[str]:
    """Free the pool slots (and pending claims) of runs that have ended or no longer exist; their ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    freed = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    return freed


def recover(instance) -> tuple[list[str], list[str]]:
    """`recover_dead_runs` then `free_slots_of_ended_runs`: (runs marked failed, runs whose slots were freed)."""
    return recover_dead_runs(instance), free_slots_of_ended_runs(instance)


def holders(instance, exclude: str | None = None) -> list[Holder]:
    """Live runs (other than `exclude`) that a new run would wait for: those holding a full pool's
    slots, then those in progress (STARTING, STARTED, CANCELING) taking the one place of the queue."""
    from dagster import DagsterRunStatus, RunsFilter

    found: dict[str, Holder] = {}
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for pool in sorted(storage.get_concurrency_keys()):
            info = storage.get_concurrency_info(pool)
            limit = info.limit if info.limit is not None else info.slot_count
            if not limit or info.active_slot_count < limit:  # no limit, or a slot is free
                continue
            for run_id in sorted(info.active_run_ids - {exclude}):
                run = instance.get_run_by_id(run_id)
                if run is not None and run_id not in found:
                    found[run_id] = _holder(run, f"the {pool} pool slot")
    in_progress = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    for run in instance.get_runs(RunsFilter(statuses=in_progress)):
        if run.run_id != exclude and run.run_id not in found:
            found[run.run_id] = _holder(run, "the run queue (one run at a time)")
    return list(found.values())


def _holder(run, holds: str) -> Holder:
    if run.tags.get(LAUNCHED_BY) == "cli":
        by = f"quantdb-pipeline pid {run.tags.get(PID_TAG)} on {run.tags.get(HOST_TAG)}"
    else:
        by = "the UI or the daemon"
    return Holder(run.run_id, run.job_name, run.status.value, by, holds)


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every minute: CLI runs whose process died are marked failed (so the queue moves and "
    "run_failure_alert fires) and pool slots held by ended runs are freed.",
)
def dead_run_sensor(context: SensorEvaluationContext):
    failed, freed = recover(context.instance)
    for run_id in failed:
        context.log.warning(f"run {run_id}: its quantdb-pipeline process died; marked failed, slot freed")
    for run_id in freed:
        context.log.warning(f"run {run_id} had ended but still held a pool slot; freed")
    if not failed and not freed:
        return SkipReason("no dead runs, no slots held by ended runs")
    return SkipReason(f"marked {len(failed)} dead run(s) failed; freed the slots of {len(freed)} ended run(s)")
