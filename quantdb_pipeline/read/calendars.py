"""Trading days (the library calendar less the recorded closures) and the closures themselves."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

from quantdb_pipeline.read.args import _market, _range
from quantdb_pipeline.read.connection import _cursor
from quantdb_pipeline.read.frames import _day_index, _frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def trading_days(
    start=None, end=None, *, market: str = "CN", warehouse: str | os.PathLike | None = None
) -> pd.DatetimeIndex:
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
    return [
        d
        for (d,) in conn.execute(
            """
        SELECT trade_date FROM trading_sessions
        WHERE market = ? AND trade_date >= coalesce(?::DATE, DATE '0001-01-01')
          AND trade_date <= coalesce(?::DATE, DATE '9999-12-31')
        ORDER BY trade_date
        """,
            [market, start, end],
        ).fetchall()
    ]


def market_closures(market: str | None = None, *, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """Days the calendar lists as sessions on which `market` (default: every market) did not
    trade, as the pipeline found them: market, day, detected_at (UTC), evidence (what the
    answers and the probe request showed), run_id. `trading_days` leaves these days out; a
    later answer with a bar on such a day removes its row. `market`: "CN" or "HK", any case.
    """
    market = _market(market, optional=True)
    with _cursor(warehouse) as conn:
        return _frame(
            conn.execute(
                "SELECT market, day, detected_at, evidence, run_id FROM market_closures "
                "WHERE ?::VARCHAR IS NULL OR market = ? ORDER BY market, day",
                [market, market],
            )
        )
