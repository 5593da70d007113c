"""The Dagster instance stays bounded: dagster.yaml's tick retention is what the loaded instance
uses, and `quantdb-pipeline prune` deletes old runs (records, events, shard files) and keeps the
recent ones."""

import os

import pytest
from dagster import DagsterEventType, asset, materialize
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus

from quantdb_pipeline.cli import EXIT_OK, EXIT_USAGE, main


def test_the_instance_from_dagster_yaml_purges_old_ticks(instance):
    # Dagster's defaults: schedule ticks kept for ever (-1), sensor ticks for ever but skipped ones (7 days)
    assert instance.get_tick_retention_settings(InstigatorType.SCHEDULE) == {
        TickStatus.STARTED: 90, TickStatus.SKIPPED: 90, TickStatus.SUCCESS: 90, TickStatus.FAILURE: 90}
    for kind in (InstigatorType.SENSOR, InstigatorType.AUTO_MATERIALIZE):
        assert instance.get_tick_retention_settings(kind) == {
            TickStatus.STARTED: 30, TickStatus.SKIPPED: 1, TickStatus.SUCCESS: 30, TickStatus.FAILURE: 30}


@asset
def tiny():
    return 1


def test_prune_deletes_old_runs_with_their_events_and_shards_and_keeps_recent_ones(workdir, instance, capsys):
    run_ids = [materialize([tiny], instance=instance).run_id for _ in range(3)]  # oldest first
    shard = instance.event_log_storage.path_for_shard
    assert all(os.path.exists(shard(run_id)) for run_id in run_ids)

    assert main(["prune", "--keep-days", "90"]) == EXIT_OK  # the default: all three are recent
    assert "deleted 0 run(s), kept 3" in capsys.readouterr().out
    assert main(["prune", "--keep-days", "0", "--keep-runs", "1", "--dry-run"]) == EXIT_OK
    assert {r.run_id for r in instance.get_runs()} == set(run_ids)  # a dry run deletes nothing

    # every run ended before now: only the newest (--keep-runs 1) stays
    assert main(["prune", "--keep-days", "0", "--keep-runs", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "deleted 2 run(s), kept 1" in out and run_ids[0] in out and run_ids[1] in out
    assert [r.run_id for r in instance.get_runs()] == [run_ids[2]]
    assert not any(os.path.exists(shard(gone)) for gone in run_ids[:2])
    kept = instance.all_logs(run_ids[2], of_type=DagsterEventType.ASSET_MATERIALIZATION)
    assert len(kept) == 1 and os.path.exists(shard(run_ids[2]))
    assert [r.run_id for r in instance.fetch_materializations(tiny.key, limit=10).records] == [run_ids[2]]

    with pytest.raises(SystemExit) as usage:
        main(["prune", "--keep-days", "-1"])
    assert usage.value.code == EXIT_USAGE and "'-1' is not a whole number" in capsys.readouterr().err
