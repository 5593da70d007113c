"""The sample market's Hong Kong symbols: unadjusted bars on HKEX's calendar (no price limit,
HKD) and their cash dividends and bonus issues."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from functools import lru_cache

import numpy as np
import pandas as pd

from quantdb_pipeline.sources.sample.prices import _walk
from quantdb_pipeline.sources.sample.universe import SIMULATION_ORIGIN, _calendar


#: Hong Kong sample universe: code -> (name, first price in HKD).
HK_SYMBOLS = {
    "00700": ("Tencent (sample)", 380.0),
    "00005": ("HSBC (sample)", 60.0),
    "09988": ("Alibaba (sample)", 160.0),
    "00941": ("China Mobile (sample)", 70.0),
    "01299": ("AIA (sample)", 75.0),
    "03690": ("Meituan (sample)", 120.0),
    "02318": ("Ping An (sample)", 50.0),
    "00388": ("HKEX (sample)", 300.0),
}
HK_LISTED_FROM = {"09988": dt.date(2019, 11, 26), "03690": dt.date(2018, 9, 20)}
#: HK corporate actions that tests rely on: (ex-date, cash HKD per share, bonus shares per share).
HK_ACTION_SYMBOL = "00700"
HK_BONUS_DATE = dt.date(2023, 9, 15)
HK_FIXED_ACTIONS = {
    HK_ACTION_SYMBOL: tuple(
        (dt.date(year, 5, day), cash, 0.0)
        for year, day, cash in (
            (2016, 20, 0.55),
            (2017, 19, 0.61),
            (2018, 18, 0.88),
            (2019, 17, 1.00),
            (2020, 15, 1.20),
            (2021, 21, 1.60),
            (2022, 20, 1.60),
            (2023, 19, 2.40),
            (2024, 17, 3.40),
            (2025, 16, 4.50),
            (2026, 15, 5.30),
        )
    )
    + ((HK_BONUS_DATE, 0.0, 0.1),),
}
#: Pays no dividend: sina's factor scripts for it hold only their start row.
HK_NO_ACTION_SYMBOL = "03690"
#: Symbols paying an interim and a final dividend; the others pay once a year (June).
HK_TWICE_A_YEAR = ("00005", "00941", "01299", "02318", "00388")


def _hk_actions(seed: int, code: str, days: list[dt.date]) -> dict[int, tuple[float | None, float]]:
    """Day index -> (cash per share, or None for a drawn yield; bonus shares per share)."""
    if code == HK_NO_ACTION_SYMBOL or not days:
        return {}

    def on_or_after(day: dt.date) -> int | None:
        i = bisect_left(days, day)
        return i if 0 < i < len(days) else None  # never the first simulated day

    if code in HK_FIXED_ACTIONS:
        found = {on_or_after(d): (cash, shares) for d, cash, shares in HK_FIXED_ACTIONS[code]}
        return {i: action for i, action in found.items() if i is not None}
    rng = np.random.default_rng([seed, int(code), 853])
    actions: dict[int, tuple[float | None, float]] = {}
    for year in range(days[0].year, days[-1].year + 1):
        for month in (5, 9) if code in HK_TWICE_A_YEAR else (6,):
            i = on_or_after(dt.date(year, month, 1 + int(rng.integers(0, 25))))
            if i is not None:
                actions[i] = (None, 0.0)
    return actions


@lru_cache(maxsize=16)
def _hk_simulation(seed: int, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(unadjusted bars shaped like `stock_hk_hist`, ex-date events) of one HK symbol."""
    from quantdb_pipeline.sources.calendars import hk_trading_days

    first = max(SIMULATION_ORIGIN, HK_LISTED_FROM.get(code, dt.date.min))
    days = [d for d in hk_trading_days(_calendar()[-1]) if d >= first]
    rng = np.random.default_rng([seed, int(code), 852])
    opens, highs, lows, closes, previous, moves = _walk(rng, len(days), HK_SYMBOLS[code][1], 0.02, 2)
    shares = (rng.lognormal(16.5, 0.5, len(days)) * (1 + 20 * moves)).astype("int64") // 100 * 100
    # the walk is the total-return path; each ex-date scales the traded prices from then on
    actions = _hk_actions(seed, code, days)
    yields = np.random.default_rng([seed, int(code), 854]).uniform(0.008, 0.025, len(days))
    walk = np.column_stack([opens, highs, lows, closes])
    traded = walk.copy()
    scale, events = 1.0, []
    for i in sorted(actions):
        last = float(traded[i - 1, 3])
        cash, bonus = actions[i]
        cash = round(last * float(yields[i]), 3) if cash is None else cash
        scale *= (last - cash) / ((1 + bonus) * last)
        events.append((days[i], cash, bonus, last))
        traded[i:] = np.round(walk[i:] * scale, 2)
    opens, highs, lows, closes = traded.T
    previous = np.concatenate([previous[:1], closes[:-1]])  # the last unadjusted close
    amount = np.round(shares * (opens + highs + lows + closes) / 4, 2)
    bars = pd.DataFrame(
        {
            "日期": days,
            "开盘": opens,
            "收盘": closes,
            "最高": highs,
            "最低": lows,
            "成交量": shares,
            "成交额": amount,
            "振幅": np.round((highs - lows) / previous * 100, 2),
            "涨跌幅": np.round((closes / previous - 1) * 100, 2),
            "涨跌额": np.round(closes - previous, 3),
            "换手率": np.round(shares / 5e9 * 100, 2),
        }
    )
    return bars, pd.DataFrame(events, columns=["ex_date", "cash", "shares", "previous_close"])


def _hk_history(seed: int, code: str) -> pd.DataFrame:
    return _hk_simulation(seed, code)[0]
