"""Adjustment factors: fetched once per symbol, and again only when a new ex-date is known.

Which factor source: sina's cumulative hfq factors (`stock_zh_a_daily(adjust="hfq-factor")`).
One small request returns a symbol's whole factor history as change points, at full
precision. The alternative, eastmoney's hfq closes divided by unadjusted closes, costs a
second kline request over the whole history and inherits the rounding of adjusted prices
to the fen (a 0.1% error on a low-priced stock, different every day).

When to refetch, without asking upstream: an ex-date is known from two signals, combined
because neither is complete:

- `corporate_actions` (eastmoney's whole-market dividend table): an implemented plan's
  ex-date, cash and new shares; the exchange's reference price follows from the last close
  by the ex-rights formula (`market_rules.ex_rights_reference`);
- the quote list's 昨收 (`daily_bars.reference_price`), the exchange's reference price itself,
  on nights the quote list is used.

Never from the history klines: eastmoney's unadjusted 涨跌额 is close-to-close on ex-dates,
so `close - 涨跌额` is the last close whatever happened (should upstream ever measure it
from the reference price instead, nothing here depends on it). A known ex-date that the
stored upstream factors lack makes the symbol's factors stale: they are fetched again
(bars are never refetched for this). Upstream may publish a new factor days after the
ex-date, so such a symbol is asked again for `EX_DATE_GRACE_DAYS`.

Until upstream's factor arrives, and after the grace period if it never does, the step is
derived from the reference price (prev close / reference) and stored marked
`derived_from`; when upstream's factor arrives it replaces the derived one, and a step that
disagrees by more than `DERIVED_STEP_TOLERANCE` is reported by the factor check. A known
ex-date that cannot be covered consistently (upstream's list has later ex-dates but not this
one) is written to `adjustment_gaps`, and `read.daily_bars(adjust=...)` warns about it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from quantdb_pipeline import schema
from quantdb_pipeline.loaders.fetching import fetch_chunks
from quantdb_pipeline.market_rules import ex_rights_reference
from quantdb_pipeline.quality.expectations import SuiteOutcome, combine
from quantdb_pipeline.quality.gate import split
from quantdb_pipeline.quality.suites import validate_factors
from quantdb_pipeline.settings import chunk_limits
from quantdb_pipeline.sources import MarketSource, normalize
from quantdb_pipeline.warehouse.writes import Lineage, write_factor_batch

DATASET = "adjustment_factors"
#: Days after an ex-date during which missing upstream factors are asked for again (every run).
EX_DATE_GRACE_DAYS = 10
#: After that, a symbol with a derived factor is asked again once this many days have passed.
DERIVED_RECHECK_DAYS = 7
#: At most this many symbols are asked again per source day for a new ex-date or a derived factor
#: awaiting upstream, longest-waiting first. On a peak ex-date night several hundred A-shares go
#: ex together; the derived factor serves their adjusted prices meanwhile, so the queue drains
#: over the next nights inside the nightly request budget instead of in one burst. Never-fetched
#: and failed symbols are not capped.
REFETCH_PER_RUN = 40
#: Reference price and last close are both in fen: a larger gap is a corporate action.
EX_DATE_MIN_GAP = 0.005
QUOTE_LIST_EVIDENCE, CORPORATE_ACTIONS_EVIDENCE = "quote_list_reference", "corporate_actions"

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, str, int], None]

#: Ex-dates the warehouse knows, with the last close before each: from the quote list's
#: reference price, and from implemented plans the stored bars have reached.
_KNOWN_EX_DATES_SQL = f"""
    WITH scope AS (
        SELECT symbol, trade_date, close, reference_price FROM daily_bars
        WHERE $symbols::VARCHAR[] IS NULL OR list_contains($symbols::VARCHAR[], symbol)),
    last_bar AS (SELECT symbol, max(trade_date) AS last_day FROM scope GROUP BY symbol),
    quoted AS (
        SELECT q.symbol, q.trade_date AS ex_date, p.close AS last_close, q.reference_price AS quoted_reference
        FROM (SELECT * FROM scope WHERE reference_price > 0) q
        ASOF JOIN scope p ON q.symbol = p.symbol AND q.trade_date > p.trade_date
        WHERE abs(q.reference_price - p.close) > {EX_DATE_MIN_GAP}),
    actions AS (
        SELECT symbol, ex_date, sum(cash_per_share) AS cash,
               sum(bonus_shares_per_share + transfer_shares_per_share) AS new_shares,
               sum(coalesce(rights_shares_per_share, 0)) AS rights_shares,
               max(coalesce(rights_price, 0)) AS rights_price
        FROM corporate_actions
        WHERE ex_date IS NOT NULL AND ex_date <= $today
          AND ($symbols::VARCHAR[] IS NULL OR list_contains($symbols::VARCHAR[], symbol))
        GROUP BY symbol, ex_date),
    acted AS (
        SELECT a.*, p.close AS last_close
        FROM actions a JOIN last_bar l ON a.symbol = l.symbol AND a.ex_date <= l.last_day
        ASOF JOIN scope p ON a.symbol = p.symbol AND a.ex_date > p.trade_date)
    SELECT coalesce(q.symbol, a.symbol) AS symbol, coalesce(q.ex_date, a.ex_date) AS ex_date,
           coalesce(q.last_close, a.last_close) AS last_close, q.quoted_reference,
           a.cash, a.new_shares, a.rights_shares, a.rights_price
    FROM quoted q FULL OUTER JOIN acted a ON q.symbol = a.symbol AND q.ex_date = a.ex_date
    ORDER BY 1, 2
"""


@dataclass
class FactorLoadReport:
    needed: dict[str, str] = field(default_factory=dict)  # symbol -> why it was fetched
    symbols_updated: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    requests: int = 0
    changed: dict[str, str] = field(default_factory=dict)  # symbol -> what changed
    failed: dict[str, str] = field(default_factory=dict)
    derived: pd.DataFrame = field(default_factory=pd.DataFrame)  # factors derived while upstream lacks them
    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)  # known ex-dates no factor covers
    not_attempted: int = 0  # items skipped after the circuit breaker opened
    circuit_open: str | None = None
    checks: SuiteOutcome | None = None
    seconds: float = 0.0


def fetch_factor_lists(
    source: MarketSource,
    report: FactorLoadReport,
    fetch: Callable[[str], pd.DataFrame],
    dataset: str,
    breaker_threshold: int,
    progress: ProgressCallback | None,
    chunk: tuple[int, int] | None = None,
) -> Iterator[tuple[list[tuple], list[pd.DataFrame]]]:
    """Fetch the factor list of each symbol in `report.needed`, a chunk at a time (`chunk`:
    (symbols, rows), default `settings.chunk_limits()`): per chunk, (ingest outcomes, non-empty
    frames), for the caller to check and write before the next chunk is fetched.

    An empty list is a normal answer here (no corporate action ever: adjusted prices equal
    traded ones), so empties are recorded 'empty' and never count toward the breaker. Fills
    the report's failed, circuit_open, not_attempted and requests as it goes.
    """
    requests_before = sum(source.requests.values())
    max_symbols, max_rows = chunk or chunk_limits()
    for got in fetch_chunks(
        list(report.needed),
        fetch,
        dataset=dataset,
        empty_is_suspicious=False,
        max_items=max_symbols,
        max_rows=max_rows,
        breaker_threshold=breaker_threshold,
        progress=progress,
    ):
        report.failed.update(got.failed)
        report.circuit_open = got.circuit_open
        report.not_attempted = len(got.not_attempted)
        outcomes = [(symbol, "failed", reason) for symbol, reason in got.failed.items()]
        outcomes += [(symbol, "empty", "upstream has no corporate action") for symbol in got.empty]
        report.requests = sum(source.requests.values()) - requests_before
        yield outcomes, [frame for _, frame in got.answers if not frame.empty]


def known_ex_dates(conn: duckdb.DuckDBPyConnection, today: dt.date, symbols: list[str] | None = None) -> pd.DataFrame:
    """Every ex-date the warehouse knows for stored bars to adjust, one row each.

    Columns: symbol, ex_date, last_close (the last stored close before it, CNY), reference
    (the exchange's reference price: the quote list's 昨收 where seen, else the ex-rights
    formula on the corporate action), implied_step (last_close / reference, the factor step
    upstream's hfq factors should show), evidence ("quote_list_reference", "corporate_actions"
    or both, joined by "+"). Ex-dates whose distribution is too small to move the reference
    price off the last close are left out: no factor changes there.
    """
    known = conn.execute(_KNOWN_EX_DATES_SQL, {"symbols": symbols, "today": today}).df()
    quoted = known["quoted_reference"].notna().to_numpy()
    acted = known["cash"].notna().to_numpy()
    formula = ex_rights_reference(
        known["last_close"].to_numpy(dtype="float64"),
        known["cash"].to_numpy(dtype="float64"),
        known["new_shares"].to_numpy(dtype="float64"),
        known["rights_shares"].to_numpy(dtype="float64"),
        known["rights_price"].to_numpy(dtype="float64"),
    )
    reference = np.where(quoted, known["quoted_reference"].to_numpy(dtype="float64"), formula)
    evidence = np.where(
        quoted & acted,
        f"{QUOTE_LIST_EVIDENCE}+{CORPORATE_ACTIONS_EVIDENCE}",
        np.where(quoted, QUOTE_LIST_EVIDENCE, CORPORATE_ACTIONS_EVIDENCE),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        step = known["last_close"].to_numpy(dtype="float64") / reference
    out = pd.DataFrame(
        {
            "symbol": known["symbol"].astype(object),
            "ex_date": pd.to_datetime(known["ex_date"]).dt.date,
            "last_close": known["last_close"].astype("float64"),
            "reference": reference,
            "implied_step": step,
            "evidence": evidence,
        }
    )
    moves = (
        np.isfinite(step)
        & (reference > 0)
        & (np.abs(known["last_close"].to_numpy(dtype="float64") - reference) > EX_DATE_MIN_GAP)
    )
    return out[moves].reset_index(drop=True)


def _upstream_dates(conn: duckdb.DuckDBPyConnection, symbols: list[str] | None) -> pd.DataFrame:
    return (
        conn.execute(
            "SELECT symbol, ex_date, hfq_factor FROM adjustment_factors WHERE derived_from IS NULL "
            "AND ($symbols::VARCHAR[] IS NULL OR list_contains($symbols::VARCHAR[], symbol)) ORDER BY symbol, ex_date",
            {"symbols": symbols},
        )
        .df()
        .assign(ex_date=lambda f: pd.to_datetime(f["ex_date"]).dt.date)
    )


def symbols_needing_factors(
    conn: duckdb.DuckDBPyConnection,
    today: dt.date,
    symbols: list[str] | None = None,
    refresh: bool = False,
    refetch_per_run: int = REFETCH_PER_RUN,
) -> dict[str, str]:
    """symbol -> reason, for every symbol with bars whose factors are missing or failed, and for
    up to `refetch_per_run` whose factors are stale (a known ex-date upstream's list lacks, or a
    derived factor awaiting upstream's), those asked longest ago first. The allowance is per
    source day: symbols already asked today count against it, so a rerun of the night asks
    nothing again."""
    with_bars = [
        s
        for (s,) in conn.execute(
            "SELECT DISTINCT symbol FROM daily_bars WHERE ($symbols::VARCHAR[] IS NULL "
            "OR list_contains($symbols::VARCHAR[], symbol)) "
            "AND symbol NOT IN (SELECT symbol FROM securities WHERE status <> 'listed') ORDER BY symbol",
            {"symbols": symbols},
        ).fetchall()
    ]
    state = {
        symbol: (status, as_of)
        for symbol, status, as_of in conn.execute(
            f"SELECT symbol, status, as_of FROM ingest_state WHERE dataset = '{DATASET}'"
        ).fetchall()
    }
    known = known_ex_dates(conn, today, symbols)
    have = set(zip(*[_upstream_dates(conn, symbols)[c] for c in ("symbol", "ex_date")]))
    stale: dict[str, dt.date] = {}
    for symbol, ex_date in zip(known["symbol"], known["ex_date"]):
        as_of = state.get(symbol, (None, None))[1]
        if (symbol, ex_date) not in have and (as_of is None or as_of < ex_date + dt.timedelta(days=EX_DATE_GRACE_DAYS)):
            stale.setdefault(symbol, ex_date)
    awaiting = {
        symbol
        for (symbol,) in conn.execute(
            "SELECT DISTINCT symbol FROM adjustment_factors WHERE derived_from IN (?, ?)",
            [QUOTE_LIST_EVIDENCE, CORPORATE_ACTIONS_EVIDENCE],
        ).fetchall()
        if (state.get(symbol, (None, None))[1] or dt.date.min) <= today - dt.timedelta(days=DERIVED_RECHECK_DAYS)
    }
    needed, queued, asked_today = {}, [], 0
    for symbol in with_bars:
        status, as_of = state.get(symbol, (None, None))
        if refresh:
            needed[symbol] = "refresh requested"
        elif status is None:
            needed[symbol] = "never fetched"
        elif status == "failed":
            needed[symbol] = "last attempt failed"
        elif as_of is not None and as_of >= today:
            asked_today += 1  # a rerun of the night spends what is left of the day's allowance
        elif symbol in stale:
            queued.append((as_of or dt.date.min, stale[symbol], symbol, f"new ex-date {stale[symbol]:%Y-%m-%d}"))
        elif symbol in awaiting:
            queued.append((as_of or dt.date.min, dt.date.max, symbol, "derived factor awaiting upstream"))
    for _, _, symbol, reason in sorted(queued)[: max(refetch_per_run - asked_today, 0)]:
        needed[symbol] = reason
    return dict(sorted(needed.items()))


def derive_factors(
    conn: duckdb.DuckDBPyConnection, today: dt.date, symbols: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(derived factor rows, gap rows) for the known ex-dates upstream's factors lack.

    An ex-date after a symbol's last upstream factor continues upstream's series: the factor
    in force times the implied step (a symbol upstream has no factors for starts from 1.0 on
    its first bar, as upstream's lists do). An ex-date before upstream's last one cannot be
    inserted without restating every later upstream factor: it is a gap.
    """
    known = known_ex_dates(conn, today, symbols)
    upstream = _upstream_dates(conn, symbols)
    first_bars = dict(
        conn.execute(
            "SELECT symbol, min(trade_date) FROM daily_bars WHERE $symbols::VARCHAR[] IS NULL "
            "OR list_contains($symbols::VARCHAR[], symbol) GROUP BY symbol",
            {"symbols": symbols},
        ).fetchall()
    )
    by_symbol = dict(tuple(upstream.groupby("symbol", sort=False)))
    derived, gaps = [], []
    for symbol, events in known.groupby("symbol", sort=True):
        ups = by_symbol.get(symbol)
        covered = set() if ups is None else set(ups["ex_date"])
        missing = events[~events["ex_date"].isin(covered)]
        if missing.empty:
            continue
        last_upstream = None if ups is None else ups["ex_date"].iloc[-1]
        factor = 1.0 if ups is None else float(ups["hfq_factor"].iloc[-1])
        if ups is None:
            derived.append((symbol, first_bars[symbol], 1.0, "base"))
        for event in missing.itertuples(index=False):
            if last_upstream is not None and event.ex_date < last_upstream:
                gaps.append(
                    (
                        symbol,
                        event.ex_date,
                        event.evidence,
                        f"upstream's factors have later ex-dates but not this one (step "
                        f"{event.implied_step:.6f} from {event.evidence})",
                    )
                )
                continue
            factor *= event.implied_step
            basis = (
                QUOTE_LIST_EVIDENCE if event.evidence.startswith(QUOTE_LIST_EVIDENCE) else CORPORATE_ACTIONS_EVIDENCE
            )
            derived.append((symbol, event.ex_date, factor, basis))
    derived_frame = pd.DataFrame(derived, columns=["symbol", "ex_date", "hfq_factor", "derived_from"])
    gap_frame = pd.DataFrame(gaps, columns=["symbol", "ex_date", "evidence", "reason"])
    for frame in (derived_frame, gap_frame):
        frame["symbol"] = frame["symbol"].astype("string")
        frame["ex_date"] = frame["ex_date"].astype("date32[pyarrow]")
    return derived_frame, gap_frame


def describe_change(old: pd.DataFrame, new: pd.DataFrame, columns: tuple[str, ...] = ("hfq_factor",)) -> str | None:
    """What differs between a symbol's stored and fetched factors (ex_date plus `columns`), or None."""
    if old.empty:
        return None

    def by_date(frame: pd.DataFrame) -> dict:
        days = pd.to_datetime(frame["ex_date"].astype(object)).dt.date
        return dict(zip(days, zip(*(frame[c].to_numpy(dtype="float64") for c in columns))))

    before, after = by_date(old), by_date(new)
    added = sorted(set(after) - set(before))
    moved = [d for d in set(before) & set(after) if not np.allclose(after[d], before[d], rtol=1e-9, atol=1e-9)]
    parts = []
    if added:
        parts.append("new ex-date(s) " + ", ".join(map(str, added)))
    if moved:
        parts.append(f"{len(moved)} earlier factor(s) restated")
    if set(before) - set(after):
        parts.append(f"{len(set(before) - set(after))} ex-date(s) withdrawn")
    return "; ".join(parts) or None


def load_adjustment_factors(
    conn: duckdb.DuckDBPyConnection,
    source: MarketSource,
    lineage: Lineage,
    symbols: list[str] | None = None,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    breaker_threshold: int = 8,
    chunk: tuple[int, int] | None = None,
    refetch_per_run: int = REFETCH_PER_RUN,
) -> FactorLoadReport:
    """Fetch the factors of every symbol that needs them, check them, swap them in per symbol.

    Symbols are checked and written a chunk at a time (`chunk`, see `fetch_factor_lists`), one
    transaction each: a killed load keeps the chunks written (their symbols are 'ok' in
    `ingest_state`, so the rerun does not ask for them). The derived factors and adjustment
    gaps, which read every symbol's stored factors, are rebuilt once after the last chunk."""
    began = time.perf_counter()
    today = source.today()
    report = FactorLoadReport(needed=symbols_needing_factors(conn, today, symbols, refresh, refetch_per_run))
    derived_before = set(
        map(
            tuple,
            conn.execute(
                "SELECT symbol, ex_date FROM adjustment_factors WHERE derived_from IN (?, ?)",
                [QUOTE_LIST_EVIDENCE, CORPORATE_ACTIONS_EVIDENCE],
            )
            .df()
            .assign(ex_date=lambda f: pd.to_datetime(f["ex_date"]).dt.date)
            .to_numpy(),
        )
    )
    for outcomes, fetched in fetch_factor_lists(
        source,
        report,
        lambda symbol: normalize.adjustment_factors(source.adjustment_factors_raw(symbol), symbol, source.name),
        DATASET,
        breaker_threshold,
        progress,
        chunk,
    ):
        _write_chunk(conn, report, outcomes, fetched, derived_before, lineage, today)
    derivation: dict[str, pd.DataFrame] = {}

    def derive(connection: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame]:
        derivation["derived"], derivation["gaps"] = derive_factors(connection, today, symbols)
        return derivation["derived"], derivation["gaps"]

    # after the last chunk: the derived factors and gaps, from every symbol's stored factors
    write_factor_batch(conn, schema.empty_factors(), [], _outcomes([]), lineage, today, derive=derive, scope=symbols)
    derived = derivation["derived"]
    report.derived = derived[derived["derived_from"] != "base"].reset_index(drop=True)
    report.gaps = derivation["gaps"]
    for row in report.derived.itertuples(index=False):
        log.warning(
            "adjustment_factors %s: upstream has no factor for ex-date %s yet; derived from %s",
            row.symbol,
            row.ex_date,
            row.derived_from,
        )
    report.seconds = time.perf_counter() - began
    return report


def _outcomes(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["symbol", "status", "error"]).astype({"error": "string"})


def _write_chunk(
    conn: duckdb.DuckDBPyConnection,
    report: FactorLoadReport,
    outcomes: list[tuple],
    fetched: list[pd.DataFrame],
    derived_before: set,
    lineage: Lineage,
    today: dt.date,
) -> None:
    """Check one chunk of upstream factor lists and swap them in, with their outcomes, in one transaction."""
    staged = pd.concat(fetched, ignore_index=True) if fetched else schema.empty_factors()
    fetched_symbols = sorted({*staged["symbol"]})
    steps = known_ex_dates(conn, today, fetched_symbols)
    steps["derived"] = [(s, d) in derived_before for s, d in zip(steps["symbol"], steps["ex_date"])]
    checks = validate_factors(staged, today, steps)
    report.checks = combine(report.checks, checks)
    passed, quarantine = split("adjustment_factors", staged, checks, ["symbol", "ex_date"])
    report.rows_quarantined += len(quarantine)
    dirty = set(quarantine["symbol"])
    stored = conn.execute(
        "SELECT symbol, ex_date, hfq_factor FROM adjustment_factors WHERE derived_from IS NULL "
        "AND symbol IN (SELECT unnest(?::VARCHAR[]))",
        [fetched_symbols],
    ).df()
    stored_by_symbol = dict(tuple(stored.groupby("symbol", sort=False)))  # one pass, not one filter per symbol
    replaced = []
    for frame in fetched:
        symbol = frame["symbol"].iloc[0]
        if symbol in dirty:
            reason = "quality: factor rows quarantined"
            report.failed[symbol] = reason
            outcomes.append((symbol, "failed", reason))
            continue
        change = describe_change(stored_by_symbol.get(symbol, stored.iloc[0:0]), frame)
        if change:
            report.changed[symbol] = change
        replaced.append(symbol)
        outcomes.append((symbol, "ok", None))
    report.rows_written += write_factor_batch(
        conn, passed, replaced, _outcomes(outcomes), lineage, today, quarantine=quarantine
    )
    report.symbols_updated += len(replaced)
