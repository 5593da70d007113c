"""Adjusted prices that miss an event: the stored adjustment gaps (ex-dates no factor covers)
marked on the rows they affect, and HK factors older than the bars; each a warning."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule
from quantdb_pipeline.read.cache import _per_snapshot, _warn
from quantdb_pipeline.read.errors import AdjustmentGapWarning, StaleFactorsWarning
from quantdb_pipeline.read.frames import _frame

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast (pandas alone takes 0.3 s)
    duckdb = LazyModule("duckdb")
    np = LazyModule("numpy")
    pd = LazyModule("pandas")


def _known_gaps(conn: duckdb.DuckDBPyConnection, codes: list[str]) -> pd.DataFrame:
    """The stored adjustment gaps of `codes` (empty on a warehouse from before they were recorded).

    The table is small and changes only with a new snapshot: read once per snapshot, so an
    adjusted read pays no extra query for it."""

    def load() -> tuple[pd.DataFrame, frozenset[str], pd.DataFrame]:
        try:
            gaps = _frame(
                conn.execute("SELECT symbol, ex_date, evidence, reason FROM adjustment_gaps ORDER BY symbol, ex_date")
            )
        except duckdb.CatalogException:
            gaps = pd.DataFrame(columns=["symbol", "ex_date", "evidence", "reason"])
        return gaps, frozenset(gaps["symbol"]), gaps.iloc[:0]

    gaps, named, none = _per_snapshot("adjustment_gaps", load)
    if named.isdisjoint(codes):
        return none
    return gaps[gaps["symbol"].isin(codes)].reset_index(drop=True)


def _gap_rows(
    gaps: pd.DataFrame, symbols: np.ndarray, days: np.ndarray, adjust: str, as_of: dt.date | None
) -> np.ndarray:
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
    _warn(
        f"adjust={adjust!r}: no adjustment factor covers the ex-date(s) {listed}; {rows} row(s) are not "
        f"adjusted for them (column adjustment_gap). Reason: {gaps['reason'].iloc[0]}",
        AdjustmentGapWarning,
    )


def _warn_unchecked_hk_factors(conn: duckdb.DuckDBPyConnection, bars: pd.DataFrame, adjust: str) -> None:
    """Warn when HK bars reach past the source day their factors were last fetched on."""
    if bars.empty:
        return
    last_bar = bars.groupby("symbol")["trade_date"].max().dt.date.to_dict()
    checked = dict(
        conn.execute(
            "SELECT symbol, as_of FROM ingest_state WHERE dataset = 'hk_adjustment_factors' "
            "AND symbol IN (SELECT unnest(?::VARCHAR[]))",
            [list(last_bar)],
        ).fetchall()
    )
    behind = {s: checked.get(s) for s, day in last_bar.items() if checked.get(s) is None or day > checked[s]}
    if not behind:
        return
    listed = ", ".join(f"{s} (factors fetched {d or 'never'}, bars to {last_bar[s]})" for s, d in behind.items())
    _warn(
        f"adjust={adjust!r}: HK factors can be behind the bars: {listed}. No source tells HK ex-dates "
        "between fetches (they are refetched every 30 days): a dividend since then is not in these prices; "
        "`quantdb-pipeline run --markets hk --refresh-factors` refetches them.",
        StaleFactorsWarning,
    )


def _mark_gaps(
    conn: duckdb.DuckDBPyConnection, bars: pd.DataFrame, codes: list[str], adjust: str, as_of: dt.date | None
) -> pd.DataFrame:
    """Warn about and mark the rows whose adjusted prices miss a known, uncovered ex-date."""
    gaps = _known_gaps(conn, codes)
    if gaps.empty:
        return bars
    affected = _gap_rows(
        gaps, bars["symbol"].to_numpy(dtype=object), bars["trade_date"].to_numpy(dtype="datetime64[D]"), adjust, as_of
    )
    if not affected.any():
        return bars
    _warn_gaps(gaps, adjust, int(affected.sum()))
    bars = bars.assign(adjustment_gap=affected)
    bars.attrs["adjustment_gaps"] = gaps
    return bars
