"""A bounded, thread-safe cache of read results, per published warehouse snapshot.

The published warehouse is an immutable snapshot, replaced only by an atomic rename, so a
read's result depends on nothing but (snapshot, normalized arguments) and can be kept until
the snapshot changes. `read` keys every entry by `snapshot = (absolute path, (inode,
mtime_ns, size))` plus its own normalized arguments; the first lookup or store that sees a
new signature for a path drops every entry of that path's older snapshot.

Entries are bounded by bytes (the caller gives each value's size; `read` uses
`DataFrame.memory_usage(deep=False)`, i.e. the column buffers, not Python string objects)
and evicted least recently used first. A value larger than the budget is not kept; a
budget of 0 keeps nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class ResultCache:
    """{(snapshot, key): value} with a byte budget, LRU eviction and per-path invalidation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._signatures: dict[str, Hashable] = {}  # path -> the snapshot signature entries belong to
        self._bytes = 0
        self.hits = self.misses = self.evictions = 0

    def _follow(self, path, signature) -> None:
        """Drop `path`'s entries when its snapshot signature changed (lock held)."""
        known = self._signatures.get(path)
        if known == signature:
            return
        if known is not None:
            for stale in [k for k in self._entries if k[0] == (path, known)]:
                self._bytes -= self._entries.pop(stale)[1]
        self._signatures[path] = signature

    def get(self, snapshot: tuple[str, Hashable], key: Hashable):
        """The value stored for `key` on `snapshot`, or None (a miss)."""
        with self._lock:
            self._follow(*snapshot)
            entry = self._entries.get((snapshot, key))
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end((snapshot, key))
            self.hits += 1
            return entry[0]

    def put(self, snapshot: tuple[str, Hashable], key: Hashable, value, size: int, budget: int) -> None:
        """Keep `value` (`size` bytes) unless it alone exceeds `budget`; evict LRU entries down to it."""
        with self._lock:
            self._follow(*snapshot)
            old = self._entries.pop((snapshot, key), None)
            if old is not None:
                self._bytes -= old[1]
            if size <= budget:
                self._entries[(snapshot, key)] = (value, size)
                self._bytes += size
            while self._bytes > budget and self._entries:
                self._bytes -= self._entries.popitem(last=False)[1][1]
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._signatures.clear()
            self._bytes = 0
            self.hits = self.misses = self.evictions = 0

    def info(self) -> dict[str, int]:
        """hits, misses, evictions, entries and bytes (the sum of the kept values' sizes)."""
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "entries": len(self._entries),
                "bytes": self._bytes,
            }
