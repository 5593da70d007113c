"""Hong Kong adjustment factors: sina's HK hfq and qfq factors, fetched again on a bounded cadence.

Which factors: sina's, the `hfq.js` and `qfq.js` scripts akshare's `stock_hk_daily(adjust="hfq-factor")`
and `(adjust="qfq-factor")` read, the same vendor and scripts akshare's own HK qfq/hfq prices use. sina's HK backward adjustment
is affine (hfq price = price x hfq_factor + cash: a cash dividend is added back, not compounded)
and its forward adjustment a plain ratio (qfq price = price x qfq_factor), so neither can be
derived from the other exactly: both are stored (`hk_adjustment_factors`) and applied on read.

When to fetch, cheapest first, within a night's request budget:

- a symbol with HK bars whose factors were never fetched or whose last attempt failed (not
  capped: the first full load, and retries);
- the ex-date signal: the HK main-board quote list the nightly bars already fetched (stored in
  `hk_quote_list`, no extra request) shows a 昨收 that differs from the stored close of the
  session before, on a day after the symbol's last factor fetch. eastmoney's unadjusted bars
  measure 涨跌额 close to close, so the stored bars never show an ex-date; the list's 昨收 may
  (the exchange's ex-rights reference price). Whether eastmoney's HK 昨收 moves for a cash
  dividend, or only for splits, bonus and rights issues, is not documented, so the signal is
  a shortcut, not the guarantee: at most `SIGNAL_PER_RUN` symbols a night (the rest wait in
  the queue, oldest signal first);
- the fallback that works whatever the signal does: again once the last fetch is
  `REFRESH_AFTER_DAYS` old, at most `REFRESH_PER_RUN` symbols a night (oldest first, so a whole
  board fetched on one day does not come due on one later day).

A dividend the signal misses reaches the stored qfq prices when the rotation comes round, or
at once with `refresh`. Each fetch costs two upstream requests, one per script (through
`stock_hk_daily` it would be four: see `AkshareSource.hk_adjustment_factors_raw`), so a night
spends at most 2 x (`SIGNAL_PER_RUN` + `REFRESH_PER_RUN`) = 30 requests here besides retries of
failures; the first full load 2 per HK symbol (about 5,200 for 2,600 symbols).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

import duckdb
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.loaders.factors import FactorLoadReport, describe_change, fetch_factor_lists
from quantdb_pipeline.quality.expectations import combine
from quantdb_pipeline.quality.gate import split
from quantdb_pipeline.quality.suites import validate_hk_factors
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.writes import Lineage, staged, write_factor_batch

DATASET = TABLE = "hk_adjustment_factors"
#: A symbol's factors are due again once its last fetch is this many days old.
REFRESH_AFTER_DAYS = 30
#: At most this many symbols are fetched again for age in one run (never fetched and failed
#: symbols are not capped): 5 x 2 = 10 requests a night, so the whole 2,600-symbol board comes
#: round in about 520 nights. It is the fallback; the ex-date signal is the fast path.
REFRESH_PER_RUN = 5
#: At most this many symbols are fetched for an ex-date signal in one run (10 x 2 = 20 requests);
#: more in a dividend season wait in the queue, oldest signal first.
SIGNAL_PER_RUN = 10
#: 昨收 and the stored close differ by more than this (HKD) for an ex-date signal.
SIGNAL_TOLERANCE = 0.005

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str, int], None]


def symbols_needing_hk_factors(
    conn: duckdb.DuckDBPyConnection,
    today: dt.date,
    symbols: list[str] | None = None,
    refresh: bool = False,
    refresh_per_run: int = REFRESH_PER_RUN,
    signal_per_run: int = SIGNAL_PER_RUN,
) -> dict[str, str]:
    """symbol -> reason, for every HK symbol with bars whose factors are missing, failed, signalled
    by the quote list's 昨收 (see the module docstring) or due by age, each capped as described there."""
    rows = conn.execute(
        f"""
        WITH with_bars AS (
            SELECT DISTINCT symbol FROM hk_daily_bars
            WHERE $symbols::VARCHAR[] IS NULL OR list_contains($symbols::VARCHAR[], symbol)),
        state AS (SELECT symbol, status, as_of FROM ingest_state WHERE dataset = '{DATASET}'),
        quoted AS (
            SELECT q.symbol, q.as_of AS day, q.reference_price, b.close AS stored_close
            FROM hk_quote_list q ASOF JOIN hk_daily_bars b ON q.symbol = b.symbol AND q.as_of > b.trade_date
            WHERE q.accepted AND q.reference_price IS NOT NULL),
        signals AS (
            SELECT q.symbol, min(q.day) AS first_day,
                   arg_min('ex-date signal: 昨收 ' || CAST(q.reference_price AS VARCHAR) || ' on '
                           || CAST(q.day AS VARCHAR) || ', stored close ' || CAST(q.stored_close AS VARCHAR),
                           q.day) AS detail
            FROM quoted q LEFT JOIN state s USING (symbol)
            WHERE abs(q.reference_price - q.stored_close) > {SIGNAL_TOLERANCE}
              AND (s.as_of IS NULL OR q.day > s.as_of)
            GROUP BY q.symbol),
        reasons AS (
            SELECT b.symbol, s.as_of, g.first_day,
                   CASE WHEN $refresh THEN 'refresh requested'
                        WHEN s.symbol IS NULL THEN 'never fetched'
                        WHEN s.status = 'failed' THEN 'last attempt failed'
                        WHEN g.symbol IS NOT NULL THEN g.detail
                        WHEN s.as_of IS NULL OR s.as_of <= $today::DATE - {REFRESH_AFTER_DAYS}
                            THEN 'due: last fetched ' || coalesce(strftime(s.as_of, '%Y-%m-%d'), 'unknown')
                   END AS reason
            FROM with_bars b LEFT JOIN state s USING (symbol) LEFT JOIN signals g USING (symbol))
        SELECT symbol, reason FROM reasons
        WHERE reason IS NOT NULL
        QUALIFY (NOT starts_with(reason, 'due') AND NOT starts_with(reason, 'ex-date signal'))
             OR (starts_with(reason, 'due') AND row_number() OVER (
                    PARTITION BY starts_with(reason, 'due') ORDER BY as_of NULLS FIRST, symbol) <= $due_cap)
             OR (starts_with(reason, 'ex-date signal') AND row_number() OVER (
                    PARTITION BY starts_with(reason, 'ex-date signal') ORDER BY first_day, symbol) <= $signal_cap)
        ORDER BY symbol
        """,
        {
            "symbols": symbols,
            "refresh": refresh,
            "today": today,
            "due_cap": refresh_per_run,
            "signal_cap": signal_per_run,
        },
    ).fetchall()
    return dict(rows)


def previous_closes(conn: duckdb.DuckDBPyConnection, factors: pd.DataFrame) -> pd.DataFrame:
    """(symbol, ex_date, previous_close): the last stored unadjusted close before each ex-date."""
    with staged(conn, staged_hk_ex_dates=factors[["symbol", "ex_date"]]):
        return conn.execute(
            "SELECT s.symbol, s.ex_date, b.close AS previous_close FROM staged_hk_ex_dates s "
            "ASOF JOIN hk_daily_bars b ON s.symbol = b.symbol AND s.ex_date > b.trade_date"
        ).df()


def load_hk_adjustment_factors(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    symbols: list[str] | None = None,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
    refresh_per_run: int = REFRESH_PER_RUN,
    chunk: tuple[int, int] | None = None,
) -> FactorLoadReport:
    """Fetch the factors of every HK symbol that needs them, check them, swap them in per symbol,
    a chunk of symbols per transaction (`chunk`: see `factors.fetch_factor_lists`).

    A symbol whose scripts hold no corporate action is recorded as 'empty' and keeps no rows
    (its adjusted prices are its traded ones); a failed symbol keeps what is stored.
    """
    began = time.perf_counter()
    today = source.today()
    report = FactorLoadReport(needed=symbols_needing_hk_factors(conn, today, symbols, refresh, refresh_per_run))
    for outcomes, fetched in fetch_factor_lists(
        source,
        report,
        lambda symbol: normalize.hk_adjustment_factors(source.hk_adjustment_factors_raw(symbol), symbol, source.name),
        TABLE,
        breaker_threshold,
        progress,
        chunk,
    ):
        _write_chunk(conn, report, outcomes, fetched, lineage, today)
    report.seconds = time.perf_counter() - began
    return report


def _write_chunk(
    conn: duckdb.DuckDBPyConnection,
    report: FactorLoadReport,
    outcomes: list[tuple],
    fetched: list[pd.DataFrame],
    lineage: Lineage,
    today: dt.date,
) -> None:
    """Check one chunk of HK factor lists and swap them in, with their outcomes, in one transaction."""
    staged = pd.concat(fetched, ignore_index=True) if fetched else schema.empty_frame(schema.HK_FACTOR_DTYPES)
    checks = validate_hk_factors(staged, today, previous_closes(conn, staged))
    report.checks = combine(report.checks, checks)
    passed, quarantine = split(TABLE, staged, checks, ["symbol", "ex_date"])
    report.rows_quarantined += len(quarantine)
    dirty = set(quarantine["symbol"])
    stored = conn.execute(
        f"SELECT symbol, ex_date, hfq_factor, hfq_cash FROM {TABLE} WHERE symbol IN (SELECT unnest(?::VARCHAR[]))",
        [list(report.needed)],
    ).df()
    stored_by_symbol = dict(tuple(stored.groupby("symbol", sort=False)))
    replaced = [s for s, status, _ in outcomes if status == "empty"]  # stored rows, if any, were withdrawn
    for frame in fetched:
        symbol = frame["symbol"].iloc[0]
        if symbol in dirty:
            reason = "quality: factor rows quarantined"
            report.failed[symbol] = reason
            outcomes.append((symbol, "failed", reason))
            continue
        # qfq factors move with every new ex-date by construction: only new dates and hfq restatements count
        change = describe_change(stored_by_symbol.get(symbol, stored.iloc[0:0]), frame, ("hfq_factor", "hfq_cash"))
        if change:
            report.changed[symbol] = change
        replaced.append(symbol)
        outcomes.append((symbol, "ok", None))
    report.symbols_updated += len(replaced)
    report.rows_written += write_factor_batch(
        conn,
        passed,
        replaced,
        pd.DataFrame(outcomes, columns=["symbol", "status", "error"]).astype({"error": "string"}),
        lineage,
        today,
        quarantine=quarantine,
        dataset=DATASET,
        table=TABLE,
        columns=schema.HK_FACTOR_COLUMNS,
    )
