"""Reference data: the trading calendar and the securities universe."""

from __future__ import annotations

import duckdb
import pandas as pd

from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.writes import Lineage, replace_calendar, upsert_securities


def load_trading_calendar(conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage) -> pd.DataFrame:
    """Replace the stored calendar with the source's; return the canonical calendar."""
    calendar = normalize.trading_calendar(source.trading_calendar_raw(), source.name)
    if calendar.empty:
        raise ValueError(f"{source.name}: the trading calendar came back empty; the stored one is kept")
    replace_calendar(conn, calendar, lineage)
    return calendar


def load_securities(conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage) -> tuple[pd.DataFrame, dict]:
    """Upsert the exchanges' listed and delisted A-shares; return them and the counts."""
    raw = source.listings_raw()
    frame = normalize.securities(
        pd.concat([raw.sh_main, raw.sh_star], ignore_index=True), raw.sz, raw.bj,
        raw.sh_delisted, raw.sz_delisted, source.name,
    )
    if frame.empty:
        raise ValueError(f"{source.name}: the security lists came back empty; the stored universe is kept")
    counts = upsert_securities(conn, frame, lineage)
    return frame, counts
