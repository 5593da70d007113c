"""Hong Kong's nightly fast path: the day's HK bars from the main-board quote list.

After the HKEX close, `stock_hk_main_board_spot_em` shows every main-board symbol's day (今开,
最高, 最低, 最新价, 成交量, 成交额, 昨收) in about 26 pages of 100 rows, where the history
endpoint `stock_hk_hist` costs one request per symbol (about 2,600 a night). The checks are the
A-share path's (`loaders.spot`, here on `hk_daily_bars` and the HK calendar): the list's 昨收
must equal the stored previous close for most symbols or nothing is written, rows from it are
stamped `<source>/spot`, and a rotating sample is reconciled against `stock_hk_hist` on the
next nights.

One fetch a night: the list is stored in `hk_quote_list` (per fetch day) by whichever asset
asks first, `hk_securities` (the universe) or `hk_daily_bars`; the other reads the stored rows.
A list the day check refuses is deleted, so the next run fetches it again. The stored rows
also serve:

- coverage without a bar: a symbol the accepted list shows without a trade (suspended, or no
  volume that day) is covered for that day, as a suspended A-share is, so it is not asked
  from history night after night. If `stock_hk_hist` does have a bar on such a day (whether
  eastmoney keeps zero-volume HK days is not documented), the reconciliation reports it as a
  day missing from the list and the history bar is stored: either answer works;
- the ex-date signal of the HK factors (`loaders.hk_factors`): 昨收 against the stored close.

Only a list fetched after the close is taken as the day (`LIST_FINAL_AFTER`, 16:30 HKT): an
intraday list passes the day check (its 昨收 already chains), so before then the bars use the
history path as before, and a list `hk_securities` stored earlier in the day is fetched again.

Which symbols take the list: those whose only missing day is today and that are stored (a bar,
or covered without one) through the previous HK session, when that is cheaper than their
history requests. Ranges, backfills, new symbols, symbols with holes and symbols the list
lacks use `stock_hk_hist` as before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.loaders import spot
from quantdb_pipeline.loaders.reference import mark_fetched
from quantdb_pipeline.loaders.spot import SpotPlan
from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.writes import Lineage, staged, transaction, upsert_rows

TABLE = "hk_daily_bars"
QUOTES = "hk_quote_list"
#: HKEX closes at 16:00 HKT and its closing auction ends by about 16:10: a list fetched before
#: this time of the day shows intraday prices, which the day check cannot tell from the close
#: (its 昨收 already chains), so the bars never take the day from it.
LIST_FINAL_AFTER = dt.time(16, 30)
HKT = ZoneInfo("Asia/Hong_Kong")
#: HK symbols reconciled against `stock_hk_hist` per night (one request each): with ~2,600 symbols
#: each comes round about once a year; a wrong field shows within days since it affects most symbols.
DEFAULT_HK_RECONCILE_SYMBOLS = 5
_QUOTE_COLUMNS = list(schema.HK_QUOTE_DTYPES)


def final_after(day: dt.date) -> dt.datetime:
    """When a list fetched on `day` shows the session's close (UTC)."""
    return dt.datetime.combine(day, LIST_FINAL_AFTER, HKT).astimezone(dt.timezone.utc)


def source_now(source: MarketSource) -> dt.datetime:
    """The source's clock (UTC), which decides whether today's list is final: the wall clock
    for akshare, the end of its simulated day for the sample market (`now()`; the wall clock
    for a source without one)."""
    now = getattr(source, "now", None)
    return now().astimezone(dt.timezone.utc) if now else dt.datetime.now(dt.timezone.utc)


def final_cutoff(day: dt.date, now: dt.datetime) -> dt.datetime:
    """`final_after(day)` on the wall clock that stamps `ingested_at`, for a source whose clock
    reads `now`: a list stored at or after it was fetched after the close by the source's clock."""
    return final_after(day) - (now - dt.datetime.now(dt.timezone.utc))


def day_quotes(
    conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage, refresh: bool = False, final: bool = False
) -> tuple[pd.DataFrame, bool]:
    """(the HK quote list of the source's today as `hk_quote_list` rows, fetched now?).

    The stored rows of today when a run already fetched them (no request), else one fetch
    (about 26 paged requests), stored with `as_of` today and upserted into `hk_securities`
    (names of symbols no longer listed are kept). `final`: only rows fetched after the close
    (`final_after`) will do; older ones are fetched again. Raises ValueError for an empty
    list; the stored list and universe are kept then.
    """
    today = source.today()
    if not refresh:
        stored = conn.execute(
            f"SELECT {', '.join(_QUOTE_COLUMNS)} FROM {QUOTES} WHERE as_of = ? "
            "AND (NOT ? OR ingested_at >= ?) ORDER BY symbol",
            [today, final, final_cutoff(today, source_now(source))],
        ).df()
        if len(stored):
            return stored.astype(schema.HK_QUOTE_DTYPES), False
    quotes = normalize.hk_quote_list(source.hk_listings_raw(), source.name)
    if quotes.empty:
        raise ValueError(f"{source.name}: the HK list came back empty on {today}; the stored HK universe is kept")
    with staged(conn, fetched_quotes=quotes), transaction(conn):
        conn.execute(f"DELETE FROM {QUOTES} WHERE as_of = ?", [today])
        conn.execute(
            f"INSERT INTO {QUOTES} ({', '.join(_QUOTE_COLUMNS)}, as_of, accepted, source, run_id, "
            f"ingested_at) SELECT {', '.join(_QUOTE_COLUMNS)}, ?, false, ?, ?, ? FROM fetched_quotes",
            [today, lineage.source, lineage.run_id, lineage.ingested_at],
        )
    upsert_rows(
        conn,
        "hk_securities",
        quotes[["symbol", "name"]].assign(
            currency=pd.Series(normalize.HK_CURRENCY, index=quotes.index, dtype="string")
        ),
        "symbol",
        lineage,
    )
    mark_fetched(conn, "hk_securities", source)
    return quotes, True


def idle_days(conn: duckdb.DuckDBPyConnection, since: dt.date) -> dict[str, set[dt.date]]:
    """symbol -> the days from `since` on that an accepted list showed it without a trade."""
    idle: dict[str, set[dt.date]] = {}
    for symbol, day in conn.execute(
        f"SELECT symbol, as_of FROM {QUOTES} WHERE accepted AND close IS NULL AND as_of >= ?", [since]
    ).fetchall():
        idle.setdefault(symbol, set()).add(day)
    return idle


@dataclass
class HkSpotPlan(SpotPlan):
    """`SpotPlan` of the HK list: `listed`, how many symbols the list shows (its pages)."""

    listed: int = 0


def plan(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    fetches: list[tuple[str, dt.date, dt.date]],
    days: np.ndarray,
    today: dt.date,
    end: dt.date,
    reconcile_symbols: int,
    symbols: list[str] | None,
    now: dt.datetime | None = None,
) -> HkSpotPlan | None:
    """Which of `fetches` (symbol, from, to) take today's bar from the list, and which symbols'
    earlier quote-list bars are reconciled; None when the list is not worth it or not usable
    (the range does not end today, today is no HK session, or it is before the close by the
    source's clock `now`, default the wall clock: see `source_now`)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    today64 = np.datetime64(today, "D")
    at = days.searchsorted(today64)
    if end != today or at >= len(days) or days[at] != today64 or at == 0:
        return None
    if now < final_after(today):
        return None  # before the close the list is intraday: the history path, as before
    previous = days[at - 1].astype(dt.date)
    wanted = [s for s, lo, hi in fetches if lo == hi == today]
    if not wanted:
        return None
    held = {
        s
        for (s,) in conn.execute(
            f"SELECT symbol FROM {TABLE} WHERE trade_date = $day UNION "
            f"SELECT symbol FROM {QUOTES} WHERE as_of = $day AND accepted AND close IS NULL",
            {"day": previous},
        ).fetchall()
    }
    candidates = set(wanted) & held
    listed = conn.execute("SELECT count(*) FROM hk_securities").fetchall()[0][0]
    # free when hk_securities already fetched the day's list; else worth its pages?
    stored = conn.execute(
        f"SELECT count(*) FROM {QUOTES} WHERE as_of = ? AND ingested_at >= ?", [today, final_cutoff(today, now)]
    ).fetchall()[0][0]
    if not candidates or not (stored or spot.worthwhile(conn, len(candidates), today, listed=listed)):
        return None
    sample = spot.reconciliation_sample(conn, source, today, reconcile_symbols, symbols, table=TABLE)
    return HkSpotPlan(today, previous, candidates - {s for s, _, _ in sample}, sample, listed=listed)


def history_fetches(
    fetches: list[tuple[str, dt.date, dt.date]], spot_plan: HkSpotPlan | None
) -> list[tuple[str, dt.date, dt.date]]:
    """The `stock_hk_hist` requests: `fetches` less what the list serves, each reconciled symbol's
    window reaching back to its first pending quote-list bar."""
    if spot_plan is None:
        return fetches
    first = {s: lo for s, lo, _ in spot_plan.reconcile}
    last = {s: hi for s, _, hi in spot_plan.reconcile}
    out = []
    for symbol, lo, hi in fetches:
        if symbol in spot_plan.symbols:
            continue
        if symbol in first:
            lo = min(lo, first.pop(symbol))
        out.append((symbol, lo, hi))
    return out + [(s, lo, last[s]) for s, lo in first.items()]


@dataclass
class TakenDay:
    bars: pd.DataFrame  # hk_daily_bars rows of the planned symbols, prev_close from the stored closes
    idle: set[str]  # planned symbols the list shows without a trade: covered, no bar
    missing: set[str]  # planned symbols the list lacks: left to history next night
    checks: SuiteOutcome
    fetched: bool  # the list was fetched by this run (else a run of the day had stored it)


def take_day(
    conn: duckdb.DuckDBPyConnection, source: MarketSource, lineage: Lineage, spot_plan: HkSpotPlan
) -> TakenDay:
    """The day's bars of the planned symbols from the list, once the list passed the day check.

    Raises `SpotRejected` when the list is not the day's: its stored rows are deleted, so that a
    rerun fetches it again (also when `hk_securities` fetched it earlier in the run: a list taken
    before eastmoney rolled over is not kept as the day's), and nothing else is written.
    """
    quotes, fetched = day_quotes(conn, source, lineage, final=True)
    bars, listed_idle = normalize.hk_spot_bars(quotes, spot_plan.day, source.name)
    try:
        checks = spot.check_day(conn, bars, spot_plan, table=TABLE)
    except spot.SpotRejected:
        conn.execute(f"DELETE FROM {QUOTES} WHERE as_of = ?", [spot_plan.day])
        raise
    conn.execute(f"UPDATE {QUOTES} SET accepted = true WHERE as_of = ?", [spot_plan.day])
    mine = bars["symbol"].isin(list(spot_plan.symbols)).to_numpy()
    bars = spot.with_previous_close(conn, bars[mine].reset_index(drop=True), spot_plan.day, table=TABLE)
    idle = set(listed_idle) & spot_plan.symbols
    missing = spot_plan.symbols - set(bars["symbol"]) - idle
    return TakenDay(bars, idle, missing, checks, fetched)
