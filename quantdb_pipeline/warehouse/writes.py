"""Transactional, idempotent writes.

Each write stages its rows as Arrow, removes duplicate keys, and replaces exactly the
window it covers (delete + insert) in one transaction. Running the same load twice leaves
the same table; a crash leaves the previous committed state. `INSERT OR REPLACE` is avoided
for bars on purpose: with duplicate keys inside one batch it silently keeps one of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa

from quantdb_pipeline.faults import crash_point
from quantdb_pipeline.schema import (
    BAR_COLUMNS,
    CORPORATE_ACTION_COLUMNS,
    FACTOR_COLUMNS,
    PROFILE_COLUMNS,
    PROFILE_VERSIONED,
    QUARANTINE_COLUMNS,
    SECURITY_COLUMNS,
    empty_quarantine,
)
from quantdb_pipeline.warehouse.coverage import Interval
from quantdb_pipeline.warehouse.listing_status import ListingUpdate, apply_listing_update
from quantdb_pipeline.warehouse.schema import scalar


@dataclass(frozen=True)
class Lineage:
    """Stamped on every row: where it came from, which run wrote it, and when (UTC)."""

    source: str
    run_id: str
    ingested_at: dt.datetime

    @classmethod
    def now(cls, source: str, run_id: str) -> Lineage:
        return cls(source, run_id, dt.datetime.now(dt.timezone.utc))


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection):
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def staged(conn: duckdb.DuckDBPyConnection, **frames: pd.DataFrame | pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """Each of `frames` registered on `conn` as a view named by its keyword for the block, every
    one unregistered when the block ends, by return or by exception.

    Why: a registered view keeps its frame alive as long as the connection, and a write or a
    lookup that raised used to leave its views behind (a later registration of the same name
    silently replaced them). pandas frames are registered as Arrow tables (what the writes have
    always staged: NaN and None both become NULL, dates DATE), Arrow tables as they are.
    Nest it inside or outside `transaction`: views are not transactional.
    """
    names: list[str] = []
    try:
        for name, frame in frames.items():
            conn.register(name, pa.Table.from_pandas(frame, preserve_index=False)
                          if isinstance(frame, pd.DataFrame) else frame)
            names.append(name)
        yield conn
    finally:
        for name in reversed(names):
            conn.unregister(name)


def _lineage_params(lineage: Lineage) -> list:
    return [lineage.source, lineage.run_id, lineage.ingested_at]


def replace_calendar(conn: duckdb.DuckDBPyConnection, calendar: pd.DataFrame, lineage: Lineage) -> int:
    """Replace the trading days of every market present in `calendar`."""
    with staged(conn, staged_calendar=calendar.drop_duplicates(["market", "trade_date"])), transaction(conn):
        conn.execute("DELETE FROM trading_calendar WHERE market IN (SELECT DISTINCT market FROM staged_calendar)")
        conn.execute(
            "INSERT INTO trading_calendar SELECT market, trade_date, ?, ?, ? FROM staged_calendar",
            _lineage_params(lineage),
        )
    return scalar(conn, "SELECT count(*) FROM trading_calendar")


def upsert_securities(conn: duckdb.DuckDBPyConnection, securities: pd.DataFrame, lineage: Lineage,
                      quarantine: pd.DataFrame | None = None, listing: ListingUpdate | None = None) -> dict:
    """Insert new securities and update known ones; never drop a symbol the lists no longer show.

    `listing` (see `listing_status`): the day's statuses (listed / dropped / switched) and new
    symbol changes, written in the same transaction."""
    rows = securities[SECURITY_COLUMNS].drop_duplicates("symbol", keep="first")
    with staged(conn, staged_securities=rows), transaction(conn):
        conn.execute("DELETE FROM quarantine WHERE table_name = 'securities' "
                     "AND row_key IN (SELECT symbol FROM staged_securities)")
        _write_quarantine(conn, quarantine if quarantine is not None else empty_quarantine(), lineage)
        new = scalar(conn, "SELECT count(*) FROM staged_securities WHERE symbol NOT IN (SELECT symbol FROM securities)")
        conn.execute(
            f"""
            INSERT INTO securities ({", ".join(SECURITY_COLUMNS)}, source, run_id, ingested_at)
            SELECT {", ".join(SECURITY_COLUMNS)}, ?, ?, ? FROM staged_securities
            ON CONFLICT (symbol) DO UPDATE SET
                exchange = excluded.exchange, board = excluded.board, name = excluded.name,
                is_st = excluded.is_st,
                list_date = coalesce(excluded.list_date, securities.list_date),
                delist_date = coalesce(excluded.delist_date, securities.delist_date),
                source = excluded.source, run_id = excluded.run_id, ingested_at = excluded.ingested_at
            """,
            _lineage_params(lineage),
        )
        if listing is not None:
            apply_listing_update(conn, listing, lineage)
    return {"new": int(new), "total": scalar(conn, "SELECT count(*) FROM securities"),
            **(listing.counts() if listing is not None else {})}


def _write_quarantine(conn: duckdb.DuckDBPyConnection, quarantine: pd.DataFrame, lineage: Lineage) -> None:
    if quarantine.empty:
        return
    with staged(conn, staged_quarantine=quarantine[QUARANTINE_COLUMNS].drop_duplicates(
            ["table_name", "row_key"], keep="last")):
        conn.execute(
            f"""
            INSERT INTO quarantine SELECT {", ".join(QUARANTINE_COLUMNS)}, ?, ?, ? FROM staged_quarantine
            ON CONFLICT (table_name, row_key) DO UPDATE SET
                rules = excluded.rules, row_values = excluded.row_values, source = excluded.source,
                run_id = excluded.run_id, quarantined_at = excluded.quarantined_at
            """,
            _lineage_params(lineage),
        )


def write_bar_batch(
    conn: duckdb.DuckDBPyConnection,
    bars: pd.DataFrame,
    windows: pd.DataFrame,
    coverage: dict[str, list[Interval]],
    outcomes: pd.DataFrame,
    lineage: Lineage,
    dataset: str = "daily_bars",
    quarantine: pd.DataFrame | None = None,
    as_of: dt.date | None = None,
) -> int:
    """Write one checked batch of bars, its bookkeeping and its quarantine, in one transaction.

    `windows` (symbol, fetched_from, fetched_to) are the ranges fetched and found clean: their
    old bars are deleted, and their old quarantine rows cleared. Every key in `bars` replaces
    the stored row with that key; stored rows of other keys are kept (so a symbol whose refetch
    had a bad row keeps its good stored bar for that day). `coverage` is each touched symbol's
    complete new list of covered intervals. `outcomes` (symbol, status, error) is one row per
    symbol attempted. A `source` column in `bars`, if present, is each row's lineage source. All of it commits together or not at all.
    """
    row_source = "source" in bars.columns  # per-row lineage (e.g. "<source>/spot"), else the batch's
    bars = bars[BAR_COLUMNS + (["source"] if row_source else [])].drop_duplicates(
        ["symbol", "trade_date"], keep="last")
    coverage_rows = pd.DataFrame(
        [(symbol, start, end) for symbol, intervals in coverage.items() for start, end in intervals],
        columns=["symbol", "covered_from", "covered_to"],
    )
    params = _lineage_params(lineage)
    with staged(conn, staged_bars=bars, staged_windows=windows[["symbol", "fetched_from", "fetched_to"]],
                staged_coverage=coverage_rows.astype({"symbol": "string"}),
                staged_touched=pd.DataFrame({"symbol": pd.Series(list(coverage), dtype="string")}),
                staged_outcomes=outcomes[["symbol", "status", "error"]].drop_duplicates("symbol", keep="last")), \
            transaction(conn):
        # a reference price only the quote list gives survives the history row replacing its bar
        conn.execute(
            """
            CREATE OR REPLACE TEMP TABLE kept_references AS
            SELECT d.symbol, d.trade_date, d.reference_price FROM daily_bars d JOIN staged_bars s
              ON d.symbol = s.symbol AND d.trade_date = s.trade_date
            WHERE d.reference_price IS NOT NULL AND s.reference_price IS NULL
            """
        )
        conn.execute(
            """
            DELETE FROM daily_bars USING staged_windows w
            WHERE daily_bars.symbol = w.symbol AND daily_bars.trade_date BETWEEN w.fetched_from AND w.fetched_to
            """
        )
        conn.execute(
            """
            DELETE FROM quarantine USING staged_windows w
            WHERE quarantine.table_name = 'daily_bars' AND quarantine.symbol = w.symbol
              AND (quarantine.trade_date BETWEEN w.fetched_from AND w.fetched_to
                   -- a row dated in the future is outside every window; a clean answer supersedes it
                   OR (quarantine.trade_date > w.fetched_to AND quarantine.rules LIKE '%not_in_future%'))
            """
        )
        conn.execute(
            """
            DELETE FROM daily_bars USING staged_bars s
            WHERE daily_bars.symbol = s.symbol AND daily_bars.trade_date = s.trade_date
            """
        )
        crash_point("write")
        _write_quarantine(conn, quarantine if quarantine is not None else empty_quarantine(), lineage)
        source = "s.source" if row_source else "?"
        values = ", ".join("coalesce(s.reference_price, k.reference_price)" if c == "reference_price" else f"s.{c}"
                           for c in BAR_COLUMNS)
        conn.execute(f"INSERT INTO daily_bars ({', '.join(BAR_COLUMNS)}, source, run_id, ingested_at) "
                     f"SELECT {values}, {source}, ?, ? FROM staged_bars s LEFT JOIN kept_references k "
                     "ON s.symbol = k.symbol AND s.trade_date = k.trade_date",
                     params[1:] if row_source else params)
        conn.execute("DROP TABLE kept_references")
        conn.execute("DELETE FROM bar_coverage WHERE symbol IN (SELECT symbol FROM staged_touched)")
        conn.execute(
            "INSERT INTO bar_coverage SELECT symbol, covered_from, covered_to, ?, ? FROM staged_coverage",
            [lineage.run_id, lineage.ingested_at],
        )
        _record_outcomes(conn, dataset, lineage, as_of)
    return len(bars)


def _record_outcomes(conn: duckdb.DuckDBPyConnection, dataset: str, lineage: Lineage, as_of: dt.date | None) -> None:
    """Upsert `staged_outcomes` (symbol, status, error) into `ingest_state`."""
    conn.execute(
        """
        INSERT INTO ingest_state (dataset, symbol, status, last_attempt_at, last_success_at, error, run_id, as_of)
        SELECT ?, symbol, status, ?, CASE WHEN status = 'ok' THEN ? END, error, ?, ? FROM staged_outcomes
        ON CONFLICT (dataset, symbol) DO UPDATE SET
            status = excluded.status, last_attempt_at = excluded.last_attempt_at,
            last_success_at = coalesce(excluded.last_success_at, ingest_state.last_success_at),
            error = excluded.error, run_id = excluded.run_id, as_of = excluded.as_of
        """,
        [dataset, lineage.ingested_at, lineage.ingested_at, lineage.run_id, as_of],
    )


def write_market_bars(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[str],
    bars: pd.DataFrame,
    windows: pd.DataFrame,
    outcomes: pd.DataFrame,
    lineage: Lineage,
    as_of: dt.date,
    quarantine: pd.DataFrame | None = None,
) -> int:
    """Replace each clean fetched window of `table` (hk_daily_bars, index_daily_bars) in one transaction.

    As for A-share bars: a window that came back clean replaces what is stored in it; rows of
    a symbol with quarantined rows replace only their own keys.
    """
    bars = bars[columns].drop_duplicates(["symbol", "trade_date"], keep="last")
    with staged(conn, staged_market_bars=bars, staged_windows=windows[["symbol", "fetched_from", "fetched_to"]],
                staged_outcomes=outcomes[["symbol", "status", "error"]].drop_duplicates("symbol", keep="last")), \
            transaction(conn):
        conn.execute(f"DELETE FROM {table} USING staged_windows w WHERE {table}.symbol = w.symbol "
                     f"AND {table}.trade_date BETWEEN w.fetched_from AND w.fetched_to")
        conn.execute(f"DELETE FROM quarantine USING staged_windows w WHERE quarantine.table_name = '{table}' "
                     "AND quarantine.symbol = w.symbol AND quarantine.trade_date >= w.fetched_from")
        conn.execute(f"DELETE FROM {table} USING staged_market_bars s "
                     f"WHERE {table}.symbol = s.symbol AND {table}.trade_date = s.trade_date")
        _write_quarantine(conn, quarantine if quarantine is not None else empty_quarantine(), lineage)
        conn.execute(f"INSERT INTO {table} ({', '.join(columns)}, source, run_id, ingested_at) "
                     f"SELECT {', '.join(columns)}, ?, ?, ? FROM staged_market_bars", _lineage_params(lineage))
        _record_outcomes(conn, table, lineage, as_of)
    return len(bars)


def upsert_rows(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, key: str,
                lineage: Lineage | None = None) -> int:
    """Insert or update reference rows (`hk_securities`, `indices`) by `key`; never delete."""
    columns = list(frame.columns)
    stamp = ["source", "run_id", "ingested_at"] if lineage else []
    updates = ", ".join(f"{c} = excluded.{c}" for c in [*columns, *stamp] if c != key)
    with staged(conn, staged_rows=frame.drop_duplicates(key, keep="first")), transaction(conn):
        conn.execute(
            f"INSERT INTO {table} ({', '.join([*columns, *stamp])}) "
            f"SELECT {', '.join(columns)}{', ?, ?, ?' if lineage else ''} FROM staged_rows "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}",
            _lineage_params(lineage) if lineage else [])
    return scalar(conn, f"SELECT count(*) FROM {table}")


def upsert_profiles(conn: duckdb.DuckDBPyConnection, profiles: pd.DataFrame, outcomes: pd.DataFrame,
                    lineage: Lineage, today: dt.date, quarantine: pd.DataFrame | None = None) -> dict[str, str]:
    """Merge observed profiles into `security_profiles` (type-2 history); return symbol -> change.

    `shares_source` says how the shares were obtained (see migration 0013); it is not versioned.
    Unchanged: the current version's market values and `observed_on` are refreshed. Changed:
    the current version ends today and a new one starts today (or, if the current one also
    started today, it is corrected in place).
    """
    with staged(conn, staged_profiles=profiles[PROFILE_COLUMNS],
                staged_outcomes=outcomes[["symbol", "status", "error"]].drop_duplicates("symbol", keep="last")):
        return _merge_profiles(conn, lineage, today, quarantine)


def _merge_profiles(conn: duckdb.DuckDBPyConnection, lineage: Lineage, today: dt.date,
                    quarantine: pd.DataFrame | None) -> dict[str, str]:
    """`upsert_profiles` once its frames are staged (`staged_profiles`, `staged_outcomes`)."""
    differs = " OR ".join(f"c.{c} IS DISTINCT FROM p.{c}" for c in PROFILE_VERSIONED)
    with transaction(conn):
        changed = conn.execute(
            f"""
            SELECT p.symbol, string_agg(CASE WHEN c.name IS DISTINCT FROM p.name THEN 'name: ' || c.name || ' -> ' || p.name
                                      WHEN c.industry IS DISTINCT FROM p.industry THEN 'industry: ' || coalesce(c.industry, '?')
                                           || ' -> ' || coalesce(p.industry, '?')
                                      ELSE 'shares or listing date' END, '; ')
            FROM staged_profiles p JOIN security_profiles c ON c.symbol = p.symbol AND c.valid_to IS NULL
            WHERE {differs} GROUP BY p.symbol
            """).fetchall()
        # a change seen today closes the current version (or replaces one that started today)
        conn.execute(f"""
            DELETE FROM security_profiles c USING staged_profiles p
            WHERE c.symbol = p.symbol AND c.valid_to IS NULL AND c.valid_from = ? AND ({differs})""", [today])
        conn.execute(f"""
            UPDATE security_profiles c SET valid_to = ? FROM staged_profiles p
            WHERE c.symbol = p.symbol AND c.valid_to IS NULL AND ({differs})""", [today])
        conn.execute("""
            UPDATE security_profiles c SET total_market_cap = p.total_market_cap,
                float_market_cap = p.float_market_cap, shares_source = p.shares_source, observed_on = ?,
                run_id = ?, ingested_at = ?
            FROM staged_profiles p WHERE c.symbol = p.symbol AND c.valid_to IS NULL""",
                     [today, lineage.run_id, lineage.ingested_at])
        conn.execute(f"""
            INSERT INTO security_profiles ({", ".join(PROFILE_COLUMNS)}, valid_from, valid_to, observed_on,
                                           source, run_id, ingested_at)
            SELECT {", ".join("p." + c for c in PROFILE_COLUMNS)}, ?, NULL, ?, ?, ?, ?
            FROM staged_profiles p
            WHERE NOT EXISTS (SELECT 1 FROM security_profiles c WHERE c.symbol = p.symbol AND c.valid_to IS NULL)""",
                     [today, today, *_lineage_params(lineage)])
        conn.execute("DELETE FROM quarantine WHERE table_name = 'security_profiles' "
                     "AND symbol IN (SELECT symbol FROM staged_profiles)")
        _write_quarantine(conn, quarantine if quarantine is not None else empty_quarantine(), lineage)
        _record_outcomes(conn, "security_profiles", lineage, today)
    return dict(changed)


def replace_reports(conn: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, replaced: list[str],
                    outcomes: pd.DataFrame, lineage: Lineage, today: dt.date,
                    quarantine: pd.DataFrame | None = None, dataset: str | None = None) -> int:
    """Replace the reports of each symbol in `replaced` (financial_statements or financial_indicators).

    A report with quarantined rows keeps what is stored of it: only its clean rows replace.
    """
    columns = [c for c in rows.columns if c in (
        "symbol", "statement", "report_date", "item", "value", "notice_date", "currency", "section",
        "indicator", "metric")]
    kept = (quarantine if quarantine is not None else empty_quarantine())[["symbol", "trade_date"]]
    with staged(conn, staged_reports=rows[columns],
                staged_replaced=pd.DataFrame({"symbol": pd.Series(replaced, dtype="string")}),
                staged_kept=kept.rename(columns={"trade_date": "report_date"}).astype({"symbol": "string"}),
                staged_outcomes=outcomes[["symbol", "status", "error"]].drop_duplicates("symbol", keep="last")), \
            transaction(conn):
        conn.execute(f"""
            DELETE FROM {table} WHERE symbol IN (SELECT symbol FROM staged_replaced)
              AND (symbol, report_date) NOT IN (SELECT symbol, report_date FROM staged_kept)""")
        conn.execute(f"DELETE FROM {table} USING staged_reports r WHERE " + " AND ".join(
            f"{table}.{k} = r.{k}" for k in columns if k in ("symbol", "statement", "report_date", "item",
                                                               "section", "indicator")))
        conn.execute(f"DELETE FROM quarantine WHERE table_name = '{table}' "
                     "AND symbol IN (SELECT symbol FROM staged_replaced)")
        _write_quarantine(conn, quarantine if quarantine is not None else empty_quarantine(), lineage)
        conn.execute(f"INSERT INTO {table} ({', '.join(columns)}, source, run_id, ingested_at) "
                     f"SELECT {', '.join(columns)}, ?, ?, ? FROM staged_reports", _lineage_params(lineage))
        _record_outcomes(conn, dataset or table, lineage, today)
    return len(rows)


REPORT_PERIOD_KEYS = {"financial_statements": ("symbol", "statement", "report_date", "item"),
                      "financial_indicators": ("symbol", "report_date", "section", "indicator")}


def replace_report_period(conn: duckdb.DuckDBPyConnection, period: dt.date, rows: dict[str, pd.DataFrame],
                          present: list[str], quarantine: pd.DataFrame, state: dict, lineage: Lineage) -> int:
    """Swap in one report period of the whole-market tables, in one transaction.

    `rows`: table (financial_statements, financial_indicators) -> the period's clean rows.
    Every symbol in `present` (in upstream's answer and in scope) has its stored rows of
    `period` replaced as a whole (upstream restates); a symbol with quarantined rows in a
    table keeps what is stored of that table's period and only its clean rows replace by key.
    The quarantine of `present` for the period is rewritten, and `state` (status, companies,
    requests, error) becomes the period's row in `financial_report_periods` (fetched_on: the
    lineage's run day is not the source's: `state["fetched_on"]`). Returns rows written.
    """
    written = 0
    with staged(conn, staged_present=pd.DataFrame({"symbol": pd.Series(present, dtype="string")})), \
            transaction(conn):
        for table, frame in rows.items():
            keys = REPORT_PERIOD_KEYS[table]
            columns = [c for c in frame.columns if c in (*keys, "value", "notice_date", "currency", "metric")]
            kept = quarantine.loc[quarantine["table_name"] == table, "symbol"].astype("string").drop_duplicates()
            with staged(conn, staged_period_rows=frame[columns], staged_period_kept=pd.DataFrame({"symbol": kept})):
                conn.execute(f"""
                    DELETE FROM {table} WHERE report_date = ? AND symbol IN (SELECT symbol FROM staged_present)
                      AND symbol NOT IN (SELECT symbol FROM staged_period_kept)""", [period])
                conn.execute(f"DELETE FROM {table} USING staged_period_rows r WHERE "
                             + " AND ".join(f"{table}.{k} = r.{k}" for k in keys))
                conn.execute(f"INSERT INTO {table} ({', '.join(columns)}, source, run_id, ingested_at) "
                             f"SELECT {', '.join(columns)}, ?, ?, ? FROM staged_period_rows", _lineage_params(lineage))
            conn.execute(f"DELETE FROM quarantine WHERE table_name = '{table}' AND trade_date = ? "
                         "AND symbol IN (SELECT symbol FROM staged_present)", [period])
            written += len(frame)
        _write_quarantine(conn, quarantine, lineage)
        record_report_period(conn, period, state, lineage)
    return written


def record_report_period(conn: duckdb.DuckDBPyConnection, period: dt.date, state: dict, lineage: Lineage) -> None:
    """Upsert the outcome of fetching `period` into `financial_report_periods` (keys of `state`:
    status, fetched_on, companies, requests, error)."""
    conn.execute(
        """
        INSERT INTO financial_report_periods VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (report_date) DO UPDATE SET status = excluded.status, fetched_on = excluded.fetched_on,
            companies = excluded.companies, requests = excluded.requests, error = excluded.error,
            run_id = excluded.run_id, updated_at = excluded.updated_at
        """,
        [period, state["status"], state["fetched_on"], state.get("companies"), state.get("requests"),
         state.get("error"), lineage.run_id, lineage.ingested_at])


def write_factor_batch(
    conn: duckdb.DuckDBPyConnection,
    factors: pd.DataFrame,
    replaced: list[str],
    outcomes: pd.DataFrame,
    lineage: Lineage,
    as_of: dt.date,
    quarantine: pd.DataFrame | None = None,
    dataset: str = "adjustment_factors",
    derive: Callable[[duckdb.DuckDBPyConnection], tuple[pd.DataFrame, pd.DataFrame]] | None = None,
    scope: list[str] | None = None,
    table: str = "adjustment_factors",
    columns: list[str] = FACTOR_COLUMNS,
) -> int:
    """Replace the whole upstream factor history of each symbol in `replaced` with its rows in
    `factors`, then the derived factors and the adjustment gaps of the symbols in `scope`
    (None: all), in one transaction.

    Upstream restates a symbol's factors as a whole (a new base after a split rescales every
    row), so a symbol's factors are swapped together, never merged. Symbols not in `replaced`
    (failed, or with quarantined rows) keep what is stored. `table`/`columns`: the A-share
    `adjustment_factors` or `hk_adjustment_factors` (`schema.HK_FACTOR_COLUMNS`). `derive(conn)`
    (A-shares), called inside the transaction once upstream's rows are in, returns (derived
    factor rows: symbol, ex_date, hfq_factor, derived_from; gap rows: symbol, ex_date,
    evidence, reason).
    """
    factors = factors[factors["symbol"].isin(replaced)][columns]
    in_scope = "TRUE" if scope is None else "list_contains($scope::VARCHAR[], symbol)"
    with staged(conn, staged_factors=factors,
                staged_replaced=pd.DataFrame({"symbol": pd.Series(replaced, dtype="string")}),
                staged_outcomes=outcomes[["symbol", "status", "error"]].drop_duplicates("symbol", keep="last")), \
            transaction(conn):
        conn.execute(f"DELETE FROM {table} WHERE symbol IN (SELECT symbol FROM staged_replaced)")
        conn.execute(f"DELETE FROM quarantine WHERE table_name = '{table}' "
                     "AND symbol IN (SELECT symbol FROM staged_replaced)")
        _write_quarantine(conn, quarantine if quarantine is not None else empty_quarantine(), lineage)
        conn.execute(f"INSERT INTO {table} ({', '.join(columns)}, source, run_id, ingested_at) "
                     f"SELECT {', '.join(columns)}, ?, ?, ? FROM staged_factors", _lineage_params(lineage))
        _record_outcomes(conn, dataset, lineage, as_of)
        if derive is not None:
            params = {} if scope is None else {"scope": scope}
            conn.execute(f"DELETE FROM adjustment_factors WHERE derived_from IS NOT NULL AND {in_scope}", params)
            conn.execute(f"DELETE FROM adjustment_gaps WHERE {in_scope}", params)
            derived, gaps = derive(conn)
            with staged(conn, staged_derived=derived[[*FACTOR_COLUMNS, "derived_from"]],
                        staged_gaps=gaps[["symbol", "ex_date", "evidence", "reason"]]):
                conn.execute(f"INSERT INTO adjustment_factors ({', '.join(FACTOR_COLUMNS)}, derived_from, source, "
                             f"run_id, ingested_at) SELECT {', '.join(FACTOR_COLUMNS)}, derived_from, 'derived', ?, ? "
                             "FROM staged_derived", _lineage_params(lineage)[1:])
                conn.execute("INSERT INTO adjustment_gaps SELECT symbol, ex_date, evidence, reason, ? FROM staged_gaps",
                             [lineage.ingested_at])
    return len(factors)


def replace_corporate_actions(conn: duckdb.DuckDBPyConnection, actions: pd.DataFrame, periods: list[dt.date],
                              outcomes: pd.DataFrame, lineage: Lineage, as_of: dt.date,
                              quarantine: pd.DataFrame | None = None) -> int:
    """Replace every row of each report period in `periods` with its rows in `actions`.

    upstream answers a period as a whole (plans appear, gain an ex-date, are withdrawn), so a
    period is swapped as a whole, except that a symbol with quarantined rows in a period keeps
    its stored rows of that period. `outcomes` (symbol = the period as YYYY-MM-DD, status,
    error) go to `ingest_state`; periods not in `periods` keep what is stored.
    """
    actions = actions[CORPORATE_ACTION_COLUMNS]
    quarantine = quarantine if quarantine is not None else empty_quarantine()
    kept = pd.DataFrame({"symbol": quarantine["symbol"].astype("string"),
                         "report_period": quarantine["trade_date"].astype("date32[pyarrow]")})
    with staged(conn, staged_actions=actions,
                staged_periods=pd.DataFrame({"report_period": pd.Series(periods, dtype="date32[pyarrow]")}),
                staged_kept=kept, staged_outcomes=outcomes[["symbol", "status", "error"]]), transaction(conn):
        conn.execute("""
            DELETE FROM corporate_actions
            WHERE report_period IN (SELECT report_period FROM staged_periods)
              AND NOT EXISTS (SELECT 1 FROM staged_kept k WHERE k.symbol = corporate_actions.symbol
                                                            AND k.report_period = corporate_actions.report_period)
            """)
        conn.execute("DELETE FROM quarantine WHERE table_name = 'corporate_actions' AND trade_date IN "
                     "(SELECT report_period FROM staged_periods)")
        _write_quarantine(conn, quarantine if quarantine is not None else empty_quarantine(), lineage)
        conn.execute(f"INSERT INTO corporate_actions ({', '.join(CORPORATE_ACTION_COLUMNS)}, source, run_id, ingested_at) "
                     f"SELECT {', '.join(CORPORATE_ACTION_COLUMNS)}, ?, ?, ? FROM staged_actions",
                     _lineage_params(lineage))
        _record_outcomes(conn, "corporate_actions", lineage, as_of)
    return len(actions)


def get_setting(conn: duckdb.DuckDBPyConnection, key: str) -> str | None:
    return scalar(conn, "SELECT value FROM pipeline_settings WHERE key = ?", [key])


def set_setting(conn: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO pipeline_settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
