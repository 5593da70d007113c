"""Daily bars: plan the fetches a date range needs, fetch each symbol once, check, write once.

Incremental by construction. For every symbol active in the range, the wanted window is
clipped to its listing and delisting and to the source's "today"; the trading days of that
window already covered are skipped, and what is missing is fetched in ONE request (a
backfill of a year is one request per symbol, not one per day). A symbol with no coverage
at all (a new listing, or a symbol new to the warehouse) gets its history from its listing
date, bounded below by the warehouse's history start.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from quantdb_pipeline.faults import crash_point
from quantdb_pipeline.loaders import spot
from quantdb_pipeline.loaders.spot import SpotPlan
from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.quality.gate import GateFailed, split
from quantdb_pipeline.quality.suites import DEFAULT_MIN_DAILY_COVERAGE, BarContext, validate_bars
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.sources.pacing import RetriesExhausted
from quantdb_pipeline.warehouse.coverage import Interval, TradingDays, merge, missing_span
from quantdb_pipeline.warehouse.writes import Lineage, get_setting, set_setting, write_bar_batch

DATASET = "daily_bars"
HISTORY_START_KEY = "daily_bars.history_start"

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str, int], None]  # done, total, symbol, rows


@dataclass(frozen=True)
class BarFetch:
    symbol: str
    start: dt.date
    end: dt.date


@dataclass
class BarPlan:
    start: dt.date
    end: dt.date
    trading_days: int
    fetches: list[BarFetch]
    skipped_covered: int
    inactive: int
    coverage: dict[str, list[Interval]]
    calendar: TradingDays


@dataclass
class BarLoadReport:
    start: dt.date
    end: dt.date
    trading_days: int = 0
    symbols_skipped: int = 0
    symbols_updated: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    requests: int = 0
    duplicates_dropped: int = 0
    rows_outside_window: int = 0
    empty: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rows_per_symbol: Counter = field(default_factory=Counter)
    not_attempted: int = 0
    circuit_open: str | None = None
    row_checks: SuiteOutcome | None = None
    batch_checks: SuiteOutcome | None = None
    seconds: float = 0.0
    normalize_seconds: float = 0.0  # upstream frames -> canonical rows, all symbols
    gate_seconds: float = 0.0
    write_seconds: float = 0.0  # the one transaction: delete windows, insert, coverage, state
    spot_day: dt.date | None = None  # the day taken from the quote list, if it was used
    spot_symbols: int = 0  # symbols whose day's bar came from the quote list
    spot_idle: int = 0  # of those, listed without a trade (suspended): covered, no bar
    spot_requests: int = 0
    spot_checks: SuiteOutcome | None = None
    reconciled: list[str] = field(default_factory=list)
    reconciliation: SuiteOutcome | None = None
    reconcile_mismatches: int = 0


class CalendarMissing(RuntimeError):
    """The warehouse has no trading calendar yet: materialize `trading_calendar` first."""


def _stored_coverage(conn: duckdb.DuckDBPyConnection) -> dict[str, list[Interval]]:
    coverage: dict[str, list[Interval]] = {}
    for symbol, start, end in conn.execute(
        "SELECT symbol, covered_from, covered_to FROM bar_coverage ORDER BY symbol, covered_from"
    ).fetchall():
        coverage.setdefault(symbol, []).append((start, end))
    return coverage


def resume_date(conn: duckdb.DuckDBPyConnection, today: dt.date, symbols: list[str] | None = None) -> dt.date | None:
    """The first day after the earliest end of coverage among symbols still listed, or None.

    A default start for "bring the warehouse up to date": later days are missing for at
    least one symbol, earlier ones are covered at the tail for everyone. Symbols with no
    coverage are not considered: they get their whole history whatever the start.
    """
    rows = conn.execute(
        """
        SELECT min(last_covered) FROM (
            SELECT c.symbol, max(c.covered_to) AS last_covered
            FROM bar_coverage c JOIN securities s USING (symbol)
            WHERE (s.delist_date IS NULL OR s.delist_date > ?) AND s.status = 'listed'
              AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], c.symbol))
            GROUP BY c.symbol)
        """,
        [today, symbols, symbols],
    ).fetchall()
    last = rows[0][0] if rows else None
    return None if last is None else last + dt.timedelta(days=1)


def plan_bar_fetches(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    today: dt.date,
    symbols: list[str] | None = None,
    lag_days: int = 0,
) -> BarPlan:
    """Decide, without calling upstream, which symbol ranges a load of [start, end] must fetch.

    `lag_days` > 0 refetches the last `lag_days` trading days up to `end` even when covered,
    to absorb upstream's late corrections; a symbol fetched anyway (for new days) only asks
    for a longer window, so the lag window costs no extra request for it.
    """
    days = TradingDays(d for (d,) in conn.execute(
        "SELECT trade_date FROM trading_calendar WHERE market = 'CN'").fetchall())
    if len(days) == 0:
        raise CalendarMissing("no trading calendar in the warehouse: materialize trading_calendar first")
    end = min(end, today)
    history_start = get_setting(conn, HISTORY_START_KEY)
    floor = min(start, dt.date.fromisoformat(history_start)) if history_start else start
    securities = conn.execute(
        "SELECT symbol, list_date, delist_date FROM securities WHERE status = 'listed' ORDER BY symbol"
    ).fetchall()
    if symbols is not None:
        wanted = set(symbols)
        securities = [row for row in securities if row[0] in wanted]
    coverage = _stored_coverage(conn)
    fetches, skipped, inactive = [], 0, 0
    for symbol, list_date, delist_date in securities:
        covered = coverage.get(symbol, [])
        lower = start if covered else floor
        if list_date:
            lower = max(lower, list_date)
        upper = end
        if delist_date:
            last = days.last_before(delist_date)
            upper = min(upper, last) if last else dt.date.min
        window = days.between(lower, upper) if lower <= upper else days.days[:0]
        if len(window) == 0:
            inactive += 1
            continue
        span = missing_span(covered, window)
        if lag_days > 0 and covered:
            recent = days.between(list_date or dt.date(1990, 1, 1), upper)[-lag_days:]
            if len(recent):
                first = recent[0].astype(dt.date)
                span = (min(span[0], first), span[1]) if span else (first, recent[-1].astype(dt.date))
        if span is None:
            skipped += 1
        else:
            fetches.append(BarFetch(symbol, *span))
    return BarPlan(start, end, len(days.between(start, end)), fetches, skipped, inactive, coverage, days)


def _stage(fetched: list[tuple[BarFetch, pd.DataFrame]], report: BarLoadReport, today: dt.date,
           spot_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """The run's bars: past rows outside each fetched window dropped, exact duplicate rows dropped.

    Conflicting duplicates (same key, different values) and rows dated after today stay:
    they are errors, and the gate quarantines them with the rule they broke. `spot_rows`, all
    dated the quote list's day, come last.
    """
    nonempty = [(fetch, bars) for fetch, bars in fetched if len(bars)]
    if spot_rows is not None and len(spot_rows):
        nonempty.append((BarFetch("", today, today), spot_rows))
    if not nonempty:
        return normalize.empty_bars()
    bars = pd.concat([b for _, b in nonempty], ignore_index=True)
    lengths = [len(b) for _, b in nonempty]
    lo = np.repeat(np.array([f.start for f, _ in nonempty], dtype="datetime64[D]"), lengths)
    hi = np.repeat(np.array([f.end for f, _ in nonempty], dtype="datetime64[D]"), lengths)
    dates = bars["trade_date"].array.__arrow_array__().to_numpy()
    inside = (dates >= lo) & ((dates <= hi) | (dates > np.datetime64(today, "D")))
    report.rows_outside_window += int((~inside).sum())
    bars = bars[inside]
    # exact duplicates can only be among rows whose key repeats: compare whole rows only there
    repeated = bars.duplicated(["symbol", "trade_date"], keep=False).to_numpy()
    if not repeated.any():
        return bars.reset_index(drop=True)
    duplicated = np.zeros(len(bars), dtype=bool)
    duplicated[repeated] = bars[repeated].duplicated(keep="last").to_numpy()
    report.duplicates_dropped += int(duplicated.sum())
    return bars[~duplicated].reset_index(drop=True)


def _bar_context(conn: duckdb.DuckDBPyConnection, plan: BarPlan, today: dt.date, fetches: list[BarFetch],
                 min_daily_coverage: float) -> BarContext:
    securities = conn.execute("SELECT symbol, board, is_st, list_date FROM securities").df()
    previous = {}
    if fetches:
        starts = pd.DataFrame({"symbol": [f.symbol for f in fetches], "start": [f.start for f in fetches]})
        conn.register("fetch_starts", starts)
        previous = dict(conn.execute(
            """
            SELECT b.symbol, arg_max(b.close, b.trade_date) FROM daily_bars b JOIN fetch_starts f
              ON b.symbol = f.symbol AND b.trade_date < f.start GROUP BY b.symbol
            """).fetchall())
        conn.unregister("fetch_starts")
    return BarContext(today=today, trading_days=[d.astype(dt.date) for d in plan.calendar.days],
                      securities=securities, previous_close=previous, min_daily_coverage=min_daily_coverage,
                      ex_rights=_known_ex_rights(conn, fetches, today))


def _known_ex_rights(conn: duckdb.DuckDBPyConnection, fetches: list[BarFetch], today: dt.date) -> pd.DataFrame:
    """The ex-dates inside the fetched windows that the warehouse knows, for the price-limit rule:
    implemented plans from `corporate_actions`, else a step in upstream's stored factors.

    The history klines are close-to-close on an ex-date, so without this a 10-for-10 split
    would read as a -50% day and be quarantined.
    """
    windows = pd.DataFrame({"symbol": pd.Series([f.symbol for f in fetches], dtype="string"),
                            "start": pd.Series([f.start for f in fetches], dtype="date32[pyarrow]"),
                            "end": pd.Series([f.end for f in fetches], dtype="date32[pyarrow]")})
    conn.register("fetch_windows", windows)
    try:
        return conn.execute(
            """
            WITH actions AS (
                SELECT c.symbol, c.ex_date, sum(c.cash_per_share) AS cash,
                       sum(c.bonus_shares_per_share + c.transfer_shares_per_share) AS new_shares,
                       sum(coalesce(c.rights_shares_per_share, 0)) AS rights_shares,
                       max(coalesce(c.rights_price, 0)) AS rights_price, NULL::DOUBLE AS step
                FROM corporate_actions c JOIN fetch_windows w
                  ON c.symbol = w.symbol AND c.ex_date BETWEEN w.start AND least(w."end", ?)
                GROUP BY c.symbol, c.ex_date),
            steps AS (
                SELECT f.symbol, f.ex_date, NULL, NULL, NULL, NULL,
                       f.hfq_factor / lag(f.hfq_factor) OVER (PARTITION BY f.symbol ORDER BY f.ex_date) AS step
                FROM adjustment_factors f WHERE f.derived_from IS NULL
                  AND f.symbol IN (SELECT symbol FROM fetch_windows))
            SELECT * FROM actions
            UNION ALL
            SELECT s.* FROM steps s JOIN fetch_windows w ON s.symbol = w.symbol AND s.ex_date BETWEEN w.start AND w."end"
            WHERE s.step IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM actions a WHERE a.symbol = s.symbol AND a.ex_date = s.ex_date)
            """, [today]).df()
    finally:
        conn.unregister("fetch_windows")


def _spot_plan(conn: duckdb.DuckDBPyConnection, source: MarketSource, plan: BarPlan, today: dt.date,
               reconcile_symbols: int, symbols: list[str] | None) -> SpotPlan | None:
    """Take today's bar from the quote list for the symbols stored through the previous session
    and missing only today, when that is cheaper than their history requests; reconcile a
    sample of earlier quote-list bars."""
    previous = plan.calendar.last_before(today)
    if plan.end != today or not plan.calendar.is_trading_day(today) or previous is None:
        return None
    # only symbols stored through the previous session: their stored close dates the quote list
    candidates = {f.symbol for f in plan.fetches if f.start == today and f.end == today
                  and any(lo <= previous <= hi for lo, hi in plan.coverage.get(f.symbol, []))}
    if not candidates or not spot.worthwhile(conn, len(candidates), today):
        return None
    sample = spot.reconciliation_sample(conn, source.name, today, reconcile_symbols, symbols)
    return SpotPlan(today, previous, candidates - {symbol for symbol, _, _ in sample}, sample)


def _history_fetches(plan: BarPlan, spot_plan: SpotPlan | None) -> list[BarFetch]:
    """The per-symbol history requests: the plan's, less what the quote list serves, with each
    reconciled symbol's window reaching back to its first pending quote-list bar."""
    if spot_plan is None:
        return plan.fetches
    first = {symbol: start for symbol, start, _ in spot_plan.reconcile}
    last = {symbol: end for symbol, _, end in spot_plan.reconcile}
    fetches = []
    for fetch in plan.fetches:
        if fetch.symbol in spot_plan.symbols:
            continue
        if fetch.symbol in first:
            fetch = BarFetch(fetch.symbol, min(fetch.start, first.pop(fetch.symbol)), fetch.end)
        fetches.append(fetch)
    fetches += [BarFetch(symbol, start, last[symbol]) for symbol, start in first.items()]
    return fetches


def _fetch_spot(conn: duckdb.DuckDBPyConnection, source: MarketSource, spot_plan: SpotPlan,
                report: BarLoadReport) -> tuple[pd.DataFrame, set[str]]:
    """The quote list's bars of the planned symbols and the planned symbols it shows idle.

    Raises `SpotRejected` when the list is not the day's: nothing of the run is written.
    """
    before = sum(source.requests.values())
    raw = source.a_share_spot_raw()
    report.spot_requests = sum(source.requests.values()) - before
    quotes, idle = normalize.a_share_spot_bars(raw, spot_plan.day, source.name)
    report.spot_checks = spot.check_day(conn, quotes, spot_plan)
    report.spot_day = spot_plan.day
    mine = quotes["symbol"].isin(list(spot_plan.symbols)).to_numpy()
    quotes = spot.with_previous_close(conn, quotes[mine].reset_index(drop=True), spot_plan.day)
    return quotes, set(idle) & spot_plan.symbols


def load_daily_bars(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    start: dt.date,
    end: dt.date,
    lineage: Lineage,
    symbols: list[str] | None = None,
    progress: ProgressCallback | None = None,
    min_daily_coverage: float = DEFAULT_MIN_DAILY_COVERAGE,
    breaker_threshold: int = 8,
    lag_days: int = 0,
    use_spot: bool = False,
    reconcile_symbols: int = spot.DEFAULT_RECONCILE_SYMBOLS,
) -> BarLoadReport:
    """Fetch what [start, end] is missing, check it, and write what passed in one transaction.

    - A symbol whose fetch or normalization fails is recorded with its reason in
      `ingest_state` and the report, and is retried by the next run.
    - An empty answer for a window with trading days is not trusted as "no data" (eastmoney
      returns empty frames when throttling): it is recorded as `empty` and retried next run.
    - `breaker_threshold` consecutive symbols that exhaust their retries or answer empty look
      like a ban: fetching stops (`report.circuit_open`), what was fetched is still checked
      and written.
    - `use_spot`: symbols missing only today take today's bar from the whole-market quote
      list (see `loaders.spot`), and `reconcile_symbols` symbols with earlier quote-list bars
      are refetched from history and compared. A quote list that is not today's raises
      `SpotRejected` before anything else is fetched.
    - The quality gate runs on the whole staged batch before anything is written: rows that
      fail a row rule are quarantined; a symbol with quarantined rows keeps its stored bars,
      is not marked covered and is retried next run; a failed batch rule raises `GateFailed`
      and nothing is written.
    """
    began = time.perf_counter()
    today = source.today()
    plan = plan_bar_fetches(conn, start, end, today, symbols, lag_days=lag_days)
    report = BarLoadReport(start=start, end=plan.end, trading_days=plan.trading_days,
                           symbols_skipped=plan.skipped_covered)
    requests_before = sum(source.requests.values())
    spot_plan = _spot_plan(conn, source, plan, today, reconcile_symbols, symbols) if use_spot else None
    spot_rows, idle = None, set()
    if spot_plan is not None:
        spot_rows, idle = _fetch_spot(conn, source, spot_plan, report)
        report.spot_symbols, report.spot_idle = len(spot_plan.symbols), len(idle)
        report.reconciled = [symbol for symbol, _, _ in spot_plan.reconcile]
        log.info("daily_bars %s: %d symbols from the quote list (%d requests), %d idle; reconciling %d",
                 today, report.spot_symbols, report.spot_requests, report.spot_idle, len(report.reconciled))
    history_fetches = _history_fetches(plan, spot_plan)
    fetched: list[tuple[BarFetch, pd.DataFrame]] = []
    outcomes: list[tuple[str, str, str | None]] = []
    streak = 0
    total = len(history_fetches)
    for i, fetch in enumerate(history_fetches, start=1):
        if i == total // 2 + 1:
            crash_point("fetch")
        try:
            raw = source.a_share_daily_raw(fetch.symbol, fetch.start, fetch.end)
            normalizing = time.perf_counter()
            bars = normalize.a_share_bars(raw, fetch.symbol, source.name)
            report.normalize_seconds += time.perf_counter() - normalizing
        except Exception as error:  # noqa: BLE001 - isolated to the symbol, reported
            reason = f"{type(error).__name__}: {error}"
            report.failed[fetch.symbol] = reason
            outcomes.append((fetch.symbol, "failed", reason))
            log.warning("daily_bars %s %s..%s failed: %s", fetch.symbol, fetch.start, fetch.end, reason)
            streak = streak + 1 if isinstance(error, RetriesExhausted) else 0
            bars = None
        else:
            fetched.append((fetch, bars))
            streak = streak + 1 if bars.empty else 0
        if progress:
            progress(i, total, fetch.symbol, 0 if bars is None else len(bars))
        if streak >= breaker_threshold and i < total:
            report.not_attempted = total - i
            report.circuit_open = (
                f"stopped after {streak} consecutive symbols failed or answered empty (last: {fetch.symbol}); "
                f"{report.not_attempted} symbols not attempted, to be retried by the next run")
            log.error("daily_bars circuit breaker: %s", report.circuit_open)
            break
    report.requests = sum(source.requests.values()) - requests_before
    if spot_plan is not None and spot_plan.reconcile:
        sampled = {symbol for symbol, _, _ in spot_plan.reconcile}
        history = [bars for fetch, bars in fetched if fetch.symbol in sampled and len(bars)]
        got_answer = {fetch.symbol for fetch, _ in fetched}
        answered = [entry for entry in spot_plan.reconcile if entry[0] in got_answer]
        if answered:
            report.reconciliation, report.reconcile_mismatches = spot.reconcile(
                conn, pd.concat(history, ignore_index=True) if history else normalize.empty_bars(),
                source.name, answered)

    spot_fetches = [BarFetch(symbol, today, today) for symbol in sorted(spot_plan.symbols)] if spot_plan else []
    staged = _stage(fetched, report, today, spot_rows)
    gate_began = time.perf_counter()
    context = _bar_context(conn, plan, today, [f for f, _ in fetched] + spot_fetches, min_daily_coverage)
    attempted = history_fetches[: total - report.not_attempted] + spot_fetches
    windows = pd.DataFrame([(f.symbol, f.start, f.end) for f in attempted], columns=["symbol", "start", "end"])
    report.row_checks, report.batch_checks = validate_bars(staged, windows, context)
    report.gate_seconds = time.perf_counter() - gate_began
    if report.batch_checks.batch_failed:
        report.seconds = time.perf_counter() - began
        raise GateFailed(report.batch_checks, f"daily_bars {start}..{plan.end}", row_checks=report.row_checks)
    passed, quarantine = split("daily_bars", staged, report.row_checks, ["symbol", "trade_date"])
    report.rows_quarantined = len(quarantine)
    if spot_plan is not None:
        from_spot = passed["symbol"].isin(list(spot_plan.symbols)).to_numpy()
        passed["source"] = np.where(from_spot, spot.spot_source(lineage.source), lineage.source)

    rows = Counter(passed["symbol"].value_counts().to_dict())
    dirty = {}
    for symbol, rules in zip(quarantine["symbol"], quarantine["rules"]):
        dirty.setdefault(symbol, set()).update(rules.split(","))
    windows, coverage = [], {}
    for fetch in [f for f, _ in fetched] + spot_fetches:
        if fetch.symbol in dirty:
            reason = f"quality: rows quarantined for {', '.join(sorted(dirty[fetch.symbol]))}"
            report.failed[fetch.symbol] = reason
            outcomes.append((fetch.symbol, "failed", reason))
        elif rows[fetch.symbol] == 0 and fetch.symbol not in idle:
            report.empty.append(fetch.symbol)
            outcomes.append((fetch.symbol, "empty", f"no rows for {fetch.start}..{fetch.end}"))
            continue
        else:
            # a symbol the quote list shows without a trade did not trade: covered, no bar
            windows.append((fetch.symbol, fetch.start, fetch.end))
            outcomes.append((fetch.symbol, "ok", None))
            coverage[fetch.symbol] = merge(
                plan.coverage.get(fetch.symbol, []) + [(fetch.start, fetch.end)], plan.calendar)
        if rows[fetch.symbol]:
            report.rows_per_symbol[fetch.symbol] = rows[fetch.symbol]
    writing = time.perf_counter()
    report.rows_written = write_bar_batch(
        conn,
        passed,
        pd.DataFrame(windows, columns=["symbol", "fetched_from", "fetched_to"]),
        coverage,
        pd.DataFrame(outcomes, columns=["symbol", "status", "error"]).astype({"error": "string"}),
        lineage,
        DATASET,
        quarantine=quarantine,
        as_of=today,
    )
    report.write_seconds = time.perf_counter() - writing
    report.symbols_updated = len(coverage)
    stored_floor = get_setting(conn, HISTORY_START_KEY)
    if stored_floor is None or start < dt.date.fromisoformat(stored_floor):
        set_setting(conn, HISTORY_START_KEY, start.isoformat())
    report.seconds = time.perf_counter() - began
    return report
