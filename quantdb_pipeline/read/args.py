"""Parsing the readers' arguments: dates (`_date`, the one parser), ranges, markets, lists of
names and `adjust`/`as_of`. Bad values are ValueErrors naming the argument and the value."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Literal, overload

from quantdb_pipeline._lazy import LazyModule

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # imported on first use: `import quantdb_pipeline.read` stays fast (pandas alone takes 0.3 s)
    np = LazyModule("numpy")
    pd = LazyModule("pandas")

ADJUSTMENTS = (None, "qfq", "hfq")
#: The calendars a market argument can name (`trading_days`, `market_closures`), case-insensitive.
MARKETS = ("CN", "HK")
_COMPACT_DATE = re.compile(r"^\d{8}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: An ISO date with a time ("2024-01-02T00:00:00", "2024-01-02 15:00", "...+08:00"): its date part
#: counts, as for a `datetime` object (a time of day is dropped, a time zone kept as written).
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _date(value, name: str) -> dt.date | None:
    """The day of a date argument `name` (None stays None): the one parser of this module.

    Accepts "YYYY-MM-DD", "YYYYMMDD", an ISO date-time string ("2024-01-02T00:00:00",
    "2024-01-02 15:30+08:00"), `datetime.date`, `datetime.datetime` and `pd.Timestamp` (their
    calendar day as written: any time of day is dropped, a time zone kept as given, never
    converted) and `np.datetime64`.
    Raises ValueError naming the argument and the value for anything else (NaT included)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # pd.Timestamp is one; pd.NaT passes isinstance too
        if value is pd.NaT:
            raise ValueError(f"{name}=NaT is not a date")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if type(value).__name__ == "datetime64":  # np.datetime64, without importing numpy for the check
        if np.isnat(value):
            raise ValueError(f"{name}={value!r} is not a date (NaT)")
        return value.astype("datetime64[D]").astype(dt.date)
    if isinstance(value, str):
        text = value.strip()
        try:
            if _COMPACT_DATE.match(text):
                return dt.datetime.strptime(text, "%Y%m%d").date()
            if _ISO_DATE.match(text):
                return dt.date.fromisoformat(text)
            if _ISO_DATETIME.match(text):
                return dt.datetime.fromisoformat(text).date()
        except ValueError:
            pass
    raise ValueError(
        f"{name}={value!r} is not a date: use 'YYYY-MM-DD', 'YYYYMMDD', an ISO date-time "
        "('YYYY-MM-DDTHH:MM:SS', its date counts), a datetime.date or "
        "datetime.datetime, a pd.Timestamp or an np.datetime64"
    )


@overload
def _market(market, *, optional: Literal[False] = False) -> str: ...
@overload
def _market(market, *, optional: bool) -> str | None: ...
def _market(market, *, optional: bool = False) -> str | None:
    """`market` as stored ("CN", "HK"), whatever its case; None where `optional` allows it.
    Raises ValueError listing the valid markets for anything else."""
    if market is None and optional:
        return None
    code = market.strip().upper() if isinstance(market, str) else None
    if code not in MARKETS:
        raise ValueError(f"market={market!r} is not a market: choose from {list(MARKETS)} (any case)")
    return code


def _names(value, what: str) -> list:
    """One name (a str) or an iterable of names as a list: "close" is ["close"], never its letters."""
    if isinstance(value, str):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ValueError(f"{what}={value!r}: give a name or a list of names") from None


def _range(start, end) -> tuple[dt.date | None, dt.date | None]:
    start, end = _date(start, "start"), _date(end, "end")
    if start and end and start > end:
        raise ValueError(f"start {start} is after end {end}")
    return start, end


def _adjustment(adjust: str | None, as_of) -> tuple[str | None, str, dt.date | None]:
    """(`adjust` as spelled in `ADJUSTMENTS`, the SQL ratio prices are multiplied by, the qfq base
    date), after checking both. `adjust` is case-insensitive ("QFQ" is "qfq"), as markets are."""
    if isinstance(adjust, str):
        adjust = adjust.strip().lower()
    if adjust not in ADJUSTMENTS:
        raise ValueError(f"adjust={adjust!r}: use None (unadjusted), 'qfq' (forward) or 'hfq' (backward), any case")
    as_of = _date(as_of, "as_of")
    if as_of is not None and adjust != "qfq":
        raise ValueError("as_of only applies to adjust='qfq' (the date whose prices qfq keeps as traded)")
    return adjust, {None: "1.0", "hfq": "f.factor", "qfq": "f.factor / f.base"}[adjust], as_of
