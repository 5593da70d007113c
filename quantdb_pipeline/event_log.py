"""The Dagster event log: stock sqlite storage that writes a range run's per-partition events in batches.

Why: a single-run backfill of N daily partitions makes Dagster write one ASSET_MATERIALIZATION
event per partition (the asset yields one `MaterializeResult`; Dagster copies it into every
partition's event, which *is* the partition's status in the UI). Stock `SqliteEventLogStorage`
writes each event on its own: a new sqlite connection and commit on the run's shard, then again
on the cross-run index shard, a tag insert and an asset-key upsert, about 13 ms an event. For a
10-year range (2,435 trading days) that was most of the run. Dagster already hands a step's
partition events (and the planned events of run creation) to `store_event_batch` when
`DAGSTER_EVENT_BATCH_SIZE` > 0, but the sqlite storages inherit the base loop over `store_event`.

`BatchedSqliteEventLogStorage.store_event_batch` writes a batch of one run's events with:
- each event serialized once (the same row goes to the run shard and the index shard);
- one multi-row INSERT per shard (`RETURNING id` on the index shard for the storage ids), in
  one transaction per shard;
- the asset-event tags in one insert and each asset key's row upserted once per batch (the
  values of the batch's last event per key, as the event-by-event path would leave them).

Planned check rows (`asset_check_executions`, one per check x partition of a range run) are
written in one insert with the stored event serialized once and without the run's partitions
subset: stock Dagster serializes the event again per row, and with trading-day partitions the
subset carries the whole partitions definition (every holiday exclusion, ~57 KiB) into each row.
The row's `partition` column still says which partition it plans; the run's full planned event
(with the subset) is still stored once in the run's and the index shard's event log.

Two settings reach every process that opens this instance (the CLI, `dagster dev`'s webserver
and daemon, which create runs for UI launches, backfills and schedules, and the run workers):
- `planned_event_per_asset` (default true): a range run plans ONE materialization per asset
  carrying its partitions subset, instead of one event per partition (Dagster reads this from
  `supports_partition_subset_in_asset_materialization_planned_events`, the property behind
  its `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS` variable). Trade-off, Dagster's own: a
  range run that fails no longer marks its partitions *failed* in the UI; they stay missing (or
  keep their last materialization). The pipeline records a failed load in `dataset_status`
  (`read.status()`, the `load_complete` check), so nothing is lost that the pipeline relies on.
- `event_batch_size` (default 10,000): sets `DAGSTER_EVENT_BATCH_SIZE` for the process unless it
  is set already. Dagster reads the size only from that variable; run workers launched by the
  webserver or daemon inherit it. 10,000 holds a whole 1990..today daily range (~8,800 trading
  days) in one batch; a larger range is written in several.

Reading is unchanged (same class family, tables and shard layout under `base_dir`), so an
instance written by stock sqlite storage opens as it is, and stock storage can open ours.

Relies on protected helpers of Dagster's `SqlEventLogStorage` (`_event_to_row`,
`_store_asset_event_tags`, `_get_asset_entry_values`, `_event_insert_timestamp`): Dagster is
pinned in pyproject.toml, and `quantdb_pipeline_tests/test_event_log.py` checks that a range
run records exactly its partitions, the asset row and check rows, and that an instance written
by stock storage keeps working. Configured in dagster.yaml as `event_log_storage`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import cast

from dagster import AssetKey, Bool, Field, IntSource, StringSource
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData
from dagster_shared.serdes import serialize_value
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
DEFAULT_EVENT_BATCH_SIZE = 10_000


def _asset_key(event: EventLogEntry) -> AssetKey:
    """The asset key of an asset event (the callers keep only events that have one)."""
    key = event.get_dagster_event().asset_key
    if key is None:
        raise ValueError(f"{event.dagster_event_type} event without an asset key")
    return key


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with a real `store_event_batch` (see the module docstring).

    dagster.yaml (same directory as stock sqlite storage's event log, `<storage>/history/runs`):
        event_log_storage:
          module: quantdb_pipeline.event_log
          class: BatchedSqliteEventLogStorage
          config: {base_dir: .dagster/storage/history/runs/}
    """

    def __init__(
        self,
        base_dir: str,
        inst_data: ConfigurableClassData | None = None,
        planned_event_per_asset: bool = True,
        event_batch_size: int = DEFAULT_EVENT_BATCH_SIZE,
    ):
        super().__init__(base_dir, inst_data=inst_data)
        self._planned_event_per_asset = planned_event_per_asset
        if event_batch_size > 0:
            os.environ.setdefault(BATCH_SIZE_ENV, str(event_batch_size))

    @classmethod
    def config_type(cls):
        return {
            "base_dir": StringSource,
            "planned_event_per_asset": Field(Bool, is_required=False, default_value=True),
            "event_batch_size": Field(IntSource, is_required=False, default_value=DEFAULT_EVENT_BATCH_SIZE),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # noqa: D102 - Dagster's ConfigurableClass hook
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return (
            self._planned_event_per_asset or super().supports_partition_subset_in_asset_materialization_planned_events
        )

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store one run's events as `store_event` would one by one, in one transaction per shard.

        Batches of several runs, or holding run-status events (which stock sqlite also mirrors
        into the index shard and the run storage watches), take the event-by-event path.
        """
        events = list(events)
        if (
            len(events) < 2
            or len({e.run_id for e in events}) != 1
            or any(e.is_dagster_event and e.dagster_event_type in EVENT_TYPE_TO_PIPELINE_RUN_STATUS for e in events)
        ):
            for event in events:
                self.store_event(event)
            return
        rows = [self._event_to_row(event) for event in events]  # serializes each event, once
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        mirrored = [
            (event, row)
            for event, row in zip(events, rows)
            if event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS | ASSET_CHECK_EVENTS
        ]
        if not mirrored:
            return
        with self.index_transaction() as conn:
            ids = (
                conn.execute(
                    SqlEventLogStorageTable.insert().returning(
                        SqlEventLogStorageTable.c.id, sort_by_parameter_order=True
                    ),
                    [row for _, row in mirrored],
                )
                .scalars()
                .all()
            )
            asset_events = [
                (event, event_id)
                for (event, _), event_id in zip(mirrored, ids)
                if event.dagster_event_type in ASSET_EVENTS and event.get_dagster_event().asset_key
            ]
            if asset_events:
                self._store_asset_event_tags(conn, [e for e, _ in asset_events], [i for _, i in asset_events])
                self._upsert_asset_keys(conn, asset_events)
        for (event, _), event_id in zip(mirrored, ids):
            if event.dagster_event_type in ASSET_CHECK_EVENTS:
                self.store_asset_check_event(event, event_id)

    def _upsert_asset_keys(self, conn, asset_events: list[tuple[EventLogEntry, int]]) -> None:
        """One upsert per asset key with the values the event-by-event path would leave: stock
        `_store_asset_event` runs an insert-or-update per event, each event type setting the same
        columns, so only the last event of each type per key counts (later ones winning). Computing
        the values of that one only matters: a materialization's values hold the whole event
        serialized again (`last_materialization`)."""
        has_index_cols = self._has_asset_key_index_cols_on_connection(conn)
        last: dict[tuple[str, str], int] = {}  # (asset key, event type) -> index of its last event
        for index, (event, _) in enumerate(asset_events):
            last[(_asset_key(event).to_string(), event.get_dagster_event().event_type_value)] = index
        merged: dict[str, dict] = {}
        for index in sorted(last.values()):
            event, event_id = asset_events[index]
            values = self._get_asset_entry_values(event, event_id, has_index_cols)
            if values:
                merged.setdefault(_asset_key(event).to_string(), {}).update(values)
        for asset_key, values in merged.items():
            statement = sqlite_insert(AssetKeyTable).values(asset_key=asset_key, **values)
            conn.execute(statement.on_conflict_do_update(index_elements=[AssetKeyTable.c.asset_key], set_=values))

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        """One row per (check, partition), as stock Dagster writes, in one insert; the stored event
        is serialized once and without the partitions subset (see the module docstring)."""
        planned = cast(AssetCheckEvaluationPlanned, event.get_dagster_event().event_specific_data)
        if not planned.partitions_subset:
            return super()._store_asset_check_evaluation_planned(event, event_id)
        keys = planned.partitions_subset.get_partition_keys()
        slim = event._replace(
            dagster_event=event.get_dagster_event()._replace(
                event_specific_data=type(planned)(asset_key=planned.asset_key, check_name=planned.check_name)
            )
        )
        stored, timestamp = serialize_value(slim), self._event_insert_timestamp(event)
        row = dict(
            asset_key=planned.asset_key.to_string(),
            check_name=planned.check_name,
            run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=stored,
            evaluation_event_timestamp=timestamp,
            evaluation_event_storage_id=event_id,
        )
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [{**row, "partition": key} for key in keys])
