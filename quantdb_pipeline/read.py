"""Read-only queries on the warehouse, for notebooks, research code and BI glue.

    from quantdb_pipeline.read import daily_bars, trading_days, securities, connect

    bars = daily_bars(["600000", "000001.SZ"], start="2024-01-02", end="20240329")

Imports duckdb and pandas only (never Dagster, akshare or Great Expectations), so that it
starts fast. The warehouse file comes from the `warehouse=` argument, else the
`QUANTDB_WAREHOUSE` environment variable, else the user config file that `quantdb-pipeline run`
writes when it publishes, else `warehouse/quantdb.duckdb` or `warehouse/sample.duckdb` in the
working directory (`warehouse_location.find_warehouse`; the error lists every place tried): the
published snapshot, which the pipeline replaces atomically and never writes in place. Connections
are read-only and cached until a new snapshot appears; every user value is bound as a
query parameter.

Bar reads (`daily_bars`, including Hong Kong symbols, `index_bars`, `panel`) keep their
results in memory per snapshot, so a notebook never needs its own cache: a repeated call
with the same (normalized) arguments returns a copy of the kept frame (mutating it never
changes a later result) and pays no query. The kept results are dropped when a new snapshot
is published. They are bounded by `QUANTDB_READ_CACHE_MB` (MiB of column buffers, as
`DataFrame.memory_usage(deep=False)` counts them; default 256; 0 disables), least recently
used evicted first; `cache_info()` shows hits, misses and bytes, `clear_cache()` empties it.

Dates, one convention throughout: every date or time this module returns is pandas'
`datetime64[ns]` (a column of that dtype, `datetime64[ns, UTC]` for instants such as
`ingested_at`; `trading_days` a `DatetimeIndex`; `panel` is indexed by one), so that
`bars.trade_date.isin(trading_days())` matches and `panel(...).loc[day]` finds a day taken
from `trading_days()`. Days are the exchange's (Asia/Shanghai, or Hong Kong for HK data),
at midnight, without a time zone. Every date argument (`start`, `end`, `as_of`) accepts
"2024-01-02", "20240102", an ISO date-time string ("2024-01-02T00:00:00"), `datetime.date`,
`datetime.datetime`, `pd.Timestamp` or `np.datetime64` (a time of day is dropped, the date as
written counts); anything else raises a ValueError naming the argument and the value (`_date`,
the one parser). Market arguments ("CN", "HK") and `adjust` ("qfq", "hfq") are
case-insensitive; an unknown one is a ValueError listing the valid ones. Symbols are strings
(an int such as 600000 is a TypeError: 1 cannot say 000001).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast (pandas alone takes 0.3 s)
    duckdb = LazyModule("duckdb")
    np = LazyModule("numpy")
    pd = LazyModule("pandas")
from quantdb_pipeline.result_cache import ResultCache
from quantdb_pipeline.settings import read_cache_bytes
from quantdb_pipeline.settings import revisit_days as revisit_days_setting
from quantdb_pipeline.warehouse_location import WarehouseNotFoundError, find_warehouse, not_found
from quantdb_pipeline.symbols import (
    A_SHARE_PREFIXES,
    IndexSymbolError as _IndexCode,
    SymbolError,
    is_bare_code,
    is_hk_symbol,
    normalize_hk_symbol,
    normalize_index_symbol,
    normalize_symbol,
)

dataset_status = LazyModule("quantdb_pipeline.warehouse.dataset_status")  # imports duckdb and pandas

__all__ = [
    "ADJUSTMENTS",
    "AdjustmentGapWarning",
    "StaleFactorsWarning",
    "BAR_FIELDS",
    "INDEX_BAR_FIELDS",
    "IndexSymbolError",
    "MARKETS",
    "UnknownSymbolError",
    "WarehouseNotFoundError",
    "WarehouseBusyError",
    "adjustment_factors",
    "cache_info",
    "clear_cache",
    "corporate_actions",
    "FINANCIAL_METRICS",
    "NoProfileError",
    "connect",
    "financials",
    "panel",
    "profile",
    "name_history",
    "daily_bars",
    "hk_adjustment_factors",
    "hk_securities",
    "index_bars",
    "indices",
    "market_closures",
    "securities",
    "status",
    "trading_days",
]

#: Columns `daily_bars` can return; `symbol` and `trade_date` always come first.
BAR_FIELDS = ("open", "high", "low", "close", "volume", "amount", "pct_change", "turnover_rate",
              "prev_close", "reference_price", "hfq_factor", "source", "run_id", "ingested_at")
_DEFAULT_BAR_FIELDS = BAR_FIELDS[:8]
#: Fields multiplied by the adjustment ratio; volume and amount stay as traded.
_PRICE_FIELDS = ("open", "high", "low", "close", "prev_close", "reference_price")
ADJUSTMENTS = (None, "qfq", "hfq")
#: The calendars a market argument can name (`trading_days`, `market_closures`), case-insensitive.
MARKETS = ("CN", "HK")
_COMPACT_DATE = re.compile(r"^\d{8}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: An ISO date with a time ("2024-01-02T00:00:00", "2024-01-02 15:00", "...+08:00"): its date part
#: counts, as for a `datetime` object (a time of day is dropped, a time zone kept as written).
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


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
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>\S+))?")


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
                "(DBeaver: duckdb.read_only=true; the duckdb CLI: -readonly)", path, holder,
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


def _date(value, name: str) -> dt.date | None:
    """The day of a date argument `name` (None stays None): the one parser of this module.

    Accepts "YYYY-MM-DD", "YYYYMMDD", an ISO date-time string ("2024-01-02T00:00:00",
    "2024-01-02 15:30+08:00"), `datetime.date`, `datetime.datetime` and `pd.Timestamp` (their
    calendar day as written: any time of day is dropped, a time zone kept as given, never
    converted) and `np.datetime64`.
    Raises ValueError naming the argument and the value for anything else (NaT included)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # pd.Timestamp is one; pd.NaT passes isinstance too
        if value is pd.NaT:
            raise ValueError(f"{name}=NaT is not a date")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if type(value).__name__ == "datetime64":  # np.datetime64, without importing numpy for the check
        if np.isnat(value):
            raise ValueError(f"{name}={value!r} is not a date (NaT)")
        return value.astype("datetime64[D]").astype(dt.date)
    if isinstance(value, str):
        text = value.strip()
        try:
            if _COMPACT_DATE.match(text):
                return dt.datetime.strptime(text, "%Y%m%d").date()
            if _ISO_DATE.match(text):
                return dt.date.fromisoformat(text)
            if _ISO_DATETIME.match(text):
                return dt.datetime.fromisoformat(text).date()
        except ValueError:
            pass
    raise ValueError(f"{name}={value!r} is not a date: use 'YYYY-MM-DD', 'YYYYMMDD', an ISO date-time "
                     "('YYYY-MM-DDTHH:MM:SS', its date counts), a datetime.date or "
                     "datetime.datetime, a pd.Timestamp or an np.datetime64")


def _pandas_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every date and time column as datetime64[ns] (tz kept), in place: DuckDB
    hands pandas 3 microseconds; the module's convention is one dtype (see the docstring)."""
    for column, dtype in frame.dtypes.items():
        if dtype.kind != "M":
            continue
        if isinstance(dtype, np.dtype):  # naive: numpy's cast is the cheapest (0.1 ms for 1,000 rows)
            if dtype != _NS:
                frame[column] = frame[column].to_numpy().astype(_NS)
        elif dtype.unit != "ns":  # time-zone aware
            frame[column] = frame[column].dt.as_unit("ns")
    return frame


_NS = "datetime64[ns]"
_TZ_TYPE = "TIMESTAMP WITH TIME ZONE"
_pandas_conversion_lock = threading.Lock()


def _frame(result: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The executed query's rows as a DataFrame with the module's date dtypes (`_pandas_dates`).

    DuckDB's own pandas conversion of a TIMESTAMPTZ column calls `DataFrame.drop(inplace=True)`,
    which pandas 3.1 deprecates (a `Pandas4Warning` shown to the reader as if from here). That
    call is DuckDB's, so exactly that warning is ignored around the conversion of a result with
    such a column (under a lock: `catch_warnings` swaps process-wide state); every other warning
    passes, and results without one (bars, panels) convert as before."""
    if not any(str(column[1]) == _TZ_TYPE for column in result.description or ()):
        return _pandas_dates(result.df())
    import warnings

    with _pandas_conversion_lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The inplace keyword in DataFrame\.drop is deprecated")
        frame = result.df()
    return _pandas_dates(frame)


def _day_index(days, name: str = "trade_date") -> pd.DatetimeIndex:
    """Days (dates or datetime64 values) as a datetime64[ns] `DatetimeIndex`."""
    return pd.DatetimeIndex(np.asarray(days, dtype="datetime64[D]"), name=name).as_unit("ns")


def _market(market, *, optional: bool = False) -> str | None:
    """`market` as stored ("CN", "HK"), whatever its case; None where `optional` allows it.
    Raises ValueError listing the valid markets for anything else."""
    if market is None and optional:
        return None
    code = market.strip().upper() if isinstance(market, str) else None
    if code not in MARKETS:
        raise ValueError(f"market={market!r} is not a market: choose from {list(MARKETS)} (any case)")
    return code


def _names(value, what: str) -> list:
    """One name (a str) or an iterable of names as a list: "close" is ["close"], never its letters."""
    if isinstance(value, str):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ValueError(f"{what}={value!r}: give a name or a list of names") from None


def _range(start, end) -> tuple[dt.date | None, dt.date | None]:
    start, end = _date(start, "start"), _date(end, "end")
    if start and end and start > end:
        raise ValueError(f"start {start} is after end {end}")
    return start, end


def _symbol_error(error: SymbolError, warehouse: str | os.PathLike | None) -> UnknownSymbolError:
    """The read error for a symbol that is no stock code of the warehouse's form: an
    `IndexSymbolError` naming the index (from the warehouse's `indices` where it knows it) for an
    index's code, else an `UnknownSymbolError` with the parser's message."""
    if not isinstance(error, _IndexCode):
        return UnknownSymbolError(str(error))
    name = _index_name(error.code, warehouse)
    if name is None:
        return IndexSymbolError(str(error), error.symbol, error.code, error.exchange, None)
    return _index_error(error.symbol, error.code, error.exchange, name)


def _index_error(symbol: str, code: str, exchange: str, name: str) -> IndexSymbolError:
    index = name if name.lower().endswith("index") else f"{name} index"
    return IndexSymbolError(f"{symbol} is the {index} on {exchange}, not a stock: use index_bars({symbol!r})",
                            symbol, code, exchange, name)


def _index_name(code: str, warehouse: str | os.PathLike | None) -> str | None:
    """The warehouse's name of index `code`, or None (unknown, or no warehouse to ask)."""
    try:
        with _cursor(warehouse) as conn:
            found = conn.execute("SELECT name FROM indices WHERE symbol = ?", [code]).fetchall()
    except (WarehouseNotFoundError, WarehouseBusyError, duckdb.Error):
        return None
    return found[0][0] if found else None


#: A comma-joined list of bare six-digit A-share codes only (checked in one pass for a long list).
_ALL_BARE = re.compile(r"(?:{p})[0-9]{{4}}(?:,(?:{p})[0-9]{{4}})*".format(p="|".join(A_SHARE_PREFIXES)))


def _check_str(symbol, name: str = "symbols") -> None:
    """A symbol must be a str: an int has lost its leading zeros (000001 is 1), so it is a
    TypeError naming the argument rather than a guess at the code."""
    if not isinstance(symbol, str):
        hint = f": give {str(symbol).zfill(6)!r}" if isinstance(symbol, int) and not isinstance(symbol, bool) else ""
        raise TypeError(f"{name}={symbol!r} is of type {type(symbol).__name__}, not str: symbols are strings such as "
                        f"'600000' or '000001' (an int loses the leading zeros){hint}")


def _symbols(symbols: str | Iterable[str]) -> tuple[list[str], list[str]]:
    """(A-share codes, HK codes), each in the order given, duplicates dropped. A symbol that is
    not a str (an int such as 600000) is a TypeError (`_check_str`)."""
    if isinstance(symbols, str):
        items = [symbols]
    else:
        try:
            items = list(symbols)
        except TypeError:
            _check_str(symbols)
            raise
    if not items:
        raise ValueError("no symbols given")
    if len(items) > 1 and all(type(item) is str for item in items) and _ALL_BARE.fullmatch(",".join(items)):
        return list(dict.fromkeys(items)), []  # the cross-section's 5,000 bare codes: half the per-item checks' time
    a_shares, hk = [], []
    for item in items:
        _check_str(item)
        if is_bare_code(item):
            a_shares.append(item)
        elif is_hk_symbol(item):
            hk.append(normalize_hk_symbol(item))
        else:
            a_shares.append(normalize_symbol(item))
    return list(dict.fromkeys(a_shares)), list(dict.fromkeys(hk))


def _market_codes(symbols: str | Iterable[str], market: str, hint: str,
                  warehouse: str | os.PathLike | None = None) -> list[str]:
    """The `market` ("A-share" or "HK") codes of `symbols`; a symbol of the other market is an
    error that says where to look (`hint`), not an empty frame."""
    try:
        a_shares, hk = _symbols(symbols)
    except SymbolError as error:
        raise _symbol_error(error, warehouse) from error
    mine, theirs = (a_shares, hk) if market == "A-share" else (hk, a_shares)
    if theirs:
        raise ValueError(f"{', '.join(theirs)}: not {market} symbol(s); {hint}")
    return mine


def _one_a_share(symbol: str, hint: str, warehouse: str | os.PathLike | None) -> str:
    """The six-digit code of one A-share `symbol`; an HK symbol is the `_market_codes` error
    ("00700: not A-share symbol(s); `hint`"), not "unrecognised symbol"."""
    _check_str(symbol, "symbol")
    if is_hk_symbol(symbol):
        return _market_codes(symbol, "A-share", hint, warehouse)[0]  # raises
    try:
        return normalize_symbol(symbol)
    except SymbolError as error:
        raise _symbol_error(error, warehouse) from error


#: How the bar queries pick the symbols asked for: a semi-join against the list.
_IN_CODES = "symbol IN (SELECT unnest($codes::VARCHAR[]))"


def _one_code(sql: str, params: dict) -> tuple[str, dict]:
    """`sql` and `params` for a single code: `symbol = $code` instead of `_IN_CODES`.

    A constant filter goes into the table scan, which skips every row group whose min/max
    symbol excludes it; the semi-join unnests the list, builds a hash table and probes it (it
    prunes row groups only through a min/max filter made at run time). For the one-symbol read
    (the common case) that halves DuckDB's part of the call: 2.0 ms against 4.5 ms on an open
    connection, 6 M rows. Its rows need sorting by date only. Same rows, same order."""
    one = sql.replace(_IN_CODES, "symbol = $code")
    if "$codes" in one:  # a query that uses the list otherwise: keep it
        return sql, params
    one = one.replace("ORDER BY symbol, trade_date\n", "ORDER BY trade_date\n")  # one symbol: sort by date only
    return one, {**{k: v for k, v in params.items() if k != "codes"}, "code": params["codes"][0]}


_PLAIN_BARS_SQL = """
    SELECT {select} FROM {table} b
    WHERE symbol IN (SELECT unnest($codes::VARCHAR[]))
      AND trade_date >= coalesce($start::DATE, DATE '0001-01-01')
      AND trade_date <= coalesce($end::DATE, DATE '9999-12-31')
    ORDER BY symbol, trade_date
"""
#: With factors: each bar takes the factor of the latest ex-date on or before it (ASOF).
#: prev_close is the previous bar's unadjusted close (eastmoney's 涨跌额 is close-to-close),
#: so with `{previous}` it takes the factor in force on the previous bar's date (for the first
#: bar of the range, on the day before it): the factor before the matched ex-date when that
#: ex-date falls after the previous bar. Adjusted, it equals the previous adjusted close.
#: reference_price (the ex-rights price on an ex-date) takes the day's factor.
_BARS_SQL = """
    WITH b AS (
        SELECT *{previous_date} FROM {table}
        WHERE symbol IN (SELECT unnest($codes::VARCHAR[]))
          AND trade_date >= coalesce($start::DATE, DATE '0001-01-01')
          AND trade_date <= coalesce($end::DATE, DATE '9999-12-31')),
    factors AS (
        SELECT symbol, ex_date, hfq_factor{before_factor}
        FROM {factors}
        WHERE symbol IN (SELECT unnest($codes::VARCHAR[]))),
    bounds AS (
        SELECT symbol, arg_min(hfq_factor, ex_date) AS first_factor,
               coalesce(arg_max(hfq_factor, ex_date) FILTER (
                            WHERE ex_date <= coalesce($as_of::DATE, DATE '9999-12-31')),
                        arg_min(hfq_factor, ex_date)) AS base
        FROM factors GROUP BY symbol),
    f AS (
        SELECT b.symbol, b.trade_date,
               coalesce(x.hfq_factor, n.first_factor, 1.0) AS factor,{previous_factor}
               coalesce(n.base, 1.0) AS base
        FROM b ASOF LEFT JOIN factors x ON b.symbol = x.symbol AND b.trade_date >= x.ex_date
        LEFT JOIN bounds n ON b.symbol = n.symbol)
    SELECT {select} FROM b JOIN f USING (symbol, trade_date)
    ORDER BY symbol, trade_date
"""
_PREVIOUS_PARTS = {
    "previous_date": ", lag(trade_date) OVER (PARTITION BY symbol ORDER BY trade_date) AS previous_date",
    "before_factor": ", lag(hfq_factor) OVER (PARTITION BY symbol ORDER BY ex_date) AS before_factor",
    "previous_factor": """
               CASE WHEN x.ex_date > coalesce(b.previous_date, b.trade_date - 1)
                    THEN coalesce(x.before_factor, n.first_factor, 1.0)
                    ELSE coalesce(x.hfq_factor, n.first_factor, 1.0) END AS previous_factor,""",
}


def _bars_sql(previous: bool, factors: str = "adjustment_factors") -> str:
    """`_BARS_SQL`, with the previous bar's factor only when prev_close or an adjusted
    pct_change needs it (it costs a window over the rows); `factors` is the factor rows'
    table (or a joined subquery, see `_CHANGED_FACTORS_SQL`)."""
    parts = {**(_PREVIOUS_PARTS if previous else dict.fromkeys(_PREVIOUS_PARTS, "")), "factors": factors}
    sql = _BARS_SQL
    for name, part in parts.items():
        sql = sql.replace("{" + name + "}", part)
    return sql


#: The codes asked for and, for a code that changed (`symbol_changes`), both codes of the change:
#: `is_new` 0 for the old code, 1 for the new one, NULL for a code without change.
_CHANGE_MEMBERS = """
    req AS (SELECT unnest($codes::VARCHAR[]) AS code),
    ch AS (SELECT r.code, c.old_symbol, c.new_symbol, c.change_date
           FROM req r JOIN symbol_changes c ON r.code IN (c.old_symbol, c.new_symbol)),
    members AS (
        SELECT code, old_symbol AS member, 0 AS is_new, change_date FROM ch
        UNION ALL SELECT code, new_symbol, 1, change_date FROM ch
        UNION ALL SELECT code, code, NULL, NULL FROM req WHERE code NOT IN (SELECT code FROM ch))"""
#: The joined history of each code asked for, labelled with that code: the old code's bars before
#: the change date and the new code's from it on; a day only the other code has is taken from it
#: (eastmoney serves the whole history under the new code). Without a change date, the new
#: code's bars come first.
_CHANGED_BARS_SQL = f"""(
    WITH {_CHANGE_MEMBERS}
    SELECT m.code AS symbol, d.* EXCLUDE (symbol)
    FROM members m JOIN daily_bars d ON d.symbol = m.member
    QUALIFY row_number() OVER (
        PARTITION BY m.code, d.trade_date
        ORDER BY CASE WHEN m.is_new IS NULL THEN 0
                      WHEN m.change_date IS NULL THEN 1 - m.is_new
                      WHEN (m.is_new = 1) = (d.trade_date >= m.change_date) THEN 0 ELSE 1 END) = 1)"""
#: The factor rows of the joined history. When the new code's factors reach back before the
#: change (sina serving the whole history under the new code), they alone apply. Otherwise the
#: old code's rows before the change date, then the new code's from it on, scaled to continue
#: the old code's level (no corporate action is assumed on the day of the change itself).
_CHANGED_FACTORS_SQL = f"""(
    WITH {_CHANGE_MEMBERS},
    newf AS (SELECT ch.code, f.ex_date, f.hfq_factor, coalesce(ch.change_date, DATE '9999-12-31') AS d
             FROM ch JOIN adjustment_factors f ON f.symbol = ch.new_symbol),
    oldf AS (SELECT ch.code, f.ex_date, f.hfq_factor FROM ch JOIN adjustment_factors f ON f.symbol = ch.old_symbol
             WHERE f.ex_date < coalesce(ch.change_date, DATE '9999-12-31')),
    reaches AS (SELECT code FROM newf GROUP BY code HAVING min(ex_date) < min(d)),
    olast AS (SELECT code, arg_max(hfq_factor, ex_date) AS f FROM oldf GROUP BY code),
    nfirst AS (SELECT code, arg_min(hfq_factor, ex_date) AS f FROM newf WHERE ex_date >= d GROUP BY code)
    SELECT code AS symbol, ex_date, hfq_factor FROM newf WHERE code IN (SELECT code FROM reaches)
    UNION ALL
    SELECT code, ex_date, hfq_factor FROM oldf WHERE code NOT IN (SELECT code FROM reaches)
    UNION ALL
    SELECT n.code, n.ex_date, n.hfq_factor * coalesce(o.f / s.f, 1.0)
    FROM newf n LEFT JOIN olast o USING (code) LEFT JOIN nfirst s USING (code)
    WHERE n.code NOT IN (SELECT code FROM reaches) AND n.ex_date >= n.d
    UNION ALL
    SELECT f.symbol, f.ex_date, f.hfq_factor FROM adjustment_factors f
    WHERE f.symbol IN (SELECT code FROM req) AND f.symbol NOT IN (SELECT code FROM ch))"""


def _symbol_changes(conn: duckdb.DuckDBPyConnection, codes: list[str]) -> pd.DataFrame:
    """The `symbol_changes` rows naming any of `codes` (empty on a warehouse from before they
    were recorded). The table is read once per snapshot (`_per_snapshot`): most reads name no
    changed code and then pay nothing for it."""
    def load() -> tuple[pd.DataFrame, frozenset[str]]:
        try:
            changes = _frame(conn.execute("SELECT old_symbol, new_symbol, change_date, matched_by FROM symbol_changes "
                                   "ORDER BY old_symbol, new_symbol"))
        except duckdb.CatalogException:
            changes = pd.DataFrame(columns=["old_symbol", "new_symbol", "change_date", "matched_by"])
        return changes, frozenset(changes["old_symbol"]) | frozenset(changes["new_symbol"]), changes.iloc[:0]

    changes, named, none = _per_snapshot("symbol_changes", load)
    if named.isdisjoint(codes):
        return none  # shared: callers only read it
    return changes[changes["old_symbol"].isin(codes) | changes["new_symbol"].isin(codes)].reset_index(drop=True)


#: HK bars with sina's HK factors (`hk_adjustment_factors`): each bar takes the row of the latest
#: ex-date on or before it; before a symbol's first row, that row's values. HK prev_close is the
#: previous bar's unadjusted close (eastmoney's 涨跌额 ignores ex-dates), so it takes the row in
#: force on the previous bar's date: adjusted, it equals the previous adjusted close.
_HK_BARS_SQL = """
    WITH b AS (
        SELECT * FROM (
            SELECT *, lag(trade_date) OVER (PARTITION BY symbol ORDER BY trade_date) AS previous_date
            FROM hk_daily_bars
            WHERE symbol IN (SELECT unnest($codes::VARCHAR[]))
              AND trade_date <= coalesce($end::DATE, DATE '9999-12-31'))
        WHERE trade_date >= coalesce($start::DATE, DATE '0001-01-01')),
    factors AS (
        SELECT symbol, ex_date, hfq_factor, hfq_cash, qfq_factor FROM hk_adjustment_factors
        WHERE symbol IN (SELECT unnest($codes::VARCHAR[]))),
    bounds AS (
        SELECT symbol, arg_min(hfq_factor, ex_date) AS first_factor, arg_min(hfq_cash, ex_date) AS first_cash,
               arg_min(qfq_factor, ex_date) AS first_qfq,
               coalesce(arg_max(qfq_factor, ex_date) FILTER (
                            WHERE ex_date <= coalesce($as_of::DATE, DATE '9999-12-31')),
                        arg_min(qfq_factor, ex_date)) AS base
        FROM factors GROUP BY symbol),
    today AS (
        SELECT b.symbol, b.trade_date, x.hfq_factor, x.hfq_cash, x.qfq_factor
        FROM b ASOF LEFT JOIN factors x ON b.symbol = x.symbol AND b.trade_date >= x.ex_date),
    yesterday AS (
        SELECT b.symbol, b.trade_date, y.hfq_factor, y.hfq_cash, y.qfq_factor
        FROM b ASOF LEFT JOIN factors y
             ON b.symbol = y.symbol AND coalesce(b.previous_date, b.trade_date) >= y.ex_date),
    f AS (
        SELECT symbol, trade_date,
               coalesce(t.hfq_factor, n.first_factor, 1.0) AS factor,
               coalesce(t.hfq_cash, n.first_cash, 0.0) AS cash,
               coalesce(t.qfq_factor, n.first_qfq, 1.0) AS qfq,
               coalesce(y.hfq_factor, n.first_factor, 1.0) AS previous_factor,
               coalesce(y.hfq_cash, n.first_cash, 0.0) AS previous_cash,
               coalesce(y.qfq_factor, n.first_qfq, 1.0) AS previous_qfq,
               coalesce(n.base, 1.0) AS base
        FROM today t JOIN yesterday y USING (symbol, trade_date) LEFT JOIN bounds n USING (symbol))
    SELECT {select} FROM b JOIN f USING (symbol, trade_date)
    ORDER BY symbol, trade_date
"""
#: How each HK price is adjusted: sina's hfq is affine, its qfq a ratio (see `hk_adjustment_factors`).
_HK_PRICE_SQL = {None: "b.{f}", "hfq": "b.{f} * f.factor + f.cash", "qfq": "b.{f} * f.qfq / f.base"}
_HK_PREVIOUS_SQL = {None: "b.prev_close", "hfq": "b.prev_close * f.previous_factor + f.previous_cash",
                    "qfq": "b.prev_close * f.previous_qfq / f.base"}


def _adjusted_pct(close: str, previous: str) -> str:
    """pct_change of the adjusted series: upstream's is close-to-close in unadjusted prices, so on
    an ex-date it shows the dividend as a loss. Rounded to 0.01 like upstream's; upstream's where
    there is no previous close."""
    return f"coalesce(round(({close}) / nullif({previous}, 0) * 100 - 100, 2), b.pct_change)"


def _previous(ratio: str) -> str:
    """The ratio for prev_close: the factor in force on the previous bar instead of the day's."""
    return ratio.replace("f.factor", "f.previous_factor")


def _adjustment(adjust: str | None, as_of) -> tuple[str | None, str, dt.date | None]:
    """(`adjust` as spelled in `ADJUSTMENTS`, the SQL ratio prices are multiplied by, the qfq base
    date), after checking both. `adjust` is case-insensitive ("QFQ" is "qfq"), as markets are."""
    if isinstance(adjust, str):
        adjust = adjust.strip().lower()
    if adjust not in ADJUSTMENTS:
        raise ValueError(f"adjust={adjust!r}: use None (unadjusted), 'qfq' (forward) or 'hfq' (backward), any case")
    as_of = _date(as_of, "as_of")
    if as_of is not None and adjust != "qfq":
        raise ValueError("as_of only applies to adjust='qfq' (the date whose prices qfq keeps as traded)")
    return adjust, {None: "1.0", "hfq": "f.factor", "qfq": "f.factor / f.base"}[adjust], as_of


def daily_bars(
    symbols: str | Iterable[str],
    start=None,
    end=None,
    columns: Iterable[str] | None = None,
    *,
    adjust: str | None = None,
    as_of=None,
    warehouse: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Daily bars for `symbols` between `start` and `end` (inclusive), adjusted on read.

    Symbols may be written "600000", "sh600000" or "600000.SH"; Hong Kong symbols "00700",
    "0700.HK" or "hk00700"; dates as "2024-01-02", "20240102" or date objects. Returns one
    row per symbol and trading day with `symbol`, `trade_date` and `columns` (default: open,
    high, low, close, volume, amount, pct_change, turnover_rate), sorted by symbol then
    trade_date (A-shares first when both markets are asked for). Volume is in shares, amount
    in the trading currency, percentages in percent. A request with HK symbols also gets a
    `currency` column (CNY for A-shares, HKD for most HK lines). A suspended day has no row.

    `adjust` adjusts open, high, low, close, prev_close (the previous bar's close, adjusted
    with the previous bar's factor) and reference_price (the exchange's reference previous
    close where the quote list gave one, else NaN; NaN for HK), and recomputes pct_change
    from the adjusted close and prev_close (so an ex-date shows the day's return, not the
    dividend); volume and amount stay as traded, as in akshare:

    - None: unadjusted, as traded;
    - "hfq": backward-adjusted, `price x hfq_factor`; history never changes;
    - "qfq": forward-adjusted, `price x hfq_factor / base`, where `base` is the factor in
      force on `as_of` (default: the latest factor in the warehouse). Prices on and after
      the last ex-date before `as_of` equal the traded ones; every new dividend changes
      all earlier qfq prices, which is why they are computed here and never stored.

    Hong Kong factors come without any ex-date signal between fetches (every 30 days): when
    the requested HK bars reach past the day a symbol's factors were last fetched, a
    `StaleFactorsWarning` (an `AdjustmentGapWarning`) says so. Hong Kong symbols follow
    sina's HK factors exactly as akshare's `stock_hk_daily` applies them: "hfq" is affine, `price x hfq_factor + hfq_cash` (HKD; cash dividends are added back),
    and "qfq" is `price x qfq_factor / base` with `base` the qfq factor in force on `as_of`
    (1 by default). The `hfq_factor` column of an HK row is its share factor (without the cash).
    An HK symbol with no stored factor rows is adjusted by nothing (adjusted = traded).

    Prices are not rounded (upstream rounds adjusted prices to the fen).

    Adjusted prices are never silently unadjusted: where the warehouse knows an ex-date that
    no factor covers (`adjustment_gaps`: upstream's factor list lacks it and none could be
    derived), an `AdjustmentGapWarning` names each symbol and ex-date, the frame gets a boolean
    `adjustment_gap` column marking the rows whose adjusted prices miss that event (qfq: rows
    before it; hfq: rows from it on), and `frame.attrs["adjustment_gaps"]` lists the gaps.
    Factors the pipeline derived while upstream had not published them are exact to the fen
    of the exchange's reference price; `adjustment_factors()` shows them (`derived_from`).

    A code that changed (`symbol_changes`, e.g. a BSE 83xxxx code and its 920xxx successor of
    October 2025) returns the joined history of both codes under the code asked for (its
    `symbol` column shows that code): the old code's bars before the change date, the new
    code's from it on, and a day only one of them has from that one. Adjusted prices use the
    new code's factors when they reach back before the change, else the old code's before it
    and the new code's (scaled to continue them) after. `frame.attrs["symbol_changes"]` lists
    the changes applied. Adjustment-gap marks are those of the code asked for.

    A repeated call with the same arguments on the same published snapshot returns a copy of
    the kept result without querying (see the module docstring: `QUANTDB_READ_CACHE_MB`).
    """
    try:
        codes, hk_codes = _symbols(symbols)
    except SymbolError as error:
        raise _symbol_error(error, warehouse) from error
    start, end = _range(start, end)
    adjust, ratio, as_of = _adjustment(adjust, as_of)
    fields = list(_DEFAULT_BAR_FIELDS) if columns is None else _names(columns, "columns")
    unknown = [f for f in fields if f not in BAR_FIELDS and f not in ("symbol", "trade_date")]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; choose from {list(BAR_FIELDS)}")
    fields = [f for f in fields if f not in ("symbol", "trade_date")]

    def select(price: str, previous: str | None = None, hk: bool = False) -> str:  # whitelisted identifiers only
        return ", ".join(["b.symbol", "b.trade_date", *(
            "NULL::DOUBLE AS reference_price" if f == "reference_price" and hk else
            f"{_adjusted_pct(price.format(f='close'), previous)} AS pct_change" if f == "pct_change" and adjust else
            f"{previous} AS {f}" if f == "prev_close" and previous else
            f"{price.format(f=f)} AS {f}" if f in _PRICE_FIELDS else
            "f.factor AS hfq_factor" if f == "hfq_factor" else f"b.{f}" for f in fields)])

    def load() -> pd.DataFrame:
        frames = []
        with _cursor(warehouse) as conn:
            for table, market_codes, reference, currency in (
                    ("daily_bars", codes, "securities", "'CNY'"), ("hk_daily_bars", hk_codes, "hk_securities", None)):
                if not market_codes:
                    continue
                extra = (f", {currency} AS currency" if currency else ", b.currency") if hk_codes else ""
                plain = adjust is None and "hfq_factor" not in fields  # unadjusted: no factor join
                if table == "hk_daily_bars":
                    sql = _PLAIN_BARS_SQL if plain else _HK_BARS_SQL
                    columns_sql = select(_HK_PRICE_SQL[adjust], _HK_PREVIOUS_SQL[adjust], hk=True)
                else:
                    previous = "prev_close" in fields or (adjust is not None and "pct_change" in fields)
                    sql = _PLAIN_BARS_SQL if plain else _bars_sql(previous)
                    columns_sql = select(f"b.{{f}} * {ratio}", f"b.prev_close * {_previous(ratio)}" if previous else None)
                params = {"codes": market_codes, "start": start, "end": end, **({} if plain else {"as_of": as_of})}
                changes = _symbol_changes(conn, market_codes) if table == "daily_bars" else None
                source_table = table
                if changes is not None and len(changes):
                    source_table = _CHANGED_BARS_SQL
                    if not plain:
                        sql = _bars_sql(previous, _CHANGED_FACTORS_SQL)
                if len(market_codes) == 1 and source_table == table:
                    sql, params = _one_code(sql, params)
                bars = _frame(conn.execute(sql.format(table=source_table, select=columns_sql + extra), params))
                if changes is not None and len(changes):
                    bars.attrs["symbol_changes"] = changes
                _check_known(conn, reference, market_codes, bars)
                if adjust is not None and table == "daily_bars":
                    bars = _mark_gaps(conn, bars, market_codes, adjust, as_of)
                elif adjust is not None:
                    _warn_unchecked_hk_factors(conn, bars, adjust)
                frames.append(bars)
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    key = ("daily_bars", tuple(codes), tuple(hk_codes), start, end, tuple(fields), adjust, as_of)
    return _cached(warehouse, key, load)


_current = threading.local()  # the snapshot the calling thread's last cursor reads
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


def _known_gaps(conn: duckdb.DuckDBPyConnection, codes: list[str]) -> pd.DataFrame:
    """The stored adjustment gaps of `codes` (empty on a warehouse from before they were recorded).

    The table is small and changes only with a new snapshot: read once per snapshot, so an
    adjusted read pays no extra query for it."""
    def load() -> tuple[pd.DataFrame, frozenset[str]]:
        try:
            gaps = _frame(conn.execute("SELECT symbol, ex_date, evidence, reason FROM adjustment_gaps "
                                "ORDER BY symbol, ex_date"))
        except duckdb.CatalogException:
            gaps = pd.DataFrame(columns=["symbol", "ex_date", "evidence", "reason"])
        return gaps, frozenset(gaps["symbol"]), gaps.iloc[:0]

    gaps, named, none = _per_snapshot("adjustment_gaps", load)
    if named.isdisjoint(codes):
        return none
    return gaps[gaps["symbol"].isin(codes)].reset_index(drop=True)


def _gap_rows(gaps: pd.DataFrame, symbols: np.ndarray, days: np.ndarray, adjust: str,
              as_of: dt.date | None) -> np.ndarray:
    """Which (symbol, day) rows' adjusted prices miss a gap's event: qfq scales the rows before
    an ex-date up to `as_of`, and the rows from an ex-date on after it (as hfq always does)."""
    affected = np.zeros(len(days), dtype=bool)
    for symbol, ex_date in zip(gaps["symbol"], pd.to_datetime(gaps["ex_date"]).to_numpy(dtype="datetime64[D]")):
        mine = symbols == symbol
        before = adjust == "qfq" and (as_of is None or ex_date <= np.datetime64(as_of, "D"))
        affected |= mine & ((days < ex_date) if before else (days >= ex_date))
    return affected


def _warn_gaps(gaps: pd.DataFrame, adjust: str, rows: int) -> None:
    listed = ", ".join(f"{s} {d:%Y-%m-%d}" for s, d in zip(gaps["symbol"], pd.to_datetime(gaps["ex_date"])))
    _warn(f"adjust={adjust!r}: no adjustment factor covers the ex-date(s) {listed}; {rows} row(s) are not "
          f"adjusted for them (column adjustment_gap). Reason: {gaps['reason'].iloc[0]}", AdjustmentGapWarning)


def _warn_unchecked_hk_factors(conn: duckdb.DuckDBPyConnection, bars: pd.DataFrame, adjust: str) -> None:
    """Warn when HK bars reach past the source day their factors were last fetched on."""
    if bars.empty:
        return
    last_bar = bars.groupby("symbol")["trade_date"].max().dt.date.to_dict()
    checked = dict(conn.execute(
        "SELECT symbol, as_of FROM ingest_state WHERE dataset = 'hk_adjustment_factors' "
        "AND symbol IN (SELECT unnest(?::VARCHAR[]))", [list(last_bar)]).fetchall())
    behind = {s: checked.get(s) for s, day in last_bar.items() if checked.get(s) is None or day > checked[s]}
    if not behind:
        return
    listed = ", ".join(f"{s} (factors fetched {d or 'never'}, bars to {last_bar[s]})" for s, d in behind.items())
    _warn(f"adjust={adjust!r}: HK factors can be behind the bars: {listed}. No source tells HK ex-dates "
                  "between fetches (they are refetched every 30 days): a dividend since then is not in these prices; "
                  "`quantdb-pipeline run --markets hk --refresh-factors` refetches them.",
                  StaleFactorsWarning)


def _mark_gaps(conn: duckdb.DuckDBPyConnection, bars: pd.DataFrame, codes: list[str], adjust: str,
               as_of: dt.date | None) -> pd.DataFrame:
    """Warn about and mark the rows whose adjusted prices miss a known, uncovered ex-date."""
    gaps = _known_gaps(conn, codes)
    if gaps.empty:
        return bars
    affected = _gap_rows(gaps, bars["symbol"].to_numpy(dtype=object),
                         bars["trade_date"].to_numpy(dtype="datetime64[D]"), adjust, as_of)
    if not affected.any():
        return bars
    _warn_gaps(gaps, adjust, int(affected.sum()))
    bars = bars.assign(adjustment_gap=affected)
    bars.attrs["adjustment_gaps"] = gaps
    return bars


def _check_known(conn: duckdb.DuckDBPyConnection, reference: str, codes: list[str], rows: pd.DataFrame) -> None:
    """Codes without rows are a suspension or a range outside the data, unless unknown: that raises."""
    if len(codes) == 1 and len(rows):  # one code asked, rows returned: it is known
        return
    present = set(rows["symbol"].unique().tolist())
    if len(present) == len(codes):
        return
    absent = [s for s in codes if s not in present]
    if not absent:
        return
    known = {s for (s,) in conn.execute(
        f"SELECT symbol FROM {reference} WHERE symbol IN (SELECT unnest(?::VARCHAR[]))", [absent]).fetchall()}
    unknown = [s for s in absent if s not in known]
    if unknown and reference == "securities":  # a bare index code ("000300"): say which index it is
        indices = conn.execute("SELECT symbol, exchange, name FROM indices WHERE symbol IN (SELECT unnest(?::VARCHAR[])) "
                               "ORDER BY symbol", [unknown]).fetchall()
        if indices:
            code, exchange, name = indices[0]
            raise _index_error(code, code, exchange, name)
    if unknown:
        raise UnknownSymbolError(f"unknown symbol(s) {', '.join(unknown)}: not in the {reference} table of "
                                 f"{_current_file()}{_changed_hint(conn, unknown)}")


#: Columns `index_bars` can return; `symbol` and `trade_date` always come first.
INDEX_BAR_FIELDS = ("open", "high", "low", "close", "volume", "amount")


def _current_file() -> str:
    """The warehouse file the calling thread's last cursor reads (set by `_cursor`), for error
    messages: a reader pointed at another file than the researcher thinks can tell."""
    snapshot = getattr(_current, "snapshot", None)
    return str(snapshot[0]) if snapshot else "the warehouse"


def _changed_hint(conn: duckdb.DuckDBPyConnection, codes: list[str]) -> str:
    """"; 830001 is now 920001 (since 2025-10-09): use '920001'" for an unknown code the
    warehouse's `symbol_changes` records as an old code, else "". Only recorded changes count:
    the BSE's 83/87/43xxxx -> 920xxx mapping is no arithmetic rule. (An old code the BSE list
    named is recorded without a `securities` row: `daily_bars` reads its joined history, the
    other reads come here.)"""
    try:
        rows = conn.execute("SELECT old_symbol, new_symbol, change_date FROM symbol_changes "
                            "WHERE old_symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY old_symbol",
                            [codes]).fetchall()
    except duckdb.CatalogException:  # a warehouse from before the table
        return ""
    return "".join(f"; {old} is now {new}" + (f" (since {day})" if day else "") + f": use {new!r}"
                   for old, new, day in rows)


def index_bars(symbols: str | Iterable[str] | None = None, start=None, end=None,
               columns: Iterable[str] | None = None, *,
               warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """Daily index levels (symbol, trade_date and `columns`: default open, high, low, close,
    volume, amount; one name as a str is one column, as in `daily_bars`).

    Indices are written "000300", "sh000300" or "000300.SH" (399xxx are SZSE's); default: every
    stored index. Volume is the constituents' shares, amount their turnover in CNY.
    """
    if symbols is None:
        items = None
    elif isinstance(symbols, str):
        items = [symbols]
    else:
        if not isinstance(symbols, Iterable):
            _check_str(symbols)
        items = list(symbols)
    for item in items or ():
        _check_str(item)
    try:
        codes = None if items is None else list(dict.fromkeys(normalize_index_symbol(s) for s in items))
    except SymbolError as error:
        raise _symbol_error(error, warehouse) from error
    start, end = _range(start, end)
    fields = list(INDEX_BAR_FIELDS) if columns is None else _names(columns, "columns")
    unknown = [f for f in fields if f not in INDEX_BAR_FIELDS and f not in ("symbol", "trade_date")]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; choose from {list(INDEX_BAR_FIELDS)}")
    fields = list(dict.fromkeys(f for f in fields if f not in ("symbol", "trade_date")))
    return _cached(warehouse, ("index_bars", None if codes is None else tuple(codes), start, end, tuple(fields)),
                   lambda: _index_bars(codes, start, end, fields, warehouse))


def _index_bars(codes: list[str] | None, start: dt.date | None, end: dt.date | None, fields: list[str],
                warehouse: str | os.PathLike | None) -> pd.DataFrame:
    with _cursor(warehouse) as conn:
        bars = _frame(conn.execute(
            f"""
            SELECT {", ".join(["symbol", "trade_date", *fields])} FROM index_daily_bars
            WHERE ($codes::VARCHAR[] IS NULL OR symbol IN (SELECT unnest($codes::VARCHAR[])))
              AND trade_date >= coalesce($start::DATE, DATE '0001-01-01')
              AND trade_date <= coalesce($end::DATE, DATE '9999-12-31')
            ORDER BY symbol, trade_date
            """,
            {"codes": codes, "start": start, "end": end},
        ))
        if codes:
            _check_known(conn, "indices", codes, bars)
        return bars


def indices(*, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """The indices the warehouse holds: symbol, exchange (SH or SZ), English name."""
    with _cursor(warehouse) as conn:
        return _frame(conn.execute("SELECT symbol, exchange, name FROM indices ORDER BY symbol"))


def hk_securities(*, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """The HK securities the warehouse knows: symbol (five digits), name, currency."""
    with _cursor(warehouse) as conn:
        return _frame(conn.execute("SELECT symbol, name, currency FROM hk_securities ORDER BY symbol"))


#: Fields `panel` can pivot.
PANEL_FIELDS = ("open", "high", "low", "close", "prev_close", "volume", "amount", "pct_change", "turnover_rate")
PANEL_OUTPUTS = ("pandas", "arrow", "polars")


def panel(field: str = "close", symbols: str | Iterable[str] | None = None, start=None, end=None,
          adjust: str | None = None, *, as_of=None, output: str = "pandas",
          warehouse: str | os.PathLike | None = None):
    """One field as a date x symbol table: rows are trading dates, columns symbols (A-shares).

    `symbols=None` means every A-share with bars in the range, a code change's companies once
    (under the new code, when it has bars in the range). A symbol without a bar on a
    date (suspended, not yet listed) has a missing value there. `adjust`/`as_of` as in
    `daily_bars` (prices only). `output`: "pandas" (a DataFrame indexed by trade_date),
    "arrow" (a pyarrow Table with a trade_date column) or "polars" (needs polars installed).
    """
    if field not in PANEL_FIELDS:
        raise ValueError(f"unknown field {field!r}; choose from {list(PANEL_FIELDS)}")
    if output not in PANEL_OUTPUTS:
        raise ValueError(f"output={output!r}: choose from {list(PANEL_OUTPUTS)}")
    first, last = _range(start, end)
    if symbols is None:
        codes = None
    else:
        try:
            codes, hk_codes = _symbols(symbols)
        except SymbolError as error:
            raise _symbol_error(error, warehouse) from error
        if hk_codes:
            raise ValueError(f"panel covers A-shares only; got Hong Kong symbols {', '.join(hk_codes)}")
        codes = sorted(codes)
    adjust, adjust_sql, as_of = _adjustment(adjust, as_of)
    key = ("panel", field, None if codes is None else tuple(codes), first, last, adjust, as_of)
    wide = _cached(warehouse, key, lambda: _panel(field, codes, first, last, adjust, adjust_sql, as_of, warehouse))
    if output == "pandas":
        return wide
    if output == "arrow":
        import pyarrow as pa

        return pa.Table.from_pandas(wide.reset_index(), preserve_index=False)
    try:
        import polars
    except ImportError as error:
        raise ImportError("output='polars' needs polars: pip install polars") from error
    return polars.from_pandas(wide.reset_index())


def _panel(field: str, codes: list[str] | None, first: dt.date | None, last: dt.date | None, adjust: str | None,
           adjust_sql: str, as_of: dt.date | None, warehouse: str | os.PathLike | None) -> pd.DataFrame:
    """`panel`'s date x symbol DataFrame; `codes` None: every A-share with bars in the range."""
    listed = codes is not None
    with _cursor(warehouse) as conn:
        if codes is None:
            # a code change's old code is left out when its new code has bars in the range (eastmoney
            # serves the whole history under the new code): one column per company, not two
            codes = [c for (c,) in conn.execute(
                """
                WITH present AS (SELECT DISTINCT symbol FROM daily_bars
                                 WHERE trade_date >= coalesce(?::DATE, DATE '0001-01-01')
                                   AND trade_date <= coalesce(?::DATE, DATE '9999-12-31'))
                SELECT symbol FROM present p WHERE NOT EXISTS (
                    SELECT 1 FROM symbol_changes c JOIN present n ON n.symbol = c.new_symbol
                    WHERE c.old_symbol = p.symbol)
                ORDER BY symbol""", [first, last]).fetchall()]
            if not codes:
                raise ValueError(f"no bars between {first} and {last}")
        value = (f"b.{field} * {_previous(adjust_sql)}" if field == "prev_close" else
                 _adjusted_pct(f"b.close * {adjust_sql}", f"b.prev_close * {_previous(adjust_sql)}")
                 if field == "pct_change" and adjust is not None else
                 f"b.{field} * {adjust_sql}" if field in _PRICE_FIELDS else f"b.{field}")
        bars_sql = (_PLAIN_BARS_SQL if adjust is None else _bars_sql(field in ("prev_close", "pct_change"))).replace(
            "ORDER BY symbol, trade_date", "")
        # the column of each symbol comes from DuckDB, so no symbol string reaches Python per row
        long = conn.execute(
            f"""
            WITH wanted AS (SELECT unnest($codes::VARCHAR[]) AS symbol,
                                   generate_subscripts($codes::VARCHAR[], 1) - 1 AS col),
                 bars AS ({bars_sql.format(table="daily_bars", select=f"b.symbol, b.trade_date, {value} AS value")})
            SELECT bars.trade_date, wanted.col, bars.value FROM bars JOIN wanted USING (symbol)
            """, {"codes": codes, "start": first, "end": last,
                  **({"as_of": as_of} if adjust is not None else {})}).fetchnumpy()
        if listed:
            present = np.unique(long["col"])
            if len(present) < len(codes):
                _check_known(conn, "securities", codes, pd.DataFrame({"symbol": [codes[i] for i in present]}))
        gaps = _known_gaps(conn, codes) if adjust is not None and field in _PRICE_FIELDS else None
    if gaps is not None and len(gaps):
        affected = _gap_rows(gaps, np.asarray(codes, dtype=object)[long["col"]],
                             np.asarray(long["trade_date"], dtype="datetime64[D]"), adjust, as_of)
        if affected.any():
            _warn_gaps(gaps, adjust, int(affected.sum()))
    days, row = np.unique(long["trade_date"], return_inverse=True)
    matrix = np.full((len(days), len(codes)), np.nan)
    matrix[row, long["col"]] = np.asarray(long["value"], dtype="float64")
    used = np.zeros(len(codes), dtype=bool)
    used[long["col"]] = True  # a symbol without a bar in the range gets no column, as in a pivot
    wide = pd.DataFrame(matrix[:, used], index=_day_index(days),
                        columns=[c for c, u in zip(codes, used) if u])
    return wide


def adjustment_factors(symbols: str | Iterable[str], *,
                       warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """The stored hfq factors (symbol, ex_date, hfq_factor, derived_from): each applies from its
    ex_date on. `derived_from` is None for upstream's (sina's) factors; for a factor upstream
    had not published yet it says what the step was derived from ("quote_list_reference" or
    "corporate_actions"; "base" for the 1.0 a derived series starts from)."""
    codes = _market_codes(symbols, "A-share", "HK factors are in hk_adjustment_factors()", warehouse)
    with _cursor(warehouse) as conn:
        return _frame(conn.execute(
            "SELECT symbol, ex_date, hfq_factor, derived_from FROM adjustment_factors "
            "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY symbol, ex_date", [codes]))


CORPORATE_ACTION_FIELDS = ("symbol", "report_period", "ex_date", "record_date", "pay_date", "cash_per_share",
                           "bonus_shares_per_share", "transfer_shares_per_share", "rights_shares_per_share",
                           "rights_price", "plan_progress", "plan_announced_on", "announced_on")


def corporate_actions(symbols: str | Iterable[str] | None = None, start=None, end=None, *,
                      implemented_only: bool = True,
                      warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """Distributions with ex-dates between `start` and `end` (inclusive), for total-return work.

    One row per plan: symbol, report_period, ex_date, record_date, pay_date (None: the source
    has none), cash_per_share (pre-tax, CNY), bonus_shares_per_share, transfer_shares_per_share,
    rights_shares_per_share and rights_price (None: not in the source), plan_progress,
    plan_announced_on, announced_on; sorted by ex_date then symbol. Default: every symbol.
    `implemented_only=False` adds plans without an ex-date yet (then `start`/`end` filter
    on plan_announced_on). Source: eastmoney's dividend table (`stock_fhps_em`).
    """
    codes = None if symbols is None else _market_codes(
        symbols, "A-share", "corporate actions cover A-shares (HK dividends are in hk_adjustment_factors)",
        warehouse)
    start, end = _range(start, end)
    with _cursor(warehouse) as conn:
        return _frame(conn.execute(
            f"""
            SELECT {", ".join(CORPORATE_ACTION_FIELDS)} FROM corporate_actions
            WHERE ($codes::VARCHAR[] IS NULL OR symbol IN (SELECT unnest($codes::VARCHAR[])))
              AND (ex_date IS NOT NULL OR NOT $implemented)
              AND coalesce(ex_date, plan_announced_on) >= coalesce($start::DATE, DATE '0001-01-01')
              AND coalesce(ex_date, plan_announced_on) <= coalesce($end::DATE, DATE '9999-12-31')
            ORDER BY coalesce(ex_date, plan_announced_on), symbol
            """, {"codes": codes, "implemented": implemented_only, "start": start, "end": end}))


def hk_adjustment_factors(symbols: str | Iterable[str], *,
                          warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """sina's stored HK factors (symbol, ex_date, hfq_factor, hfq_cash, qfq_factor), each row in
    force from its ex_date on: hfq price = price x hfq_factor + hfq_cash (HKD), qfq price =
    price x qfq_factor. A symbol without rows has had no corporate action upstream knows of."""
    codes = _market_codes(symbols, "HK", "A-share factors are in adjustment_factors()", warehouse)
    with _cursor(warehouse) as conn:
        return _frame(conn.execute(
            "SELECT symbol, ex_date, hfq_factor, hfq_cash, qfq_factor FROM hk_adjustment_factors "
            "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY symbol, ex_date", [codes]))


def trading_days(start=None, end=None, *, market: str = "CN",
                 warehouse: str | os.PathLike | None = None) -> pd.DatetimeIndex:
    """Trading days of `market` ("CN" or "HK", any case) between `start` and `end` (inclusive),
    ascending, as a datetime64[ns] `DatetimeIndex` named trade_date: the dtype of every
    `trade_date` this module returns, so `bars.trade_date.isin(trading_days())` and
    `panel(...).loc[day]` work with its days. `list(days.date)` gives `datetime.date`s.

    The library calendar less the closures the pipeline recorded (`market_closures()`): a
    day the exchange closed unannounced (a typhoon) is not a trading day. An unknown market
    is a ValueError listing the valid ones.
    """
    _range(start, end)  # a bad range or market is reported before the file is opened
    market = _market(market)
    with _cursor(warehouse) as conn:
        return _day_index(trading_days_on(conn, start, end, market))


def trading_days_on(conn: duckdb.DuckDBPyConnection, start=None, end=None, market: str = "CN") -> list[dt.date]:
    """`trading_days` on an open connection, for the pipeline's own planning (its planning
    connection, see `warehouse.planning`), which works in `datetime.date`: the trading days of
    `market` in [start, end], ascending, as a list of dates. Notebooks use `trading_days`."""
    start, end = _range(start, end)
    market = _market(market)
    return [d for (d,) in conn.execute(
        """
        SELECT trade_date FROM trading_sessions
        WHERE market = ? AND trade_date >= coalesce(?::DATE, DATE '0001-01-01')
          AND trade_date <= coalesce(?::DATE, DATE '9999-12-31')
        ORDER BY trade_date
        """,
        [market, start, end],
    ).fetchall()]


def market_closures(market: str | None = None, *, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """Days the calendar lists as sessions on which `market` (default: every market) did not
    trade, as the pipeline found them: market, day, detected_at (UTC), evidence (what the
    answers and the probe request showed), run_id. `trading_days` leaves these days out; a
    later answer with a bar on such a day removes its row. `market`: "CN" or "HK", any case.
    """
    market = _market(market, optional=True)
    with _cursor(warehouse) as conn:
        return _frame(conn.execute(
            "SELECT market, day, detected_at, evidence, run_id FROM market_closures "
            "WHERE ?::VARCHAR IS NULL OR market = ? ORDER BY market, day", [market, market]))


def securities(as_of=None, include_delisted: bool = False, *,
               warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """The A-share universe: symbol, exchange, board, name, is_st, industry, list and delist dates,
    listing status and the code's successor.

    `status` is "listed" (fetched every night), "dropped" (no longer in its exchange's list:
    kept and readable, not fetched) or "switched" (the old code of a code change: `new_symbol`
    names the new code and `change_date` its first day; `daily_bars` of either code returns
    the joined history); `last_listed` is the last day a list showed the code.

    Without `as_of`: every security not delisted, with its current name (both codes of a code
    change, told apart by `status`). With `as_of`: the securities listed on that day, each
    company once (a code change's old code before `change_date`, its new code from it on),
    with the name, ST status and industry of the profile version valid then. Before the first
    observed profile version, name and is_st come from an exchange's dated name-change record
    (SZSE) covering the day, else they are NULL (unknown; never today's name); `name_source`
    says which: "profile", "exchange_record" or NULL. `profile_known` is False where the
    warehouse holds no profile version that old (industry is then NULL).
    `include_delisted=True` keeps delisted names too.
    """
    day = _date(as_of, "as_of")
    with _cursor(warehouse) as conn:
        return _frame(conn.execute(
            """
            SELECT s.symbol, s.exchange, s.board,
                   CASE WHEN $day::DATE IS NULL THEN coalesce(p.name, s.name) ELSE coalesce(p.name, h.name) END AS name,
                   CASE WHEN $day::DATE IS NULL THEN coalesce(p.is_st, s.is_st) ELSE coalesce(p.is_st, h.is_st) END
                       AS is_st,
                   p.industry, s.list_date, s.delist_date,
                   p.symbol IS NOT NULL AS profile_known,
                   CASE WHEN p.symbol IS NOT NULL THEN 'profile' WHEN h.symbol IS NOT NULL THEN 'exchange_record'
                        WHEN $day::DATE IS NULL THEN 'securities' END AS name_source,
                   s.status, s.last_listed, c.new_symbol, c.change_date
            FROM securities s
            LEFT JOIN symbol_changes c ON c.old_symbol = s.symbol
            LEFT JOIN security_profiles p ON p.symbol = s.symbol
                 AND (CASE WHEN $day::DATE IS NULL THEN p.valid_to IS NULL
                           ELSE p.valid_from <= $day AND (p.valid_to IS NULL OR p.valid_to > $day) END)
            -- dated names only before the first observed version: after it, what was observed counts
            LEFT JOIN security_names h ON h.symbol = s.symbol AND $day::DATE IS NOT NULL
                 AND h.valid_from <= $day AND (h.valid_to IS NULL OR h.valid_to > $day)
                 AND NOT EXISTS (SELECT 1 FROM security_profiles f WHERE f.symbol = s.symbol AND f.valid_from <= $day)
            WHERE ($include_delisted OR s.delist_date IS NULL OR s.delist_date > coalesce($day, DATE '9999-12-31'))
              AND ($day::DATE IS NULL OR s.list_date IS NULL OR s.list_date <= $day)
              -- on a day, a company of a code change trades under one code: the old before the change
              AND ($day::DATE IS NULL OR c.change_date IS NULL OR $day < c.change_date)
              AND ($day::DATE IS NULL OR NOT EXISTS (
                   SELECT 1 FROM symbol_changes n WHERE n.new_symbol = s.symbol AND $day < n.change_date))
            ORDER BY s.symbol
            """, {"day": day, "include_delisted": include_delisted}))


class NoProfileError(LookupError):
    """The warehouse holds no profile version of a symbol on the date asked for."""


#: Columns of `read.profile`.
PROFILE_FIELDS = ("symbol", "name", "is_st", "industry", "total_shares", "float_shares", "list_date",
                  "total_market_cap", "float_market_cap", "shares_source", "valid_from", "valid_to", "observed_on")


def profile(symbol: str, as_of=None, *, warehouse: str | os.PathLike | None = None) -> pd.Series:
    """The profile of `symbol` as the pipeline knew it on `as_of` (default: the current one).

    A version is valid from the day the pipeline first saw it (`valid_from`) until the day the
    next one was seen (`valid_to`, exclusive). Shares are counts of shares (`shares_source`:
    "exchange_list", or "market_value/price" where derived), market values CNY as observed on
    `observed_on`.

    Before the first observed version, an exchange's dated name-change record (SZSE) covering
    `as_of` answers name and is_st (valid_from/valid_to: the record's period; every other field
    NULL, observed_on NaT, `shares_source` "exchange_record"); with none, `NoProfileError`.
    """
    code = _one_a_share(symbol, "profiles are kept for A-shares only (HK names and lot sizes are in "
                                "hk_securities())", warehouse)
    day = _date(as_of, "as_of")
    with _cursor(warehouse) as conn:
        rows = _frame(conn.execute(
            f"""
            SELECT {", ".join(PROFILE_FIELDS)} FROM security_profiles
            WHERE symbol = $code AND (CASE WHEN $day::DATE IS NULL THEN valid_to IS NULL
                                           ELSE valid_from <= $day AND (valid_to IS NULL OR valid_to > $day) END)
            """, {"code": code, "day": day}))
        if len(rows):
            return rows.iloc[0]
        first = conn.execute("SELECT min(valid_from) FROM security_profiles WHERE symbol = ?", [code]).fetchall()[0][0]
        if day is not None and (first is None or day < first):
            named = _frame(conn.execute(
                f"""
                SELECT {", ".join(f if f in ("symbol", "name", "is_st", "valid_from", "valid_to") else
                                  "'exchange_record' AS shares_source" if f == "shares_source" else
                                  f"NULL::DATE AS {f}" if f in ("list_date", "observed_on") else
                                  f"NULL::VARCHAR AS {f}" if f == "industry" else f"NULL::DOUBLE AS {f}"
                                  for f in PROFILE_FIELDS)}
                FROM security_names
                WHERE symbol = $code AND valid_from <= $day AND (valid_to IS NULL OR valid_to > $day)
                """, {"code": code, "day": day}))
            if len(named):
                return named.iloc[0]
        _check_known(conn, "securities", [code], rows)
        where = _current_file()
        listed = conn.execute("SELECT list_date, delist_date FROM securities WHERE symbol = ?", [code]).fetchall()
        list_date, delist_date = listed[0] if listed else (None, None)
        if day is not None and list_date is not None and day < list_date:
            raise NoProfileError(f"no profile of {code} on {day}: it was not listed yet (listed on {list_date}; "
                                 f"warehouse {where})")
        if delist_date is not None and (day is None or day >= delist_date):
            raise NoProfileError(f"no profile of {code}{f' on {day}' if day else ''}: it was delisted on "
                                 f"{delist_date} (warehouse {where})")
        if first is None:
            raise NoProfileError(f"no profile of {code} in {where} yet: run the security_profiles asset")
        raise NoProfileError(f"no profile of {code} known on {day} in {where}: the first was observed on {first}")


def name_history(symbol: str, *, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every name of `symbol` the warehouse knows: symbol, name, is_st, valid_from, valid_to
    (exclusive), source, position.

    source "exchange_record": dated by an exchange's name-change record (SZSE); "profile": a
    profile version (dated by when the pipeline first saw it); "former_names": sina's list of
    former names, undated (valid_from/valid_to NULL, `position` 1 = oldest), which says a name
    was carried, not when. Dated rows first, by valid_from.
    """
    code = _one_a_share(symbol, "name histories are kept for A-shares only (HK names are in hk_securities())",
                        warehouse)
    with _cursor(warehouse) as conn:
        rows = _frame(conn.execute(
            """
            SELECT symbol, name, is_st, valid_from, valid_to, 'exchange_record' AS source, NULL::INTEGER AS position
            FROM security_names WHERE symbol = $code
            UNION ALL
            SELECT symbol, name, is_st, valid_from, valid_to, 'profile', NULL FROM security_profiles WHERE symbol = $code
            UNION ALL
            SELECT symbol, name, is_st, NULL, NULL, 'former_names', position FROM former_names WHERE symbol = $code
            ORDER BY valid_from NULLS LAST, source, position
            """, {"code": code}))
        if rows.empty:
            _check_known(conn, "securities", [code], rows)
        return rows


#: The metrics of `read.financials` (the key_financials view), in English.
FINANCIAL_METRICS = ("revenue", "net_profit", "parent_net_profit", "deducted_net_profit", "operating_cash_flow",
                     "total_equity", "eps_basic", "bvps", "roe", "gross_margin", "net_margin", "debt_to_assets")


def financials(symbols: str | Iterable[str], metrics: Iterable[str] | None = None, start=None, end=None,
               as_of=None, *, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """Key financial metrics per symbol and report date (one row per report).

    `start`/`end` bound the report dates. With `as_of`, only reports public on or before that
    day are returned: no look-ahead. A report is public from its announcement date
    (eastmoney's NOTICE_DATE); where none is known, from the statutory deadline (Q1 04-30,
    H1 08-31, Q3 10-31, annual 04-30 next year), and `available_from_estimated` is True.
    Flows (revenue, profits, cash flow) are year-to-date, CNY; eps and bvps CNY per share;
    roe, margins and debt_to_assets percent.
    """
    codes = _market_codes(symbols, "A-share", "financials cover A-shares only", warehouse)
    chosen = list(FINANCIAL_METRICS) if metrics is None else _names(metrics, "metrics")
    unknown = [m for m in chosen if m not in FINANCIAL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(FINANCIAL_METRICS)}")
    start, end = _range(start, end)
    day = _date(as_of, "as_of")
    with _cursor(warehouse) as conn:
        rows = _frame(conn.execute(
            f"""
            SELECT symbol, report_date, available_from, available_from_estimated, {", ".join(chosen)}
            FROM key_financials
            WHERE symbol IN (SELECT unnest($codes::VARCHAR[]))
              AND report_date >= coalesce($start::DATE, DATE '0001-01-01')
              AND report_date <= coalesce($end::DATE, DATE '9999-12-31')
              AND ($day::DATE IS NULL OR available_from <= $day)
            ORDER BY symbol, report_date
            """, {"codes": codes, "start": start, "end": end, "day": day}))
        _check_known(conn, "securities", codes, rows)
        return rows


_STATUS_TABLES = {  # table -> its date column
    "daily_bars": "trade_date", "adjustment_factors": "ex_date", "corporate_actions": "ex_date",
    "hk_daily_bars": "trade_date", "hk_adjustment_factors": "ex_date",
    "index_daily_bars": "trade_date", "security_profiles": "observed_on", "financial_statements": "report_date",
    "financial_indicators": "report_date", "securities": None, "hk_securities": None, "trading_calendar": "trade_date",
}


#: Each bar table's holes: (market, table, its calendar, how a symbol's day counts as present).
_HOLE_SOURCES = [
    ("CN", "daily_bars", "CN", "coverage"),
    ("HK", "hk_daily_bars", "HK", "bars"),
    ("index", "index_daily_bars", "CN", "bars"),
]


def _holes(conn: duckdb.DuckDBPyConnection, revisit_days: int) -> pd.DataFrame:
    """Runs of consecutive trading days a symbol lacks, per market (see `status`).

    Computed from the gaps between a symbol's covered intervals (A-shares) or between its
    consecutive stored bars (HK, indices), with trading days numbered, so that the cost grows
    with the rows stored rather than with symbols x days.
    """
    frames = []
    # up to the last day ANY table of the same calendar reached: A-shares that failed for days
    # while the indices were loaded lack those days too
    last_days = {}
    for _, table, calendar, _ in _HOLE_SOURCES:
        last = conn.execute(f"SELECT max(trade_date) FROM {table}").fetchall()[0][0]
        if last is not None:
            last_days[calendar] = max(last, last_days.get(calendar, last))
    for market, table, calendar, present in _HOLE_SOURCES:
        if conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)").fetchall()[0][0] == 0:
            continue
        last_day = last_days[calendar]
        if present == "coverage":
            # A-shares: after each covered interval up to the next one, or up to the last day
            # (the day before the delisting for a delisted symbol); endpoints need not be trading days
            spans = """
                intervals AS (
                    SELECT c.symbol,
                           max(c.covered_to) OVER (PARTITION BY c.symbol ORDER BY c.covered_from
                                                   ROWS UNBOUNDED PRECEDING) AS after,
                           coalesce(lead(c.covered_from) OVER (PARTITION BY c.symbol ORDER BY c.covered_from),
                                    DATE '9999-12-31') AS before,
                           least($last_day, coalesce(s.delist_date - 1, $last_day)) AS until
                    -- codes no longer listed (dropped, switched) are never fetched again: no holes
                    FROM bar_coverage c JOIN securities s USING (symbol) WHERE s.status = 'listed'),
                a AS (SELECT i.*, d.n AS n_after FROM intervals i ASOF LEFT JOIN days d ON i.after >= d.trade_date),
                b AS (SELECT a.*, d.n AS n_before FROM a ASOF LEFT JOIN days d ON a.before <= d.trade_date),
                c AS (SELECT b.*, d.n AS n_until FROM b ASOF LEFT JOIN days d ON b.until >= d.trade_date),
                spans AS (SELECT symbol, coalesce(n_after, 0) + 1 AS lo,
                                 least(coalesce(n_before - 1, n_until), n_until) AS hi FROM c)"""
        else:
            # HK and indices: between consecutive stored bars, and after the last one
            spans = f"""
                numbered AS (SELECT b.symbol, d.n FROM {table} b JOIN days d USING (trade_date)),
                spans AS (SELECT symbol, n + 1 AS lo,
                                 coalesce(lead(n) OVER (PARTITION BY symbol ORDER BY n),
                                          (SELECT max(n) FROM days) + 1) - 1 AS hi
                          FROM numbered)"""
        frames.append(_frame(conn.execute(
            f"""
            WITH days AS (SELECT trade_date, row_number() OVER (ORDER BY trade_date) AS n FROM trading_sessions
                          WHERE market = $calendar AND trade_date <= $last_day),
            {spans}
            SELECT $market AS market, s.symbol, f.trade_date AS first_missing, l.trade_date AS last_missing,
                   s.hi - s.lo + 1 AS trading_days,
                   s.hi > (SELECT max(n) FROM days) - $revisit OR l.trade_date = $last_day AS revisited
            FROM spans s JOIN days f ON f.n = s.lo JOIN days l ON l.n = s.hi
            WHERE s.lo <= s.hi
            ORDER BY s.symbol, first_missing
            """, {"calendar": calendar, "last_day": last_day, "market": market, "revisit": revisit_days})))
    columns = ["market", "symbol", "first_missing", "last_missing", "trading_days", "revisited"]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def status(*, warehouse: str | os.PathLike | None = None, revisit_days: int | None = None) -> dict[str, pd.DataFrame]:
    """What the published warehouse holds and what is waiting, as frames (also `quantdb-pipeline status`).

    - `tables`: per table its rows, latest date and last write (run and UTC time);
    - `gaps`: listed A-shares whose bar coverage ends before the last trading day with bars,
      and trading days in the covered range on which no symbol has a bar (recorded market
      closures are not trading days);
    - `holes`: the trading days each symbol lacks, one row per run of consecutive missing
      trading days of its market's calendar: market (CN, HK, index), symbol, first_missing,
      last_missing, trading_days (how many), revisited. A-shares lack a day that no
      `bar_coverage` interval holds, from their first covered day (their listing at the
      earliest) to the last day with bars on the CN calendar, A-shares or indices (before
      their delisting): an `empty`
      answer, a refused quote list, a quarantined row, a missed night; a suspension is
      covered and is no hole. HK symbols and indices lack a day of their calendar, from their
      first stored bar to the last day with bars on their calendar, without a bar (a suspended HK symbol's days
      are holes too). `revisited` is True when the next run asks for it by itself: the hole
      reaches into the trailing window of `revisit_days` trading days (default
      $QUANTDB_REVISIT_DAYS or 20) before the last day, or runs up to that day; other holes
      stay until a run's own range covers them (`quantdb-pipeline run --start ... --end ...`);
    - `quarantine`: quarantined rows per table and rule;
    - `retries`: symbols whose last attempt failed or answered empty, per dataset, with the error;
    - `stale`: datasets whose last load failed (circuit breaker, endpoint down, batch refused) and
      that therefore still hold their last good rows: dataset, reason, failed_run_id, failed_at,
      last_good_at, last_good_run_id (UTC); a later completed load removes the dataset from here;
    - `unreconciled`: bars taken from the nightly quote list and not yet compared with the
      history endpoint (symbols, rows, oldest and newest day);
    - `adjustment`: ex-dates whose factor is derived while upstream has not published it
      (kind "derived", with what it was derived from) or that no factor covers (kind "gap",
      with the reason): symbol, ex_date, kind, detail;
    - `closures`: days the library calendar lists on which a market did not trade, as recorded
      from the answers of a run (market, day, detected_at, evidence); not trading days above.
    """
    with _cursor(warehouse) as conn:
        rows = []
        for table, column in _STATUS_TABLES.items():
            latest = f"max({column})" if column else "NULL"
            stamp = "max(ingested_at), arg_max(run_id, ingested_at)"
            n, last, ingested, run = conn.execute(f"SELECT count(*), {latest}, {stamp} FROM {table}").fetchall()[0]
            rows.append((table, n, last, ingested, run))
        tables = pd.DataFrame(rows, columns=["table", "rows", "latest_date", "last_written_at", "last_run_id"])
        last_day = tables.set_index("table").loc["daily_bars", "latest_date"]
        tables["latest_date"] = pd.to_datetime(tables["latest_date"]).dt.as_unit("ns")
        tables["last_written_at"] = pd.to_datetime(tables["last_written_at"], utc=True).dt.as_unit("ns")
        gaps = _frame(conn.execute(
            """
            WITH coverage AS (SELECT symbol, max(covered_to) AS covered_to FROM bar_coverage GROUP BY symbol)
            SELECT 'symbol behind' AS kind, s.symbol, coalesce(c.covered_to, NULL) AS covered_to, NULL::DATE AS trade_date
            FROM securities s LEFT JOIN coverage c USING (symbol)
            WHERE $last_day::DATE IS NOT NULL AND (s.delist_date IS NULL OR s.delist_date > $last_day)
              AND (s.list_date IS NULL OR s.list_date <= $last_day) AND s.status = 'listed'
              AND (c.covered_to IS NULL OR c.covered_to < $last_day)
            UNION ALL
            SELECT 'day without bars', NULL, NULL, t.trade_date
            FROM trading_sessions t
            WHERE t.market = 'CN' AND t.trade_date BETWEEN (SELECT min(trade_date) FROM daily_bars) AND $last_day
              AND NOT EXISTS (SELECT 1 FROM daily_bars b WHERE b.trade_date = t.trade_date)
            ORDER BY kind, symbol, trade_date
            """, {"last_day": last_day if pd.notna(last_day) else None}))
        holes = _holes(conn, revisit_days_setting() if revisit_days is None else revisit_days)
        quarantine = _frame(conn.execute(
            "SELECT table_name, rules, count(*) AS rows, max(quarantined_at) AS last_at FROM quarantine "
            "GROUP BY ALL ORDER BY table_name, rules"))
        retries = _frame(conn.execute(
            # an empty answer is retried for bars (upstream throttles with empty frames); for factors,
            # dividend periods and former names (sina lists none) it means "none", not waiting for anything
            "SELECT dataset, symbol, status, last_attempt_at, error FROM ingest_state "
            "WHERE status = 'failed' OR (status = 'empty' AND dataset NOT IN "
            "('corporate_actions', 'adjustment_factors', 'hk_adjustment_factors', 'former_names')) "
            "AND symbol NOT IN (SELECT symbol FROM securities WHERE status <> 'listed') ORDER BY dataset, symbol"))
        unreconciled = _frame(conn.execute(
            "SELECT source, count(DISTINCT symbol) AS symbols, count(*) AS rows, min(trade_date) AS oldest, "
            "max(trade_date) AS newest FROM daily_bars WHERE source LIKE '%/spot' GROUP BY source ORDER BY source"))
        adjustment = _frame(conn.execute(
            """
            SELECT symbol, ex_date, 'derived' AS kind, derived_from AS detail FROM adjustment_factors
            WHERE derived_from IS NOT NULL AND derived_from <> 'base'
            UNION ALL
            SELECT symbol, ex_date, 'gap', reason FROM adjustment_gaps
            ORDER BY kind, symbol, ex_date
            """))
        stale = dataset_status.stale(conn)
        closures = _frame(conn.execute("SELECT market, day, detected_at, evidence FROM market_closures "
                                "ORDER BY market, day"))
        return {"tables": tables, "gaps": gaps, "holes": holes, "quarantine": quarantine, "retries": retries,
                "stale": stale, "unreconciled": unreconciled, "adjustment": adjustment, "closures": closures}
