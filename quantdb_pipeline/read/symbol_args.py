"""Symbol arguments: strings only, split by market, normalized to stored codes, and checked
against the warehouse (an unknown code raises `UnknownSymbolError`, an index's code
`IndexSymbolError`, an old code of a recorded change says its successor)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule
from quantdb_pipeline.read.connection import _current_file, _cursor
from quantdb_pipeline.read.errors import IndexSymbolError, UnknownSymbolError, WarehouseBusyError
from quantdb_pipeline.symbols import (
    A_SHARE_PREFIXES,
    IndexSymbolError as _IndexCode,
    SymbolError,
    is_bare_code,
    is_hk_symbol,
    normalize_hk_symbol,
    normalize_symbol,
)
from quantdb_pipeline.warehouse_location import WarehouseNotFoundError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast
    duckdb = LazyModule("duckdb")


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
    return IndexSymbolError(
        f"{symbol} is the {index} on {exchange}, not a stock: use index_bars({symbol!r})", symbol, code, exchange, name
    )


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
        raise TypeError(
            f"{name}={symbol!r} is of type {type(symbol).__name__}, not str: symbols are strings such as "
            f"'600000' or '000001' (an int loses the leading zeros){hint}"
        )


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


def _market_codes(
    symbols: str | Iterable[str], market: str, hint: str, warehouse: str | os.PathLike | None = None
) -> list[str]:
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
    known = {
        s
        for (s,) in conn.execute(
            f"SELECT symbol FROM {reference} WHERE symbol IN (SELECT unnest(?::VARCHAR[]))", [absent]
        ).fetchall()
    }
    unknown = [s for s in absent if s not in known]
    if unknown and reference == "securities":  # a bare index code ("000300"): say which index it is
        indices = conn.execute(
            "SELECT symbol, exchange, name FROM indices WHERE symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY symbol",
            [unknown],
        ).fetchall()
        if indices:
            code, exchange, name = indices[0]
            raise _index_error(code, code, exchange, name)
    if unknown:
        raise UnknownSymbolError(
            f"unknown symbol(s) {', '.join(unknown)}: not in the {reference} table of "
            f"{_current_file()}{_changed_hint(conn, unknown)}"
        )


def _changed_hint(conn: duckdb.DuckDBPyConnection, codes: list[str]) -> str:
    """ "; 830001 is now 920001 (since 2025-10-09): use '920001'" for an unknown code the
    warehouse's `symbol_changes` records as an old code, else "". Only recorded changes count:
    the BSE's 83/87/43xxxx -> 920xxx mapping is no arithmetic rule. (An old code the BSE list
    named is recorded without a `securities` row: `daily_bars` reads its joined history, the
    other reads come here.)"""
    try:
        rows = conn.execute(
            "SELECT old_symbol, new_symbol, change_date FROM symbol_changes "
            "WHERE old_symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY old_symbol",
            [codes],
        ).fetchall()
    except duckdb.CatalogException:  # a warehouse from before the table
        return ""
    return "".join(
        f"; {old} is now {new}" + (f" (since {day})" if day else "") + f": use {new!r}" for old, new, day in rows
    )
