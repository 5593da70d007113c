"""Security profiles from whole-market lists, with history back to listing.

A profile (name and ST status, industry, shares, listing date, market values) is built for every
listed symbol from lists the pipeline fetches anyway, never with one request per symbol:

- the A-share quote list (`stock_zh_a_spot_em`, about 56 pages): name with its ST prefix, price,
  total and float market value. The nightly bars step already fetches it and leaves it in
  `quote_list_snapshot`; this step reuses that copy while no session has begun since it was
  taken, and otherwise fetches the list once itself. So a rename (becoming ST, say) is a new
  profile version the night the list shows it, at no extra request;
- shares from the exchanges' lists where they carry them (SZSE, BSE; `exchange_shares`, written
  by the securities load), else derived as market value / price and flagged
  (`shares_source = 'market_value/price'`, SSE). A derived count within `SHARES_TOLERANCE` of
  the stored one keeps the stored count, so price rounding does not start versions;
- the industry from eastmoney's industry boards (`industry_assignments`), the listing date from
  `securities`.

The weekly refresh (at most once every `WEEKLY_REFRESH_DAYS`, or on `refresh`) re-reads the
industry boards (one request per 100 boards + one per 100 constituents of each board, at most
`MAX_BOARDS_PER_REFRESH` boards, longest unread first), SZSE's name-change records
(one xlsx: dated names back to listing, `security_names`) and, for at most
`FORMER_NAMES_PER_REFRESH` SSE/BSE symbols, sina's former-names page (undated, `former_names`):
each symbol once, oldest listing first (a failed one again at the next refresh). A symbol listed
after its first observed profile is never asked: the pipeline has seen every name it had.

Versions: see `writes.upsert_profiles` (a change of name, ST, industry, shares or listing date
closes the current version the day it is seen; market values are refreshed in place).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.loaders.fetching import fetch_each
from quantdb_pipeline.loaders.fundamentals import ProgressCallback, FundamentalsReport
from quantdb_pipeline.market_rules import is_st_name
from quantdb_pipeline.quality.expectations import combine
from quantdb_pipeline.quality.gate import split
from quantdb_pipeline.quality.suites import validate_profiles
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.sources.pacing import RetriesExhausted
from quantdb_pipeline.warehouse.profile_inputs import (
    quote_list_snapshot,
    record_failures,
    replace_former_names,
    replace_industries,
    replace_name_periods,
    store_quote_list,
)
from quantdb_pipeline.warehouse.schema import scalar
from quantdb_pipeline.warehouse.writes import Lineage, get_setting, set_setting, upsert_profiles

log = logging.getLogger(__name__)

PROFILES = "security_profiles"
#: ingest_state dataset of sina's former-names pages (as_of: the day a symbol was last asked).
FORMER_NAMES = "former_names"
#: The industry boards, SZSE's name changes and a batch of sina pages are re-read this often.
WEEKLY_REFRESH_DAYS = 7
#: sina pages (one request each) per weekly refresh: the one pass over ~2,900 SSE/BSE symbols
#: costs ~2,900 requests, spread over ~49 weekly refreshes; after it, only new failures are asked.
FORMER_NAMES_PER_REFRESH = 60
#: ingest_state dataset of the industry boards (symbol: the board code, as_of: the day last read).
INDUSTRY_BOARDS = "industry_boards"
#: Boards whose constituents are read per weekly refresh. eastmoney's industry list (`m:90 t:2`)
#: held about 86 boards (one page of constituents each, a few two or more: ~120 requests); should
#: it list far more (a finer classification), the boards read longest ago go first and a full
#: round takes several weeks, so the weekly refresh stays under its budget either way.
MAX_BOARDS_PER_REFRESH = 120
#: A share count derived from market value / price within this fraction of the stored one is
#: the stored one (the price is rounded to the fen; eastmoney's market values may be rounded).
SHARES_TOLERANCE = 0.005
EXCHANGE_LIST, DERIVED = "exchange_list", "market_value/price"


@dataclass
class ProfileReport(FundamentalsReport):
    quote_list: str = ""  # where the quote list came from: "stored (day)" or "fetched (n requests)"
    weekly_refresh: bool = False
    weekly_requests: dict[str, int] = field(default_factory=dict)  # endpoint -> requests of the weekly refresh
    industries: int = 0  # symbols assigned an industry by the boards
    name_periods: int = 0  # dated name periods from SZSE's records
    former_names_asked: list[str] = field(default_factory=list)
    not_in_quote_list: int = 0


def _weekly_key(source: MarketSource) -> str:
    return f"{PROFILES}.{source.name}.weekly_refresh_on"


def weekly_refresh_due(conn: duckdb.DuckDBPyConnection, source: MarketSource, today: dt.date) -> bool:
    last = get_setting(conn, _weekly_key(source))
    return last is None or (today - dt.date.fromisoformat(last)).days >= WEEKLY_REFRESH_DAYS


def profiled_symbols(conn: duckdb.DuckDBPyConnection, today: dt.date, symbols: list[str] | None = None) -> list[str]:
    """The symbols the profile step covers on `today`: listed (not dropped or switched), of `symbols` if given."""
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


def former_names_due(conn: duckdb.DuckDBPyConnection, listed: list[str], limit: int) -> list[str]:
    """Up to `limit` SSE/BSE symbols of `listed` to ask sina about: never asked, or failed (those
    asked longest ago first); older listings first. Each symbol is asked once: names after that are
    seen in the quote list. Symbols observed since their listing day are skipped."""
    return [
        s
        for (s,) in conn.execute(
            """
        SELECT s.symbol FROM securities s
        LEFT JOIN ingest_state i ON i.dataset = $dataset AND i.symbol = s.symbol
        LEFT JOIN (SELECT symbol, min(valid_from) AS first_seen FROM security_profiles GROUP BY symbol) p
               ON p.symbol = s.symbol
        WHERE s.exchange IN ('SH', 'BJ') AND list_contains($listed::VARCHAR[], s.symbol)
          AND (i.status IS NULL OR i.status = 'failed')
          AND (p.first_seen IS NULL OR s.list_date IS NULL OR s.list_date < p.first_seen)
        ORDER BY i.as_of NULLS FIRST, s.list_date NULLS FIRST, s.symbol
        LIMIT $limit
        """,
            {"dataset": FORMER_NAMES, "listed": listed, "limit": limit},
        ).fetchall()
    ]


def _requests_since(source: MarketSource, before: Counter) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in source.requests.items() if v - before.get(k, 0)}


def boards_due(conn: duckdb.DuckDBPyConnection, codes: list[str], limit: int) -> list[str]:
    """All of `codes` when they are at most `limit`, else the `limit` boards read longest ago
    (never read first)."""
    if len(codes) <= limit:
        return codes
    last = dict(
        conn.execute(
            "SELECT symbol, as_of FROM ingest_state WHERE dataset = ? AND status = 'ok'", [INDUSTRY_BOARDS]
        ).fetchall()
    )
    return sorted(codes, key=lambda code: (last.get(code) or dt.date.min, code))[:limit]


def _refresh_industries(
    conn, source: MarketSource, lineage: Lineage, today: dt.date, report: ProfileReport, breaker_threshold: int
) -> bool:
    """Re-read the constituents of the boards due (`boards_due`); replace their assignments only
    if every one of them answered."""
    boards = normalize.industry_boards(source.industry_boards_raw(), source.name)
    names = dict(zip(boards["board_code"], boards["industry"]))
    due = boards_due(conn, list(names), MAX_BOARDS_PER_REFRESH)
    got = fetch_each(
        due,
        source.industry_constituents_raw,
        dataset=INDUSTRY_BOARDS,
        empty_is_suspicious=False,
        breaker_threshold=breaker_threshold,
        noun="boards",
    )
    for code, reason in got.failed.items():
        report.failed[f"industry board {code}"] = reason
    if got.circuit_open:
        report.circuit_open = got.circuit_open
    if got.failed or got.circuit_open or got.not_attempted:
        log.warning(
            "industry boards: %d failed, %d not attempted; the stored industries are kept",
            len(got.failed),
            len(got.not_attempted),
        )
        return False
    frames = [normalize.industry_members(raw, names[code], code, source.name) for code, raw in got.answers]
    members = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["symbol", "industry", "board_code"])
    )
    outcomes = pd.DataFrame(
        {
            "symbol": pd.Series(due, dtype="string"),
            "status": "ok",
            "error": pd.Series([None] * len(due), dtype="string"),
        }
    )
    report.industries = replace_industries(
        conn,
        members,
        today,
        lineage,
        boards=None if len(due) == len(names) else due,
        outcomes=outcomes,
        dataset=INDUSTRY_BOARDS,
    )
    return True


def _refresh_names(
    conn,
    source: MarketSource,
    lineage: Lineage,
    today: dt.date,
    listed: list[str],
    report: ProfileReport,
    breaker_threshold: int,
) -> bool:
    """SZSE's dated name changes (one request), then a batch of sina's undated former names."""
    list_dates = {
        s: d for s, d in conn.execute("SELECT symbol, list_date FROM securities WHERE list_date IS NOT NULL").fetchall()
    }
    ok = True
    try:
        periods = normalize.sz_name_periods(source.sz_name_changes_raw(), list_dates, source.name)
        report.name_periods = replace_name_periods(conn, periods, lineage)
    except Exception as error:  # noqa: BLE001 - one list: recorded, retried by the next refresh
        report.failed["SZSE name changes"] = f"{type(error).__name__}: {error}"
        ok = False
    asked = former_names_due(conn, listed, FORMER_NAMES_PER_REFRESH)
    if not asked:
        return ok
    got = fetch_each(
        asked,
        source.former_names_raw,
        dataset=FORMER_NAMES,
        empty_is_suspicious=False,
        breaker_threshold=breaker_threshold,
    )
    report.former_names_asked = [s for s, _ in got.answers]
    frames = [normalize.former_names(raw, s, source.name) for s, raw in got.answers]
    names = pd.concat(frames, ignore_index=True) if frames else schema.empty_frame(schema.FORMER_NAME_DTYPES)
    outcomes = pd.DataFrame(
        [
            (s, "ok" if len(raw) else "empty", None if len(raw) else "sina lists no former name")
            for s, raw in got.answers
        ]
        + [(s, "failed", r) for s, r in got.failed.items()],
        columns=["symbol", "status", "error"],
    ).astype({"error": "string"})
    replace_former_names(conn, names, report.former_names_asked, outcomes, lineage, today, FORMER_NAMES)
    for symbol, reason in got.failed.items():
        report.failed[f"former names {symbol}"] = reason
    if got.circuit_open:
        report.circuit_open = got.circuit_open
    return ok


def _quote_list(conn, source: MarketSource, lineage: Lineage, today: dt.date, report: ProfileReport) -> None:
    """Make `quote_list_snapshot` today's: keep it if no session began after it was taken, else
    fetch the list once (raises on an empty list: the stored profiles are kept)."""
    taken, _ = quote_list_snapshot(conn)
    session = scalar(
        conn, "SELECT max(trade_date) FROM trading_calendar WHERE market = 'CN' AND trade_date <= ?", [today]
    )
    if taken is not None and (taken >= today or (session is not None and taken >= session)):
        report.quote_list = f"stored ({taken})"
        return
    before = sum(source.requests.values())
    quotes = normalize.quote_list_profiles(source.a_share_spot_raw(), source.name)
    if quotes.empty:
        raise ValueError(f"{source.name}: the quote list came back empty on {today}; the stored profiles are kept")
    store_quote_list(conn, quotes, today, lineage)
    report.quote_list = f"fetched ({sum(source.requests.values()) - before} requests)"


def build_profiles(conn: duckdb.DuckDBPyConnection, listed: list[str]) -> pd.DataFrame:
    """The profile rows (`schema.PROFILE_COLUMNS`) of the symbols in `listed` that the stored
    quote list shows, from the snapshot, exchange shares, industries, securities and the
    current versions (see the module docstring)."""
    frame = conn.execute(
        """
        SELECT q.symbol, q.name, coalesce(i.industry, c.industry) AS industry,
               e.total_shares AS list_total, e.float_shares AS list_float,
               CASE WHEN q.price > 0 THEN round(q.total_market_cap / q.price) END AS derived_total,
               CASE WHEN q.price > 0 THEN round(q.float_market_cap / q.price) END AS derived_float,
               c.total_shares AS stored_total, c.float_shares AS stored_float, c.shares_source AS stored_source,
               coalesce(s.list_date, c.list_date) AS list_date, q.total_market_cap, q.float_market_cap
        FROM quote_list_snapshot q
        JOIN securities s ON s.symbol = q.symbol
        LEFT JOIN exchange_shares e ON e.symbol = q.symbol
        LEFT JOIN industry_assignments i ON i.symbol = q.symbol
        LEFT JOIN security_profiles c ON c.symbol = q.symbol AND c.valid_to IS NULL
        WHERE list_contains($listed::VARCHAR[], q.symbol)
        ORDER BY q.symbol
        """,
        {"listed": listed},
    ).df()
    from_list = frame["list_total"].notna().to_numpy()
    derived_total = frame["derived_total"].to_numpy(dtype="float64")
    derived_float = frame["derived_float"].to_numpy(dtype="float64")
    stored_total = frame["stored_total"].to_numpy(dtype="float64")
    stored_float = frame["stored_float"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        close = (np.abs(derived_total - stored_total) <= SHARES_TOLERANCE * stored_total) & (
            np.isnan(stored_float) | (np.abs(derived_float - stored_float) <= SHARES_TOLERANCE * stored_float)
        )
    keep = ~from_list & (close | np.isnan(derived_total)) & ~np.isnan(stored_total)
    total = np.where(
        from_list, frame["list_total"].to_numpy(dtype="float64"), np.where(keep, stored_total, derived_total)
    )
    floating = np.where(
        from_list, frame["list_float"].to_numpy(dtype="float64"), np.where(keep, stored_float, derived_float)
    )
    source = np.where(
        from_list,
        EXCHANGE_LIST,
        np.where(
            keep,
            frame["stored_source"].astype(object).fillna(DERIVED).to_numpy(),
            np.where(np.isnan(derived_total), np.full(derived_total.shape, None, dtype=object), DERIVED),
        ),
    )
    out = pd.DataFrame(
        {
            "symbol": frame["symbol"],
            "name": frame["name"],
            "industry": frame["industry"],
            "total_shares": total,
            "float_shares": floating,
            "list_date": pd.to_datetime(frame["list_date"]).dt.date,
            "total_market_cap": frame["total_market_cap"],
            "float_market_cap": frame["float_market_cap"],
            "shares_source": source,
        }
    )
    out["is_st"] = is_st_name(out["name"].astype("string"))
    return out[schema.PROFILE_COLUMNS].astype({**schema.PROFILE_DTYPES, "shares_source": "string"})


def load_profiles(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    symbols: list[str] | None = None,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
    chunk: tuple[int, int] | None = None,
    weekly: bool = True,
) -> ProfileReport:
    """Refresh the profiles of every listed symbol (of `symbols`, if given) from the quote list,
    after the weekly refresh when it is due (or `refresh`). A weekly refresh that fails (an
    endpoint down) keeps the stored industries and names, stays due, and is in `failed`: the
    night's names still come from the quote list. Without a quote list (upstream down, or an
    empty list) nothing is written, every symbol is recorded failed and `circuit_open` says why.
    `progress` and `chunk` are accepted for the assets' common signature; the step asks no
    per-symbol endpoint but sina's bounded batch. `weekly=False` skips the weekly refresh even
    when it is due (the weekday schedule leaves it to the Saturday run)."""
    began, today = time.perf_counter(), source.today()
    report = ProfileReport(PROFILES)
    before_total, before = sum(source.requests.values()), Counter(source.requests)
    listed = profiled_symbols(conn, today, symbols)
    report.weekly_refresh = refresh or (weekly and weekly_refresh_due(conn, source, today))
    reason = "weekly refresh" if report.weekly_refresh else "quote list"
    if report.weekly_refresh:
        industries = _refresh_industries(conn, source, lineage, today, report, breaker_threshold)
        names = (
            _refresh_names(conn, source, lineage, today, listed, report, breaker_threshold)
            if not report.circuit_open
            else False
        )
        report.weekly_requests = _requests_since(source, before)
        if industries and names:
            set_setting(conn, _weekly_key(source), today.isoformat())
        else:  # stays due: the next run tries again; tonight's names still come from the quote list
            log.warning(
                "profiles: the weekly refresh did not complete (%s); industries and name history as stored",
                report.circuit_open or "; ".join(report.failed),
            )
        report.circuit_open = None
    try:
        _quote_list(conn, source, lineage, today, report)
    except (RetriesExhausted, ValueError) as error:
        # no list, no profiles: every symbol's profile stays as stored and is recorded failed
        reason = f"quote list unavailable: {error}"
        record_failures(conn, PROFILES, listed, reason, lineage, today)
        report.failed.update({symbol: reason for symbol in listed})
        report.circuit_open = reason
        report.checks = validate_profiles(schema.empty_frame(schema.PROFILE_DTYPES), today)
        report.requests = sum(source.requests.values()) - before_total
        report.seconds = time.perf_counter() - began
        return report
    staged = build_profiles(conn, listed)
    report.not_in_quote_list = len(listed) - len(staged)
    report.due = {symbol: reason for symbol in staged["symbol"]}
    checks = validate_profiles(staged, today)
    report.checks = combine(report.checks, checks)
    passed, quarantine = split(PROFILES, staged, checks, ["symbol"])
    report.rows_quarantined += len(quarantine)
    failed = {symbol: "quality: profile quarantined" for symbol in quarantine["symbol"]}
    report.failed.update(failed)
    outcomes = pd.DataFrame(
        [(s, "failed", r) for s, r in failed.items()] + [(s, "ok", None) for s in passed["symbol"]],
        columns=["symbol", "status", "error"],
    ).astype({"error": "string"})
    report.changes.update(upsert_profiles(conn, passed, outcomes, lineage, today, quarantine))
    report.symbols_updated = report.rows_written = len(passed)
    report.requests = sum(source.requests.values()) - before_total
    report.seconds = time.perf_counter() - began
    return report
