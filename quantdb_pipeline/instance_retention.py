"""Keeping the Dagster instance (`.dagster/`) bounded: delete old runs and reclaim their space.

What grows (measured on the sample market with the repo's dagster.yaml, README "Keeping .dagster/
small"): each range run records one ASSET_MATERIALIZATION event per trading-day partition of each
partitioned asset (about 3 KB each), once in the run's own sqlite shard
(`.dagster/storage/history/runs/<run id>.db`) and again in the cross-run index (`runs/index.db`):
a three-year first load wrote ~2,900 such events, 27 MB; a nightly run ~1.5 MB. Sensor and
schedule ticks grow `storage/schedules/` while `dagster dev` runs (two sensors tick every 30 s);
dagster.yaml's `retention:` bounds those. Dagster 1.13 has no setting that deletes old runs, so
`prune_runs` does, and `quantdb-pipeline prune` calls it.

`prune_runs` keeps every run that ended within `keep_days`, the `keep_runs` newest runs whatever
their age, and every unfinished run; for each other run it deletes the run record, its events
(`DagsterInstance.delete_run`), its asset-check rows, its captured stdout/stderr (compute logs),
and its now empty sqlite shard file, then VACUUMs the index so the file shrinks. Deleting a run
forgets what the UI showed for it (its partitions' materializations become "missing" in the
asset's partition view when no later run covered them); the warehouse itself is not touched: the
pipeline plans from the warehouse's coverage tables, never from Dagster's history.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass, field


@dataclass
class PruneReport:
    """What `prune_runs` did: the run ids deleted (oldest first), how many were kept, bytes freed
    under the instance's storage directories (None when the storage is not local sqlite)."""

    deleted: list[str] = field(default_factory=list)
    kept: int = 0
    bytes_freed: int | None = None
    #: {run id: "job STATUS, ended YYYY-MM-DD HH:MM UTC"} of the runs deleted, for a dry run to decide by
    described: dict[str, str] = field(default_factory=dict)


def prune_runs(
    instance, keep_days: int, keep_runs: int = 0, now: dt.datetime | None = None, dry_run: bool = False
) -> PruneReport:
    """Delete the runs of `instance` that ended more than `keep_days` days before `now` (UTC),
    except the `keep_runs` newest and any run not finished. `dry_run`: only say which.

    Raises ValueError for a negative `keep_days` or `keep_runs`.
    """
    if keep_days < 0 or keep_runs < 0:
        raise ValueError(f"keep_days={keep_days}, keep_runs={keep_runs}: both must be 0 or more")
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = (now - dt.timedelta(days=keep_days)).timestamp()
    records = instance.get_run_records()  # newest first
    report = PruneReport()
    doomed = []
    for position, record in enumerate(records):
        ended = record.end_time or (record.update_timestamp.timestamp() if record.update_timestamp else None)
        if position < keep_runs or not record.dagster_run.is_finished or ended is None or ended >= cutoff:
            report.kept += 1
        else:
            run = record.dagster_run
            doomed.append(run.run_id)
            at = dt.datetime.fromtimestamp(ended, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            report.described[run.run_id] = f"{run.job_name} {run.status.value}, ended {at}"
    report.deleted = list(reversed(doomed))
    if dry_run or not doomed:
        return report
    before = _storage_bytes(instance)
    for run_id in report.deleted:
        _delete_run(instance, run_id)
    _vacuum_index(instance)
    after = _storage_bytes(instance)
    report.bytes_freed = None if before is None or after is None else before - after
    return report


def _delete_run(instance, run_id: str) -> None:
    """The run, its events and check rows, its compute logs and its sqlite shard file."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable

    events = instance.event_log_storage
    instance.delete_run(run_id)
    with events.index_connection() as conn:  # delete_run leaves a run's planned/evaluated check rows
        conn.execute(AssetCheckExecutionsTable.delete().where(AssetCheckExecutionsTable.c.run_id == run_id))
    try:
        instance.compute_log_manager.delete_logs(prefix=[run_id])
    except NotImplementedError:  # a manager that keeps no files (the CLI's NoOpComputeLogManager)
        pass
    shard = getattr(events, "path_for_shard", None)
    if shard is not None and os.path.exists(shard(run_id)):
        # sqlite storage opens a shard per call (NullPool): nothing holds the file; forget that it
        # was initialized, so a later look at the run finds an empty shard, not a file without tables
        getattr(events, "_initialized_dbs", set()).discard(run_id)
        os.remove(shard(run_id))


def _vacuum_index(instance) -> None:
    """Give the deleted events' pages back to the file system (sqlite keeps them otherwise)."""
    shard = getattr(instance.event_log_storage, "path_for_shard", None)
    if shard is None:
        return
    path = shard("index")
    if os.path.exists(path):
        conn = sqlite3.connect(path)
        try:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the index is in WAL mode: fold the WAL in, empty it
        finally:
            conn.close()


def _storage_bytes(instance) -> int | None:
    """Bytes under the event log's directory (the sqlite shards and index), or None."""
    base = getattr(instance.event_log_storage, "_base_dir", None)
    if base is None or not os.path.isdir(base):
        return None
    return sum(entry.stat().st_size for entry in os.scandir(base) if entry.is_file())
