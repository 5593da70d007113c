"""Index bars (`index_bars`) and the indices the warehouse holds (`indices`)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from quantdb_pipeline.read.args import _names, _range
from quantdb_pipeline.read.cache import _cached
from quantdb_pipeline.read.connection import _cursor
from quantdb_pipeline.read.frames import _frame
from quantdb_pipeline.read.symbol_args import _check_known, _check_str, _symbol_error
from quantdb_pipeline.schema import INDEX_BAR_COLUMNS
from quantdb_pipeline.symbols import SymbolError, normalize_index_symbol

if TYPE_CHECKING:
    import pandas as pd

#: Columns `index_bars` can return; `symbol` and `trade_date` always come first.
INDEX_BAR_FIELDS = tuple(INDEX_BAR_COLUMNS[2:])  # after symbol and trade_date


def index_bars(
    symbols: str | Iterable[str] | None = None,
    start=None,
    end=None,
    columns: Iterable[str] | None = None,
    *,
    warehouse: str | os.PathLike | None = None,
) -> pd.DataFrame:
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
    return _cached(
        warehouse,
        ("index_bars", None if codes is None else tuple(codes), start, end, tuple(fields)),
        lambda: _index_bars(codes, start, end, fields, warehouse),
    )


def _index_bars(
    codes: list[str] | None,
    start: dt.date | None,
    end: dt.date | None,
    fields: list[str],
    warehouse: str | os.PathLike | None,
) -> pd.DataFrame:
    with _cursor(warehouse) as conn:
        bars = _frame(
            conn.execute(
                f"""
            SELECT {", ".join(["symbol", "trade_date", *fields])} FROM index_daily_bars
            WHERE ($codes::VARCHAR[] IS NULL OR symbol IN (SELECT unnest($codes::VARCHAR[])))
              AND trade_date >= coalesce($start::DATE, DATE '0001-01-01')
              AND trade_date <= coalesce($end::DATE, DATE '9999-12-31')
            ORDER BY symbol, trade_date
            """,
                {"codes": codes, "start": start, "end": end},
            )
        )
        if codes:
            _check_known(conn, "indices", codes, bars)
        return bars


def indices(*, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """The indices the warehouse holds: symbol, exchange (SH or SZ), English name."""
    with _cursor(warehouse) as conn:
        return _frame(conn.execute("SELECT symbol, exchange, name FROM indices ORDER BY symbol"))
