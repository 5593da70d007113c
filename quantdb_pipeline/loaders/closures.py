"""Market closures the library calendar does not know, told apart from a ban by evidence.

HKEX closed all day on 2023-09-01 and 2023-09-08 (typhoon, black rainstorm) while
`exchange_calendars` 4.13.2 still lists both days as sessions; a whole-market A-share
closure would look the same. On such a night every symbol's bar request answers empty,
which is also what eastmoney's throttling looks like, so the empties alone cannot tell.

How a closure is decided (`ClosureJudge`, plugged into `fetching.fetch_each` as its
`judge_streak`): when the breaker is about to open on a streak of empty answers,

1. the streak must hold empty answers only (a request that failed after its retries is
   not explained by a closure), the trading days inside its windows must be few (at most
   `MAX_CLOSURE_DAYS`: a nightly window, not a backfill), and no answer of the run so far
   may hold a bar on them (then the empties are the symbols' own: old codes after a code
   switch, say);
2. ONE probe request asks a symbol of the streak (the one with the latest stored bar) for
   the `PROBE_SESSIONS` sessions before those days through the last of them;
3. if the probe returns bars for earlier sessions and none for the candidate days, the
   source is healthy and the days are closures: the streak's symbols, and every later
   symbol whose window holds only closed days and answers empty, count as covered for them
   (status 'ok'), and fetching goes on. If the probe fails, is empty, or has a bar on a
   candidate day, it is a ban and the breaker opens as before.

A loader that writes in chunks shows the judge every answer as it arrives (`observe`: only
the days with bars and each answering symbol's window and last bar are kept, not the
frames), asks it before checking each chunk whether an answer reopened a recorded closure
(`reopen_seen`), and calls `finish` after the last chunk.

`ClosureJudge.finish` then records the closures in `market_closures` with their evidence
("412 of 412 symbols asked for 2023-09-01 answered empty; probe 00700 answered 2023-08-31,
nothing for 2023-09-01"), unless an answer of the same run holds a bar on the day; the
empty answers excused during the loop then count as empty again (`covers`).

A closure recorded wrongly would hide that day's bars for good (no plan asks for a day
that is not a session), so: the evidence is kept; any later answer that holds a bar on a
recorded day (an HK window starting after the last stored bar reaches back to it, a
backfill, the lag window) removes the closure before the answer is checked, and the day
is a session again; every recorded or removed closure is in the loader's report and the
run's metadata. A-share coverage spanning a removed closure is cut at the day, so the next
run asks every symbol for it.

What the probe cannot tell: a history endpoint that has not yet published a finished day
looks like a closure of that day. `source.today()` only declares a day final after the
session's data is out (`BARS_FINAL_AFTER`), and HK windows start after the last stored bar,
so the next HK night asks for the day again and removes a wrong closure; an A-share day is
asked again only by a window reaching over it (`lag_days`, a backfill).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from quantdb_pipeline.warehouse.coverage import TradingDays
from quantdb_pipeline.warehouse.writes import Lineage, transaction

log = logging.getLogger(__name__)

#: At most this many trading days in the empty windows for them to be taken as a closure
#: (a typhoon closes one or two days; an empty backfill of weeks is no closure).
MAX_CLOSURE_DAYS = 3
#: The probe asks for this many sessions before the candidate days.
PROBE_SESSIONS = 5
#: A run probes at most this often: past it, a new streak opens the breaker.
MAX_PROBES = 2
#: A session is also taken as closed, without a probe, when at least this many symbols
#: answered bars for sessions after it and no answer of the run has a bar on it.
MIN_SILENT_SYMBOLS = 8

Window = tuple[str, dt.date, dt.date]  # symbol, first day, last day


def sessions(conn: duckdb.DuckDBPyConnection, market: str) -> list[dt.date]:
    """`market`'s trading days, ascending: the library calendar less recorded closures."""
    return [
        d
        for (d,) in conn.execute(
            "SELECT trade_date FROM trading_sessions WHERE market = ? ORDER BY trade_date", [market]
        ).fetchall()
    ]


def recorded(conn: duckdb.DuckDBPyConnection, market: str | None = None) -> pd.DataFrame:
    """market, day, detected_at, evidence, run_id of the recorded closures, by market and day."""
    return conn.execute(
        "SELECT market, day, detected_at, evidence, run_id FROM market_closures "
        "WHERE ?::VARCHAR IS NULL OR market = ? ORDER BY market, day",
        [market, market],
    ).df()


def _day_values(frame: pd.DataFrame) -> np.ndarray:
    """The frame's trade dates as datetime64[D] (normalized bars hold date32 Arrow columns)."""
    column = frame["trade_date"]
    if hasattr(column.array, "__arrow_array__"):
        return column.array.__arrow_array__().to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return pd.to_datetime(column).to_numpy().astype("datetime64[D]")


def _days(frame: pd.DataFrame) -> set[dt.date]:
    return set() if frame.empty else {d.astype(dt.date) for d in np.unique(_day_values(frame))}


def _days_among(frames: Iterable[pd.DataFrame], wanted: set[dt.date]) -> set[dt.date]:
    """Which of `wanted` some frame holds a bar on (one vectorized pass per frame)."""
    if not wanted:
        return set()
    targets = np.array(sorted(wanted), dtype="datetime64[D]")
    found: set[dt.date] = set()
    for frame in frames:
        if len(frame):
            hits = targets[np.isin(targets, _day_values(frame))]
            found.update(d.astype(dt.date) for d in hits)
    return found


@dataclass
class ClosureJudge:
    """The `judge_streak` of a bar loader (see the module docstring), then `finish` after the loop.

    `window(item)` gives an item's (symbol, start, end); `probe(symbol, start, end)` makes one
    request and returns its normalized bars (column `trade_date`); `table` is the bar table
    whose stored bars choose the probe symbol; `calendar` the market's sessions.
    """

    conn: duckdb.DuckDBPyConnection
    market: str
    table: str
    calendar: TradingDays
    window: Callable[[Any], Window]  # an item of the caller's (a BarFetch, a window) -> its window
    probe: Callable[[str, dt.date, dt.date], pd.DataFrame]
    probes: int = 0
    found: dict[dt.date, str] = field(default_factory=dict)  # day -> the probe's evidence
    recorded_days: set[dt.date] = field(default_factory=set)  # what `finish` recorded
    #: Days some observed answer has a bar on (datetime64[D], ascending).
    bar_days: np.ndarray = field(default_factory=lambda: np.array([], dtype="datetime64[D]"))
    #: Per observed answer with bars: (symbol, window start, window end, its first bar, its last bar).
    spans: list[tuple[str, np.datetime64, np.datetime64, np.datetime64, np.datetime64]] = field(default_factory=list)
    answers_with_bars: int = 0
    reopened_days: list[dt.date] = field(default_factory=list)  # what `reopen_seen` removed

    def observe(self, item: Hashable, frame: pd.DataFrame) -> None:
        """Remember what `finish` needs of an answer: the days it has bars on, its window, its last bar."""
        if not len(frame):
            return
        days = np.unique(_day_values(frame))
        days = days[~np.isnat(days)]
        if not len(days):
            return
        self.bar_days = np.union1d(self.bar_days, days)
        symbol, lo, hi = self.window(item)
        self.spans.append((symbol, np.datetime64(lo, "D"), np.datetime64(hi, "D"), days[0], days[-1]))
        self.answers_with_bars += 1

    def reopen_seen(self, lineage: Lineage) -> list[dt.date]:
        """Remove the recorded closures an observed answer has a bar on (and, for A-shares, cut
        the day out of the coverage spanning it), before the answers are checked and written.
        Returns the days removed by this call."""
        stored = {pd.Timestamp(v).date() for v in recorded(self.conn, self.market)["day"]}
        hits = sorted(d for d in stored if np.isin(np.datetime64(d, "D"), self.bar_days))
        if not hits:
            return []
        with transaction(self.conn):
            for day in hits:
                self.conn.execute("DELETE FROM market_closures WHERE market = ? AND day = ?", [self.market, day])
                if self.table == "daily_bars":
                    _uncover(self.conn, day, lineage)
                log.warning(
                    "%s %s: upstream now has bars for a day recorded as closed; the closure is removed",
                    self.market,
                    day,
                )
        self.reopened_days += hits
        self.calendar = self.calendar_now()
        return hits

    def _trading_days(self, start: dt.date, end: dt.date) -> set[dt.date]:
        return {d.astype(dt.date) for d in self.calendar.between(start, end)}

    def __call__(
        self,
        streak: Sequence[tuple[Hashable, pd.DataFrame | Exception]],
        answered: Sequence[tuple[Hashable, pd.DataFrame]],
    ):
        if any(isinstance(answer, Exception) for _, answer in streak) or self.probes >= MAX_PROBES:
            return None
        windows = [self.window(item) for item, _ in streak]
        candidates = sorted(set().union(*(self._trading_days(lo, hi) for _, lo, hi in windows)))
        if not candidates or len(candidates) > MAX_CLOSURE_DAYS:
            return None
        # other symbols traded then (an answer of this chunk, or one observed earlier): these
        # empties are theirs (a code switch)
        if (
            _days_among((frame for _, frame in answered), set(candidates))
            or np.isin(np.array(candidates, dtype="datetime64[D]"), self.bar_days).any()
        ):
            return None
        first, last = candidates[0], candidates[-1]
        earlier = self.calendar.between(dt.date(1900, 1, 1), first - dt.timedelta(days=1))[-PROBE_SESSIONS:]
        if len(earlier) == 0:
            return None
        symbol = self._probe_symbol([s for s, _, _ in windows], first)
        start = earlier[0].astype(dt.date)
        self.probes += 1
        try:
            probed = _days(self.probe(symbol, start, last))
        except Exception as error:  # noqa: BLE001 - a failing probe is no evidence of health
            log.warning(
                "%s closure probe %s %s..%s failed (%s): treated as a ban", self.table, symbol, start, last, error
            )
            return None
        before = sorted(d for d in probed if start <= d < first)
        if not before or probed & set(candidates):
            log.warning(
                "%s closure probe %s %s..%s answered %s: not a closure of %s",
                self.table,
                symbol,
                start,
                last,
                sorted(probed) or "nothing",
                ", ".join(map(str, candidates)),
            )
            return None
        closed = set(candidates)
        for day in candidates:
            self.found[day] = f"probe {symbol} answered {before[-1]}, nothing for {day}"
        log.warning(
            "%s: %s closed (%d symbols answered empty; %s)",
            self.market,
            ", ".join(map(str, candidates)),
            len(streak),
            self.found[first],
        )

        def excused(item: Hashable, answer: pd.DataFrame) -> bool:
            _, lo, hi = self.window(item)
            days = self._trading_days(lo, hi)
            return bool(days) and days <= closed

        return excused

    def _probe_symbol(self, symbols: list[str], first: dt.date) -> str:
        """The streak's symbol with the latest stored bar before `first` (the likeliest to have
        traded then), else the first one."""
        stored = dict(
            self.conn.execute(
                f"SELECT symbol, max(trade_date) FROM {self.table} WHERE trade_date < ? "
                "AND symbol IN (SELECT unnest(?::VARCHAR[])) GROUP BY symbol",
                [first, symbols],
            ).fetchall()
        )
        return max(symbols, key=lambda s: (stored.get(s) or dt.date.min, -symbols.index(s)))

    def finish(
        self, asked: Iterable[Hashable], closed: Iterable[Hashable], lineage: Lineage
    ) -> tuple[list[str], list[dt.date]]:
        """Record this run's closures and remove recorded ones that an answer contradicts.

        Works from what `observe` kept of every answer (a bar on a day disproves its closure);
        `asked`: the items attempted; `closed`: those excused as closed. Returns (the closures
        recorded, as "day: evidence", the recorded days removed by this run).
        """
        reopened = self.reopen_seen(lineage)
        asked = list(asked)
        silent = {day: evidence for day, evidence in self._silent_days(asked).items() if day not in self.found}
        self.found.update(silent)
        with_bars = {d for d in self.found if np.isin(np.datetime64(d, "D"), self.bar_days)}
        closed = list(closed)
        rows = []
        for day, probe in sorted(self.found.items()):
            if day in with_bars:
                log.warning(
                    "%s %s: a bar arrived for the day after its closure was found; not recorded", self.market, day
                )
                continue
            n_asked = sum(day in self._trading_days(*self.window(item)[1:]) for item in asked)
            n_empty = sum(day in self._trading_days(*self.window(item)[1:]) for item in closed)
            rows.append(
                (
                    day,
                    f"{n_asked} symbols asked for {day}: {probe}"
                    if day in silent
                    else f"{n_empty} of {n_asked} symbols asked for {day} answered empty; {probe}",
                )
            )
        self.recorded_days = {day for day, _ in rows}
        if rows:
            with transaction(self.conn):
                for day, evidence in rows:
                    self.conn.execute(
                        "INSERT OR REPLACE INTO market_closures VALUES (?, ?, ?, ?, ?)",
                        [self.market, day, lineage.ingested_at, evidence, lineage.run_id],
                    )
        return [f"{day}: {evidence}" for day, evidence in rows], sorted(set(self.reopened_days + reopened))

    def _silent_days(self, asked: list[Hashable]) -> dict[dt.date, str]:
        """Sessions inside the asked windows that no answer has a bar on, although at least
        `MIN_SILENT_SYMBOLS` symbols whose history spans the day (a bar before it, in the answer
        or already stored) answered bars for later sessions: day -> evidence.

        The answers are their own probe here. This catches a closure the night itself could
        not see (the quote list was refused that night, or the empties were spread out), when
        the next nights' windows reach back over it: without it every such window would show
        a session with no bar for any symbol and the batch coverage rule would refuse it.
        Bars after the day show upstream has published past it, so a day not yet published
        is never taken for a closure. A day before a symbol's first bar is before its history
        (upstream's history may begin years after the listing), not evidence of a closure: a
        backfill reaching before every symbol's history records nothing there.
        """
        if self.answers_with_bars < MIN_SILENT_SYMBOLS or not asked:
            return {}
        windows = [self.window(item) for item in asked]
        lo, hi = min(w[1] for w in windows), max(w[2] for w in windows)
        sessions_asked = self.calendar.between(lo, hi)
        candidates = sessions_asked[~np.isin(sessions_asked, self.bar_days)]
        if len(candidates) == 0:
            return {}
        asked_symbols = {symbol for symbol, _, _ in windows}
        stored_first = dict(
            self.conn.execute(
                f"SELECT symbol, min(trade_date) FROM {self.table} WHERE symbol IN (SELECT unnest(?)) GROUP BY symbol",
                [sorted(asked_symbols)],
            ).fetchall()
        )
        spans = []
        for symbol, start, end, first, last in self.spans:
            if symbol in asked_symbols:
                known = stored_first.get(symbol)
                spans.append((start, end, min(first, np.datetime64(known, "D")) if known else first, last))
        found = {}
        for day in candidates:
            later = sum(start <= day <= end and first < day < last for start, end, first, last in spans)
            if later >= MIN_SILENT_SYMBOLS:
                day = day.astype(dt.date)
                found[day] = f"no answer has a bar for {day}; {later} symbols answered bars for later sessions"
        return found

    def covers(self, item: Hashable) -> bool:
        """Whether every trading day of `item`'s window is a closure `finish` recorded: an
        empty answer excused during the loop stays excused only then."""
        _, lo, hi = self.window(item)
        days = self._trading_days(lo, hi)
        return bool(days) and days <= self.recorded_days

    def calendar_now(self) -> TradingDays:
        """The market's sessions after `finish`."""
        return TradingDays(sessions(self.conn, self.market))


def _uncover(conn: duckdb.DuckDBPyConnection, day: dt.date, lineage: Lineage) -> None:
    """Cut `day` out of every A-share coverage interval spanning it.

    Coverage is kept in trading-day terms, so while `day` was closed an interval could run
    across it; once the day trades again, the symbols not fetched for it must be asked for it.
    """
    spanning = conn.execute(
        "SELECT symbol, covered_from, covered_to FROM bar_coverage WHERE covered_from <= ? AND covered_to >= ?",
        [day, day],
    ).fetchall()
    conn.execute("DELETE FROM bar_coverage WHERE covered_from <= ? AND covered_to >= ?", [day, day])
    pieces = [(symbol, lo, day - dt.timedelta(days=1)) for symbol, lo, _ in spanning if lo < day]
    pieces += [(symbol, day + dt.timedelta(days=1), hi) for symbol, _, hi in spanning if hi > day]
    if pieces:
        conn.executemany(
            "INSERT INTO bar_coverage VALUES (?, ?, ?, ?, ?)",
            [(*piece, lineage.run_id, lineage.ingested_at) for piece in pieces],
        )
