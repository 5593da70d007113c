"""Read-only connections to the published snapshot, and the per-process connection cache.

`connect` opens a new connection for ad-hoc SQL. The readers share one cached connection per
file (`_shared`), reopened when a new snapshot is published, and each thread reads it through
its own cursor (`_cursor`); `close` closes them. `_current` is the snapshot the calling thread's
last cursor read: the result cache (`read.cache`) files results under it and error messages
name its file (`_current_file`). This module is the only home of that state.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule
from quantdb_pipeline.read.errors import WarehouseBusyError, lock_holder
from quantdb_pipeline.warehouse_location import find_warehouse, not_found

if TYPE_CHECKING:
    import duckdb
else:  # imported on first use: `import quantdb_pipeline.read` stays fast
    duckdb = LazyModule("duckdb")


def _published(warehouse: str | os.PathLike | None) -> Path:
    """The published file to open (absolute); `WarehouseNotFoundError` lists the places tried."""
    return find_warehouse(warehouse)


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the snapshot at `path` now.

    Attached to an in-memory database rather than opened with `duckdb.connect(path)`:
    duckdb caches open database instances by path, so after the pipeline has renamed a new
    snapshot into place, `connect(path)` would hand back the old, still-open instance.
    """
    conn = duckdb.connect(":memory:")
    try:
        conn.execute("ATTACH ? AS warehouse (READ_ONLY)", [str(path)])
        conn.execute("USE warehouse")
        conn.execute("SET TimeZone = 'UTC'")
        # never resolve an unknown table name to a Python variable of the caller
        conn.execute("SET python_enable_replacements = false")
    except duckdb.IOException as error:
        conn.close()
        if "lock" in str(error).lower():
            holder = lock_holder(error)
            raise WarehouseBusyError(
                f"{path} is held open read-write by {holder or 'another process'}; the pipeline never "
                "writes the published file in place, so open it read-only in BI tools "
                "(DBeaver: duckdb.read_only=true; the duckdb CLI: -readonly)",
                path,
                holder,
            ) from error
        raise
    return conn


def connect(warehouse: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """A new read-only connection to the published warehouse, for ad-hoc SQL. Close it when done."""
    return _open(_published(warehouse))


_shared: dict[Path, tuple[tuple[int, int, int], duckdb.DuckDBPyConnection]] = {}
_shared_lock = threading.Lock()
#: Per thread: {path: [connection, cursor, in use]}, the cursor this thread reads that
#: connection through. Reused across calls: a new cursor plus its `USE warehouse` costs about
#: as much as a small query. It belongs to its connection: when that connection is replaced
#: (new snapshot) or closed (`close()`), the next call makes a new one.
_thread_cursors = threading.local()

_current = threading.local()  # the snapshot the calling thread's last cursor reads


def close() -> None:
    """Close the cached read-only connections (they reopen on the next call).

    Only needed when this process must write a file it has been reading, as the benchmarks do;
    the pipeline itself never writes the published file in place.
    """
    with _shared_lock:
        for _, conn in _shared.values():
            conn.close()  # closes the cursors of every thread on it too
        _shared.clear()


def _new_cursor(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    cursor = conn.cursor()
    cursor.execute("USE warehouse")  # the catalog choice is per connection, and a cursor is one
    return cursor


def _snapshot(warehouse: str | os.PathLike | None) -> tuple[Path, tuple[int, int, int]]:
    """(absolute path, (inode, mtime_ns, size)) of the published snapshot now: one os.stat.

    The pipeline publishes by atomic rename, so a changed signature means a new snapshot."""
    path = find_warehouse(warehouse)
    try:
        stat = os.stat(path)  # follows a symlink: a retargeted link is a new signature too
    except FileNotFoundError:  # removed since it was found
        raise not_found(warehouse) from None
    return path, (stat.st_ino, stat.st_mtime_ns, stat.st_size)


@contextmanager
def _cursor(warehouse: str | os.PathLike | None):
    """A cursor on a cached read-only connection, reopened when a new snapshot is published.

    Opening the file costs tens of milliseconds, a query on an open connection a few. The
    pipeline publishes by atomic rename, so a changed inode or mtime means a new snapshot;
    a connection to the old one stays valid (and consistent) until it is replaced here.
    Each thread keeps its cursor on the current connection for the next call; a nested use
    in the same thread (a call made while another holds the cursor) gets a cursor of its own.
    """
    path, signature = _snapshot(warehouse)
    mine = _thread_cursors.__dict__.setdefault("by_path", {})
    with _shared_lock:
        cached = _shared.get(path)
        if cached is None or cached[0] != signature:
            if cached is not None:
                cached[1].close()
            cached = (signature, _open(path.resolve()))
            _shared[path] = cached
        conn = cached[1]
        entry = mine.get(path)
        if entry is None or entry[0] is not conn:  # first call, or a new snapshot since
            entry = mine[path] = [conn, _new_cursor(conn), False]
        nested = entry[2]
        cursor = _new_cursor(conn) if nested else entry[1]
    _current.snapshot = (path, signature)
    if nested:  # a cursor of its own, closed after use
        try:
            yield cursor
        finally:
            cursor.close()
        return
    entry[2] = True
    try:
        yield cursor
    finally:
        entry[2] = False


def _current_file() -> str:
    """The warehouse file the calling thread's last cursor reads (set by `_cursor`), for error
    messages: a reader pointed at another file than the researcher thinks can tell."""
    snapshot = getattr(_current, "snapshot", None)
    return str(snapshot[0]) if snapshot else "the warehouse"
