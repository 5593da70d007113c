"""Rules of the Chinese exchanges and regulators that more than one layer applies: the
ex-rights reference price, daily price limits by board and date (and the limit prices they
give), ST limits by board and date and what marks an ST name, the first days after a listing
without a limit, and the statutory deadlines of periodic reports. The quality gate
(`quality.suites`) checks bars against them, the loaders plan report fetches by them,
`sources.normalize` flags ST names by them and the sample market (`sources.sample`)
simulates by them: one home, so they agree. The one copy that cannot import this module, the
deadline in the `report_announcements` view (migration 0012), is checked against
`statutory_deadline` by `quantdb_pipeline_tests/test_layers.py`.

Kept free of Dagster, akshare, Great Expectations and DuckDB: the loaders, the quality suites
and the read side may all import it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

#: Prices are quoted in fen: two decimals.
PRICE_DECIMALS = 2


def ex_rights_reference(previous_close, cash=0.0, new_shares=0.0, rights_shares=0.0, rights_price=0.0):
    """The exchange's ex-rights / ex-dividend reference price (除权除息参考价), CNY.

    `(previous_close - cash + rights_price x rights_shares) / (1 + new_shares + rights_shares)`,
    rounded to the fen as SSE and SZSE publish it; `cash` is the pre-tax cash dividend per
    share, `new_shares` the bonus plus transferred shares per share, `rights_shares` and
    `rights_price` a rights issue's shares per share and subscription price. Works on scalars
    and NumPy arrays alike; NaN amounts count as none.
    """
    cash, new_shares, rights_shares, rights_price = (
        np.nan_to_num(np.asarray(v, dtype="float64")) for v in (cash, new_shares, rights_shares, rights_price)
    )
    raw = (np.asarray(previous_close, dtype="float64") - cash + rights_price * rights_shares) / (
        1 + new_shares + rights_shares
    )
    # half away from zero, like the exchanges (np.round rounds half to even)
    rounded = np.floor(raw * 10**PRICE_DECIMALS + 0.5 + 1e-9) / 10**PRICE_DECIMALS
    return rounded.item() if rounded.ndim == 0 else rounded


# -- daily price limits --------------------------------------------------------------------
#
# Percent of the exchange's reference price (the previous close, or the ex-rights price on an
# ex-date). Each board's limit is a list of (first day, limit) steps; NaN means no limit we know
# of: before a board opened, a day has no rule here, and the gate quarantines nothing by limit.
# Sources: the SSE/SZSE/BSE trading rules as summarised in DESIGN.md ("Upstream facts").

#: Main board: ±10% since 1996-12-16. ChiNext: ±10% from its opening (2009-10-30), ±20% from the
#: registration reform (2020-08-24, for every ChiNext stock, old or new). STAR: ±20% since its
#: first trading day (2019-07-22). BSE: ±30% since its opening (2021-11-15); before that, the
#: NEEQ's rules applied, which are not modelled (no limit: nothing is quarantined for them).
BOARD_LIMIT_STEPS: dict[str, tuple[tuple[dt.date, float], ...]] = {
    "main": ((dt.date(1996, 12, 16), 10.0),),
    "chinext": ((dt.date(2009, 10, 30), 10.0), (dt.date(2020, 8, 24), 20.0)),
    "star": ((dt.date(2019, 7, 22), 20.0),),
    "bse": ((dt.date(2021, 11, 15), 30.0),),
}
#: Names under special treatment (ST, *ST): ±5% on the main board until 2026-07-05, ±10% from
#: 2026-07-06. ChiNext, STAR and BSE ST names keep their board's limit (±20%, ±20%, ±30%).
MAIN_BOARD_ST_LIMIT_STEPS: tuple[tuple[dt.date, float], ...] = (
    (dt.date(1996, 12, 16), 5.0),
    (dt.date(2026, 7, 6), 10.0),
)
CHINEXT_REFORM = dt.date(2020, 8, 24)
#: The main board's registration-based IPOs list from this day on (the first ones on 2023-04-10).
MAIN_BOARD_REGISTRATION = dt.date(2023, 4, 10)
#: Registration-based listings (STAR, ChiNext from its reform, main board from 2023-04-10) trade
#: without a limit on their first five trading days. The BSE's rules give a new listing no limit
#: on its first day; some summaries say five days: an exemption only stops a quarantine, so the
#: wider one is used.
REGISTRATION_UNLIMITED_DAYS = 5
#: Approval-based listings (main board before 2023-04-10, ChiNext before its reform) have, on
#: their first day only, a band around the issue price instead of the board's limit: since
#: 2014-01-01, +44% / -36% (orders above 144% or below 64% of the issue price are invalid).
#: The issue price is not in the bars, so the gate exempts that day; the sample market uses the band.
APPROVAL_UNLIMITED_DAYS = 1
FIRST_DAY_BAND_PCT = (44.0, -36.0)
FIRST_DAY_BAND_FROM = dt.date(2014, 1, 1)


def _step_value(steps: tuple[tuple[dt.date, float], ...], day: dt.date) -> float:
    value = float("nan")
    for first, pct in steps:
        if day >= first:
            value = pct
    return value


def _step_values(steps: tuple[tuple[dt.date, float], ...], days: np.ndarray) -> np.ndarray:
    out = np.full(len(days), np.nan)
    for first, pct in steps:
        out[days >= np.datetime64(first, "D")] = pct
    return out


#: How the boards are named in the gate's rule descriptions.
BOARD_TITLES = {"main": "main", "chinext": "ChiNext", "star": "STAR", "bse": "BSE"}


def describe_board_limits() -> str:
    """The board limits in words: "main 10, ChiNext 10 then 20 from 2020-08-24, STAR 20, BSE 30"."""
    return ", ".join(
        BOARD_TITLES[board]
        + " "
        + " then ".join(
            f"{pct:g}" if i == 0 else f"{pct:g} from {first.isoformat()}" for i, (first, pct) in enumerate(steps)
        )
        for board, steps in BOARD_LIMIT_STEPS.items()
    )


def describe_main_board_st_limits() -> str:
    """The main board's ST limits in words: "5 until 2026-07-05, 10 from 2026-07-06"."""
    steps = MAIN_BOARD_ST_LIMIT_STEPS
    return ", ".join(
        f"{pct:g} until {(steps[i + 1][0] - dt.timedelta(days=1)).isoformat()}"
        if i + 1 < len(steps)
        else f"{pct:g} from {first.isoformat()}"
        for i, (first, pct) in enumerate(steps)
    )


def board_limit_pct(board: str, day: dt.date) -> float:
    """The board's daily price limit on `day`, percent (10.0 for ±10%); NaN where none is known."""
    return _step_value(BOARD_LIMIT_STEPS.get(board, ()), day)


def st_limit_pct(board: str, day: dt.date) -> float:
    """The daily limit of an ST name of `board` on `day`, percent; NaN where none is known."""
    if board == "main":
        return _step_value(MAIN_BOARD_ST_LIMIT_STEPS, day)
    return board_limit_pct(board, day)


def board_limit_pcts(boards: np.ndarray, days: np.ndarray, st: np.ndarray | None = None) -> np.ndarray:
    """`board_limit_pct` (or `st_limit_pct` where `st` is True) per row, vectorised.

    `boards`: object array of board names (None for unknown), `days`: datetime64[D] (NaT gives
    NaN), `st`: optional bool array. Returns float64 percent, NaN where no limit is known.
    """
    days = np.asarray(days, dtype="datetime64[D]")
    out = np.full(len(days), np.nan)
    st = np.zeros(len(days), dtype=bool) if st is None else np.asarray(st, dtype=bool)
    for board, steps in BOARD_LIMIT_STEPS.items():
        rows = boards == board
        out[rows] = _step_values(steps, days[rows])
    main_st = (boards == "main") & st
    out[main_st] = _step_values(MAIN_BOARD_ST_LIMIT_STEPS, days[main_st])
    return out


def unlimited_first_days(board: str, list_date: dt.date | None) -> int:
    """How many trading days from the listing day (counted as day 1) the gate checks no limit on.

    5 for registration-based listings (STAR; ChiNext from 2020-08-24; main board from
    2023-04-10) and for the BSE; 1 for approval-based ones (the first day's band is around the
    issue price, which the bars do not carry); 0 without a listing date.
    """
    if list_date is None or (isinstance(list_date, float) and np.isnan(list_date)):
        return 0
    if board in ("star", "bse"):
        return REGISTRATION_UNLIMITED_DAYS
    if board == "chinext":
        return REGISTRATION_UNLIMITED_DAYS if list_date >= CHINEXT_REFORM else APPROVAL_UNLIMITED_DAYS
    if board == "main":
        return REGISTRATION_UNLIMITED_DAYS if list_date >= MAIN_BOARD_REGISTRATION else APPROVAL_UNLIMITED_DAYS
    return REGISTRATION_UNLIMITED_DAYS  # an unknown board: exempt the widest


def unlimited_first_days_of(boards: np.ndarray, list_days: np.ndarray) -> np.ndarray:
    """`unlimited_first_days` per row: `boards` object array, `list_days` datetime64[D] (NaT -> 0). int64."""
    list_days = np.asarray(list_days, dtype="datetime64[D]")
    out = np.full(len(list_days), REGISTRATION_UNLIMITED_DAYS, dtype="int64")
    approval = ((boards == "chinext") & (list_days < np.datetime64(CHINEXT_REFORM, "D"))) | (
        (boards == "main") & (list_days < np.datetime64(MAIN_BOARD_REGISTRATION, "D"))
    )
    out[approval] = APPROVAL_UNLIMITED_DAYS
    out[np.isnat(list_days)] = 0
    return out


def first_day_band_pct(board: str, list_date: dt.date) -> tuple[float, float] | None:
    """(up, down) percent around the issue price on an approval-based listing's first day, or
    None where the first day has no limit (registration-based listings, BSE, before 2014)."""
    if unlimited_first_days(board, list_date) != APPROVAL_UNLIMITED_DAYS or list_date < FIRST_DAY_BAND_FROM:
        return None
    return FIRST_DAY_BAND_PCT


def limit_prices(reference, limit_pct) -> tuple[np.ndarray, np.ndarray]:
    """(limit up, limit down) prices, CNY: `reference` x (1 ± `limit_pct` / 100) rounded to the
    fen half away from zero, as the exchanges publish them. Arrays (or scalars) in, float64
    arrays out; NaN where either input is NaN."""
    reference = np.asarray(reference, dtype="float64")
    limit_pct = np.asarray(limit_pct, dtype="float64")
    with np.errstate(invalid="ignore"):
        up = np.floor(reference * (1 + limit_pct / 100) * 10**PRICE_DECIMALS + 0.5 + 1e-6) / 10**PRICE_DECIMALS
        down = np.floor(reference * (1 - limit_pct / 100) * 10**PRICE_DECIMALS + 0.5 + 1e-6) / 10**PRICE_DECIMALS
    return up, down


# -- special treatment ---------------------------------------------------------------------

#: "ST", "*ST", "S*ST", "SST" + name marks special treatment (its limit: `st_limit_pct`);
#: "STAR..." does not.
ST_NAME_PATTERN = r"^\s*(?:\*|S\*?)?ST(?![A-Za-z])"


def is_st_name(names: pd.Series) -> pd.Series:
    """True per name that marks special treatment; False for missing names. `names`: strings."""
    return names.str.contains(ST_NAME_PATTERN, regex=True).fillna(False).astype(bool)


# -- periodic reports ----------------------------------------------------------------------

#: Report periods end on these (month, day): Q1, H1, Q3 and the year.
REPORT_PERIOD_ENDS = ((3, 31), (6, 30), (9, 30), (12, 31))
#: By when a period's report must be published (Securities Law art. 79, CSRC disclosure rules):
#: month of the period's end -> (years after the period's year, month, day). Q1 by 04-30, H1 by
#: 08-31, Q3 by 10-31, the annual report by 04-30 of the next year. The `report_announcements`
#: view (migration 0012) spells the same dates in SQL; a test keeps the two equal.
STATUTORY_DEADLINES = {3: (0, 4, 30), 6: (0, 8, 31), 9: (0, 10, 31), 12: (1, 4, 30)}


def statutory_deadline(report_date: dt.date) -> dt.date:
    """Q1 by 04-30, H1 by 08-31, Q3 by 10-31, the annual report by 04-30 of the next year.

    A date that is no quarter end gets the annual report's deadline (as the view does).
    """
    years, month, day = STATUTORY_DEADLINES.get(report_date.month, STATUTORY_DEADLINES[12])
    return dt.date(report_date.year + years, month, day)
