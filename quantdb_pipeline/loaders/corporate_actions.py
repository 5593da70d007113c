"""Corporate actions: eastmoney's whole-market dividend table, one report period a call.

`stock_fhps_em(date)` answers every company's distribution plan for one report period (a
quarter end) in pages of 500 rows: the whole market's dividends in a few requests, where
per-symbol calls would cost thousands. Plans appear when announced and gain their ex-date
when implemented, so a period keeps changing for months after it ends; it is refetched
every night while it is open (`OPEN_MONTHS`) and never again once closed.

Every quarter end is asked for, not only 0630 and 1231: dividends paid from Q1 and Q3
reports are listed under those periods only (akshare#3656).

The ex-dates stored here are what tells the factor loader that a symbol's adjustment
factors are stale: history-path bars never show an ex-date (eastmoney's unadjusted 涨跌额 is
close-to-close), and the quote list's reference price is only seen on the nights it is used.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.loaders.fetching import fetch_each
from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.quality.gate import split
from quantdb_pipeline.quality.suites import validate_corporate_actions
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.writes import Lineage, replace_corporate_actions, staged

DATASET = "corporate_actions"
#: Months after a report period ends during which its distributions can still be announced
#: or go ex: annual dividends go ex from May to October, interim ones until January, Q1/Q3
#: ones within a few months. Open periods are refetched every night; closed ones never.
OPEN_MONTHS = {3: 5, 6: 7, 9: 5, 12: 10}
#: Periods reach back this many months before the first bar: a distribution goes ex up to
#: about a year after the period it is paid from.
LOOKBACK_MONTHS = 15

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str, int], None]


@dataclass
class CorporateActionsReport:
    needed: dict[dt.date, str] = field(default_factory=dict)  # period -> why it was fetched
    rows_written: int = 0
    rows_quarantined: int = 0
    requests: int = 0
    empty: list[dt.date] = field(default_factory=list)
    failed: dict[dt.date, str] = field(default_factory=dict)
    new_ex_dates: pd.DataFrame = field(default_factory=pd.DataFrame)  # symbol, ex_date, report_period
    not_attempted: int = 0  # items skipped after the circuit breaker opened
    circuit_open: str | None = None
    checks: SuiteOutcome | None = None
    seconds: float = 0.0


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return min(dt.date(year, month, 28), day) if day.day > 28 else dt.date(year, month, day.day)


def quarter_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every quarter end in [first, last]."""
    return [d.date() for d in pd.date_range(first, last, freq="QE")]


def closes_on(period: dt.date) -> dt.date:
    """The last day on which `period`'s distributions are still refetched."""
    end = _add_months(period.replace(day=1), OPEN_MONTHS[period.month] + 1)
    return end - dt.timedelta(days=1)


def periods_to_fetch(
    conn: duckdb.DuckDBPyConnection, start: dt.date, today: dt.date, refresh: bool = False
) -> dict[dt.date, str]:
    """period -> reason, for every report period a load whose bars start at `start` needs.

    The periods reach from `LOOKBACK_MONTHS` before the earliest of `start` and the stored
    bars up to today. A period is fetched when never fetched, when its last attempt failed,
    while it is open (at most once per source day), and once more after it closed if it was
    empty while open (upstream also answers throttled requests with nothing).
    """
    stored_first = conn.execute("SELECT min(trade_date) FROM daily_bars").fetchall()[0][0]
    first = min(start, stored_first) if stored_first else start
    wanted = quarter_ends(_add_months(first.replace(day=1), -LOOKBACK_MONTHS), today)
    state = {
        dt.date.fromisoformat(period): (status, as_of)
        for period, status, as_of in conn.execute(
            f"SELECT symbol, status, as_of FROM ingest_state WHERE dataset = '{DATASET}'"
        ).fetchall()
    }
    needed = {}
    for period in wanted:
        status, as_of = state.get(period, (None, None))
        if refresh:
            needed[period] = "refresh requested"
        elif status is None:
            needed[period] = "never fetched"
        elif status == "failed":
            needed[period] = "last attempt failed"
        elif today <= closes_on(period):
            if as_of is None or as_of < today:
                needed[period] = "open period"
        elif status == "empty" and (as_of is None or as_of <= closes_on(period)):
            needed[period] = "empty while open"
    return needed


def load_corporate_actions(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    start: dt.date,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
) -> CorporateActionsReport:
    """Fetch the report periods that need it, check the plans, and swap each period in.

    A period whose fetch fails is recorded and retried next run. Rows that break a rule are
    quarantined with the rule's name; that symbol keeps its stored rows of that period.
    """
    began = time.perf_counter()
    today = source.today()
    report = CorporateActionsReport(needed=periods_to_fetch(conn, start, today, refresh))
    requests_before = sum(source.requests.values())
    # a period with no plans yet answers empty: an ordinary answer, not a throttling sign
    got = fetch_each(
        list(report.needed),
        lambda period: normalize.corporate_actions(source.dividends_raw(period), period, source.name),
        dataset=DATASET,
        empty_is_suspicious=False,
        breaker_threshold=breaker_threshold,
        name=lambda period: period.isoformat(),
        noun="periods",
        progress=progress,
    )
    report.failed.update(got.failed)
    report.empty = list(got.empty)
    report.circuit_open = got.circuit_open
    report.not_attempted = len(got.not_attempted)
    outcomes: list[tuple[str, str, str | None]] = [
        (period.isoformat(), "failed", reason) for period, reason in got.failed.items()
    ]
    outcomes += [(period.isoformat(), "empty", "upstream has no plans for this period") for period in got.empty]
    outcomes += [(period.isoformat(), "ok", None) for period, rows in got.answers if not rows.empty]
    frames = [rows for _, rows in got.answers if not rows.empty]
    report.requests = sum(source.requests.values()) - requests_before

    staged = pd.concat(frames, ignore_index=True) if frames else schema.empty_corporate_actions()
    report.checks = validate_corporate_actions(staged)
    passed, quarantine = split(DATASET, staged, report.checks, ["symbol", "report_period", "plan_announced_on"])
    report.rows_quarantined = len(quarantine)
    replaced = [period for period, _ in got.answers]  # not the failed ones, nor those the breaker spared
    report.new_ex_dates = _new_ex_dates(conn, passed)
    report.rows_written = replace_corporate_actions(
        conn,
        passed,
        replaced,
        pd.DataFrame(outcomes, columns=["symbol", "status", "error"]).astype({"error": "string"}),
        lineage,
        today,
        quarantine=quarantine,
    )
    report.seconds = time.perf_counter() - began
    return report


def _new_ex_dates(conn: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> pd.DataFrame:
    """(symbol, ex_date, report_period) of the fetched plans whose ex-date the table did not hold."""
    with staged(conn, fetched_actions=rows[["symbol", "ex_date", "report_period"]]):
        return conn.execute("""
            SELECT f.symbol, f.ex_date, f.report_period FROM fetched_actions f
            WHERE f.ex_date IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM corporate_actions c WHERE c.symbol = f.symbol AND c.ex_date = f.ex_date)
            ORDER BY f.ex_date, f.symbol""").df()
