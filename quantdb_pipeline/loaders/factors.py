"""Adjustment factors: fetched once per symbol, and again only when the bars show an ex-date.

Which factor source: sina's cumulative hfq factors (`stock_zh_a_daily(adjust="hfq-factor")`).
One small request returns a symbol's whole factor history as change points, at full
precision. The alternative, eastmoney's hfq closes divided by unadjusted closes, costs a
second kline request over the whole history and inherits the rounding of adjusted prices
to the fen (a 0.1% error on a low-priced stock, different every day).

When to refetch, without asking upstream: eastmoney's 涨跌额 gives each bar the exchange's
reference previous close. On an ordinary day it equals the last close; on an ex-date
(cash dividend, bonus shares, split, rights issue) it is the ex-rights price. A stored bar
whose reference price differs from the last close marks an ex-date; if the stored factors
have no change point there, they are stale and the symbol's factors are fetched again.
Unadjusted bars are never refetched for this. Upstream may publish a new factor a few days
after the ex-date: such a symbol is retried for `EX_DATE_GRACE_DAYS`, then reported.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.quality.gate import split
from quantdb_pipeline.quality.suites import validate_factors
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.sources.pacing import RetriesExhausted
from quantdb_pipeline.warehouse.writes import Lineage, write_factor_batch

DATASET = "adjustment_factors"
#: Days after an ex-date during which missing upstream factors are asked for again.
EX_DATE_GRACE_DAYS = 10
#: Reference price and last close are both in fen: a larger gap is a corporate action.
EX_DATE_MIN_GAP = 0.005

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str, int], None]

#: Ex-dates the stored bars show: the reference previous close differs from the last close.
_EX_DATES_SQL = f"""
    SELECT symbol, trade_date AS ex_date, last_close / prev_close AS implied_step
    FROM (SELECT symbol, trade_date, prev_close,
                 lag(close) OVER (PARTITION BY symbol ORDER BY trade_date) AS last_close
          FROM daily_bars
          WHERE ?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], symbol))
    WHERE prev_close > 0 AND abs(prev_close - last_close) > {EX_DATE_MIN_GAP}
"""


@dataclass
class FactorLoadReport:
    needed: dict[str, str] = field(default_factory=dict)  # symbol -> why it was fetched
    symbols_updated: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    requests: int = 0
    changed: dict[str, str] = field(default_factory=dict)  # symbol -> what changed
    failed: dict[str, str] = field(default_factory=dict)
    unexplained: pd.DataFrame = field(default_factory=pd.DataFrame)  # ex-dates upstream never confirmed
    circuit_open: str | None = None
    checks: SuiteOutcome | None = None
    seconds: float = 0.0


def ex_dates(conn: duckdb.DuckDBPyConnection, symbols: list[str] | None = None) -> pd.DataFrame:
    """(symbol, ex_date, implied_step) for every ex-date visible in the stored bars."""
    return conn.execute(_EX_DATES_SQL + " ORDER BY symbol, ex_date", [symbols, symbols]).df()


def symbols_needing_factors(conn: duckdb.DuckDBPyConnection, today: dt.date,
                            symbols: list[str] | None = None, refresh: bool = False) -> dict[str, str]:
    """symbol -> reason, for every symbol with bars whose factors are missing or stale."""
    rows = conn.execute(
        f"""
        WITH with_bars AS (
            SELECT DISTINCT symbol FROM daily_bars
            WHERE ?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], symbol)),
        state AS (SELECT symbol, status, as_of FROM ingest_state WHERE dataset = '{DATASET}'),
        stale AS (
            SELECT e.symbol, min(e.ex_date) AS ex_date
            FROM ({_EX_DATES_SQL}) e JOIN state s USING (symbol)
            WHERE NOT EXISTS (SELECT 1 FROM adjustment_factors f
                              WHERE f.symbol = e.symbol AND f.ex_date = e.ex_date)
              AND (s.as_of IS NULL OR s.as_of < e.ex_date + {EX_DATE_GRACE_DAYS})
            GROUP BY e.symbol)
        SELECT b.symbol,
               CASE WHEN ? THEN 'refresh requested'
                    WHEN s.symbol IS NULL THEN 'never fetched'
                    WHEN s.status = 'failed' THEN 'last attempt failed'
                    WHEN x.symbol IS NOT NULL THEN 'new ex-date ' || strftime(x.ex_date, '%Y-%m-%d')
               END AS reason
        FROM with_bars b LEFT JOIN state s USING (symbol) LEFT JOIN stale x USING (symbol)
        WHERE ? OR s.symbol IS NULL OR s.status = 'failed' OR x.symbol IS NOT NULL
        ORDER BY b.symbol
        """,
        [symbols, symbols, symbols, symbols, refresh, refresh],
    ).fetchall()
    return dict(rows)


def unexplained_ex_dates(conn: duckdb.DuckDBPyConnection, symbols: list[str] | None = None) -> pd.DataFrame:
    """Ex-dates in the bars that the stored factors do not have (symbol, ex_date, implied_step)."""
    return conn.execute(
        f"""
        SELECT e.* FROM ({_EX_DATES_SQL}) e
        WHERE e.symbol IN (SELECT symbol FROM ingest_state WHERE dataset = '{DATASET}' AND status <> 'failed')
          AND NOT EXISTS (SELECT 1 FROM adjustment_factors f WHERE f.symbol = e.symbol AND f.ex_date = e.ex_date)
        ORDER BY e.symbol, e.ex_date
        """,
        [symbols, symbols],
    ).df()


def _describe_change(old: pd.DataFrame, new: pd.DataFrame) -> str | None:
    """What differs between a symbol's stored and fetched factors, or None."""
    if old.empty:
        return None
    before = dict(zip(pd.to_datetime(old["ex_date"]).dt.date, old["hfq_factor"]))
    after = dict(zip(pd.to_datetime(new["ex_date"].astype(object)).dt.date, new["hfq_factor"]))
    added = sorted(set(after) - set(before))
    moved = [d for d in set(before) & set(after) if abs(after[d] / before[d] - 1) > 1e-9]
    parts = []
    if added:
        parts.append("new ex-date(s) " + ", ".join(map(str, added)))
    if moved:
        parts.append(f"{len(moved)} earlier factor(s) restated")
    if set(before) - set(after):
        parts.append(f"{len(set(before) - set(after))} ex-date(s) withdrawn")
    return "; ".join(parts) or None


def load_adjustment_factors(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    symbols: list[str] | None = None,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
) -> FactorLoadReport:
    """Fetch the factors of every symbol that needs them, check them, swap them in per symbol."""
    began = time.perf_counter()
    today = source.today()
    report = FactorLoadReport(needed=symbols_needing_factors(conn, today, symbols, refresh))
    requests_before = sum(source.requests.values())
    fetched, outcomes, streak = [], [], 0
    total = len(report.needed)
    for i, symbol in enumerate(report.needed, start=1):
        try:
            frame = normalize.adjustment_factors(source.adjustment_factors_raw(symbol), symbol, source.name)
        except Exception as error:  # noqa: BLE001 - isolated to the symbol, reported, retried
            reason = f"{type(error).__name__}: {error}"
            report.failed[symbol] = reason
            outcomes.append((symbol, "failed", reason))
            log.warning("adjustment_factors %s failed: %s", symbol, reason)
            streak = streak + 1 if isinstance(error, RetriesExhausted) else 0
            frame = None
        else:
            if frame.empty:  # no corporate action ever: adjusted prices equal unadjusted ones
                outcomes.append((symbol, "empty", "upstream has no factors"))
            else:
                fetched.append(frame)
            streak = 0
        if progress:
            progress(i, total, symbol, 0 if frame is None else len(frame))
        if streak >= breaker_threshold and i < total:
            report.circuit_open = (f"stopped after {streak} consecutive symbols failed (last: {symbol}); "
                                   f"{total - i} symbols not attempted, to be retried by the next run")
            log.error("adjustment_factors circuit breaker: %s", report.circuit_open)
            break
    report.requests = sum(source.requests.values()) - requests_before

    staged = pd.concat(fetched, ignore_index=True) if fetched else normalize.empty_factors()
    report.checks = validate_factors(staged, today, ex_dates(conn, list({*staged["symbol"]}) or None))
    passed, quarantine = split("adjustment_factors", staged, report.checks, ["symbol", "ex_date"])
    report.rows_quarantined = len(quarantine)
    dirty = set(quarantine["symbol"])
    stored = conn.execute("SELECT symbol, ex_date, hfq_factor FROM adjustment_factors "
                          "WHERE symbol IN (SELECT unnest(?::VARCHAR[]))", [list(report.needed)]).df()
    stored_by_symbol = dict(tuple(stored.groupby("symbol", sort=False)))  # one pass, not one filter per symbol
    replaced = []
    for frame in fetched:
        symbol = frame["symbol"].iloc[0]
        if symbol in dirty:
            reason = "quality: factor rows quarantined"
            report.failed[symbol] = reason
            outcomes.append((symbol, "failed", reason))
            continue
        change = _describe_change(stored_by_symbol.get(symbol, stored.iloc[0:0]), frame)
        if change:
            report.changed[symbol] = change
        replaced.append(symbol)
        outcomes.append((symbol, "ok", None))
    report.rows_written = write_factor_batch(
        conn, passed, replaced, pd.DataFrame(outcomes, columns=["symbol", "status", "error"]).astype(
            {"error": "string"}), lineage, today, quarantine=quarantine)
    report.symbols_updated = len(replaced)
    report.unexplained = unexplained_ex_dates(conn, symbols)
    report.seconds = time.perf_counter() - began
    return report
