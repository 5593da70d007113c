"""The reader's errors and warnings, and who holds a warehouse lock (`lock_holder`).

`WarehouseNotFoundError` is `warehouse_location`'s, re-exported by `quantdb_pipeline.read`.
"""

from __future__ import annotations

import re
from pathlib import Path


class WarehouseBusyError(RuntimeError):
    """The warehouse file is locked by a process that has it open read-write.

    `path`: the locked file; `holder`: the program and PID holding the lock, as DuckDB names
    them ("/usr/bin/python3 (PID 1234)"), or None when DuckDB did not say.
    """

    def __init__(self, message: str, path: Path | None = None, holder: str | None = None):
        super().__init__(message)
        self.path, self.holder = path, holder


#: DuckDB's lock conflict, e.g. `Could not set lock on file "/w/quantdb.duckdb": Conflicting
#: lock is held in /usr/bin/python3 (PID 1234)` (some builds add " by user NAME").
_LOCK_HOLDER = re.compile(
    r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>\S+))?"
)


def lock_holder(error: BaseException | str) -> str | None:
    """The program and PID holding the lock in a DuckDB lock-conflict error, e.g.
    "/usr/bin/python3 (PID 1234)", or None when the text does not name one."""
    found = _LOCK_HOLDER.search(str(error))
    if found is None:
        return None
    user = f", user {found['user']}" if found["user"] else ""
    return f"{found['program']} (PID {found['pid']}{user})"


class AdjustmentGapWarning(UserWarning):
    """Adjusted prices were asked for across an ex-date that no adjustment factor covers."""


class StaleFactorsWarning(AdjustmentGapWarning):
    """Adjusted HK prices reach past the day their factors were last fetched: no source tells
    HK ex-dates in between, so a dividend since then is not in them."""


class UnknownSymbolError(KeyError):
    """A symbol the warehouse has never heard of (not in `securities`)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class IndexSymbolError(UnknownSymbolError):
    """An index's code where a stock was asked for ("sh000300" is the CSI 300, not SZSE's stock
    000300): the message names the index (from the warehouse's `indices` where known) and
    points to `index_bars`. `symbol` as written, `code` (six digits), `exchange` (the index's
    side), `name` (None when the warehouse does not know the index)."""

    def __init__(self, message: str, symbol: str, code: str, exchange: str, name: str | None):
        super().__init__(message)
        self.symbol, self.code, self.exchange, self.name = symbol, code, exchange, name


class NoProfileError(LookupError):
    """The warehouse holds no profile version of a symbol on the date asked for."""
