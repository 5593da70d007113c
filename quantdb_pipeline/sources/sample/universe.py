"""The sample market's calendar and securities: the boards, the special cases tests rely on
(ST, rename, industry change, suspension, delisting, listing, the BSE code switch), and each
security's code, name and industry on a day."""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left
from functools import lru_cache

import numpy as np
import pandas as pd

from quantdb_pipeline.sources.base import bundled_sse_calendar
from quantdb_pipeline.symbols import BSE_CODE_SWITCH_DATE, board_of


#: Board mix of the sample universe (share of symbols) and the first code of each board.
BOARD_MIX = (
    ("SH main", 0.28, 600000),
    ("SZ main", 0.25, 1),
    ("ChiNext", 0.20, 300001),
    ("STAR", 0.15, 688001),
    ("BSE", 0.12, 920001),
)
#: The board's launch date bounds the listing dates drawn for its symbols.
BOARD_OPENED = {
    "main": dt.date(2005, 1, 4),
    "chinext": dt.date(2009, 10, 30),
    "star": dt.date(2019, 7, 22),
    "bse": dt.date(2021, 11, 15),
}
LATEST_RANDOM_LISTING = dt.date(2023, 6, 30)

#: Prices are simulated from this date (or the listing date, if later). An A-share listed
#: before it also has bars from its listing date on (`_pre_origin_history`, built backwards
#: from its price at the origin, so the bars from the origin on do not depend on it); corporate
#: actions, factors, reports, HK and index bars start at the origin.
SIMULATION_ORIGIN = dt.date(2016, 1, 4)

ST_SYMBOL = "000002"
ST_DATE = dt.date(2023, 5, 4)

INDUSTRY_CHANGE_SYMBOL, INDUSTRY_CHANGE_DATE = "600003", dt.date(2024, 1, 2)
INDUSTRIES = ("电子", "医药生物", "计算机", "汽车", "食品饮料", "机械设备", "基础化工", "电力设备")
#: An SSE symbol renamed on `RENAME_DATE`: `FORMER_NAME` before it. SSE publishes no name-change
#: list; sina's former-names page lists both names, undated.
RENAMED_SYMBOL, RENAME_DATE, FORMER_NAME = "600008", dt.date(2021, 3, 1), "Old SH main 009"
#: eastmoney industry board code of each sample industry (BK0475 is eastmoney's 银行 board).
INDUSTRY_BOARDS = {name: f"BK{1031 + i:04d}" for i, name in enumerate(INDUSTRIES)} | {
    "银行": "BK0475",
    "非银金融": "BK0473",
}
BANK_SYMBOL = "000001"

SUSPENDED_SYMBOL = "000004"
SUSPENSION = (dt.date(2024, 6, 3), dt.date(2024, 7, 12))
DELISTED_SYMBOL = "600001"
DELIST_DATE = dt.date(2025, 3, 17)
IPO_SYMBOL = "300001"
IPO_DATE = dt.date(2025, 9, 16)

#: First trading day under the BSE's 920xxx codes; the sample's BSE symbols listed before it
#: traded as 83xxxx until then.
BSE_SWITCH_DATE = BSE_CODE_SWITCH_DATE

DEFAULT_SIZE = 64
DEFAULT_SEED = 20240101


@lru_cache(maxsize=1)
def _calendar() -> tuple[dt.date, ...]:
    return tuple(bundled_sse_calendar())


def _first_trading_day_on_or_after(day: dt.date) -> dt.date:
    days = _calendar()
    return days[bisect_left(days, day)]


def old_bse_code(code: str) -> str:
    """The code a sample BSE symbol (920xxx) traded under before `BSE_SWITCH_DATE`: 83 + its last four digits."""
    return "83" + code[2:]


def code_on(record: dict, day: dt.date) -> str:
    """The code a sample security trades under on `day` (its own, but an old BSE code before the switch)."""
    if record["board"] == "bse" and record["list_date"] < BSE_SWITCH_DATE and day < BSE_SWITCH_DATE:
        return old_bse_code(record["code"])
    return record["code"]


def _universe(size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 0])
    counts = [math.floor(size * share) for _, share, _ in BOARD_MIX]
    counts[0] += size - sum(counts)
    rows = []
    for (label, _, first_code), count in zip(BOARD_MIX, counts):
        for i in range(count):
            code = f"{first_code + i:06d}"
            board = board_of(code)
            opened = BOARD_OPENED[board]
            span = (LATEST_RANDOM_LISTING - opened).days
            list_date = _first_trading_day_on_or_after(opened + dt.timedelta(days=int(rng.integers(0, span))))
            total = int(rng.integers(2, 400)) * 10_000_000
            rows.append(
                {
                    "code": code,
                    "exchange": {"SH main": "SH", "STAR": "SH", "SZ main": "SZ", "ChiNext": "SZ", "BSE": "BJ"}[label],
                    "board": board,
                    "name": f"{label} {i + 1:03d}",
                    "list_date": list_date,
                    "delist_date": None,
                    "total_shares": total,
                    "float_shares": int(total * rng.uniform(0.3, 1.0)),
                    "start_price": round(float(rng.uniform(3, 80)), 2),
                    "drift": float(rng.normal(0.0002, 0.0004)),
                    "volatility": float(rng.uniform(0.012, 0.035)),
                }
            )
    frame = pd.DataFrame(rows).set_index("code", drop=False)
    frame["industry"] = [INDUSTRIES[int(c) % len(INDUSTRIES)] for c in frame["code"]]
    frame.loc[BANK_SYMBOL, "industry"] = "银行"
    frame.loc[IPO_SYMBOL, "list_date"] = _first_trading_day_on_or_after(IPO_DATE)
    frame.loc[DELISTED_SYMBOL, "delist_date"] = DELIST_DATE
    frame["delist_date"] = frame["delist_date"].astype(object)
    frame.index.name = None
    return frame.reset_index(drop=True)


def name_on(record: dict, day: dt.date) -> str:
    """The security's name on `day`: `ST_SYMBOL` is "*ST ..." from `ST_DATE` on, `RENAMED_SYMBOL`
    is `FORMER_NAME` before `RENAME_DATE`."""
    if record["code"] == ST_SYMBOL and day >= ST_DATE:
        return "*ST " + record["name"]
    if record["code"] == RENAMED_SYMBOL and day < RENAME_DATE:
        return FORMER_NAME
    return record["name"]


def name_changes(record: dict, today: dt.date) -> list[tuple[dt.date, str, str]]:
    """(first day of the new name, name before, name after) of each rename up to `today`."""
    days = {ST_SYMBOL: (ST_DATE,), RENAMED_SYMBOL: (RENAME_DATE,)}.get(record["code"], ())
    return [
        (day, name_on(record, day - dt.timedelta(days=1)), name_on(record, day))
        for day in days
        if record["list_date"] < day <= today
    ]


def industry_on(record: dict, day: dt.date) -> str:
    if record["code"] == INDUSTRY_CHANGE_SYMBOL and day >= INDUSTRY_CHANGE_DATE:
        return "非银金融"
    return record["industry"]
