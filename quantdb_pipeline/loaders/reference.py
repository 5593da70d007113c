"""Reference data: the trading calendar and the securities universe, checked before written."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.quality.gate import GateFailed, split
from quantdb_pipeline.quality.suites import validate_calendar, validate_securities
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.writes import Lineage, replace_calendar, upsert_securities


@dataclass
class ReferenceLoad:
    frame: pd.DataFrame
    checks: SuiteOutcome
    counts: dict


def load_trading_calendar(conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage) -> ReferenceLoad:
    """Replace the stored calendar with the source's, if it passes every rule (else `GateFailed`)."""
    calendar = normalize.trading_calendar(source.trading_calendar_raw(), source.name)
    checks = validate_calendar(calendar)
    if checks.failed:
        raise GateFailed(checks, f"{source.name} trading calendar")
    replace_calendar(conn, calendar, lineage)
    return ReferenceLoad(calendar, checks, {"trading_days": len(calendar)})


def load_securities(conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage) -> ReferenceLoad:
    """Upsert the exchanges' listed and delisted A-shares that pass the suite; quarantine the rest."""
    raw = source.listings_raw()
    frame = normalize.securities(
        pd.concat([raw.sh_main, raw.sh_star], ignore_index=True), raw.sz, raw.bj,
        raw.sh_delisted, raw.sz_delisted, source.name,
    )
    if frame.empty:
        raise ValueError(f"{source.name}: the security lists came back empty; the stored universe is kept")
    checks = validate_securities(frame, source.today())
    passed, quarantine = split("securities", frame.reset_index(drop=True), checks, ["symbol"])
    counts = upsert_securities(conn, passed, lineage, quarantine=quarantine)
    counts["quarantined"] = len(quarantine)
    return ReferenceLoad(frame, checks, counts)
