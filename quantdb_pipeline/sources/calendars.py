"""Trading calendars that no akshare endpoint serves: Hong Kong's, from `exchange_calendars`.

HKEX trading days differ from the SSE's (Easter, Christmas, Buddha's Birthday; no Golden
Week closure), so HK bars are checked against HKEX's own calendar. `exchange_calendars`
(calendar "XHKG") is maintained against the exchange's announcements, including its
typhoon-closure rules; it is imported only when a calendar is needed.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

HK_CALENDAR = "XHKG"
FIRST_DAY = dt.date(2010, 1, 4)


@lru_cache(maxsize=4)
def hk_trading_days(last: dt.date | None = None) -> tuple[dt.date, ...]:
    """HKEX trading days from 2010 through `last` (default: as far as the library knows)."""
    import exchange_calendars

    calendar = exchange_calendars.get_calendar(HK_CALENDAR, start=FIRST_DAY.isoformat())
    days = tuple(d.date() for d in calendar.sessions)
    return days if last is None else tuple(d for d in days if d <= last)
