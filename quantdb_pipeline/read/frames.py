"""Query results as DataFrames with the reader's one date convention: datetime64[ns] (see
`quantdb_pipeline.read`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast (pandas alone takes 0.3 s)
    np = LazyModule("numpy")
    pd = LazyModule("pandas")


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
