"""`panel`: one field of the A-share bars as a date x symbol table (pandas, Arrow or Polars)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule
from quantdb_pipeline.read.args import _adjustment, _range
from quantdb_pipeline.read.bars import _PLAIN_BARS_SQL, _PRICE_FIELDS, _adjusted_pct, _bars_sql, _previous
from quantdb_pipeline.read.cache import _cached
from quantdb_pipeline.read.connection import _cursor
from quantdb_pipeline.read.frames import _day_index
from quantdb_pipeline.read.gaps import _gap_rows, _known_gaps, _warn_gaps
from quantdb_pipeline.read.symbol_args import _check_known, _symbol_error, _symbols
from quantdb_pipeline.symbols import SymbolError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast (pandas alone takes 0.3 s)
    np = LazyModule("numpy")
    pd = LazyModule("pandas")

#: Fields `panel` can pivot.
PANEL_FIELDS = ("open", "high", "low", "close", "prev_close", "volume", "amount", "pct_change", "turnover_rate")
PANEL_OUTPUTS = ("pandas", "arrow", "polars")


def panel(
    field: str = "close",
    symbols: str | Iterable[str] | None = None,
    start=None,
    end=None,
    adjust: str | None = None,
    *,
    as_of=None,
    output: str = "pandas",
    warehouse: str | os.PathLike | None = None,
):
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


def _panel(
    field: str,
    codes: list[str] | None,
    first: dt.date | None,
    last: dt.date | None,
    adjust: str | None,
    adjust_sql: str,
    as_of: dt.date | None,
    warehouse: str | os.PathLike | None,
) -> pd.DataFrame:
    """`panel`'s date x symbol DataFrame; `codes` None: every A-share with bars in the range."""
    listed = codes is not None
    with _cursor(warehouse) as conn:
        if codes is None:
            # a code change's old code is left out when its new code has bars in the range (eastmoney
            # serves the whole history under the new code): one column per company, not two
            codes = [
                c
                for (c,) in conn.execute(
                    """
                WITH present AS (SELECT DISTINCT symbol FROM daily_bars
                                 WHERE trade_date >= coalesce(?::DATE, DATE '0001-01-01')
                                   AND trade_date <= coalesce(?::DATE, DATE '9999-12-31'))
                SELECT symbol FROM present p WHERE NOT EXISTS (
                    SELECT 1 FROM symbol_changes c JOIN present n ON n.symbol = c.new_symbol
                    WHERE c.old_symbol = p.symbol)
                ORDER BY symbol""",
                    [first, last],
                ).fetchall()
            ]
            if not codes:
                raise ValueError(f"no bars between {first} and {last}")
        value = (
            f"b.{field} * {_previous(adjust_sql)}"
            if field == "prev_close"
            else _adjusted_pct(f"b.close * {adjust_sql}", f"b.prev_close * {_previous(adjust_sql)}")
            if field == "pct_change" and adjust is not None
            else f"b.{field} * {adjust_sql}"
            if field in _PRICE_FIELDS
            else f"b.{field}"
        )
        bars_sql = (_PLAIN_BARS_SQL if adjust is None else _bars_sql(field in ("prev_close", "pct_change"))).replace(
            "ORDER BY symbol, trade_date", ""
        )
        # the column of each symbol comes from DuckDB, so no symbol string reaches Python per row
        long = conn.execute(
            f"""
            WITH wanted AS (SELECT unnest($codes::VARCHAR[]) AS symbol,
                                   generate_subscripts($codes::VARCHAR[], 1) - 1 AS col),
                 bars AS ({bars_sql.format(table="daily_bars", select=f"b.symbol, b.trade_date, {value} AS value")})
            SELECT bars.trade_date, wanted.col, bars.value FROM bars JOIN wanted USING (symbol)
            """,
            {"codes": codes, "start": first, "end": last, **({"as_of": as_of} if adjust is not None else {})},
        ).fetchnumpy()
        if listed:
            present = np.unique(long["col"])
            if len(present) < len(codes):
                _check_known(conn, "securities", codes, pd.DataFrame({"symbol": [codes[i] for i in present]}))
        gaps = _known_gaps(conn, codes) if adjust is not None and field in _PRICE_FIELDS else None
    if gaps is not None and len(gaps):
        assert adjust is not None  # gaps are looked up for adjusted reads only
        affected = _gap_rows(
            gaps,
            np.asarray(codes, dtype=object)[long["col"]],
            np.asarray(long["trade_date"], dtype="datetime64[D]"),
            adjust,
            as_of,
        )
        if affected.any():
            _warn_gaps(gaps, adjust, int(affected.sum()))
    days, row = np.unique(long["trade_date"], return_inverse=True)
    matrix = np.full((len(days), len(codes)), np.nan)
    matrix[row, long["col"]] = np.asarray(long["value"], dtype="float64")
    used = np.zeros(len(codes), dtype=bool)
    used[long["col"]] = True  # a symbol without a bar in the range gets no column, as in a pivot
    wide = pd.DataFrame(matrix[:, used], index=_day_index(days), columns=[c for c, u in zip(codes, used) if u])
    return wide
