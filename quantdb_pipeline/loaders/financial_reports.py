"""Financial reports from eastmoney's whole-market tables, one report period at a time.

Each data-center table (`sources.base.REPORT_TABLES`: the results summary `stock_yjbb_em`,
the balance sheet `stock_zcfz_em` and its BSE twin `stock_zcfz_bj_em`, the income statement
`stock_lrb_em`, the cash flow `stock_xjll_em`) answers every company's report of one period
(a quarter end), 500 rows a page, with its announcement date. A period of the whole market
costs five tables x (1 + pages) requests, about 50 at 5,000 companies, where the per-symbol
statements cost about 26 requests per company.

Which periods are fetched (`periods_due`):

- on an empty warehouse, every quarter end of the last `years` years (`DEFAULT_YEARS`);
- a period never fetched, or whose last fetch failed (a hole is revisited every run);
- while a period's disclosure window is open (`loaders.fundamentals.open_report_periods`:
  from the quarter end to the statutory deadline plus a grace week), once per source day:
  a second run on the same day asks nothing;
- once more after its window closed, if the last fetch was before the window's last day
  (a run that skipped the window's end would otherwise miss the late reports).

A closed period is not fetched again: upstream's later restatements of old reports reach the
warehouse only with `refresh` (every period again).

Each period is written in one transaction (`warehouse.writes.replace_report_period`): the
companies in upstream's answer have their rows of that period replaced, through the quality
gate (`validate_statements`, `validate_indicators`; a quarantined row names symbol, period
and rule, and that company keeps its stored rows of the table while the others are written).
Symbols on the watchlist (fetched per symbol with every item, `loaders.fundamentals`) and
codes outside the `securities` universe (B shares, say) are left out.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from quantdb_pipeline.loaders.fundamentals import (
    DEADLINE_GRACE_DAYS,
    INDICATORS,
    STATEMENTS,
    open_report_periods,
)
from quantdb_pipeline.market_rules import statutory_deadline
from quantdb_pipeline.quality.expectations import SuiteOutcome, combine
from quantdb_pipeline.quality.gate import split
from quantdb_pipeline.quality.suites import validate_indicators, validate_statements
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.sources.base import REPORT_TABLES
from quantdb_pipeline.warehouse.writes import Lineage, record_report_period, replace_report_period

log = logging.getLogger(__name__)

#: Years of report periods a first load fetches.
DEFAULT_YEARS = 10
STATEMENT_KEY = ["symbol", "statement", "report_date", "item"]
INDICATOR_KEY = ["symbol", "report_date", "section", "indicator"]

ProgressCallback = Callable[[int, int, str, int], None]


@dataclass
class FinancialReportsReport:
    due: dict[dt.date, str] = field(default_factory=dict)  # period -> why it was fetched
    companies: dict[dt.date, int] = field(default_factory=dict)  # period -> companies written
    empty: list[dt.date] = field(default_factory=list)
    failed: dict[dt.date, str] = field(default_factory=dict)
    statement_rows: int = 0
    indicator_rows: int = 0
    rows_quarantined: int = 0
    rows_out_of_scope: int = 0  # upstream rows of codes not in securities, or on the watchlist
    requests: int = 0
    not_attempted: int = 0  # periods skipped after the circuit breaker opened
    circuit_open: str | None = None
    statement_checks: SuiteOutcome | None = None
    indicator_checks: SuiteOutcome | None = None
    seconds: float = 0.0


def report_periods(today: dt.date, years: int = DEFAULT_YEARS) -> list[dt.date]:
    """The last `years` x 4 quarter ends before `today`, oldest first."""
    ends = [d.date() for d in pd.date_range(dt.date(today.year - years - 1, 1, 1), today, freq="QE")]
    return [d for d in ends if d < today][-years * 4 :]


def window_closes(period: dt.date) -> dt.date:
    """The last day of `period`'s disclosure window (the statutory deadline plus the grace week)."""
    return statutory_deadline(period) + dt.timedelta(days=DEADLINE_GRACE_DAYS)


def periods_due(
    conn: duckdb.DuckDBPyConnection, today: dt.date, years: int = DEFAULT_YEARS, refresh: bool = False
) -> dict[dt.date, str]:
    """period -> why it is fetched (see the module docstring), newest first."""
    state = {
        period: (status, fetched_on)
        for period, status, fetched_on in conn.execute(
            "SELECT report_date, status, fetched_on FROM financial_report_periods"
        ).fetchall()
    }
    open_now = set(open_report_periods(today))
    due = {}
    for period in reversed(report_periods(today, years)):
        status, fetched_on = state.get(period, (None, None))
        if refresh:
            due[period] = "refresh requested"
        elif status is None:
            due[period] = "never fetched"
        elif status == "failed":
            due[period] = "last attempt failed"
        elif period in open_now:
            if fetched_on < today:
                due[period] = "disclosure window open"
        elif fetched_on < window_closes(period) < today:
            due[period] = "window closed since the last fetch"
    return due


def _scope(conn: duckdb.DuckDBPyConnection, symbols: list[str] | None, exclude: Iterable[str]) -> set[str]:
    known = {s for (s,) in conn.execute("SELECT symbol FROM securities").fetchall()}
    if symbols is not None:
        known &= set(symbols)
    return known - set(exclude)


def _fetch_period(source: MarketSource, period: dt.date) -> dict[str, pd.DataFrame]:
    return {table: source.report_table_raw(table, period) for table in REPORT_TABLES}


def load_financial_reports(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    symbols: list[str] | None = None,
    exclude: Iterable[str] = (),
    refresh: bool = False,
    years: int = DEFAULT_YEARS,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
) -> FinancialReportsReport:
    """Fetch, check and write every report period due; returns what was done.

    `symbols`: restricts the companies written (None: every code in `securities`; the
    tables cost the same either way). `exclude`: the watchlist, whose symbols the
    per-symbol path fills. A period whose fetch fails (a table's retries exhausted, an
    answer of the wrong shape) writes nothing, is recorded failed and fetched again next
    run; after `breaker_threshold` failed periods in a row the rest are left for later (an
    upstream that refuses every period is banning us: asking on makes it worse).
    """
    began, today = time.perf_counter(), source.today()
    report = FinancialReportsReport(due=periods_due(conn, today, years, refresh))
    scope = _scope(conn, symbols, exclude)
    if not scope:  # no securities loaded yet, or every symbol in scope is on the watchlist: nothing to write
        log.warning("financial reports: no symbol in scope (securities loaded? all on the watchlist?): nothing asked")
        report.due = {}
    before = sum(source.requests.values())
    failures_in_a_row = 0
    for done, period in enumerate(report.due, start=1):
        if failures_in_a_row >= breaker_threshold:
            report.not_attempted = len(report.due) - done + 1
            report.circuit_open = (
                f"{failures_in_a_row} report periods failed in a row "
                f"(last {period:%Y-%m-%d}: {list(report.failed.values())[-1]})"
            )
            break
        asked = sum(source.requests.values())
        state: dict[str, object] = {"fetched_on": today}
        try:
            statements, indicators = normalize.whole_market_reports(_fetch_period(source, period), period, source.name)
        except Exception as error:  # noqa: BLE001 - any failure of one period leaves it for the next run
            reason = f"{type(error).__name__}: {error}"
            report.failed[period] = reason
            failures_in_a_row += 1
            log.warning("financial reports %s failed, will retry next run: %s", period, reason)
            state.update(status="failed", error=reason[:500], requests=sum(source.requests.values()) - asked)
            record_report_period(conn, period, state, lineage)
            if progress:
                progress(done, len(report.due), period.isoformat(), 0)
            continue
        failures_in_a_row = 0
        state["requests"] = sum(source.requests.values()) - asked
        upstream_rows = len(statements) + len(indicators)
        in_scope_statements = statements["symbol"].isin(scope).to_numpy()
        in_scope_indicators = indicators["symbol"].isin(scope).to_numpy()
        report.rows_out_of_scope += int((~in_scope_statements).sum() + (~in_scope_indicators).sum())
        statements = statements[in_scope_statements].reset_index(drop=True)
        indicators = indicators[in_scope_indicators].reset_index(drop=True)
        present = sorted(set(statements["symbol"]) | set(indicators["symbol"]))
        if not present:  # "empty": upstream has no report of the period yet; else none of ours has one
            report.empty.append(period)
            state.update(status="empty" if upstream_rows == 0 else "ok", companies=0)
            record_report_period(conn, period, state, lineage)
            if progress:
                progress(done, len(report.due), period.isoformat(), 0)
            continue
        statement_checks, indicator_checks = validate_statements(statements), validate_indicators(indicators)
        report.statement_checks = combine(report.statement_checks, statement_checks)
        report.indicator_checks = combine(report.indicator_checks, indicator_checks)
        statements, statement_quarantine = split(STATEMENTS, statements, statement_checks, STATEMENT_KEY)
        indicators, indicator_quarantine = split(INDICATORS, indicators, indicator_checks, INDICATOR_KEY)
        quarantine = pd.concat([statement_quarantine, indicator_quarantine], ignore_index=True)
        report.rows_quarantined += len(quarantine)
        for row in quarantine.drop_duplicates(["table_name", "symbol", "rules"]).itertuples():
            log.warning("%s %s %s quarantined: %s", row.table_name, row.symbol, period, row.rules)
        state.update(
            status="ok",
            companies=len(present),
            error=f"{len(quarantine)} rows quarantined" if len(quarantine) else None,
        )
        replace_report_period(
            conn, period, {STATEMENTS: statements, INDICATORS: indicators}, present, quarantine, state, lineage
        )
        report.companies[period] = len(present)
        report.statement_rows += len(statements)
        report.indicator_rows += len(indicators)
        if progress:
            progress(done, len(report.due), period.isoformat(), len(statements) + len(indicators))
    report.requests = sum(source.requests.values()) - before
    report.seconds = time.perf_counter() - began
    return report
