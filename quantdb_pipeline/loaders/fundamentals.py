"""Financial reports (with announcement dates); profiles are `loaders.profiles`.

Financials: a symbol's reports are fetched when a new one can exist: never fetched yet, or
a quarter has ended whose report is not stored while its disclosure window (up to the
statutory deadline plus a grace week) is open, at most once every `RETRY_DAYS`. Upstream
restates old reports, so a fetch replaces the symbol's reports as a whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.loaders.fetching import fetch_chunks

from quantdb_pipeline.market_rules import REPORT_PERIOD_ENDS, statutory_deadline
from quantdb_pipeline.quality.expectations import SuiteOutcome, combine
from quantdb_pipeline.quality.gate import split
from quantdb_pipeline.quality.suites import validate_indicators, validate_statements
from quantdb_pipeline.settings import chunk_limits
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.writes import Lineage, replace_reports

log = logging.getLogger(__name__)

STATEMENTS = "financial_statements"
INDICATORS = "financial_indicators"
#: Inside a disclosure window, a symbol whose new report has not appeared is asked again after this.
RETRY_DAYS = 7
#: After the statutory deadline, late reports are still looked for during this many days.
DEADLINE_GRACE_DAYS = 7
STATEMENTS_FETCHED = ("balance", "income", "cash_flow")

ProgressCallback = Callable[[int, int, str, int], None]


def open_report_periods(today: dt.date) -> list[dt.date]:
    """Quarter ends whose disclosure window is open today (ended, deadline + grace not passed)."""
    periods = []
    for year in (today.year - 1, today.year):
        for month, day in REPORT_PERIOD_ENDS:
            end = dt.date(year, month, day)
            if end < today <= statutory_deadline(end) + dt.timedelta(days=DEADLINE_GRACE_DAYS):
                periods.append(end)
    return periods


@dataclass
class FundamentalsReport:
    dataset: str
    due: dict[str, str] = field(default_factory=dict)  # symbol -> why it was fetched
    symbols_updated: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    requests: int = 0
    changes: dict[str, str] = field(default_factory=dict)  # profiles: symbol -> what changed
    failed: dict[str, str] = field(default_factory=dict)
    not_attempted: int = 0  # items skipped after the circuit breaker opened
    circuit_open: str | None = None
    checks: SuiteOutcome | None = None
    seconds: float = 0.0


def _listed(conn: duckdb.DuckDBPyConnection, today: dt.date, symbols: list[str] | None) -> list[str]:
    return [
        s
        for (s,) in conn.execute(
            """
        SELECT symbol FROM securities
        WHERE (list_date IS NULL OR list_date <= ?) AND (delist_date IS NULL OR delist_date > ?)
          AND status = 'listed' AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], symbol))
        ORDER BY symbol
        """,
            [today, today, symbols, symbols],
        ).fetchall()
    ]


def _state(conn: duckdb.DuckDBPyConnection, dataset: str) -> dict[str, tuple[str, dt.date | None]]:
    return {
        s: (status, as_of)
        for s, status, as_of in conn.execute(
            "SELECT symbol, status, as_of FROM ingest_state WHERE dataset = ?", [dataset]
        ).fetchall()
    }


def reports_due(
    conn: duckdb.DuckDBPyConnection,
    dataset: str,
    table: str,
    today: dt.date,
    symbols: list[str] | None = None,
    refresh: bool = False,
) -> dict[str, str]:
    """Symbols whose reports are never fetched, or whose next report is due and missing."""
    state, due = _state(conn, dataset), {}
    latest = dict(conn.execute(f"SELECT symbol, max(report_date) FROM {table} GROUP BY symbol").fetchall())
    periods = open_report_periods(today)
    for symbol in _listed(conn, today, symbols):
        status, as_of = state.get(symbol, (None, None))
        waiting = [p for p in periods if latest.get(symbol) is None or latest[symbol] < p]
        if refresh:
            due[symbol] = "refresh requested"
        elif status is None:
            due[symbol] = "never fetched"
        elif status == "failed":
            due[symbol] = "last attempt failed"
        elif waiting and (as_of is None or (today - as_of).days >= RETRY_DAYS):
            due[symbol] = f"report {waiting[-1]} due by {statutory_deadline(waiting[-1])}"
    return due


def _fetch_chunks(
    due: dict[str, str],
    fetch: Callable[[str], pd.DataFrame],
    report: FundamentalsReport,
    progress: ProgressCallback | None,
    breaker_threshold: int,
    chunk: tuple[int, int] | None,
) -> Iterator[tuple[list[tuple[str, pd.DataFrame]], dict[str, str]]]:
    """Fetch each due symbol, yielding the answers a chunk at a time (`chunk`: (symbols, rows),
    default `settings.chunk_limits()`) for the caller to check and write before the next chunk;
    a new listing without reports answers empty, so empties are ordinary. The failures of a
    chunk are in `report.failed` when it is yielded."""
    max_symbols, max_rows = chunk or chunk_limits()
    for got in fetch_chunks(
        list(due),
        fetch,
        dataset=report.dataset,
        empty_is_suspicious=False,
        max_items=max_symbols,
        max_rows=max_rows,
        breaker_threshold=breaker_threshold,
        progress=progress,
    ):
        report.failed.update(got.failed)
        report.circuit_open = got.circuit_open
        report.not_attempted = len(got.not_attempted)
        yield got.answers, got.failed


def _statements(source: MarketSource, symbol: str) -> pd.DataFrame:
    frames = [
        normalize.financial_statement(source.statement_raw(symbol, statement), symbol, statement, source.name)
        for statement in STATEMENTS_FETCHED
    ]
    return pd.concat(frames, ignore_index=True)


def _load_reports(
    conn,
    source,
    lineage,
    dataset,
    table,
    fetch,
    validate,
    key,
    symbols,
    refresh,
    progress,
    breaker_threshold,
    chunk=None,
) -> FundamentalsReport:
    """Fetch the reports of every symbol due, checked and swapped in a chunk of symbols per transaction."""
    began, today = time.perf_counter(), source.today()
    report = FundamentalsReport(dataset, due=reports_due(conn, dataset, table, today, symbols, refresh))
    before = sum(source.requests.values())
    dtypes = schema.STATEMENT_DTYPES if table == STATEMENTS else schema.INDICATOR_DTYPES
    for fetched, failed in _fetch_chunks(report.due, fetch, report, progress, breaker_threshold, chunk):
        report.requests = sum(source.requests.values()) - before
        frames = [f for _, f in fetched if len(f)]
        staged = pd.concat(frames, ignore_index=True) if frames else schema.empty_frame(dtypes)
        if table == INDICATORS:  # sina repeats some labels inside a section: the first one counts
            staged = staged.drop_duplicates(["symbol", "report_date", "section", "indicator"], keep="first")
            staged = staged.reset_index(drop=True)
        checks = validate(staged)
        report.checks = combine(report.checks, checks)
        passed, quarantine = split(table, staged, checks, key)
        report.rows_quarantined += len(quarantine)
        outcomes: list[tuple[str, str, str | None]] = []
        for symbol, frame in fetched:
            if frame.empty:
                outcomes.append((symbol, "empty", "upstream has no reports"))
            else:
                rejected = int((quarantine["symbol"] == symbol).sum())
                outcomes.append((symbol, "ok", f"{rejected} rows quarantined" if rejected else None))
        outcomes += [(s, "failed", r) for s, r in failed.items()]
        replaced = [s for s, f in fetched if len(f)]
        report.rows_written += replace_reports(
            conn,
            table,
            passed,
            replaced,
            pd.DataFrame(outcomes, columns=["symbol", "status", "error"]).astype({"error": "string"}),
            lineage,
            today,
            quarantine,
            dataset,
        )
        report.symbols_updated += len(replaced)
    report.seconds = time.perf_counter() - began
    return report


def load_statements(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    symbols: list[str] | None = None,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
) -> FundamentalsReport:
    """eastmoney's three statements of every symbol whose reports are due."""
    return _load_reports(
        conn,
        source,
        lineage,
        STATEMENTS,
        STATEMENTS,
        lambda s: _statements(source, s),
        validate_statements,
        ["symbol", "statement", "report_date", "item"],
        symbols,
        refresh,
        progress,
        breaker_threshold,
    )


def load_indicators(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    symbols: list[str] | None = None,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
) -> FundamentalsReport:
    """sina's key indicators of every symbol whose reports are due."""
    return _load_reports(
        conn,
        source,
        lineage,
        INDICATORS,
        INDICATORS,
        lambda s: normalize.financial_indicators(source.financial_abstract_raw(s), s, source.name),
        validate_indicators,
        ["symbol", "report_date", "section", "indicator"],
        symbols,
        refresh,
        progress,
        breaker_threshold,
    )
