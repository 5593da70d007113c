"""Hong Kong stocks and CN indices: reference lists and daily bars, each on its own calendar.

Simpler than A-shares on purpose. Both endpoints answer a symbol's range in one request,
indices never suspend, and an HK fetch downloads the whole history anyway, so the stored
bars are the coverage: a symbol is fetched from the day after its last stored bar (or from
`start` when that is earlier than its first stored bar) through today, and from its first
hole in the trailing window if that is earlier (see `_windows`). Each market is
checked by its own suite (see `quality.suites.MARKET_RULES`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.loaders import hk_spot, spot
from quantdb_pipeline.loaders.closures import ClosureJudge, sessions
from quantdb_pipeline.loaders.fetching import fetch_chunks
from quantdb_pipeline.loaders.reference import fetched_today
from quantdb_pipeline.quality.expectations import SuiteOutcome, combine
from quantdb_pipeline.quality.gate import GateFailed, split
from quantdb_pipeline.quality.suites import validate_calendar, validate_market_bars
from quantdb_pipeline.settings import DEFAULT_INDICES, DEFAULT_REVISIT_DAYS, chunk_limits
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.symbols import index_exchange
from quantdb_pipeline.warehouse.coverage import TradingDays
from quantdb_pipeline.warehouse.writes import Lineage, replace_calendar, upsert_rows, write_market_bars

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str, int], None]


@dataclass(frozen=True)
class Market:
    """What differs between the markets loaded here."""

    name: str  # "hk" or "index": also the suite's market
    table: str
    calendar: str  # trading_calendar.market
    fetch: str  # the MarketSource method
    normalize: Callable[[pd.DataFrame, str, str], pd.DataFrame]
    dtypes: dict[str, str]

    @property
    def columns(self) -> list[str]:
        return list(self.dtypes)


HK = Market("hk", "hk_daily_bars", "HK", "hk_daily_raw", normalize.hk_bars, schema.HK_BAR_DTYPES)
INDEX = Market("index", "index_daily_bars", "CN", "index_daily_raw", normalize.index_bars, schema.INDEX_BAR_DTYPES)


@dataclass
class MarketLoadReport:
    market: str
    start: dt.date
    end: dt.date
    symbols_skipped: int = 0
    symbols_updated: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    requests: int = 0
    empty: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    rows_per_symbol: Counter = field(default_factory=Counter)
    not_attempted: int = 0  # items skipped after the circuit breaker opened
    circuit_open: str | None = None
    closures: list[str] = field(default_factory=list)  # market closures recorded by this run: "day: evidence"
    reopened: list[dt.date] = field(default_factory=list)  # recorded closures an answer disproved (removed)
    checks: SuiteOutcome | None = None
    seconds: float = 0.0
    spot_day: dt.date | None = None  # HK: the day taken from the quote list, if it was used
    spot_symbols: int = 0  # symbols whose day came from the quote list (with or without a trade)
    spot_idle: int = 0  # of those, listed without a trade: covered, no bar
    spot_requests: int = 0  # 0 when a run of the day had already fetched (and stored) the list
    spot_checks: SuiteOutcome | None = None
    reconciled: list[str] = field(default_factory=list)
    reconciliation: SuiteOutcome | None = None
    reconcile_mismatches: int = 0


def load_hk_calendar(conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage) -> SuiteOutcome:
    """HKEX's trading days, as market 'HK'; all or nothing, like the CN calendar."""
    calendar = normalize.trading_calendar(source.hk_trading_calendar_raw(), source.name)
    calendar["market"] = pd.Series("HK", index=calendar.index, dtype="string")
    checks = validate_calendar(calendar)
    if checks.failed:
        raise GateFailed(checks, f"{source.name} HK trading calendar")
    replace_calendar(conn, calendar, lineage)
    return checks


def load_hk_securities(
    conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage, force: bool = False
) -> dict:
    """Upsert the HK main board list, at most once per source day; names no longer listed are kept.

    The list is the quote list the HK bars take the day from (`hk_spot.day_quotes`): whichever
    asks first fetches it, the other reads the stored rows. `listed` is None when nothing was
    fetched for the universe (already done for the day)."""
    if fetched_today(conn, "hk_securities", source, force):
        total = conn.execute("SELECT count(*) FROM hk_securities").fetchall()[0][0]
        return {"listed": None, "total": total}
    quotes, _ = hk_spot.day_quotes(conn, source, lineage, refresh=force)
    total = conn.execute("SELECT count(*) FROM hk_securities").fetchall()[0][0]
    return {"listed": len(quotes), "total": total}


def register_indices(conn: duckdb.DuckDBPyConnection, codes: list[str]) -> None:
    names = {code: DEFAULT_INDICES.get(code, code) for code in codes}
    upsert_rows(
        conn,
        "indices",
        pd.DataFrame(
            {
                "symbol": pd.Series(codes, dtype="string"),
                "exchange": pd.Series([index_exchange(c) for c in codes], dtype="string"),
                "name": pd.Series([names[c] for c in codes], dtype="string"),
            }
        ),
        "symbol",
    )


def _windows(
    conn: duckdb.DuckDBPyConnection,
    market: Market,
    symbols: list[str],
    start: dt.date,
    end: dt.date,
    days: np.ndarray,
    today: dt.date,
    revisit_days: int = DEFAULT_REVISIT_DAYS,
    idle: dict[str, set[dt.date]] | None = None,
) -> tuple[list[tuple[str, dt.date, dt.date]], int]:
    """(symbol, from, to) to fetch for a run of [start, end], and how many symbols need nothing.

    A symbol is fetched from the day after its last stored bar (or from `start` when that is
    earlier than its first stored bar) through `end`, and from its first hole if earlier: a
    trading day of the market's calendar in the trailing window of `revisit_days` days up to
    `end`, on or after its first stored bar, without a bar (an empty answer, a quarantined
    row, a suspension). The stored bars are the coverage here, so a suspended symbol's days
    stay holes: a symbol whose only holes are in the trailing window is asked once per night
    (not again when a run of the same source day already asked: `ingest_state.as_of`), and
    only while the hole is inside the trailing window. Every listed HK symbol and index is
    fetched nightly for the new day anyway, so the revisit widens those requests (HK's
    answers are the whole history regardless) and adds requests only to reruns and past ranges.

    `idle`: symbol -> days covered without a bar (an accepted HK quote list showed no trade, see
    `hk_spot`): they count as stored, so that the quote-list nights do not ask history for them.
    """
    idle = idle or {}
    stored = {
        s: (lo, hi)
        for s, lo, hi in conn.execute(
            f"SELECT symbol, min(trade_date), max(trade_date) FROM {market.table} GROUP BY symbol"
        ).fetchall()
    }
    for symbol, quiet in idle.items():
        if symbol in stored:
            stored[symbol] = (stored[symbol][0], max(stored[symbol][1], max(quiet)))
    trailing = days[days <= np.datetime64(end, "D")][-revisit_days:] if revisit_days > 0 else days[:0]
    present: dict[str, set] = {}
    asked_today: set[str] = set()
    if len(trailing):
        for symbol, day in conn.execute(
            f"SELECT symbol, trade_date FROM {market.table} WHERE trade_date BETWEEN ? AND ?",
            [trailing[0].astype(dt.date), end],
        ).fetchall():
            present.setdefault(symbol, set()).add(day)
        for symbol, quiet in idle.items():
            present.setdefault(symbol, set()).update(quiet)
        asked_today = {
            s
            for (s,) in conn.execute(
                "SELECT symbol FROM ingest_state WHERE dataset = ? AND as_of = ? AND status <> 'failed'",
                [market.table, today],
            ).fetchall()
        }
    fetches, skipped = [], 0
    # the range's first trading day: a range starting on a holiday (HK's 07-01) is covered from the next
    first = days[min(int(days.searchsorted(np.datetime64(start, "D"))), len(days) - 1)].astype(dt.date)
    for symbol in symbols:
        lo = start
        if symbol in stored and max(start, first) >= stored[symbol][0]:
            lo = max(start, stored[symbol][1] + dt.timedelta(days=1))
        a, b = days.searchsorted(np.datetime64(lo, "D")), days.searchsorted(np.datetime64(end, "D"), side="right")
        own = bool(a < b)
        if symbol in stored:
            have = present.get(symbol, set())
            holes = [d for d in (t.astype(dt.date) for t in trailing) if d >= stored[symbol][0] and d not in have]
            if holes and (own or symbol not in asked_today):
                lo, own = min(lo, holes[0]), True
        if not own:
            skipped += 1
        else:
            fetches.append((symbol, lo, end))
    return fetches, skipped


def _take_spot_day(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    spot_plan: hk_spot.HkSpotPlan,
    report: MarketLoadReport,
    today: dt.date,
) -> None:
    """Write the planned symbols' day from the HK quote list (rows stamped `<source>/spot`), in one
    transaction: bars that pass the HK rules, the idle symbols covered without a bar, the symbols
    the list lacks recorded empty (history asks for them the next night). Raises `SpotRejected`
    (from `hk_spot.take_day`) with nothing written when the list is not the day's."""
    before = sum(source.requests.values())
    taken = hk_spot.take_day(conn, source, lineage, spot_plan)
    report.spot_requests = sum(source.requests.values()) - before
    report.spot_day, report.spot_checks = spot_plan.day, taken.checks
    report.spot_symbols, report.spot_idle = len(spot_plan.symbols), len(taken.idle)
    report.reconciled = [symbol for symbol, _, _ in spot_plan.reconcile]
    staged = taken.bars[HK.columns]
    checks = validate_market_bars(staged, HK.name, today, sessions(conn, HK.calendar))
    report.checks = combine(report.checks, checks)
    passed, quarantine = split(HK.table, staged, checks, ["symbol", "trade_date"])
    report.rows_quarantined += len(quarantine)
    dirty = set(quarantine["symbol"])
    written = set(passed["symbol"]) | taken.idle
    outcomes: list[tuple[str, str, str | None]] = [(s, "ok", None) for s in sorted(written - dirty)]
    outcomes += [(s, "failed", "quality: rows quarantined") for s in sorted(dirty)]
    outcomes += [(s, "empty", f"not in the quote list of {spot_plan.day}") for s in sorted(taken.missing)]
    report.failed.update({s: "quality: rows quarantined" for s in dirty})
    report.empty += sorted(taken.missing)
    windows = pd.DataFrame(
        [(s, today, today) for s in sorted(written - dirty)], columns=["symbol", "fetched_from", "fetched_to"]
    )
    report.rows_written += write_market_bars(
        conn,
        HK.table,
        HK.columns,
        passed,
        windows,
        pd.DataFrame(outcomes, columns=["symbol", "status", "error"]).astype({"error": "string"}),
        replace(lineage, source=spot.spot_source(lineage.source)),
        today,
        quarantine=quarantine,
    )
    report.symbols_updated += len(windows)
    report.rows_per_symbol.update(Counter(passed["symbol"].tolist()))
    log.info(
        "hk_daily_bars %s: %d symbols from the quote list (%d requests), %d idle, %d not listed; reconciling %d",
        today,
        report.spot_symbols,
        report.spot_requests,
        report.spot_idle,
        len(taken.missing),
        len(report.reconciled),
    )


def load_market_bars(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    market: Market,
    start: dt.date,
    end: dt.date,
    lineage: Lineage,
    symbols: list[str] | None = None,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
    revisit_days: int = DEFAULT_REVISIT_DAYS,
    chunk: tuple[int, int] | None = None,
    use_spot: bool = False,
    reconcile_symbols: int = hk_spot.DEFAULT_HK_RECONCILE_SYMBOLS,
) -> MarketLoadReport:
    """Fetch what [start, end] lacks for each symbol, and its holes in the trailing window of
    `revisit_days` trading days (see `_windows`), check it by the market's rules and write it
    chunk by chunk (`chunk`: (symbols, rows), default `settings.chunk_limits()`), one
    transaction per chunk: a killed load keeps the chunks written, and the rerun's windows
    start after the stored bars.

    `use_spot` (HK only): symbols missing only today take the day from the main-board quote
    list (see `hk_spot`), and `reconcile_symbols` symbols' earlier quote-list bars are fetched
    from history and compared. A list that is not today's raises `SpotRejected` before any
    history request, with nothing written."""
    began = time.perf_counter()
    today = source.today()
    end = min(end, today)
    report = MarketLoadReport(market.name, start, end)
    trading_days, symbols, fetches = _plan_windows(conn, market, symbols, start, end, today, revisit_days, report)
    requests_before = sum(source.requests.values())
    days = np.array(trading_days, dtype="datetime64[D]")
    spot_plan = (
        hk_spot.plan(
            conn, source.name, fetches, days, today, end, reconcile_symbols, symbols, hk_spot.source_now(source)
        )
        if use_spot and market is HK
        else None
    )
    if spot_plan is not None:
        _take_spot_day(conn, source, lineage, spot_plan, report, today)
        fetches = hk_spot.history_fetches(fetches, spot_plan)
    run = _MarketRun(conn, source, market, lineage, today, report, spot_plan, TradingDays(trading_days))
    attempted, closed = run.fetch_and_write(fetches, chunk or chunk_limits(), breaker_threshold, progress)
    report.requests = sum(source.requests.values()) - requests_before
    run.settle_closures(attempted, closed)
    report.seconds = time.perf_counter() - began
    return report


def _plan_windows(
    conn: duckdb.DuckDBPyConnection,
    market: Market,
    symbols: list[str] | None,
    start: dt.date,
    end: dt.date,
    today: dt.date,
    revisit_days: int,
    report: MarketLoadReport,
) -> tuple[list[dt.date], list[str], list[tuple[str, dt.date, dt.date]]]:
    """(the market's sessions, the symbols in scope, the (symbol, from, to) windows to fetch);
    the report counts the symbols skipped as up to date.

    `symbols` None: every symbol of the market's reference list (`hk_securities`, `indices`).
    Raises RuntimeError without the market's calendar: the windows are cut by its sessions.
    """
    trading_days = sessions(conn, market.calendar)
    if not trading_days:
        raise RuntimeError(f"no {market.calendar} trading calendar in the warehouse: load the reference data first")
    if symbols is None:
        reference = "hk_securities" if market is HK else "indices"
        symbols = [s for (s,) in conn.execute(f"SELECT symbol FROM {reference} ORDER BY symbol").fetchall()]
    days = np.array(trading_days, dtype="datetime64[D]")
    idle = hk_spot.idle_days(conn, end - dt.timedelta(days=3 * max(revisit_days, 10))) if market is HK else {}
    fetches, report.symbols_skipped = _windows(conn, market, symbols, start, end, days, today, revisit_days, idle)
    return trading_days, symbols, fetches


class _MarketRun:
    """One HK or index bar load across its chunks: fetch, stage, gate, classify, write.

    Why a class: the chunk steps share the connection, the market, the run's report and the
    closure judge that watches every answer."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        source: MarketSource,
        market: Market,
        lineage: Lineage,
        today: dt.date,
        report: MarketLoadReport,
        spot_plan,
        calendar: TradingDays,
    ):
        self.conn, self.source, self.market, self.lineage = conn, source, market, lineage
        self.today, self.report, self.spot_plan = today, report, spot_plan
        self._fetch = getattr(source, market.fetch)
        self.judge = ClosureJudge(
            conn,
            market.calendar,
            market.table,
            calendar,
            window=lambda w: w,
            probe=lambda symbol, lo, hi: self.fetch_window((symbol, lo, hi)),
        )

    def fetch_window(self, window: tuple[str, dt.date, dt.date]) -> pd.DataFrame:
        """A window's normalized bars, less those outside it (rows dated after today stay: the gate
        quarantines them) and exact duplicates."""
        symbol, lo, hi = window
        bars = self.market.normalize(self._fetch(symbol, lo, hi), symbol, self.source.name)
        dates = bars["trade_date"].array.__arrow_array__().to_numpy()
        keep = (dates >= np.datetime64(lo, "D")) & (
            (dates <= np.datetime64(hi, "D")) | (dates > np.datetime64(self.today, "D"))
        )
        return bars[keep].drop_duplicates()

    def _observed(self, window: tuple[str, dt.date, dt.date]) -> pd.DataFrame:
        bars = self.fetch_window(window)
        self.judge.observe(window, bars)
        return bars

    def fetch_and_write(
        self,
        fetches: list[tuple[str, dt.date, dt.date]],
        chunk: tuple[int, int],
        breaker_threshold: int,
        progress: ProgressCallback | None,
    ) -> tuple[list, list]:
        """Fetch `fetches` chunk by chunk, writing each chunk as it arrives; returns (the windows
        attempted, those excused as closed: written by `settle_closures` once decided)."""
        report, (max_symbols, max_rows) = self.report, chunk
        attempted, closed = [], []
        for got in fetch_chunks(
            fetches,
            self._observed,
            dataset=self.market.table,
            empty_is_suspicious=True,
            max_items=max_symbols,
            max_rows=max_rows,
            breaker_threshold=breaker_threshold,
            name=lambda w: w[0],
            describe=lambda w: f"{w[0]} {w[1]}..{w[2]}",
            progress=progress,
            judge_streak=self.judge,
        ):
            attempted += got.attempted()
            report.failed.update({symbol: reason for (symbol, _, _), reason in got.failed.items()})
            report.circuit_open, report.not_attempted = got.circuit_open, len(got.not_attempted)
            # before the gate: a bar on a recorded closure makes it a session again
            self.judge.reopen_seen(self.lineage)
            excused = set(got.closed)
            self.write(
                [(w, b) for w, b in got.answers if w not in excused],
                [(symbol, "failed", reason) for (symbol, _, _), reason in got.failed.items()],
                set(),
            )
            closed += got.closed
        return attempted, closed

    def settle_closures(self, attempted: list, closed: list) -> None:
        """Record the closures the answers showed, then write the windows excused as closed: `ok`
        when closed on every day of the window, else `empty` (retried)."""
        report = self.report
        report.closures, report.reopened = self.judge.finish(attempted, closed, self.lineage)
        if closed:
            self.write(
                [(w, schema.empty_frame(self.market.dtypes)) for w in closed],
                [],
                {w[0] for w in closed if self.judge.covers(w)},
            )

    def _reconcile(self, fetched: list) -> None:
        """Compare this chunk's sampled symbols' stored quote-list bars with their history, before
        the history rows replace them."""
        answered = {w[0] for w, _ in fetched}
        entries = [e for e in (self.spot_plan.reconcile if self.spot_plan else []) if e[0] in answered]
        if not entries:
            return
        sampled = {symbol for symbol, _, _ in entries}
        history = [b for w, b in fetched if w[0] in sampled and len(b)]
        outcome, mismatches = spot.reconcile(
            self.conn,
            pd.concat(history, ignore_index=True) if history else schema.empty_frame(self.market.dtypes),
            self.source.name,
            entries,
            table=self.market.table,
        )
        self.report.reconciliation = combine(self.report.reconciliation, outcome)
        self.report.reconcile_mismatches += mismatches

    def write(self, fetched: list, outcomes: list, closed: set[str]) -> None:
        """One chunk: stage, gate by the market's rules, classify each window, write with its
        outcomes (`outcomes`: failures of the chunk, written first) in one transaction."""
        self._reconcile(fetched)
        frames = [b for _, b in fetched if len(b)]
        staged = pd.concat(frames, ignore_index=True) if frames else schema.empty_frame(self.market.dtypes)
        passed, quarantine = self._gate(staged)
        windows = self._classify(fetched, passed, quarantine, closed, outcomes)
        self.report.rows_written += write_market_bars(
            self.conn,
            self.market.table,
            self.market.columns,
            passed,
            pd.DataFrame(windows, columns=["symbol", "fetched_from", "fetched_to"]),
            pd.DataFrame(outcomes, columns=["symbol", "status", "error"]).astype({"error": "string"}),
            self.lineage,
            self.today,
            quarantine=quarantine,
        )
        self.report.symbols_updated += len(windows)

    def _gate(self, staged: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(passed, quarantine) by the market's suite, against the sessions as the judge left them."""
        report = self.report
        checks = validate_market_bars(staged, self.market.name, self.today, sessions(self.conn, self.market.calendar))
        report.checks = combine(report.checks, checks)
        passed, quarantine = split(self.market.table, staged, checks, ["symbol", "trade_date"])
        report.rows_quarantined += len(quarantine)
        return passed, quarantine

    def _classify(
        self, fetched: list, passed: pd.DataFrame, quarantine: pd.DataFrame, closed: set[str], outcomes: list
    ) -> list[tuple[str, dt.date, dt.date]]:
        """Each window's outcome appended to `outcomes`; returns the clean windows (replaced whole).

        A symbol with quarantined rows is `failed` and its window not replaced (only its clean
        rows replace by key); an empty answer is `empty` (not trusted: retried) unless the market
        was closed on every day of the window."""
        report = self.report
        dirty = set(quarantine["symbol"])
        rows = Counter(passed["symbol"].tolist())
        windows = []
        for (symbol, lo, hi), _ in fetched:
            if symbol in dirty:
                report.failed[symbol] = "quality: rows quarantined"
                outcomes.append((symbol, "failed", report.failed[symbol]))
            elif rows[symbol] == 0 and symbol in closed:
                outcomes.append((symbol, "ok", None))  # the market was closed on every day of its window
            elif rows[symbol] == 0:
                report.empty.append(symbol)
                outcomes.append((symbol, "empty", f"no rows for {lo}..{hi}"))
            else:
                windows.append((symbol, lo, hi))
                outcomes.append((symbol, "ok", None))
            if rows[symbol]:
                report.rows_per_symbol[symbol] += rows[symbol]
        return windows
