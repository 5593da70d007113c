"""The pipeline's bookkeeping view of the published warehouse (`status`, also `quantdb-pipeline
status`): what each table holds, coverage gaps and holes, quarantine, retries, stale datasets,
unreconciled bars, adjustment gaps and market closures.

The operations side of the warehouse: it reads the tables the pipeline keeps about its own runs
(`bar_coverage`, `ingest_state`, `dataset_status`, `quarantine`). Read through the reader's
cached read-only connection, so it imports duckdb and pandas on first use only;
`quantdb_pipeline.read` re-exports `status` for notebooks.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

from quantdb_pipeline._lazy import LazyModule
from quantdb_pipeline.read.connection import _cursor
from quantdb_pipeline.read.frames import _frame
from quantdb_pipeline.settings import revisit_days as revisit_days_setting

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast
    pd = LazyModule("pandas")
dataset_status = LazyModule("quantdb_pipeline.warehouse.dataset_status")  # imports duckdb and pandas

_STATUS_TABLES = {  # table -> its date column
    "daily_bars": "trade_date",
    "adjustment_factors": "ex_date",
    "corporate_actions": "ex_date",
    "hk_daily_bars": "trade_date",
    "hk_adjustment_factors": "ex_date",
    "index_daily_bars": "trade_date",
    "security_profiles": "observed_on",
    "financial_statements": "report_date",
    "financial_indicators": "report_date",
    "securities": None,
    "hk_securities": None,
    "trading_calendar": "trade_date",
}

#: Each bar table's holes: (market, table, its calendar, how a symbol's day counts as present).
_HOLE_SOURCES = [
    ("CN", "daily_bars", "CN", "coverage"),
    ("HK", "hk_daily_bars", "HK", "bars"),
    ("index", "index_daily_bars", "CN", "bars"),
]


def _holes(conn: duckdb.DuckDBPyConnection, revisit_days: int) -> pd.DataFrame:
    """Runs of consecutive trading days a symbol lacks, per market (see `status`).

    Computed from the gaps between a symbol's covered intervals (A-shares) or between its
    consecutive stored bars (HK, indices), with trading days numbered, so that the cost grows
    with the rows stored rather than with symbols x days.
    """
    frames = []
    # up to the last day ANY table of the same calendar reached: A-shares that failed for days
    # while the indices were loaded lack those days too
    last_days: dict[str, dt.date] = {}
    for _, table, calendar, _ in _HOLE_SOURCES:
        last = conn.execute(f"SELECT max(trade_date) FROM {table}").fetchall()[0][0]
        if last is not None:
            last_days[calendar] = max(last, last_days.get(calendar, last))
    for market, table, calendar, present in _HOLE_SOURCES:
        if conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)").fetchall()[0][0] == 0:
            continue
        last_day = last_days[calendar]
        if present == "coverage":
            # A-shares: after each covered interval up to the next one, or up to the last day
            # (the day before the delisting for a delisted symbol); endpoints need not be trading days
            spans = """
                intervals AS (
                    SELECT c.symbol,
                           max(c.covered_to) OVER (PARTITION BY c.symbol ORDER BY c.covered_from
                                                   ROWS UNBOUNDED PRECEDING) AS after,
                           coalesce(lead(c.covered_from) OVER (PARTITION BY c.symbol ORDER BY c.covered_from),
                                    DATE '9999-12-31') AS before,
                           least($last_day, coalesce(s.delist_date - 1, $last_day)) AS until
                    -- codes no longer listed (dropped, switched) are never fetched again: no holes
                    FROM bar_coverage c JOIN securities s USING (symbol) WHERE s.status = 'listed'),
                a AS (SELECT i.*, d.n AS n_after FROM intervals i ASOF LEFT JOIN days d ON i.after >= d.trade_date),
                b AS (SELECT a.*, d.n AS n_before FROM a ASOF LEFT JOIN days d ON a.before <= d.trade_date),
                c AS (SELECT b.*, d.n AS n_until FROM b ASOF LEFT JOIN days d ON b.until >= d.trade_date),
                spans AS (SELECT symbol, coalesce(n_after, 0) + 1 AS lo,
                                 least(coalesce(n_before - 1, n_until), n_until) AS hi FROM c)"""
        else:
            # HK and indices: between consecutive stored bars, and after the last one
            spans = f"""
                numbered AS (SELECT b.symbol, d.n FROM {table} b JOIN days d USING (trade_date)),
                spans AS (SELECT symbol, n + 1 AS lo,
                                 coalesce(lead(n) OVER (PARTITION BY symbol ORDER BY n),
                                          (SELECT max(n) FROM days) + 1) - 1 AS hi
                          FROM numbered)"""
        frames.append(
            _frame(
                conn.execute(
                    f"""
            WITH days AS (SELECT trade_date, row_number() OVER (ORDER BY trade_date) AS n FROM trading_sessions
                          WHERE market = $calendar AND trade_date <= $last_day),
            {spans}
            SELECT $market AS market, s.symbol, f.trade_date AS first_missing, l.trade_date AS last_missing,
                   s.hi - s.lo + 1 AS trading_days,
                   s.hi > (SELECT max(n) FROM days) - $revisit OR l.trade_date = $last_day AS revisited
            FROM spans s JOIN days f ON f.n = s.lo JOIN days l ON l.n = s.hi
            WHERE s.lo <= s.hi
            ORDER BY s.symbol, first_missing
            """,
                    {"calendar": calendar, "last_day": last_day, "market": market, "revisit": revisit_days},
                )
            )
        )
    columns = ["market", "symbol", "first_missing", "last_missing", "trading_days", "revisited"]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def status(*, warehouse: str | os.PathLike | None = None, revisit_days: int | None = None) -> dict[str, pd.DataFrame]:
    """What the published warehouse holds and what is waiting, as frames (also `quantdb-pipeline status`).

    - `tables`: per table its rows, latest date and last write (run and UTC time);
    - `gaps`: listed A-shares whose bar coverage ends before the last trading day with bars,
      and trading days in the covered range on which no symbol has a bar (recorded market
      closures are not trading days);
    - `holes`: the trading days each symbol lacks, one row per run of consecutive missing
      trading days of its market's calendar: market (CN, HK, index), symbol, first_missing,
      last_missing, trading_days (how many), revisited. A-shares lack a day that no
      `bar_coverage` interval holds, from their first covered day (their listing at the
      earliest) to the last day with bars on the CN calendar, A-shares or indices (before
      their delisting): an `empty`
      answer, a refused quote list, a quarantined row, a missed night; a suspension is
      covered and is no hole. HK symbols and indices lack a day of their calendar, from their
      first stored bar to the last day with bars on their calendar, without a bar (a suspended HK symbol's days
      are holes too). `revisited` is True when the next run asks for it by itself: the hole
      reaches into the trailing window of `revisit_days` trading days (default
      $QUANTDB_REVISIT_DAYS or 20) before the last day, or runs up to that day; other holes
      stay until a run's own range covers them (`quantdb-pipeline run --start ... --end ...`);
    - `quarantine`: quarantined rows per table and rule;
    - `retries`: symbols whose last attempt failed or answered empty, per dataset, with the error;
    - `stale`: datasets whose last load failed (circuit breaker, endpoint down, batch refused) and
      that therefore still hold their last good rows: dataset, reason, failed_run_id, failed_at,
      last_good_at, last_good_run_id (UTC); a later completed load removes the dataset from here;
    - `unreconciled`: bars taken from the nightly quote list and not yet compared with the
      history endpoint (symbols, rows, oldest and newest day);
    - `adjustment`: ex-dates whose factor is derived while upstream has not published it
      (kind "derived", with what it was derived from) or that no factor covers (kind "gap",
      with the reason): symbol, ex_date, kind, detail;
    - `closures`: days the library calendar lists on which a market did not trade, as recorded
      from the answers of a run (market, day, detected_at, evidence); not trading days above.
    """
    with _cursor(warehouse) as conn:
        rows = []
        for table, column in _STATUS_TABLES.items():
            latest = f"max({column})" if column else "NULL"
            stamp = "max(ingested_at), arg_max(run_id, ingested_at)"
            n, last, ingested, run = conn.execute(f"SELECT count(*), {latest}, {stamp} FROM {table}").fetchall()[0]
            rows.append((table, n, last, ingested, run))
        tables = pd.DataFrame(rows, columns=["table", "rows", "latest_date", "last_written_at", "last_run_id"])
        last_day = tables.set_index("table").loc["daily_bars", "latest_date"]
        tables["latest_date"] = pd.to_datetime(tables["latest_date"]).dt.as_unit("ns")
        tables["last_written_at"] = pd.to_datetime(tables["last_written_at"], utc=True).dt.as_unit("ns")
        gaps = _frame(
            conn.execute(
                """
            WITH coverage AS (SELECT symbol, max(covered_to) AS covered_to FROM bar_coverage GROUP BY symbol)
            SELECT 'symbol behind' AS kind, s.symbol, coalesce(c.covered_to, NULL) AS covered_to, NULL::DATE AS trade_date
            FROM securities s LEFT JOIN coverage c USING (symbol)
            WHERE $last_day::DATE IS NOT NULL AND (s.delist_date IS NULL OR s.delist_date > $last_day)
              AND (s.list_date IS NULL OR s.list_date <= $last_day) AND s.status = 'listed'
              AND (c.covered_to IS NULL OR c.covered_to < $last_day)
            UNION ALL
            SELECT 'day without bars', NULL, NULL, t.trade_date
            FROM trading_sessions t
            WHERE t.market = 'CN' AND t.trade_date BETWEEN (SELECT min(trade_date) FROM daily_bars) AND $last_day
              AND NOT EXISTS (SELECT 1 FROM daily_bars b WHERE b.trade_date = t.trade_date)
            ORDER BY kind, symbol, trade_date
            """,
                {"last_day": last_day if pd.notna(last_day) else None},
            )
        )
        holes = _holes(conn, revisit_days_setting() if revisit_days is None else revisit_days)
        quarantine = _frame(
            conn.execute(
                "SELECT table_name, rules, count(*) AS rows, max(quarantined_at) AS last_at FROM quarantine "
                "GROUP BY ALL ORDER BY table_name, rules"
            )
        )
        retries = _frame(
            conn.execute(
                # an empty answer is retried for bars (upstream throttles with empty frames); for factors,
                # dividend periods and former names (sina lists none) it means "none", not waiting for anything
                "SELECT dataset, symbol, status, last_attempt_at, error FROM ingest_state "
                "WHERE status = 'failed' OR (status = 'empty' AND dataset NOT IN "
                "('corporate_actions', 'adjustment_factors', 'hk_adjustment_factors', 'former_names')) "
                "AND symbol NOT IN (SELECT symbol FROM securities WHERE status <> 'listed') ORDER BY dataset, symbol"
            )
        )
        unreconciled = _frame(
            conn.execute(
                "SELECT source, count(DISTINCT symbol) AS symbols, count(*) AS rows, min(trade_date) AS oldest, "
                "max(trade_date) AS newest FROM daily_bars WHERE source LIKE '%/spot' GROUP BY source ORDER BY source"
            )
        )
        adjustment = _frame(
            conn.execute(
                """
            SELECT symbol, ex_date, 'derived' AS kind, derived_from AS detail FROM adjustment_factors
            WHERE derived_from IS NOT NULL AND derived_from <> 'base'
            UNION ALL
            SELECT symbol, ex_date, 'gap', reason FROM adjustment_gaps
            ORDER BY kind, symbol, ex_date
            """
            )
        )
        stale = dataset_status.stale(conn)
        closures = _frame(
            conn.execute("SELECT market, day, detected_at, evidence FROM market_closures ORDER BY market, day")
        )
        return {
            "tables": tables,
            "gaps": gaps,
            "holes": holes,
            "quarantine": quarantine,
            "retries": retries,
            "stale": stale,
            "unreconciled": unreconciled,
            "adjustment": adjustment,
            "closures": closures,
        }
