"""A read-only connection for deciding what to run: the working file, else the published one.

The write side (the CLI's default start, the nightly schedule's trading-day verdict, the
new-listings sensor) plans from the pipeline's own working file (`quantdb.work.duckdb`,
see `warehouse.publish`), never from the published `quantdb.duckdb`: a BI tool may hold the
published file open read-write (DBeaver's default, the duckdb CLI without `-readonly`), and
DuckDB then refuses every other process, read-only ones too. The working file is what the
next run writes on, so it is also the right state to plan from.

While a run is in progress its process holds the working file read-write; a schedule tick
or a sensor evaluated then falls back to the published file. When every file there is
locked, `WarehouseBusyError` names each lock and the process holding it, so that the tick
is skipped saying who to close.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from quantdb_pipeline import read
from quantdb_pipeline.read.connection import _open
from quantdb_pipeline.settings import warehouse_path
from quantdb_pipeline.warehouse.publish import working_path


@contextmanager
def planning_connection(published: str | os.PathLike | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection (closed on exit) to the working file beside `published`
    (default: the writers' `settings.warehouse_path`: $QUANTDB_WAREHOUSE, else the default file of
    $QUANTDB_SOURCE), else to `published` itself.

    The working file is used when it exists and is not locked; otherwise the published file.
    Opened like `read.connect` (attached to an in-memory database: DuckDB caches open
    instances by path in a process, and the pipeline opens the working file read-write in
    this same process later). Keep it short: while it is open, a run cannot open the working
    file for writing (`publish.open_working` waits a little for it).

    Raises `read.WarehouseNotFoundError` when neither file exists, `read.WarehouseBusyError`
    (its message naming each locked file and its holder; `holder` the last one's) when every
    file that exists is locked.
    """
    published = Path(warehouse_path(published))
    working = working_path(published)
    busy: list[read.WarehouseBusyError] = []
    for path in (working, published):
        if not path.exists():
            continue
        try:
            conn = _open(path)
        except read.WarehouseBusyError as error:
            busy.append(error)
            continue
        try:
            yield conn
        finally:
            conn.close()
        return
    if not busy:
        raise read.WarehouseNotFoundError(
            f"no warehouse at {published}: create it with `quantdb-pipeline run` "
            "(or point QUANTDB_WAREHOUSE at an existing file)")
    raise read.WarehouseBusyError(_busy_message(busy, working), busy[-1].path, busy[-1].holder)


def _busy_message(busy: list[read.WarehouseBusyError], working: Path) -> str:
    """One line: which file is locked by which process, and what to do about each."""
    parts = []
    for error in busy:
        holder = error.holder or "another process"
        if error.path == working:
            parts.append(f"the working file {error.path} is locked by {holder} (a pipeline run in progress?)")
        else:
            parts.append(f"the published file {error.path} is held open read-write by {holder} "
                         "(a BI tool or duckdb CLI without -readonly? open it read-only)")
    return "warehouse busy: " + "; ".join(parts)
