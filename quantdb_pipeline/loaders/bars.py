"""Daily bars: plan the fetches a date range needs, fetch each symbol once, check and write chunk by chunk.

Incremental by construction. For every symbol active in the range, the wanted window is
clipped to its listing and delisting and to the source's "today"; the trading days of that
window already covered are skipped, and what is missing is fetched in ONE request (a
backfill of a year is one request per symbol, not one per day). A symbol with no coverage
at all (a new listing, or a symbol new to the warehouse) gets its history from its listing
date, bounded below by the warehouse's history start. Besides its range, every run fetches
the holes of the symbols already held: days they lack in a trailing window and after their
last covered day (see `plan_bar_fetches`), in the same one request per symbol.
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

from quantdb_pipeline import schema
from quantdb_pipeline.loaders import spot
from quantdb_pipeline.loaders.closures import ClosureJudge, sessions
from quantdb_pipeline.loaders.fetching import fetch_chunks
from quantdb_pipeline.loaders.spot import SpotPlan
from quantdb_pipeline.quality.expectations import SuiteOutcome, combine
from quantdb_pipeline.quality.gate import GateFailed, split
from quantdb_pipeline.quality.suites import (
    DEFAULT_MIN_DAILY_COVERAGE,
    BarContext,
    bar_day_counts,
    daily_coverage,
    validate_bar_days,
    validate_bar_rows,
)
from quantdb_pipeline.settings import DEFAULT_REVISIT_DAYS, chunk_limits
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.coverage import Interval, TradingDays, merge, missing_span, without
from quantdb_pipeline.warehouse.profile_inputs import store_quote_list
from quantdb_pipeline.warehouse.writes import Lineage, get_setting, set_setting, staged, transaction, write_bar_batch

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
    write_seconds: float = 0.0  # the chunks' transactions: delete windows, insert, coverage, state
    spot_day: dt.date | None = None  # the day taken from the quote list, if it was used
    spot_symbols: int = 0  # symbols whose day's bar came from the quote list
    spot_idle: int = 0  # of those, listed without a trade (suspended): covered, no bar
    spot_requests: int = 0
    spot_checks: SuiteOutcome | None = None
    reconciled: list[str] = field(default_factory=list)
    reconciliation: SuiteOutcome | None = None
    reconcile_mismatches: int = 0
    closures: list[str] = field(default_factory=list)  # market closures recorded by this run: "day: evidence"
    reopened: list[dt.date] = field(default_factory=list)  # recorded closures an answer disproved (removed)


class CalendarMissing(RuntimeError):
    """The warehouse has no trading calendar yet: materialize `trading_calendar` first."""


def _stored_coverage(conn: duckdb.DuckDBPyConnection) -> dict[str, list[Interval]]:
    coverage: dict[str, list[Interval]] = {}
    for symbol, start, end in conn.execute(
        "SELECT symbol, covered_from, covered_to FROM bar_coverage ORDER BY symbol, covered_from"
    ).fetchall():
        coverage.setdefault(symbol, []).append((start, end))
    return coverage


def resume_date(
    conn: duckdb.DuckDBPyConnection,
    today: dt.date,
    symbols: list[str] | None = None,
    revisit_days: int = DEFAULT_REVISIT_DAYS,
) -> dt.date | None:
    """The first day a run ending `today` would fetch for a symbol already in the warehouse, or None.

    A default start for "bring the warehouse up to date": the earliest of each listed symbol's
    first day after its coverage ends and its first hole in the trailing window (see
    `plan_bar_fetches`), so that the run's own range shows what it fills. Symbols with no
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
    if last is None:
        return None
    plan = plan_bar_fetches(conn, today, today, today, symbols, revisit_days=revisit_days)
    holes = [f.start for f in plan.fetches if f.symbol in plan.coverage]
    return min([last + dt.timedelta(days=1), *holes])


def _revisited(
    days: TradingDays, covered: list[Interval], lower: dt.date, upper: dt.date, end: dt.date, revisit_days: int
) -> np.ndarray:
    """The days of a covered symbol a run ending `end` looks at besides its own window.

    - the trailing window: the last `revisit_days` trading days up to `end`, from the symbol's
      first covered day (before it is history never loaded, not a hole) and its listing;
    - the tail: every day after the symbol's last covered day, for a symbol still listed on
      `end`. Coverage never spans days the calendar did not know when it was written (a plan
      only fetches known days), so days the calendar learns late, such as the new year's when
      the vendor publishes it after 31 Dec, are in the tail of every symbol. When the run's
      last day is a trading day, a listed symbol with a tail lacks that day too, so the tail
      widens its request rather than adding one.
    """
    first = max(lower, min(lo for lo, _ in covered))
    trailing = days.trailing(end, revisit_days)
    trailing = trailing[(trailing >= np.datetime64(first, "D")) & (trailing <= np.datetime64(upper, "D"))]
    if upper < end:  # delisted before the run's end: only what the trailing window still reaches
        return trailing
    last = max(hi for _, hi in covered)
    tail = days.between(max(first, last + dt.timedelta(days=1)), upper)
    return np.union1d(trailing, tail)


def plan_bar_fetches(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    today: dt.date,
    symbols: list[str] | None = None,
    lag_days: int = 0,
    revisit_days: int = DEFAULT_REVISIT_DAYS,
) -> BarPlan:
    """Decide, without calling upstream, which symbol ranges a load of [start, end] must fetch.

    Besides [start, end], every run looks for holes of the symbols it already holds: the
    trading days a symbol lacks (not in `bar_coverage`: an `empty` answer, a refused quote
    list, a quarantined row, a missed night) inside the trailing window of `revisit_days`
    trading days up to `end`, and every day after its last covered day (which is how days
    the calendar learns late are fetched). A suspended symbol's days are covered without bars,
    so they are not holes. A symbol's missing days are one request, from its first missing
    day to its last (rows in between that are already covered are fetched again and replace
    the stored ones); a warehouse without holes costs no extra request.

    `lag_days` > 0 refetches the last `lag_days` trading days up to `end` even when covered,
    to absorb upstream's late corrections; a symbol fetched anyway (for new days) only asks
    for a longer window, so the lag window costs no extra request for it.
    """
    days = TradingDays(sessions(conn, "CN"))
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
        window, upper = _wanted_days(days, covered, list_date, delist_date, start, end, floor, revisit_days)
        if len(window) == 0:
            inactive += 1
            continue
        span = _with_lag(days, covered, missing_span(covered, window), list_date, upper, lag_days)
        if span is None:
            skipped += 1
        else:
            fetches.append(BarFetch(symbol, *span))
    return BarPlan(start, end, len(days.between(start, end)), fetches, skipped, inactive, coverage, days)


def _wanted_days(
    days: TradingDays,
    covered: list[Interval],
    list_date: dt.date | None,
    delist_date: dt.date | None,
    start: dt.date,
    end: dt.date,
    floor: dt.date,
    revisit_days: int,
) -> tuple[np.ndarray, dt.date]:
    """(the trading days a symbol should hold once a run of [start, end] is done, the last of its
    days the run can reach).

    The run's window clipped to the symbol's listing and delisting; a symbol with no coverage
    reaches back to `floor` (its history from its listing, bounded by the warehouse's history
    start); a covered one adds the days `_revisited` looks at (trailing window and tail).
    """
    lower = start if covered else floor
    if list_date:
        lower = max(lower, list_date)
    upper = end
    if delist_date:
        last = days.last_before(delist_date)
        upper = min(upper, last) if last else dt.date.min
    window = days.between(lower, upper) if lower <= upper else days.days[:0]
    if covered:
        window = np.union1d(window, _revisited(days, covered, list_date or dt.date.min, upper, end, revisit_days))
    return window, upper


def _with_lag(
    days: TradingDays,
    covered: list[Interval],
    span: Interval | None,
    list_date: dt.date | None,
    upper: dt.date,
    lag_days: int,
) -> Interval | None:
    """`span` (the missing days' request, or None) widened to refetch a covered symbol's last
    `lag_days` trading days up to `upper`, for upstream's late corrections: one longer request,
    never a second one."""
    if lag_days <= 0 or not covered:
        return span
    recent = days.between(list_date or dt.date(1990, 1, 1), upper)[-lag_days:]
    if not len(recent):
        return span
    first = recent[0].astype(dt.date)
    return (min(span[0], first), span[1]) if span else (first, recent[-1].astype(dt.date))


def _stage(
    fetched: list[tuple[BarFetch, pd.DataFrame]],
    report: BarLoadReport,
    today: dt.date,
    spot_rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The run's bars: past rows outside each fetched window dropped, exact duplicate rows dropped.

    Conflicting duplicates (same key, different values) and rows dated after today stay:
    they are errors, and the gate quarantines them with the rule they broke. `spot_rows`, all
    dated the quote list's day, come last.
    """
    nonempty = [(fetch, bars) for fetch, bars in fetched if len(bars)]
    if spot_rows is not None and len(spot_rows):
        nonempty.append((BarFetch("", today, today), spot_rows))
    if not nonempty:
        return schema.empty_bars()
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


def _clean_windows(fetch: BarFetch, bad_days: set[dt.date | None], calendar: TradingDays) -> list[Interval]:
    """The parts of a fetched window that answered cleanly: the window less its quarantined
    trading days. A quarantined row without a date cannot be placed: nothing is clean then."""
    if None in bad_days:
        return []
    return without([(fetch.start, fetch.end)], [day for day in bad_days if day is not None], calendar)


def _known_ex_rights(conn: duckdb.DuckDBPyConnection, fetches: list[BarFetch], today: dt.date) -> pd.DataFrame:
    """The ex-dates inside the fetched windows that the warehouse knows, for the price-limit rule:
    implemented plans from `corporate_actions`, else a step in upstream's stored factors.

    The history klines are close-to-close on an ex-date, so without this a 10-for-10 split
    would read as a -50% day and be quarantined.
    """
    windows = pd.DataFrame(
        {
            "symbol": pd.Series([f.symbol for f in fetches], dtype="string"),
            "start": pd.Series([f.start for f in fetches], dtype="date32[pyarrow]"),
            "end": pd.Series([f.end for f in fetches], dtype="date32[pyarrow]"),
        }
    )
    with staged(conn, fetch_windows=windows):
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
            """,
            [today],
        ).df()


def _spot_plan(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    plan: BarPlan,
    today: dt.date,
    reconcile_symbols: int,
    symbols: list[str] | None,
) -> SpotPlan | None:
    """Take today's bar from the quote list for the symbols stored through the previous session
    and missing only today, when that is cheaper than their history requests; reconcile a
    sample of earlier quote-list bars."""
    previous = plan.calendar.last_before(today)
    if plan.end != today or not plan.calendar.is_trading_day(today) or previous is None:
        return None
    # only symbols stored through the previous session: their stored close dates the quote list
    candidates = {
        f.symbol
        for f in plan.fetches
        if f.start == today
        and f.end == today
        and any(lo <= previous <= hi for lo, hi in plan.coverage.get(f.symbol, []))
    }
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


def _fetch_spot(
    conn: duckdb.DuckDBPyConnection, source: MarketSource, spot_plan: SpotPlan, lineage: Lineage, report: BarLoadReport
) -> tuple[pd.DataFrame, set[str]]:
    """The quote list's bars of the planned symbols and the planned symbols it shows idle; the
    report says what the quote list served.

    Raises `SpotRejected` when the list is not the day's: nothing of the run is written.
    """
    before = sum(source.requests.values())
    raw = source.a_share_spot_raw()
    report.spot_requests = sum(source.requests.values()) - before
    quotes, listed_idle = normalize.a_share_spot_bars(raw, spot_plan.day, source.name)
    report.spot_checks = spot.check_day(conn, quotes, spot_plan)
    # the list's names and market values, for the profile step to reuse instead of asking again;
    # a shape the profile fields cannot be read from costs the profile step its own fetch, not the bars
    try:
        store_quote_list(conn, normalize.quote_list_profiles(raw, source.name), spot_plan.day, lineage)
    except normalize.SourceSchemaError as error:
        log.warning("quote list of %s not kept for profiles: %s", spot_plan.day, error)
    report.spot_day = spot_plan.day
    mine = quotes["symbol"].isin(list(spot_plan.symbols)).to_numpy()
    quotes = spot.with_previous_close(conn, quotes[mine].reset_index(drop=True), spot_plan.day)
    idle = set(listed_idle) & spot_plan.symbols
    report.spot_symbols, report.spot_idle = len(spot_plan.symbols), len(idle)
    report.reconciled = [symbol for symbol, _, _ in spot_plan.reconcile]
    log.info(
        "daily_bars %s: %d symbols from the quote list (%d requests), %d idle; reconciling %d",
        spot_plan.day,
        report.spot_symbols,
        report.spot_requests,
        report.spot_idle,
        len(report.reconciled),
    )
    return quotes, idle


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
    revisit_days: int = DEFAULT_REVISIT_DAYS,
    chunk: tuple[int, int] | None = None,
) -> BarLoadReport:
    """Fetch what [start, end] is missing, check it, and write what passed chunk by chunk.

    - Symbols are fetched, normalized, checked by the row rules and written (bars, coverage,
      outcomes, quarantine) a chunk at a time, one transaction per chunk; `chunk` is the
      (symbols, rows) bound of a chunk, default `settings.chunk_limits()`. A process killed
      mid-load keeps every chunk written before it, and the rerun's plan (from coverage)
      asks only for the rest: a kill costs at most one chunk of requests.
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
    - `revisit_days`: besides [start, end], the days symbols lack in the trailing window and
      after their last covered day are fetched (see `plan_bar_fetches`).
    - Rows that fail a row rule are quarantined. A symbol with quarantined rows keeps what
      passed and its fetched window is covered except the quarantined trading days (see
      `_clean_windows`): its stored bars of those days are kept, and the next run asks for
      those days only.
    - The batch rule (each trading day has rows for `min_daily_coverage` of the symbols
      fetched for it) needs every symbol, so it is evaluated at the end, over the rows the
      run staged, before anything is published (loaders write the working file only). A day
      that fails it is refused: this run's bars of that day are deleted and the day is cut
      out of the coverage of every symbol whose window held it (so the next run asks for it
      again), then `GateFailed` is raised. Bars of other days stay written.
    """
    began = time.perf_counter()
    today = source.today()
    chunk = chunk or chunk_limits()
    plan = plan_bar_fetches(conn, start, end, today, symbols, lag_days=lag_days, revisit_days=revisit_days)
    report = BarLoadReport(
        start=start, end=plan.end, trading_days=plan.trading_days, symbols_skipped=plan.skipped_covered
    )
    requests_before = sum(source.requests.values())
    spot_plan = _spot_plan(conn, source, plan, today, reconcile_symbols, symbols) if use_spot else None
    # fetched chunk by chunk, the quote list's day first; each chunk is staged, gated by the row
    # rules, classified and written in one transaction (`_Run.write`); the batch rule gates the run
    spot_rows, idle = _fetch_spot(conn, source, spot_plan, lineage, report) if spot_plan is not None else (None, set())
    run = _Run(conn, plan, report, lineage, today, min_daily_coverage, spot_plan, source.name)
    spot_fetches = run.write_spot(spot_rows, idle)
    del spot_rows  # written: not held while the history is fetched
    attempted = _fetch_history(run, source, _history_fetches(plan, spot_plan), chunk, breaker_threshold, progress)
    report.requests = sum(source.requests.values()) - requests_before
    report.symbols_updated = len(run.updated)
    if not _batch_accepted(run, attempted + spot_fetches):
        report.seconds = time.perf_counter() - began
        assert report.batch_checks is not None  # set by _batch_accepted
        raise GateFailed(report.batch_checks, f"daily_bars {start}..{plan.end}", row_checks=report.row_checks)
    _lower_history_start(conn, start)
    report.seconds = time.perf_counter() - began
    return report


def _fetch_history(
    run: _Run,
    source: MarketSource,
    fetches: list[BarFetch],
    chunk: tuple[int, int],
    breaker_threshold: int,
    progress: ProgressCallback | None,
) -> list[BarFetch]:
    """Fetch `fetches` (the history requests) chunk by chunk, each chunk written as it arrives
    (`_Run.write`), then settle the market closures the answers showed. Returns the fetches
    attempted (what the batch rule counts a day's symbols against).

    Why chunk by chunk: a process killed mid-load keeps every chunk written before it, and
    memory holds one chunk's rows, not the run's. Answers the closure judge excuses as a
    closed market are held back until it has decided (`_settle_closures`).
    """
    report, plan, lineage = run.report, run.plan, run.lineage
    max_symbols, max_rows = chunk

    def normalized(fetch: BarFetch) -> pd.DataFrame:
        raw = source.a_share_daily_raw(fetch.symbol, fetch.start, fetch.end)
        normalizing = time.perf_counter()
        bars = normalize.a_share_bars(raw, fetch.symbol, source.name)
        report.normalize_seconds += time.perf_counter() - normalizing
        return bars

    judge = ClosureJudge(
        run.conn,
        "CN",
        DATASET,
        plan.calendar,
        window=lambda f: (f.symbol, f.start, f.end),
        probe=lambda symbol, lo, hi: normalized(BarFetch(symbol, lo, hi)),
    )

    def fetch_bars(fetch: BarFetch) -> pd.DataFrame:
        bars = normalized(fetch)
        judge.observe(fetch, bars)
        return bars

    attempted: list[BarFetch] = []
    closed: list[BarFetch] = []  # excused as closed: written once `finish` has decided the closures
    for got in fetch_chunks(
        fetches,
        fetch_bars,
        dataset=DATASET,
        empty_is_suspicious=True,
        max_items=max_symbols,
        max_rows=max_rows,
        breaker_threshold=breaker_threshold,
        name=lambda f: f.symbol,
        describe=lambda f: f"{f.symbol} {f.start}..{f.end}",
        progress=progress,
        crash_at_half="fetch",
        judge_streak=judge,
    ):
        attempted += got.attempted()
        report.failed.update({f.symbol: r for f, r in got.failed.items()})
        run.outcomes += [(f.symbol, "failed", r) for f, r in got.failed.items()]
        report.not_attempted, report.circuit_open = len(got.not_attempted), got.circuit_open
        if judge.reopen_seen(lineage):  # the gate and the coverage see the market's real sessions
            plan.calendar = judge.calendar
        excused = set(got.closed)
        run.write([(f, bars) for f, bars in got.answers if f not in excused], [], None, set())
        closed += got.closed
    _settle_closures(run, judge, attempted, closed)
    return attempted


def _settle_closures(run: _Run, judge: ClosureJudge, attempted: list[BarFetch], closed: list[BarFetch]) -> None:
    """Record the closures the run's answers showed (or remove the ones they disproved), then
    write the windows held back as closed and the failures no chunk has written yet.

    Why last: a closure is decided on the whole run's answers (every symbol empty on a session,
    a probe showing the source healthy), so a window excused as closed is written only once the
    calendar the coverage is cut by is final. A window closed on every one of its days is
    covered without rows; one with other days is `empty` and retried.
    """
    report, plan = run.report, run.plan
    report.closures, report.reopened = judge.finish(attempted, closed, run.lineage)
    if report.closures or report.reopened:
        plan.calendar = judge.calendar_now()
    if closed or run.outcomes:
        covered = {f.symbol for f in closed if judge.covers(f)}  # closed every day of its window: covered
        run.write([(f, schema.empty_bars()) for f in closed], [], None, covered)


def _batch_accepted(run: _Run, fetches: list[BarFetch]) -> bool:
    """The batch rule over the whole run (each trading day has rows for `min_daily_coverage` of
    the symbols fetched for it); on failure the refused days are undone (`_refuse_days`) and
    False is returned for the caller to raise `GateFailed`.

    Why at the end: a day's share needs every chunk's rows; the chunks were written already
    (the working file only: nothing is published before the run ends), so refusing a day
    means removing this run's bars of it and cutting it out of the coverage.
    """
    report, plan = run.report, run.plan
    gate_began = time.perf_counter()
    context = BarContext(
        today=run.today,
        trading_days=[d.astype(dt.date) for d in plan.calendar.days],
        securities=run.securities,
        min_daily_coverage=run.min_daily_coverage,
    )
    windows = pd.DataFrame([(f.symbol, f.start, f.end) for f in fetches], columns=["symbol", "start", "end"])
    counted = run.day_counts()
    report.batch_checks = validate_bar_days(counted, windows, context)
    report.row_checks = report.row_checks or validate_bar_rows(schema.empty_bars(), context)
    report.gate_seconds += time.perf_counter() - gate_began
    if not report.batch_checks.batch_failed:
        return True
    coverage = daily_coverage(counted, windows, context.trading_days)
    refused = [
        dt.date.fromisoformat(day)
        for day in coverage.loc[~(coverage["share"] >= run.min_daily_coverage), "trade_date_iso"]
    ]
    _refuse_days(run.conn, refused, windows, plan.calendar, run.lineage)
    return False


def _lower_history_start(conn: duckdb.DuckDBPyConnection, start: dt.date) -> None:
    """Remember the earliest start an accepted run asked for: a symbol new to the warehouse
    gets its history back to it (see `plan_bar_fetches`)."""
    stored_floor = get_setting(conn, HISTORY_START_KEY)
    if stored_floor is None or start < dt.date.fromisoformat(stored_floor):
        set_setting(conn, HISTORY_START_KEY, start.isoformat())


@dataclass
class _Verdicts:
    """What one chunk's classification decided, for `write_bar_batch`."""

    windows: list[tuple[str, dt.date, dt.date]]  # (symbol, from, to) fetched and clean: stored rows replaced
    coverage: dict[str, list[Interval]]  # each touched symbol's complete new covered intervals
    outcomes: list[tuple[str, str, str | None]]  # (symbol, status, error) for ingest_state


def _classify(
    fetches: list[BarFetch],
    passed: pd.DataFrame,
    quarantine: pd.DataFrame,
    idle: set[str],
    plan: BarPlan,
    report: BarLoadReport,
    pending: list[tuple[str, str, str | None]],
) -> _Verdicts:
    """Each fetch of a chunk as `failed` (rows quarantined), `empty` or `ok`, with the windows and
    coverage that follow; the report's failed, empty and rows-per-symbol are updated.

    Why these rules: an empty answer is not trusted as "no data" (it is how eastmoney throttles),
    so it covers nothing and is retried; a symbol with quarantined rows keeps what passed and is
    covered except the quarantined days (`_clean_windows`), so the next run asks for those days
    only; a symbol the quote list shows without a trade (`idle`) did not trade: covered, no bar.
    `pending`: outcomes not yet written (failed fetches), written first.
    """
    rows = Counter(passed["symbol"].value_counts().to_dict())
    dirty: dict[str, set[str]] = {}
    bad_days: dict[str, set[dt.date | None]] = {}
    for symbol, rules, day in zip(quarantine["symbol"], quarantine["rules"], quarantine["trade_date"]):
        dirty.setdefault(symbol, set()).update(rules.split(","))
        bad_days.setdefault(symbol, set()).add(None if pd.isna(day) else day)
    verdicts = _Verdicts([], {}, list(pending))
    for fetch in fetches:
        if fetch.symbol in dirty:
            _classify_quarantined(fetch, dirty[fetch.symbol], bad_days[fetch.symbol], plan, report, verdicts)
        elif rows[fetch.symbol] == 0 and fetch.symbol not in idle:
            report.empty.append(fetch.symbol)
            verdicts.outcomes.append((fetch.symbol, "empty", f"no rows for {fetch.start}..{fetch.end}"))
            continue
        else:
            verdicts.windows.append((fetch.symbol, fetch.start, fetch.end))
            verdicts.outcomes.append((fetch.symbol, "ok", None))
            verdicts.coverage[fetch.symbol] = merge(
                plan.coverage.get(fetch.symbol, []) + [(fetch.start, fetch.end)], plan.calendar
            )
        if rows[fetch.symbol]:
            report.rows_per_symbol[fetch.symbol] += rows[fetch.symbol]
    return verdicts


def _classify_quarantined(
    fetch: BarFetch,
    rules: set[str],
    bad_days: set[dt.date | None],
    plan: BarPlan,
    report: BarLoadReport,
    verdicts: _Verdicts,
) -> None:
    """A fetch with quarantined rows: `failed` naming the rules, its window covered less the bad days."""
    reason = f"quality: rows quarantined for {', '.join(sorted(rules))}"
    report.failed[fetch.symbol] = reason
    verdicts.outcomes.append((fetch.symbol, "failed", reason))
    clean = _clean_windows(fetch, bad_days, plan.calendar)
    verdicts.windows += [(fetch.symbol, lo, hi) for lo, hi in clean]
    if clean or any(day is not None for day in bad_days):
        verdicts.coverage[fetch.symbol] = without(
            plan.coverage.get(fetch.symbol, []) + clean, [day for day in bad_days if day is not None], plan.calendar
        )


class _Run:
    """What one load keeps across its chunks: the report, the outcomes not yet written, which
    symbols it covered, and the rows per trading day the batch rule needs at the end. Holds
    nothing that grows with a symbol's rows."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        plan: BarPlan,
        report: BarLoadReport,
        lineage: Lineage,
        today: dt.date,
        min_daily_coverage: float,
        spot_plan: SpotPlan | None,
        source: str,
    ):
        self.conn, self.plan, self.report, self.lineage, self.today = conn, plan, report, lineage, today
        self.min_daily_coverage, self.spot_plan, self.source = min_daily_coverage, spot_plan, source
        self.securities = conn.execute("SELECT symbol, board, is_st, list_date FROM securities").df()
        self.outcomes: list[tuple[str, str, str | None]] = []  # failures, written with the next chunk
        self.updated: set[str] = set()
        self._days: Counter = Counter()

    def day_counts(self) -> tuple[np.ndarray, np.ndarray]:
        days = np.array(sorted(self._days), dtype="int64")  # days since the epoch
        return days.astype("datetime64[D]"), np.array([self._days[d] for d in days.tolist()], dtype="int64")

    def _reconcile(self, fetched: list[tuple[BarFetch, pd.DataFrame]]) -> None:
        """Compare this chunk's sampled symbols with their stored quote-list bars, before the
        history rows replace them."""
        if self.spot_plan is None or not self.spot_plan.reconcile:
            return
        answered = {fetch.symbol for fetch, _ in fetched}
        entries = [entry for entry in self.spot_plan.reconcile if entry[0] in answered]
        if not entries:
            return
        sampled = {symbol for symbol, _, _ in entries}
        history = [bars for fetch, bars in fetched if fetch.symbol in sampled and len(bars)]
        outcome, mismatches = spot.reconcile(
            self.conn, pd.concat(history, ignore_index=True) if history else schema.empty_bars(), self.source, entries
        )
        self.report.reconciliation = combine(self.report.reconciliation, outcome)
        self.report.reconcile_mismatches += mismatches

    def write_spot(self, spot_rows: pd.DataFrame | None, idle: set[str]) -> list[BarFetch]:
        """Write the quote list's bars as the run's first chunk; returns their one-day fetches
        (none when the quote list is not used)."""
        if self.spot_plan is None:
            return []
        spot_fetches = [BarFetch(symbol, self.today, self.today) for symbol in sorted(self.spot_plan.symbols)]
        if spot_fetches:
            self.write([], spot_fetches, spot_rows, idle)
        return spot_fetches

    def write(
        self,
        fetched: list[tuple[BarFetch, pd.DataFrame]],
        spot_fetches: list[BarFetch],
        spot_rows: pd.DataFrame | None,
        idle: set[str],
    ) -> None:
        """One chunk: stage its rows, gate them by the row rules, classify each fetch, and write
        it all, with the outcomes pending, in one transaction."""
        self._reconcile(fetched)
        fetches = [f for f, _ in fetched] + spot_fetches
        passed, quarantine = self._gate(_stage(fetched, self.report, self.today, spot_rows), fetches)
        if self.spot_plan is not None and spot_rows is not None:
            from_spot = passed["symbol"].isin(list(self.spot_plan.symbols)).to_numpy()
            passed["source"] = np.where(from_spot, spot.spot_source(self.lineage.source), self.lineage.source)
        verdicts = _classify(fetches, passed, quarantine, idle, self.plan, self.report, self.outcomes)
        self.outcomes = []
        self._write(passed, quarantine, verdicts)

    def _gate(self, rows: pd.DataFrame, fetches: list[BarFetch]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(passed, quarantine) of a chunk's staged rows by the row rules; counts its rows per
        trading day for the batch rule evaluated at the end (`_batch_accepted`)."""
        report = self.report
        gate_began = time.perf_counter()
        context = BarContext(
            today=self.today,
            trading_days=[d.astype(dt.date) for d in self.plan.calendar.days],
            securities=self.securities,
            previous_close=_previous_closes(self.conn, fetches),
            min_daily_coverage=self.min_daily_coverage,
            ex_rights=_known_ex_rights(self.conn, fetches, self.today),
        )
        row_checks = validate_bar_rows(rows, context)
        report.row_checks = combine(report.row_checks, row_checks)
        report.gate_seconds += time.perf_counter() - gate_began
        for day, count in zip(*bar_day_counts(rows)):
            self._days[int(day.astype("int64"))] += int(count)
        passed, quarantine = split("daily_bars", rows, row_checks, ["symbol", "trade_date"])
        report.rows_quarantined += len(quarantine)
        return passed, quarantine

    def _write(self, passed: pd.DataFrame, quarantine: pd.DataFrame, verdicts: _Verdicts) -> None:
        """Write a classified chunk in one transaction (`write_bar_batch`); the plan's coverage
        follows, so a later chunk of the same symbol (the closed ones) builds on it."""
        report, plan = self.report, self.plan
        for symbol, intervals in verdicts.coverage.items():
            plan.coverage[symbol] = intervals
        writing = time.perf_counter()
        report.rows_written += write_bar_batch(
            self.conn,
            passed,
            pd.DataFrame(verdicts.windows, columns=["symbol", "fetched_from", "fetched_to"]),
            verdicts.coverage,
            pd.DataFrame(verdicts.outcomes, columns=["symbol", "status", "error"]).astype({"error": "string"}),
            self.lineage,
            DATASET,
            quarantine=quarantine,
            as_of=self.today,
        )
        report.write_seconds += time.perf_counter() - writing
        self.updated.update(verdicts.coverage)


def _previous_closes(conn: duckdb.DuckDBPyConnection, fetches: list[BarFetch]) -> dict[str, float]:
    """Each fetched symbol's last stored close before its window (what pct_change is checked against)."""
    if not fetches:
        return {}
    starts = pd.DataFrame({"symbol": [f.symbol for f in fetches], "start": [f.start for f in fetches]})
    with staged(conn, fetch_starts=starts):
        return dict(
            conn.execute(
                """
            SELECT b.symbol, arg_max(b.close, b.trade_date) FROM daily_bars b JOIN fetch_starts f
              ON b.symbol = f.symbol AND b.trade_date < f.start GROUP BY b.symbol
            """
            ).fetchall()
        )


def _refuse_days(
    conn: duckdb.DuckDBPyConnection, days: list[dt.date], windows: pd.DataFrame, calendar: TradingDays, lineage: Lineage
) -> None:
    """Undo a run's bars of the days the batch rule refused, in one transaction: its rows of those
    days are deleted and each day is cut out of the coverage of the symbols whose window held it,
    so the next run asks for it again. Rows of those days stored by earlier runs and not
    refetched are kept."""
    if not days:
        return
    refused = np.array(sorted(days), dtype="datetime64[D]")
    touched: dict[str, set[dt.date]] = {}
    for symbol, lo, hi in windows.itertuples(index=False):
        inside = refused[(refused >= np.datetime64(lo, "D")) & (refused <= np.datetime64(hi, "D"))]
        if len(inside):
            touched.setdefault(symbol, set()).update(d.astype(dt.date) for d in inside)
    stored = _stored_coverage(conn)
    with transaction(conn):
        conn.execute(
            "DELETE FROM daily_bars WHERE run_id = ? AND list_contains(?::DATE[], trade_date)",
            [lineage.run_id, list(days)],
        )
        for symbol, cut in touched.items():
            conn.execute("DELETE FROM bar_coverage WHERE symbol = ?", [symbol])
            kept = without(stored.get(symbol, []), cut, calendar)
            if kept:
                conn.executemany(
                    "INSERT INTO bar_coverage VALUES (?, ?, ?, ?, ?)",
                    [(symbol, lo, hi, lineage.run_id, lineage.ingested_at) for lo, hi in kept],
                )
    log.error(
        "daily_bars: %d days refused by the batch rule; their bars of this run removed: %s",
        len(days),
        ", ".join(map(str, days[:10])) + (" ..." if len(days) > 10 else ""),
    )
