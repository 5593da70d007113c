"""A warehouse knows its market data source: sample (simulated) or akshare (real).

Why: a run skips the days its coverage already holds, whatever wrote them. An akshare run into
the demo's file would keep the sample's simulated prices for every day the demo covered, and
place real prices beside them for the rest, with nothing to tell them apart but each row's
`source` column. So the first run that writes a warehouse records its source in
`warehouse_sources` (migration 0015), and a run of another source is refused before it writes
anything, unless mixing is allowed (`quantdb-pipeline run --allow-mixed-sources`, or the
`warehouse` resource's `allow_mixed_sources` in the Dagster UI); an allowed second source is
recorded as such (`mixed_allowed`).

The CLI checks before it starts any run (`refusal`, exit 64, nothing started); the warehouse
resource checks again whenever a step opens the working file (`claim`), which covers runs
launched from the UI and schedules.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from quantdb_pipeline import settings

#: What each source's data is, for the refusal message.
KINDS = {"sample": "simulated prices of the offline sample market", "akshare": "real market data from akshare"}


class MixedSourcesError(RuntimeError):
    """A run would write data of one source into a warehouse recorded as holding another."""


def recorded_sources(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The sources the warehouse holds, first written first: from `warehouse_sources`, or, on a
    file not yet migrated to it (a read-only planning connection cannot migrate), from the
    lineage of its calendar, securities and bar rows. [] for an empty or new warehouse."""
    try:
        return [source for (source,) in conn.execute(
            "SELECT source FROM warehouse_sources ORDER BY first_written_at, source").fetchall()]
    except duckdb.CatalogException:
        pass
    try:
        return [source for (source,) in conn.execute(
            "SELECT split_part(source, '/', 1) FROM (SELECT source, ingested_at FROM trading_calendar "
            "UNION ALL SELECT source, ingested_at FROM securities UNION ALL SELECT source, ingested_at FROM daily_bars) "
            "GROUP BY 1 ORDER BY min(ingested_at), 1").fetchall()]
    except duckdb.CatalogException:  # a file a first run left before creating its tables
        return []


def refusal(warehouse: str | os.PathLike, recorded: list[str], source: str, flag: str) -> str | None:
    """Why a run of `source` may not write to `warehouse`, whose recorded sources are `recorded`
    (one screen: the file, what it holds, the two ways on, naming `flag`), or None when it may."""
    if not recorded or source in recorded:
        return None
    holds = " and ".join(recorded)
    own = settings.default_warehouse(source)
    kinds = "; ".join(f"{name}: {KINDS.get(name, name)}" for name in dict.fromkeys([*recorded, source]))
    return "\n".join([
        f"refused to write {source} data into {os.path.abspath(warehouse)}:",
        f"  that warehouse's recorded source is {holds} (table warehouse_sources); {kinds}.",
        f"  Mixed in one file, the {holds} rows would stay for every day they already cover (a run does not",
        "  refetch covered days), next to the new rows for the rest.",
        f"  Either write {source} data to a warehouse of its own: --warehouse {own} (the default for --source "
        f"{source}, unless ${settings.WAREHOUSE_ENV} is set)",
        f"  or, to add {source} data to this one anyway, pass {flag} (recorded as mixed in warehouse_sources).",
        "  Nothing was written.",
    ])


def claim(conn: duckdb.DuckDBPyConnection, warehouse: str | os.PathLike, source: str, run_id: str | None,
          allow_mixed: bool, flag: str) -> None:
    """Check that a run of `source` may write to this (migrated, writable) warehouse connection,
    and record `source` on its first write. Raises `MixedSourcesError` (the `refusal` text)
    before anything is written otherwise."""
    recorded = recorded_sources(conn)
    if source in recorded:
        return
    if not allow_mixed:
        message = refusal(warehouse, recorded, source, flag)
        if message:
            raise MixedSourcesError(message)
    conn.execute("INSERT INTO warehouse_sources VALUES (?, now(), ?, ?) ON CONFLICT (source) DO NOTHING",
                 [source, run_id, bool(recorded)])


def describe(path: str | os.PathLike | Path) -> str:
    """"sample", "akshare", "sample and akshare (mixed)" or "unknown" for a published file,
    read-only; for `quantdb-pipeline status` and the run summary."""
    from quantdb_pipeline import read

    try:
        with read.connect(path) as conn:
            recorded = recorded_sources(conn)
    except (read.WarehouseNotFoundError, read.WarehouseBusyError, duckdb.Error):
        return "unknown"
    if not recorded:
        return "unknown (empty)"
    return recorded[0] if len(recorded) == 1 else " and ".join(recorded) + " (mixed)"
