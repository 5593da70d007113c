"""The read-result cache: bar reads kept per published snapshot (`_cached`), small tables read
once per snapshot (`_per_snapshot`), and the warnings of a kept result (`_warn`).

Bounded by `QUANTDB_READ_CACHE_MB` (see `quantdb_pipeline.read`); `cache_info()` and
`clear_cache()` are public. This module is the only home of that state.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule
from quantdb_pipeline.read.connection import _current, _snapshot
from quantdb_pipeline.result_cache import ResultCache
from quantdb_pipeline.settings import read_cache_bytes

if TYPE_CHECKING:
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast
    pd = LazyModule("pandas")

_results = ResultCache()
_notes = threading.local()  # warnings of the result being computed in this thread


def _warn(message: str, category: type[Warning]) -> None:
    """Record a warning of the result being computed, for `_cached` to issue with every return
    of it (a cached result warns as the first call did)."""
    pending = getattr(_notes, "pending", None)
    if pending is None:  # not under `_cached`: warn now, at the public function's caller
        import warnings

        warnings.warn(message, category, stacklevel=4)
    else:
        pending.append((message, category))


def _cached(warehouse: str | os.PathLike | None, key: tuple, load):
    """`load()`'s DataFrame for `key` on the current snapshot, kept in `_results`.

    `key` holds the normalized arguments (symbols as stored codes, dates as `dt.date`, column
    tuple, adjust, as_of); the snapshot (one os.stat) completes it. A hit costs that stat plus
    a shallow copy (pandas copy-on-write: mutating the copy copies the touched columns, never
    the kept frame; attrs are deep-copied). A miss stores the result under the snapshot its
    cursor actually read (`_current.snapshot`), so a snapshot published mid-call never files
    new rows under the old signature. Warnings `load` records (`_warn`) are stored with the
    frame and issued on every return of it, pointing at the caller of the public function."""
    import warnings

    budget = read_cache_bytes()
    found = None
    if budget > 0:
        path, signature = _snapshot(warehouse)
        found = _results.get((str(path), signature), key)
    if found is None:
        outer = getattr(_notes, "pending", None)
        _notes.pending = []
        try:
            frame = load()
            found = (frame, tuple(_notes.pending))
        finally:
            _notes.pending = outer
        snapshot = getattr(_current, "snapshot", None)
        if budget > 0 and snapshot is not None:
            size = int(frame.memory_usage(index=True, deep=False).sum())
            _results.put((str(snapshot[0]), snapshot[1]), key, found, size, budget)
    frame, notes = found
    for message, category in notes:
        warnings.warn(message, category, stacklevel=3)
    return _copy(frame)


def _copy(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy the caller may mutate: shallow under copy-on-write (pandas >= 3), else deep."""
    global _copy_deep
    if _copy_deep is None:
        _copy_deep = not (int(pd.__version__.split(".")[0]) >= 3 or pd.get_option("mode.copy_on_write") is True)
    return frame.copy(deep=_copy_deep)


_copy_deep: bool | None = None


def cache_info() -> dict[str, int]:
    """The read-result cache now: hits, misses, evictions, entries, bytes (kept column buffers)
    and budget (bytes, from QUANTDB_READ_CACHE_MB; 0: off)."""
    return {**_results.info(), "budget": read_cache_bytes()}


def clear_cache() -> None:
    """Drop every kept read result and per-snapshot table (symbol changes, adjustment gaps) and
    reset the counters (`cache_info`): the next read costs what the first read of a snapshot
    does, on the already open connection."""
    _results.clear()
    with _by_snapshot_lock:
        _by_snapshot.clear()


_by_snapshot: dict[tuple[str, tuple], object] = {}
_by_snapshot_lock = threading.Lock()


def _per_snapshot(name: str, load):
    """`load()`, computed once per published snapshot (of the calling thread's last cursor).

    For small tables that every call consults (adjustment gaps, symbol changes): they change
    only with a new snapshot, so a call pays no query for them. Values of an older snapshot of
    the same file are dropped when the new one is first read."""
    key = getattr(_current, "snapshot", None)
    if key is None:
        return load()
    value = _by_snapshot.get((name, key))
    if value is None:
        value = load()
        with _by_snapshot_lock:
            for stale in [k for k in _by_snapshot if k[0] == name and k[1][0] == key[0]]:
                del _by_snapshot[stale]
            _by_snapshot[(name, key)] = value
    return value
