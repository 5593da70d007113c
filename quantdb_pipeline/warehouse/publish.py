"""The working file and the published snapshot.

The pipeline writes only to a working file beside the published one
(`quantdb.work.duckdb` next to `quantdb.duckdb`). Once a step's data passed its checks, the
working file is checkpointed, copied to a temporary file in the same folder, flushed to
disk, checked to open, and renamed over the published path: an atomic replace. Readers
(the `read` module, BI tools) open only the published file, read-only, so they never
block the pipeline, the pipeline never blocks them, and they see either the old snapshot
or the new one, never a half-written file. The write side plans its runs from the working
file (`warehouse.planning`), so even a reader holding the published file read-write does
not stop it. A crash at any point leaves the published file
as it was; a stale temporary file is removed by the next publish.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from quantdb_pipeline.faults import crash_point

#: Files are written so that DuckDB 1.1 and later (and BI tools bundling it) can read them.
STORAGE_COMPATIBILITY = "v1.1.0"
_TMP_MARK = ".publishing-"


def working_path(published: str | os.PathLike) -> Path:
    published = Path(published)
    return published.with_name(f"{published.stem}.work{published.suffix}")


#: How long opening the working file for writing waits for a lock held by someone else. A
#: schedule tick or sensor reads it for a moment (`warehouse.planning`) and would otherwise
#: fail a step that opens it at that instant; a second pipeline run holds it far longer.
LOCK_WAIT_SECONDS = 10.0


def _connect_writable(path: Path, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect(path)` read-write, retried for `LOCK_WAIT_SECONDS` while another process
    holds a lock on it; then DuckDB's own error (which names the holder) is raised."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path), config=config or {})
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def open_working(published: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open the working file for writing; start it from the published snapshot if it is missing."""
    published = Path(published)
    working = working_path(published)
    working.parent.mkdir(parents=True, exist_ok=True)
    if not working.exists() and published.exists():
        shutil.copyfile(published, working)
    return _connect_writable(working, {"storage_compatibility_version": STORAGE_COMPATIBILITY})


@dataclass(frozen=True)
class Published:
    path: Path
    size_bytes: int
    seconds: float


def publish(published: str | os.PathLike) -> Published:
    """Checkpoint the working file and atomically replace the published snapshot with it.

    Call with no open connection to the working file in this process.
    """
    began = time.perf_counter()
    published = Path(published)
    working = working_path(published)
    for stale in published.parent.glob(f".{published.name}{_TMP_MARK}*"):
        stale.unlink(missing_ok=True)
    with _connect_writable(working) as conn:
        conn.execute("CHECKPOINT")
    wal = Path(f"{working}.wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RuntimeError(f"{wal} still holds changes after CHECKPOINT; not publishing")
    tmp = published.with_name(f".{published.name}{_TMP_MARK}{os.getpid()}")
    shutil.copyfile(working, tmp)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    with duckdb.connect(str(tmp), read_only=True) as check:
        check.execute("SELECT max(version) FROM schema_migrations").fetchall()
    crash_point("publish")
    os.replace(tmp, published)
    directory = os.open(published.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return Published(published, published.stat().st_size, time.perf_counter() - began)
