"""The Dagster instance stays bounded: dagster.yaml's tick and compute-log retention are what the
loaded instance uses, and `quantdb-pipeline prune` deletes old runs (records, events, compute
logs, shard files) and keeps the recent ones."""

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, asset, materialize
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus

from quantdb_pipeline.cli import EXIT_OK, EXIT_USAGE, main
from quantdb_pipeline.compute_logs import RetainedLocalComputeLogManager


def test_the_instance_from_dagster_yaml_purges_old_ticks(instance):
    # Dagster's defaults: schedule ticks kept for ever (-1), sensor ticks for ever but skipped ones (7 days)
    assert instance.get_tick_retention_settings(InstigatorType.SCHEDULE) == {
        TickStatus.STARTED: 90,
        TickStatus.SKIPPED: 90,
        TickStatus.SUCCESS: 90,
        TickStatus.FAILURE: 90,
    }
    for kind in (InstigatorType.SENSOR, InstigatorType.AUTO_MATERIALIZE):
        assert instance.get_tick_retention_settings(kind) == {
            TickStatus.STARTED: 30,
            TickStatus.SKIPPED: 1,
            TickStatus.SUCCESS: 30,
            TickStatus.FAILURE: 30,
        }


@asset
def tiny():
    print("tiny's stdout")  # captured by the configured compute log manager (a UI-launched run's)
    return 1


def test_compute_logs_idle_longer_than_the_configured_days_are_deleted_as_a_new_step_starts(instance):
    logs = instance.compute_log_manager
    assert isinstance(logs, RetainedLocalComputeLogManager) and logs.retention_days == 30
    base = Path(logs._base_dir)
    for name, age_days in (("old-run", 31), ("recent-run", 29)):
        (base / name / "compute_logs").mkdir(parents=True)
        out = base / name / "compute_logs" / "step.out"
        out.write_text("output")
        then = time.time() - age_days * 86_400
        os.utime(out, (then, then))
    run_id = materialize([tiny], instance=instance).run_id
    assert sorted(p.name for p in base.iterdir()) == sorted(["recent-run", run_id])
    assert "tiny's stdout" in "".join(f.read_text() for f in (base / run_id).rglob("*.out"))


@pytest.mark.slow
def test_prune_deletes_old_runs_with_their_events_and_shards_and_keeps_recent_ones(workdir, instance, capsys):
    run_ids = [materialize([tiny], instance=instance).run_id for _ in range(3)]  # oldest first
    shard = instance.event_log_storage.path_for_shard
    logs = Path(instance.compute_log_manager._base_dir)
    assert all(os.path.exists(shard(run_id)) and (logs / run_id).is_dir() for run_id in run_ids)

    assert main(["prune", "--keep-days", "90"]) == EXIT_OK  # the default: all three are recent
    assert "deleted 0 run(s), kept 3" in capsys.readouterr().out
    assert main(["prune", "--keep-days", "0", "--keep-runs", "1", "--dry-run"]) == EXIT_OK
    assert {r.run_id for r in instance.get_runs()} == set(run_ids)  # a dry run deletes nothing
    listed = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    # each run to go with what to decide by: its job, its status and when it ended
    assert [(line[0], line[1], line[2], line[4]) for line in listed] == [
        (run_id, "__ephemeral_asset_job__", "SUCCESS,", dt.datetime.now(dt.timezone.utc).date().isoformat())
        for run_id in run_ids[:2]
    ]

    # every run ended before now: only the newest (--keep-runs 1) stays
    assert main(["prune", "--keep-days", "0", "--keep-runs", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "deleted 2 run(s), kept 1" in out and run_ids[0] in out and run_ids[1] in out
    assert [r.run_id for r in instance.get_runs()] == [run_ids[2]]
    assert not any(os.path.exists(shard(gone)) or (logs / gone).exists() for gone in run_ids[:2])
    kept = instance.all_logs(run_ids[2], of_type=DagsterEventType.ASSET_MATERIALIZATION)
    assert len(kept) == 1 and os.path.exists(shard(run_ids[2]))
    assert [r.run_id for r in instance.fetch_materializations(tiny.key, limit=10).records] == [run_ids[2]]

    with pytest.raises(SystemExit) as usage:
        main(["prune", "--keep-days", "-1"])
    assert usage.value.code == EXIT_USAGE and "'-1' is not a whole number" in capsys.readouterr().err
