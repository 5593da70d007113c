"""The batched sqlite event log (quantdb_pipeline/event_log.py) records what stock sqlite storage
records, reads instances stock storage wrote, and cuts what a range run writes.

A small partitioned asset with one check stands in for a dataset where the pipeline's own
assets are not needed (its partitions exclude weekends and two holidays, as trading-day
partitions do); the last test runs the real `daily_bars` over a range.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import shutil
from pathlib import Path

import dagster
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    asset,
)
from dagster._core.instance.ref import InstanceRef

from quantdb_pipeline.event_log import BatchedSqliteEventLogStorage

REPO = Path(__file__).resolve().parents[1]
HOLIDAYS = [dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 12)]
sessions = DailyPartitionsDefinition(
    start_date="2023-12-01", end_date="2024-04-01", timezone="Asia/Shanghai", exclusions=["0 0 * * 0,6", *HOLIDAYS]
)
RANGE = ("2023-12-29", "2024-02-29")
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@asset(
    partitions_def=sessions,
    backfill_policy=dagster.BackfillPolicy.single_run(),
    check_specs=[AssetCheckSpec("rows_ok", asset="bars")],
)
def bars(context):
    """One result for the whole range, as `daily_bars` yields it."""
    yield MaterializeResult(
        metadata={"rows_written": 7, "range": f"{context.partition_key_range.start}..{context.partition_key_range.end}"}
    )
    yield AssetCheckResult(check_name="rows_ok", passed=True)


@pytest.fixture(autouse=True)
def _cwd_restored(monkeypatch):
    monkeypatch.chdir(Path.cwd())  # restored after the test; `_open` changes it


def _expected() -> list[str]:
    return [k for k in sessions.get_partition_keys() if RANGE[0] <= k <= RANGE[1]]


def _stock_yaml() -> str:
    text = (REPO / "dagster.yaml").read_text()
    return (
        text[: text.index("run_storage:")]
        + "storage:\n  sqlite:\n    base_dir: .dagster/storage\n\n"
        + text[text.index("local_artifact_storage:") :]
    )


def _open(root: Path, stock: bool = False) -> DagsterInstance:
    """The instance of `root`/dagster.yaml (the repo's, or the stock sqlite layout), from `root` as the
    cwd: dagster.yaml's storage paths are relative to the directory Dagster starts in."""
    root.mkdir(parents=True, exist_ok=True)
    os.chdir(root)
    (root / "dagster.yaml").write_text(_stock_yaml() if stock else (REPO / "dagster.yaml").read_text())
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(root / ".dagster"), config_dir=str(root)))


def _run(instance: DagsterInstance) -> str:
    result = dagster.materialize(
        [bars],
        instance=instance,
        run_config=QUIET,
        tags={"dagster/asset_partition_range_start": RANGE[0], "dagster/asset_partition_range_end": RANGE[1]},
    )
    assert result.success
    return result.run_id


def _recorded(instance: DagsterInstance, run_id: str) -> dict:
    """What a reader (the UI, sensors) sees of the run, storage ids left out."""
    storage = instance.event_log_storage
    events = collections.Counter(e.dagster_event.event_type_value for e in instance.all_logs(run_id) if e.dagster_event)
    check = AssetCheckKey(AssetKey("bars"), "rows_ok")
    executions = collections.Counter(
        (h.partition, h.status.value) for h in storage.get_asset_check_execution_history(check, limit=10_000)
    )
    entry = instance.get_asset_records([AssetKey("bars")])[0].asset_entry
    latest = entry.last_materialization_record.event_log_entry
    return {
        "events": dict(events),
        "partitions": sorted(instance.get_materialized_partitions(AssetKey("bars"))),
        "latest_by_partition": sorted(
            storage.get_latest_storage_id_by_partition(AssetKey("bars"), DagsterEventType.ASSET_MATERIALIZATION)
        ),
        "check_executions": dict(executions),
        "last_materialization": (latest.run_id, latest.dagster_event.partition),
        "last_run_id": entry.last_run_id,
        "materializations_found": len(instance.fetch_materializations(AssetKey("bars"), limit=10_000).records),
    }


@pytest.mark.slow
def test_batched_storage_records_what_stock_storage_records(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    monkeypatch.delenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", raising=False)
    with _open(tmp_path / "ours") as instance:
        assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
        assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "10000"  # set by opening the instance
        run_id = _run(instance)
        ours = _recorded(instance, run_id)
    # stock storage with Dagster's variable for one planned event per asset: the same choice ours makes
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    with _open(tmp_path / "stock", stock=True) as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        run_id = _run(instance)
        stock = _recorded(instance, run_id)
    expected = _expected()
    assert len(expected) == 43 and "2024-01-01" not in expected and "2024-02-12" not in expected
    assert ours["partitions"] == expected == ours["latest_by_partition"]
    assert ours["events"]["ASSET_MATERIALIZATION"] == 43 and ours["events"]["ASSET_MATERIALIZATION_PLANNED"] == 1
    assert ours["materializations_found"] == 43
    assert ours["last_materialization"][1] == "2024-02-29" and ours["last_run_id"] == ours["last_materialization"][0]
    # planned per partition, evaluated once for the range (stock Dagster's rows for a range run's check)
    assert ours["check_executions"] == {**{(k, "PLANNED"): 1 for k in expected}, (None, "SUCCEEDED"): 1}
    for key in ("events", "partitions", "latest_by_partition", "check_executions", "materializations_found"):
        assert ours[key] == stock[key], key
    assert ours["last_materialization"][1] == stock["last_materialization"][1]


def test_planned_check_rows_do_not_carry_the_partitions_definition(tmp_path, monkeypatch):
    """Stock Dagster stores the run's partitions subset (with every exclusion of the definition) in
    each planned check row; ours stores the planned event without it, once per row."""
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    with _open(tmp_path) as instance:
        run_id = _run(instance)
        rows = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey("bars"), "rows_ok"), limit=10_000
        )
        planned = [r for r in rows if r.status.value == "PLANNED"]
        assert sorted(r.partition for r in planned) == _expected()
        for row in planned:
            data = row.event.dagster_event.event_specific_data
            assert data.partitions_subset is None and data.check_name == "rows_ok" and row.run_id == run_id
        # the run's own planned event keeps the subset: the range is still recorded once
        logged = [e for e in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)]
        assert len(logged) == 1
        assert sorted(logged[0].dagster_event.event_specific_data.partitions_subset.get_partition_keys()) == _expected()


@pytest.mark.slow
def test_an_instance_written_by_stock_storage_keeps_working(tmp_path, monkeypatch):
    """Stock storage writes; ours opens a copy, sees its runs and partitions and adds to them;
    stock storage then opens the result again."""
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    with _open(tmp_path / "old", stock=True) as instance:
        first = _run(instance)
    shutil.copytree(tmp_path / "old" / ".dagster", tmp_path / "new" / ".dagster")
    with _open(tmp_path / "new") as instance:
        assert instance.get_run_by_id(first).is_success
        assert sorted(instance.get_materialized_partitions(AssetKey("bars"))) == _expected()
        assert len(instance.all_logs(first, of_type=DagsterEventType.ASSET_MATERIALIZATION)) == 43
        second = _run(instance)
        assert instance.get_run_records()[0].dagster_run.run_id == second
    with _open(tmp_path / "new", stock=True) as instance:
        assert {r.dagster_run.run_id for r in instance.get_run_records()} == {first, second}
        assert len(instance.all_logs(second, of_type=DagsterEventType.ASSET_MATERIALIZATION)) == 43
        assert len(instance.fetch_materializations(AssetKey("bars"), limit=10_000).records) == 86
        entry = instance.get_asset_records([AssetKey("bars")])[0].asset_entry
        assert entry.last_run_id == second and entry.last_materialization_record.event_log_entry.run_id == second
        assert sorted(instance.get_materialized_partitions(AssetKey("bars"))) == _expected()


@pytest.mark.parametrize("planned_event_per_asset", [True, False])
def test_planned_events_per_asset_is_a_setting(tmp_path, monkeypatch, planned_event_per_asset):
    """`planned_event_per_asset: false` in dagster.yaml restores one planned event per partition
    (a failed range run then marks its partitions failed)."""
    monkeypatch.delenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", raising=False)
    with _open(tmp_path) as instance:
        pass
    text = (
        (tmp_path / "dagster.yaml")
        .read_text()
        .replace(
            "    base_dir: .dagster/storage/history/runs/\n",
            f"    base_dir: .dagster/storage/history/runs/\n    planned_event_per_asset: {str(planned_event_per_asset).lower()}\n",
        )
    )
    (tmp_path / "dagster.yaml").write_text(text)
    os.chdir(tmp_path)
    with DagsterInstance.from_ref(
        InstanceRef.from_dir(str(tmp_path / ".dagster"), config_dir=str(tmp_path))
    ) as instance:
        run_id = _run(instance)
        planned = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        assert len(planned) == (1 if planned_event_per_asset else 43)
        assert sorted(instance.get_materialized_partitions(AssetKey("bars"))) == _expected()


def _planned_checks(instance: DagsterInstance, run_id: str, asset: str) -> set[str]:
    return {
        e.dagster_event.event_specific_data.check_name
        for e in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)
        if e.dagster_event.event_specific_data.asset_key == AssetKey(asset)
    }


@pytest.mark.slow
def test_a_cli_range_run_writes_one_slim_event_per_partition_and_its_tables_once(workdir, capsys):
    """A range run of the CLI: every partition of the range recorded, each materialization with the
    scalars only, the tables on one observation; the summary still reads them; only the checks a
    past range can evaluate are planned. A run ending today plans the quote-list checks too."""
    from dagster import MarkdownMetadataValue

    from quantdb_pipeline.assets import daily_bars
    from quantdb_pipeline.assets.outcome import PARTITION_METADATA
    from quantdb_pipeline.cli import EXIT_OK, main

    args = [
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
        "--sample-size",
        "16",
        "--markets",
        "cn",
        "--no-progress",
    ]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    expected = [
        k
        for k in daily_bars.partitions_def.get_partition_keys_in_range(
            dagster.PartitionKeyRange("2024-07-01", "2024-07-19")
        )
        if k <= "2024-07-19"
    ]
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        run_id = inst.get_run_records()[0].dagster_run.run_id
        assert sorted(inst.get_materialized_partitions(AssetKey("daily_bars"))) == expected
        materializations = [
            e.dagster_event.step_materialization_data.materialization
            for e in inst.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            if e.dagster_event.asset_key == AssetKey("daily_bars")
        ]
        assert sorted(m.partition for m in materializations) == expected
        for materialization in materializations:
            assert not any(isinstance(v, MarkdownMetadataValue) for v in materialization.metadata.values())
            assert materialization.metadata["rows_written"].value > 0
            details = materialization.metadata["details"].value
            assert "failed_symbols" in details and "preview" in details
            assert set(materialization.metadata) <= {*PARTITION_METADATA, "details"}
        observations = [
            e.dagster_event.asset_observation_data.asset_observation
            for e in inst.all_logs(run_id, of_type=DagsterEventType.ASSET_OBSERVATION)
            if e.dagster_event.asset_key == AssetKey("daily_bars")
        ]
        assert len(observations) == 1
        assert "600003 | 2024-07-19" in observations[0].metadata["preview"].value
        assert observations[0].metadata["failed_symbols"].value == "none"
        assert _planned_checks(inst, run_id, "daily_bars") == {
            "daily_bars_rows_suite",
            "daily_bars_batch_suite",
            "load_complete",
        }
    assert "symbols failed" in out and "failed symbols (retried" not in out

    # a run ending on the source's today may take the day from the quote list: its checks are planned
    assert (
        main([a for a in args if a not in ("--end", "2024-07-19", "--start", "2024-07-01")] + ["--start", "2024-08-30"])
        == EXIT_OK
    )
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        run_id = inst.get_run_records()[0].dagster_run.run_id
        assert _planned_checks(inst, run_id, "daily_bars") == {
            "daily_bars_rows_suite",
            "daily_bars_batch_suite",
            "load_complete",
            "daily_bars_spot_day",
            "daily_bars_spot_reconciliation",
        }
