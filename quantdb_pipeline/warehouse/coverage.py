"""Which trading days of a symbol are already fetched, as merged date intervals.

Coverage is kept in trading-day terms: [Mon, Fri] and [next Mon, ...] are one interval,
and so are two ranges separated only by a holiday. A suspended symbol has no bars inside a
covered interval, which is why coverage rather than bar presence decides what to fetch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np

Interval = tuple[dt.date, dt.date]


class TradingDays:
    """A sorted set of trading days with fast range and position look-ups."""

    def __init__(self, days: Iterable[dt.date]):
        self.days = np.array(sorted(set(days)), dtype="datetime64[D]")

    def __len__(self) -> int:
        return len(self.days)

    def between(self, start: dt.date, end: dt.date) -> np.ndarray:
        lo = np.searchsorted(self.days, np.datetime64(start, "D"), "left")
        hi = np.searchsorted(self.days, np.datetime64(end, "D"), "right")
        return self.days[lo:hi]

    def is_trading_day(self, day: dt.date) -> bool:
        return len(self.between(day, day)) == 1

    def last_before(self, day: dt.date) -> dt.date | None:
        pos = np.searchsorted(self.days, np.datetime64(day, "D"), "left")
        return None if pos == 0 else self.days[pos - 1].astype(dt.date)

    def first_after(self, day: dt.date) -> dt.date | None:
        pos = np.searchsorted(self.days, np.datetime64(day, "D"), "right")
        return None if pos == len(self.days) else self.days[pos].astype(dt.date)

    def trailing(self, end: dt.date, count: int) -> np.ndarray:
        """The last `count` trading days on or before `end` (fewer if the calendar starts later)."""
        if count <= 0:
            return self.days[:0]
        hi = int(np.searchsorted(self.days, np.datetime64(end, "D"), "right"))
        return self.days[max(0, hi - count):hi]

    def _span(self, interval: Interval) -> tuple[int, int]:
        start, end = interval
        first = int(np.searchsorted(self.days, np.datetime64(start, "D"), "left"))
        last = int(np.searchsorted(self.days, np.datetime64(end, "D"), "right")) - 1
        return first, last


def missing_span(covered: Sequence[Interval], window: np.ndarray) -> Interval | None:
    """The smallest date range holding every day of `window` outside `covered`, or None."""
    if len(window) == 0:
        return None
    missing = np.ones(len(window), dtype=bool)
    for start, end in covered:
        missing &= ~((window >= np.datetime64(start, "D")) & (window <= np.datetime64(end, "D")))
    if not missing.any():
        return None
    days = window[missing]
    return days[0].astype(dt.date), days[-1].astype(dt.date)


def merge(intervals: Iterable[Interval], days: TradingDays) -> list[Interval]:
    """Merge intervals that overlap or touch in trading-day terms."""
    spans = sorted(days._span(interval) + (interval,) for interval in intervals)
    merged: list[list] = []
    for first, last, (start, end) in spans:
        if merged and first <= merged[-1][1] + 1:
            if last > merged[-1][1]:
                merged[-1][1], merged[-1][3] = last, end
            merged[-1][2] = min(merged[-1][2], start)
        else:
            merged.append([first, last, start, end])
    return [(start, end) for _, _, start, end in merged]


def without(intervals: Iterable[Interval], excluded: Iterable[dt.date], days: TradingDays) -> list[Interval]:
    """`intervals` less the trading days in `excluded` (other dates in `excluded` are ignored).

    Used to cover what a fetch answered cleanly while its quarantined days stay missing: a
    window [Mon, Fri] less a bad Wednesday is [Mon, Tue] and [Thu, Fri], so the next run's
    plan asks for Wednesday only.
    """
    cut = sorted({day for day in excluded if day is not None and days.is_trading_day(day)})
    out: list[Interval] = []
    for start, end in merge(intervals, days):
        lo = start
        for day in cut:
            if day < lo or day > end:
                continue
            before = days.last_before(day)
            if before is not None and before >= lo:
                out.append((lo, before))
            after = days.first_after(day)
            if after is None or after > end:
                break
            lo = after
        else:  # no cut day ended the interval: the rest of it stays
            if lo <= end:
                out.append((lo, end))
    return out
