"""The nightly fast path: the whole market's bars from eastmoney's quote list.

After the close, `stock_zh_a_spot_em` is the day's bar of every A-share in about 56 paged
requests, where the history endpoint needs one request per symbol (5,000 a night); for Hong
Kong, `stock_hk_main_board_spot_em` is the main board's day in about 26 pages instead of
2,600 requests. Each function here takes the bar table it works on (`daily_bars` or
`hk_daily_bars`, see `BAR_TABLES`); the callers (`loaders.bars`, `loaders.markets`) plan which
symbols take the list and which trading calendar dates it. The quote list carries no date,
so before a row of it is written:

- the day is checked: its 昨收 (reference previous close) must equal the stored close of the
  previous session for most symbols. A list that still shows the previous session, as
  eastmoney's does before it rolls over or on a holiday, fails that and nothing is written;
- rows from it are stamped `<source>/spot`, and the next nights reconcile a rotating sample of
  symbols against the history endpoint: their pending days are refetched from history (one
  request per symbol), compared field by field, and the history rows replace the quote-list
  ones. Mismatches are reported as a warning check with examples.

The sample is the symbols whose oldest unreconciled quote-list bar is oldest, ties broken by
a hash of symbol and day, so that every symbol comes round in turn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.quality.gate import GateFailed
from quantdb_pipeline.quality.suites import (
    PRICE_TOLERANCE,
    RECONCILED_PRICES,
    RECONCILED_TURNOVER,
    validate_reconciliation,
    validate_spot_day,
)
from quantdb_pipeline.sources.base import spot_pages
from quantdb_pipeline.warehouse.writes import staged

#: Stamped after the source's name on rows that came from the quote list.
SPOT_SUFFIX = "/spot"
#: Symbols reconciled against the history endpoint per run (one request each).
DEFAULT_RECONCILE_SYMBOLS = 20
#: The bar tables a quote list can fill (SQL identifiers: only these are interpolated).
BAR_TABLES = ("daily_bars", "hk_daily_bars")


def _table(table: str) -> str:
    if table not in BAR_TABLES:
        raise ValueError(f"no quote-list path for table {table!r}; one of {BAR_TABLES}")
    return table


def spot_source(source: str) -> str:
    return source + SPOT_SUFFIX


class SpotRejected(GateFailed):
    """The quote list does not show the session the run expects: nothing of it is written."""


@dataclass
class SpotPlan:
    """Which symbols take the day's bar from the quote list, and which are reconciled."""

    day: dt.date
    previous: dt.date
    symbols: set[str]
    reconcile: list[tuple[str, dt.date, dt.date]] = field(default_factory=list)  # symbol, first, last


def worthwhile(conn: duckdb.DuckDBPyConnection, candidates: int, day: dt.date, listed: int | None = None) -> bool:
    """Is one quote list (a request per 100 listed symbols) cheaper than `candidates` history requests?

    `listed`: how many symbols the list shows; by default the A-shares listed on `day`."""
    if listed is not None:
        return candidates > spot_pages(listed)
    listed = conn.execute(
        "SELECT count(*) FROM securities WHERE (list_date IS NULL OR list_date <= ?) "
        "AND (delist_date IS NULL OR delist_date > ?) AND status = 'listed'",
        [day, day],
    ).fetchall()[0][0]
    return candidates > spot_pages(listed)


def reconciliation_sample(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    day: dt.date,
    size: int,
    symbols: list[str] | None = None,
    table: str = "daily_bars",
) -> list[tuple[str, dt.date, dt.date]]:
    """Up to `size` symbols with quote-list bars in `table` before `day`, oldest pending first,
    and their pending range."""
    if size <= 0:
        return []
    rows = conn.execute(
        f"""
        SELECT symbol, min(trade_date) AS first, max(trade_date) AS last FROM {_table(table)}
        WHERE source = $source AND trade_date < $day
          AND ($symbols::VARCHAR[] IS NULL OR list_contains($symbols::VARCHAR[], symbol))
        GROUP BY symbol ORDER BY first, md5(symbol || $day::VARCHAR) LIMIT $size
        """,
        {"source": spot_source(source), "day": day, "symbols": symbols, "size": size},
    ).fetchall()
    return [(symbol, first, last) for symbol, first, last in rows]


def check_day(
    conn: duckdb.DuckDBPyConnection, bars: pd.DataFrame, plan: SpotPlan, table: str = "daily_bars"
) -> SuiteOutcome:
    """The spot-day suite on the quoted symbols that have a stored bar in `table` on the previous
    session. `bars`: symbol, close and `reference_price` (the list's 昨收).

    Raises `SpotRejected`, saying which session the list looks like, when it fails.
    """
    stored = conn.execute(
        f"SELECT symbol, close AS stored_close FROM {_table(table)} WHERE trade_date = ?", [plan.previous]
    ).df()
    quoted = pd.DataFrame(
        {
            "symbol": bars["symbol"].astype(object).to_numpy(),  # prev_close here: the list's 昨收
            "prev_close": bars["reference_price"].to_numpy(),
            "close": bars["close"].to_numpy(),
        }
    )
    compared = quoted.merge(stored.astype({"symbol": object}), on="symbol", how="inner").reset_index(drop=True)
    outcome = validate_spot_day(compared)
    if outcome.batch_failed:
        raise SpotRejected(outcome, _rejection_detail(compared, plan))
    return outcome


def _rejection_detail(compared: pd.DataFrame, plan: SpotPlan) -> str:
    """Why the list is not the day's, in numbers: which session it looks like."""
    chained = int(((compared["prev_close"] - compared["stored_close"]).abs() <= PRICE_TOLERANCE).sum())
    unchanged = int(((compared["close"] - compared["stored_close"]).abs() <= PRICE_TOLERANCE).sum())
    verdict = (
        f"its last prices equal the {plan.previous} closes for {unchanged:,}: the list still shows {plan.previous}"
        if len(compared) and unchanged > len(compared) / 2
        else "it looks like neither session"
    )
    return (
        f"the quote list is not {plan.day}'s: 昨收 equals the stored {plan.previous} close for "
        f"{chained:,} of {len(compared):,} symbols; {verdict}. Nothing was written; run again once "
        "upstream shows the day's close"
    )


def with_previous_close(
    conn: duckdb.DuckDBPyConnection, bars: pd.DataFrame, day: dt.date, table: str = "daily_bars"
) -> pd.DataFrame:
    """The quote-list bars with `prev_close` set to each symbol's last close stored in `table`
    before `day` (昨收 is kept apart as `reference_price`: on an ex-date it is the ex-rights price)."""
    with staged(conn, quoted_symbols=pd.DataFrame({"symbol": bars["symbol"].astype(object).to_numpy()})):
        last = dict(
            conn.execute(
                f"SELECT symbol, arg_max(close, trade_date) FROM {_table(table)} WHERE trade_date < ? "
                "AND symbol IN (SELECT symbol FROM quoted_symbols) GROUP BY symbol",
                [day],
            ).fetchall()
        )
    previous = bars["symbol"].astype(object).map(last).to_numpy(dtype="float64", na_value=np.nan)
    return bars.assign(prev_close=previous)


def reconcile(
    conn: duckdb.DuckDBPyConnection,
    history: pd.DataFrame,
    source: str,
    sample: list[tuple[str, dt.date, dt.date]],
    table: str = "daily_bars",
) -> tuple[SuiteOutcome, int]:
    """Compare the stored quote-list bars of `sample` with the history endpoint's `history`.

    Inside each symbol's pending range, every stored quote-list bar and every history bar on a
    day not already stored from history is paired by (symbol, trade_date). Returns the suite
    outcome and the number of mismatching rows.
    """
    windows = pd.DataFrame(sample, columns=["symbol", "first", "last"]).astype({"symbol": "string"})
    fields = (*RECONCILED_PRICES, *RECONCILED_TURNOVER)
    with staged(conn, reconcile_windows=windows, reconcile_history=history[["symbol", "trade_date", *fields]]):
        pairs = conn.execute(
            f"""
            WITH spot AS (
                SELECT b.* FROM {_table(table)} b JOIN reconcile_windows w
                  ON b.symbol = w.symbol AND b.trade_date BETWEEN w.first AND w.last
                WHERE b.source = $spot),
            hist AS (
                SELECT h.* FROM reconcile_history h JOIN reconcile_windows w
                  ON h.symbol = w.symbol AND h.trade_date BETWEEN w.first AND w.last
                WHERE NOT EXISTS (SELECT 1 FROM {_table(table)} b WHERE b.symbol = h.symbol
                                  AND b.trade_date = h.trade_date AND b.source <> $spot))
            SELECT coalesce(s.symbol, h.symbol) AS symbol, coalesce(s.trade_date, h.trade_date) AS trade_date,
                   s.symbol IS NOT NULL AS in_spot, h.symbol IS NOT NULL AS in_history,
                   {", ".join(f"s.{f} AS spot_{f}, h.{f} AS history_{f}" for f in fields)}
            FROM spot s FULL OUTER JOIN hist h USING (symbol, trade_date)
            ORDER BY symbol, trade_date
            """,
            {"spot": spot_source(source)},
        ).df()
    outcome = validate_reconciliation(pairs)
    mismatched = {row for o in outcome.failed for row in o.failed_rows}
    return outcome, len(mismatched)
