"""The working file and the published snapshot.

The pipeline writes only to a working file beside the published one
(`quantdb.work.duckdb` next to `quantdb.duckdb`). Once a step's data passed its checks, the
working file is checkpointed, copied to a temporary file in the same folder, flushed to
disk, checked to open, and renamed over the published path: an atomic replace. Readers
(the `read` module, BI tools) open only the published file, read-only, so they never
block the pipeline, the pipeline never blocks them, and they see either the old snapshot
or the new one, never a half-written file. The write side plans its runs from the working
file (`warehouse.planning`), so even a reader holding the published file read-write does
not stop it. A crash at any point leaves the published file as it was.

Local faults this module guards against:

- A write-ahead log beside the published file (`quantdb.duckdb.wal`, left by a BI session that
  opened the file read-write and was killed) would be replayed by DuckDB onto every new
  snapshot: files written with `storage_compatibility_version` v1.1.0 carry no WAL identity
  check. `publish` moves it aside (`quantdb.duckdb.wal.orphaned-<UTC time>`, kept for
  inspection) before the rename and reports it in `Published.orphaned_wals`.
- A full volume: the free space is checked before the copy (`NotEnoughSpace`), a failed copy
  removes its temporary file whatever the error (even Ctrl-C), and temporary files of dead
  processes are removed at the start of every run (`remove_stale_temporaries`).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from quantdb_pipeline.faults import crash_point
from quantdb_pipeline.processes import alive

#: Files are written so that DuckDB 1.1 and later (and BI tools bundling it) can read them.
STORAGE_COMPATIBILITY = "v1.1.0"
#: The oldest DuckDB that opens the published file (README, "Minimum DuckDB version"; the
#: Makefile pins this series for the compatibility test). DuckDB 1.0 fails with "Serialization
#: Error: Failed to deserialize: expected end of object, but found field id: 103".
MINIMUM_DUCKDB = "1.1"
_TMP_MARK = ".publishing-"
#: Free space the publish copy needs, as a multiple of the working file's size (the copy
#: itself, plus room for the file system's own blocks and a WAL the open check may start).
SPACE_FACTOR = 1.1
ORPHANED_MARK = ".orphaned-"


class NotEnoughSpace(OSError):
    """The folder of the published file has too little free space for the publish copy.

    Its message is one line giving the numbers (MiB needed, MiB free, the folder) and what to do;
    nothing was written and the published file is unchanged."""


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
    """Open the working file for writing; start it from the published snapshot if it is missing.

    Only the published file itself is copied, never a `<published>.wal` beside it: such a log
    holds a BI session's edits (see the module docstring), and the working file must start from
    the checked snapshot. The copy goes through a temporary file renamed into place, so a copy
    cut short (a full volume, a kill) never leaves a half working file behind.
    """
    published = Path(published)
    working = working_path(published)
    working.parent.mkdir(parents=True, exist_ok=True)
    if not working.exists() and published.exists():
        _copy_into_place(published, working, _temporary(published))
    return _connect_writable(working, {"storage_compatibility_version": STORAGE_COMPATIBILITY})


@dataclass(frozen=True)
class Published:
    """One publish: the published `path`, its size in bytes, the seconds it took, and where each
    foreign write-ahead log found beside the published file was moved (empty when there was none;
    two only if a session still holding the old file wrote a new log during the publish)."""

    path: Path
    size_bytes: int
    seconds: float
    orphaned_wals: tuple[Path, ...] = ()


def _temporary(published: Path) -> Path:
    """This process's temporary file in the published file's folder: `.quantdb.duckdb.publishing-<pid>`."""
    return published.with_name(f".{published.name}{_TMP_MARK}{os.getpid()}")


def remove_stale_temporaries(published: str | os.PathLike) -> list[Path]:
    """Remove temporary publish copies left by dead processes (or by this one); returns them.

    A copy cut short by a kill or a full volume would otherwise keep eating the space the next
    publish needs. A file whose process is still alive is left alone: that process may be
    publishing right now. Pids are of this host; a folder shared between hosts is not supported.
    """
    published = Path(published)
    removed = []
    for stale in published.parent.glob(f".{published.name}{_TMP_MARK}*"):
        pid = stale.name.rsplit(_TMP_MARK, 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and alive(int(pid)):
            continue
        stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


def check_free_space(published: Path, working: Path) -> None:
    """Raise `NotEnoughSpace` unless the published file's folder has `SPACE_FACTOR` × the working
    file's size free. The old snapshot's space comes back only after the rename (and only once no
    reader holds it open), so the whole copy must fit beside it."""
    needed = working.stat().st_size * SPACE_FACTOR
    free = shutil.disk_usage(published.parent).free
    if free < needed:
        mib = 2**20
        raise NotEnoughSpace(
            f"not enough free space to publish: {needed / mib:.1f} MiB needed (working file "
            f"{working.stat().st_size / mib:.1f} MiB x {SPACE_FACTOR}), {free / mib:.1f} MiB free in "
            f"{published.parent}; free at least {(needed - free) / mib:.1f} MiB there (or point "
            f"QUANTDB_WAREHOUSE to a larger volume) and run again")


def move_wal_aside(published: str | os.PathLike) -> Path | None:
    """Move a write-ahead log beside the published file to `<published>.wal.orphaned-<UTC time>`.

    The pipeline never writes the published file in place, so such a log is a foreign session's
    (a BI tool that opened the file read-write): DuckDB would replay it onto whatever file sits
    at the path, including a new snapshot. Returns where it went, or None when there was none.
    """
    published = Path(published)
    wal = Path(f"{published}.wal")
    if not wal.exists():
        return None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = wal.with_name(f"{wal.name}{ORPHANED_MARK}{stamp}")
    os.replace(wal, aside)
    return aside


def _copy_into_place(source: Path, target: Path, tmp: Path, check=None) -> None:
    """Copy `source` to `tmp`, fsync it, run `check(tmp)`, and rename it over `target`. On any
    failure, even KeyboardInterrupt, the temporary copy is removed before the error propagates."""
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(published: str | os.PathLike) -> Published:
    """Checkpoint the working file and atomically replace the published snapshot with it.

    Call with no open connection to the working file in this process. Raises `NotEnoughSpace`
    before copying when the folder lacks room, and `OSError` (e.g. ENOSPC) when the copy fails;
    either way the published file is unchanged and no temporary copy is left.
    """
    began = time.perf_counter()
    published = Path(published)
    working = working_path(published)
    remove_stale_temporaries(published)
    with _connect_writable(working) as conn:
        conn.execute("CHECKPOINT")
    wal = Path(f"{working}.wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise RuntimeError(f"{wal} still holds changes after CHECKPOINT; not publishing")
    check_free_space(published, working)
    orphaned = []

    def check(tmp: Path) -> None:
        with duckdb.connect(str(tmp), read_only=True) as conn:
            conn.execute("SELECT max(version) FROM schema_migrations").fetchall()
        crash_point("publish")
        orphaned.append(move_wal_aside(published))  # right before the rename: nothing replays it

    _copy_into_place(working, published, _temporary(published), check)
    directory = os.open(published.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    # a session still holding the old file read-write may have started a new log meanwhile
    orphaned.append(move_wal_aside(published))
    return Published(published, published.stat().st_size, time.perf_counter() - began,
                     tuple(p for p in orphaned if p is not None))
