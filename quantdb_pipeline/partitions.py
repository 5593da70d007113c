"""Time partitions: one per trading day of the market, in Shanghai time.

A-shares and indices (`sse_partitions`) have one partition per SSE session from the first one,
1990-12-19; Hong Kong (`hk_partitions`) one per HKEX session from 2010-01-04 (where the HK
calendar starts, `sources.calendars`). The UI's "missing" count is therefore true missing
trading days, not weekends and holidays.

How: Dagster's `DailyPartitionsDefinition(..., exclusions=...)` with the daily cron, weekends
excluded by one cron string and each weekday closure as a datetime (naive midnight = that day
in Shanghai). Not a weekday cron: Dagster's window for Friday would then run to Monday (Dagster
issue #17464) and Friday's partition would not exist over the weekend. `end_offset=1` makes
today's partition available, so the nightly run after the close can fill it.

Calendars, both offline, read when the code location loads (~20 ms SSE, ~1 s HK import):
- SSE: the calendar akshare ships (`sources.base.bundled_sse_calendar`, 605 weekday closures
  through its last day, 2026-12-31 with akshare 1.17); no warehouse is read, so loading the
  definitions never depends on (or locks) the warehouse file.
- HKEX: `exchange_calendars`' XHKG, cut at the SSE calendar's last day (`CALENDAR_LAST`). XHKG
  always reaches a year past today; without the cut the definition (and its snapshot in the
  instance) would change every day.

After `CALENDAR_LAST` only weekends are excluded: a holiday there (2027-01-01) is a partition
(shown missing in the UI; a CLI range ending on it records it materialized, with nothing
fetched). The schedules are unaffected: they read the stored calendar (`trading_day_verdict`).
Decision: the definitions are NOT extended from the stored `trading_calendar` (that would couple
loading the code location to the warehouse file and its lock, and the stored calendar comes from
the same upstream, sina, so it knows no more holidays ahead). Instead
`test_partitions.py::test_the_bundled_calendar_reaches_ahead_of_today` fails once the bundled
calendar ends within `CALENDAR_LEAD_DAYS` of today: upgrade akshare (a newer calendar.json).
Not 60 days: SSE announces next year's holidays in December, so on 2026-11-30 no library knows
2027 (akshare 1.19.5 and exchange_calendars 4.13.2 both end at 2026-12-31) and a 60-day test
would fail with nothing to upgrade to.

Pitfalls that `TradingDays.snap` guards against (measured on Dagster 1.13.27):
- a range run whose end tag is a closed day records the NEXT session as materialized, and a
  start on a closed day is silently moved forward; so the CLI and the tests snap a range to
  sessions first and launch no run when it holds none;
- `partition_key=<closed day>` raises `DagsterUnknownPartitionError`; the schedules only ask for
  sessions (`schedules.trading_day_verdict`);
- Dagster issue #33551: with `end_offset=1` and today a closed day, the last partition is the
  NEXT session (measured: on Saturday 2024-01-06 the last key is Monday 2024-01-08; on National
  Day 2024-10-01 the SSE's is 2024-10-08, a future day shown as missing). Nothing of ours asks for it: the
  schedules skip closed days and a snapped range ends at or before the requested end. A user
  who launches it from the UI gets an empty load (no bars exist for a future day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from dagster import DailyPartitionsDefinition

from quantdb_pipeline.settings import MARKET_TIMEZONE, PARTITIONS_START

#: Saturdays and Sundays, as a cron string Dagster excludes.
WEEKENDS = "0 0 * * 0,6"


def weekday_closures(days: Sequence[dt.date]) -> list[dt.date]:
    """Weekdays between the first and the last of `days` (a sorted calendar) that are not in it."""
    listed = set(days)
    span = (days[-1] - days[0]).days + 1
    every = (days[0] + dt.timedelta(n) for n in range(span))
    return [d for d in every if d.weekday() < 5 and d not in listed]


@dataclass(frozen=True)
class TradingDays:
    """A market's partitions and the same rule in plain dates, to snap ranges without Dagster.

    `first`: the first partition; `known_until`: the calendar's last day (after it every weekday
    is a partition); `closures`: weekday closures in [first, known_until].
    """

    market: str
    first: dt.date
    known_until: dt.date
    closures: frozenset[dt.date]
    definition: DailyPartitionsDefinition

    @classmethod
    def from_calendar(cls, market: str, days: Sequence[dt.date], first: dt.date) -> TradingDays:
        """From a sorted list of trading days (first one <= `first` is not required)."""
        closures = [d for d in weekday_closures(days) if d >= first]
        definition = trading_day_partitions(closures, first)
        return cls(market, first, days[-1], frozenset(closures), definition)

    def is_session(self, day: dt.date) -> bool:
        """True when `day` is a partition key of `definition` (ignoring the end: today + 1)."""
        return day >= self.first and day.weekday() < 5 and day not in self.closures

    def snap(self, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
        """[start, end] narrowed to its first and last session, or None when it holds none."""
        start = max(start, self.first)
        while start <= end and not self.is_session(start):
            start += dt.timedelta(days=1)
        while end >= start and not self.is_session(end):
            end -= dt.timedelta(days=1)
        return (start, end) if start <= end else None


def trading_day_partitions(closures: Sequence[dt.date], start: dt.date) -> DailyPartitionsDefinition:
    """Daily partitions from `start` without weekends and without the weekday `closures`."""
    return DailyPartitionsDefinition(
        start_date=start.isoformat(),
        timezone=MARKET_TIMEZONE,
        end_offset=1,
        exclusions=[WEEKENDS, *(dt.datetime(d.year, d.month, d.day) for d in closures)],
    )


def _sse() -> TradingDays:
    from quantdb_pipeline.sources.base import bundled_sse_calendar

    return TradingDays.from_calendar("CN", bundled_sse_calendar(), dt.date.fromisoformat(PARTITIONS_START))


def _hk(last: dt.date) -> TradingDays:
    from quantdb_pipeline.sources.calendars import FIRST_DAY, hk_trading_days

    # XHKG reaches a year past today; if that is before `last`, its closures simply stop earlier
    return TradingDays.from_calendar("HK", hk_trading_days(last), FIRST_DAY)


SSE_DAYS = _sse()
#: The last day both calendars know their holidays through (see the module docstring).
CALENDAR_LAST = SSE_DAYS.known_until
#: How far ahead of today the bundled calendar must reach (a test checks it).
CALENDAR_LEAD_DAYS = 14
HK_DAYS = _hk(CALENDAR_LAST)

#: A-share bars, corporate actions and index bars: one partition per SSE session.
sse_partitions = SSE_DAYS.definition
#: HK bars: one partition per HKEX session.
hk_partitions = HK_DAYS.definition


def trading_days_of(partitions_def) -> TradingDays:
    """The `TradingDays` behind one of the definitions above; ValueError for any other."""
    for days in (SSE_DAYS, HK_DAYS):
        if partitions_def is days.definition:
            return days
    raise ValueError(f"not a trading-day partitions definition of this project: {partitions_def!r}")
