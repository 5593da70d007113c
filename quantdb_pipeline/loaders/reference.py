"""Reference data: the trading calendar and the securities universe, checked before written.

Each is fetched at most once per source day ("today"): neither changes within a day, and a
rerun of the nightly then asks upstream for nothing. `force=True` fetches anyway. A load
that skips the fetch still runs its suite, on the stored rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.quality.gate import GateFailed, split
from quantdb_pipeline.quality.suites import validate_calendar, validate_securities
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.listing_status import plan_listing_update
from quantdb_pipeline.warehouse.profile_inputs import store_exchange_shares
from quantdb_pipeline.warehouse.writes import Lineage, get_setting, replace_calendar, set_setting, upsert_securities

log = logging.getLogger(__name__)


@dataclass
class ReferenceLoad:
    frame: pd.DataFrame
    checks: SuiteOutcome
    counts: dict
    fetched: bool = True  # False: already fetched for this day, the stored rows were checked


def _refreshed_key(dataset: str, source: MarketSource) -> str:
    return f"{dataset}.{source.name}.refreshed_for"


def fetched_today(conn: duckdb.DuckDBPyConnection, dataset: str, source: MarketSource, force: bool = False) -> bool:
    """Was `dataset` already fetched from `source` for the source's current day?"""
    return not force and get_setting(conn, _refreshed_key(dataset, source)) == source.today().isoformat()


def mark_fetched(conn: duckdb.DuckDBPyConnection, dataset: str, source: MarketSource) -> None:
    set_setting(conn, _refreshed_key(dataset, source), source.today().isoformat())


def load_trading_calendar(
    conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage, force: bool = False
) -> ReferenceLoad:
    """Replace the stored calendar with the source's, if it passes every rule (else `GateFailed`)."""
    if fetched_today(conn, "trading_calendar", source, force):
        calendar = conn.execute(
            "SELECT market, trade_date FROM trading_calendar WHERE market = 'CN' ORDER BY trade_date"
        ).df()
        calendar["trade_date"] = calendar["trade_date"].dt.date
        return ReferenceLoad(calendar, validate_calendar(calendar), {"trading_days": len(calendar)}, fetched=False)
    calendar = normalize.trading_calendar(source.trading_calendar_raw(), source.name)
    checks = validate_calendar(calendar)
    if checks.failed:
        raise GateFailed(checks, f"{source.name} trading calendar")
    replace_calendar(conn, calendar, lineage)
    mark_fetched(conn, "trading_calendar", source)
    return ReferenceLoad(calendar, checks, {"trading_days": len(calendar)})


def load_securities(
    conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage, force: bool = False
) -> ReferenceLoad:
    """Upsert the exchanges' listed and delisted A-shares that pass the suite; quarantine the rest.

    Codes the lists no longer show become `dropped`, old codes of a code switch `switched`
    (with a `symbol_changes` row): kept and readable, never fetched (see `listing_status`).
    """
    if fetched_today(conn, "securities", source, force):
        frame = conn.execute(f"SELECT {', '.join(schema.SECURITY_COLUMNS)} FROM securities ORDER BY symbol").df()
        for column in ("list_date", "delist_date"):
            frame[column] = frame[column].dt.date
        counts = {"new": 0, "total": len(frame), "quarantined": 0, "switched": 0, "dropped": 0, "drops_refused": 0}
        return ReferenceLoad(frame, validate_securities(frame, source.today()), counts, fetched=False)
    raw = source.listings_raw()
    frame = normalize.securities(
        pd.concat([raw.sh_main, raw.sh_star], ignore_index=True),
        raw.sz,
        raw.bj,
        raw.sh_delisted,
        raw.sz_delisted,
        source.name,
    )
    if frame.empty:
        raise ValueError(f"{source.name}: the security lists came back empty; the stored universe is kept")
    checks = validate_securities(frame, source.today())
    passed, quarantine = split("securities", frame.reset_index(drop=True), checks, ["symbol"])
    listing = plan_listing_update(conn, frame, normalize.bse_previous_codes(raw.bj), source.today())
    counts = upsert_securities(conn, passed, lineage, quarantine=quarantine, listing=listing)
    counts["quarantined"] = len(quarantine)
    # the SZSE and BSE lists carry share counts: the profile step takes them from here
    try:
        counts["exchange_shares"] = store_exchange_shares(
            conn, normalize.exchange_shares(raw.sz, raw.bj, source.name), source.today(), lineage
        )
    except normalize.SourceSchemaError as error:  # profiles then derive shares, flagged; the universe loads
        log.warning("exchange share counts not read: %s", error)
        counts["exchange_shares"] = 0
    mark_fetched(conn, "securities", source)
    return ReferenceLoad(frame, checks, counts)
