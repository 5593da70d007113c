"""The sample market's A-share price paths: each symbol's unadjusted daily bars in eastmoney's
shape, simulated from `SIMULATION_ORIGIN` (and walked backwards to the listing day before it)
under the day's price limit, with its corporate actions applied on their ex-dates."""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right
from functools import lru_cache

import numpy as np
import pandas as pd

from quantdb_pipeline.market_rules import (
    board_limit_pct,
    ex_rights_reference,
    first_day_band_pct,
    st_limit_pct,
    unlimited_first_days,
)
from quantdb_pipeline.sources.sample.corporate_actions import _actions
from quantdb_pipeline.sources.sample.universe import (
    SIMULATION_ORIGIN,
    ST_DATE,
    ST_SYMBOL,
    SUSPENDED_SYMBOL,
    SUSPENSION,
    _calendar,
)


#: `ST_SYMBOL` closes at its limit up on this day: +10%, the main-board ST limit from 2026-07-06.
ST_LIMIT_UP_DATE = dt.date(2026, 7, 8)

_BAR_COLUMNS = [
    "日期",
    "股票代码",
    "开盘",
    "收盘",
    "最高",
    "最低",
    "成交量",
    "成交额",
    "振幅",
    "涨跌幅",
    "涨跌额",
    "换手率",
]


def _limit(record: dict, day: dt.date) -> float:
    """The daily limit of the record's symbol on `day` as a fraction (0.1 for ±10%), by the
    exchanges' rules (`market_rules`): its board's, or the ST limit from `ST_DATE` on."""
    st = record["code"] == ST_SYMBOL and day >= ST_DATE
    pct = st_limit_pct(record["board"], day) if st else board_limit_pct(record["board"], day)
    if math.isnan(pct):
        raise ValueError(f"no daily limit known for board {record['board']} on {day}")
    return pct / 100


@lru_cache(maxsize=256)
def _history_cached(seed: int, key: tuple) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    record = dict(key)
    code = record["code"]
    calendar = _calendar()
    first = max(record["list_date"], SIMULATION_ORIGIN)
    last_exclusive = record["delist_date"] or dt.date.max
    days = [d for d in calendar[bisect_left(calendar, first) :] if d < last_exclusive]
    if code == SUSPENDED_SYMBOL:
        days = [d for d in days if not (SUSPENSION[0] <= d <= SUSPENSION[1])]
    n = len(days)
    rng = np.random.default_rng([seed, int(code)])
    vol = record["volatility"]
    # Python floats: the loop below is sequential (each limit depends on the previous close).
    shocks = (rng.standard_t(4, n) * vol / math.sqrt(2) + record["drift"]).tolist()
    gaps = rng.normal(0, vol / 3, n).tolist()
    wick_up = np.abs(rng.normal(0, vol / 2, n)).tolist()
    wick_down = np.abs(rng.normal(0, vol / 2, n)).tolist()
    activity = np.exp(rng.normal(0, 0.4, n))
    yields = rng.uniform(0.005, 0.03, n).tolist()
    listed_inside = record["list_date"] >= SIMULATION_ORIGIN
    ipo_days = unlimited_first_days(record["board"], record["list_date"]) if listed_inside else 0
    band = first_day_band_pct(record["board"], record["list_date"]) if listed_inside else None
    anchor = math.log(record["start_price"])
    actions = _actions(seed, code, days)

    last_close = np.empty(n)  # the previous session's unadjusted close: what eastmoney's 涨跌额 is measured from
    ohlc = np.empty((n, 4))
    moves = np.empty(n)
    prev = record["start_price"]
    factor, factors, events = 1.0, [(days[0], 1.0)] if n else [], []
    for i in range(n):
        last_close[i] = prev
        if i in actions:  # ex-date: trading resumes from the exchange's reference price
            cash, shares = actions[i]
            cash = round(prev * yields[i], 3) if cash is None else cash
            reference = ex_rights_reference(prev, cash, shares)  # half-up to the fen, as the exchanges round
            factor *= prev / reference
            factors.append((days[i], factor))
            events.append((days[i], cash, shares, prev, reference))
            anchor -= math.log(prev / reference)  # mean reversion towards the adjusted level
            prev = reference
        if i == 0 and band is not None:  # approval-based IPO: a band around the issue price on day one
            up, down = round(prev * (1 + band[0] / 100), 2), round(prev * (1 + band[1] / 100), 2)
            shock = 0.6
        elif i < ipo_days:
            up, down = prev * 3, prev * 0.5  # no limit on the first days after listing
            shock = 0.6 if i == 0 else shocks[i] * 2
        else:
            limit = _limit(record, days[i])
            up, down = round(prev * (1 + limit), 2), round(prev * (1 - limit), 2)
            # a little mean reversion keeps simulated prices in a realistic range for years
            shock = shocks[i] - 0.004 * (math.log(prev) - anchor)
            if code == ST_SYMBOL and days[i] == ST_LIMIT_UP_DATE:
                shock = 0.2  # clamped to the limit price below
        close = min(max(round(prev * math.exp(shock), 2), down), up)
        open_ = min(max(round(prev * math.exp(gaps[i]), 2), down), up)
        high = min(max(round(max(open_, close) * (1 + wick_up[i]), 2), open_, close), up)
        low = max(min(round(min(open_, close) * (1 - wick_down[i]), 2), open_, close), down)
        ohlc[i] = (open_, close, high, low)
        moves[i] = abs(shock)
        prev = close

    open_, close, high, low = ohlc.T
    lots = np.maximum(1, (record["float_shares"] / 100 * 0.01 * activity * (1 + 20 * moves)).astype("int64"))
    vwap = ohlc.mean(axis=1)
    bars = pd.DataFrame(
        {
            "日期": days,
            "股票代码": code,
            "开盘": open_,
            "收盘": close,
            "最高": high,
            "最低": low,
            "成交量": lots,
            "成交额": np.round(lots * 100 * vwap, 2),
            # close-to-close, also on ex-dates, as eastmoney's unadjusted klines are (recorded:
            # 000001 on 2024-06-14, 10.80 -> 10.18, 涨跌额 -0.62): history bars never show an ex-date
            "振幅": np.round((high - low) / last_close * 100, 2),
            "涨跌幅": np.round((close / last_close - 1) * 100, 2),
            "涨跌额": np.round(close - last_close, 2),
            "换手率": np.round(lots * 100 / record["float_shares"] * 100, 2),
        },
        columns=_BAR_COLUMNS,
    )
    factor_frame = pd.DataFrame(
        {"date": pd.to_datetime([d for d, _ in factors]), "hfq_factor": [f for _, f in factors]}
    )
    event_frame = pd.DataFrame(events, columns=["ex_date", "cash", "shares", "previous_close", "reference_close"])
    return bars, factor_frame, event_frame


_HISTORY_KEYS = ("code", "board", "list_date", "delist_date", "float_shares", "start_price", "drift", "volatility")


def _history(seed: int, record: dict) -> pd.DataFrame:
    return _history_cached(seed, tuple((k, record[k]) for k in _HISTORY_KEYS))


def _pre_origin_history(seed: int, record: dict) -> pd.DataFrame:
    """The bars of a symbol listed before `SIMULATION_ORIGIN`, from its listing day to the day
    before the origin (no corporate actions), shaped like `a_share_daily_raw`'s frames."""
    return _pre_origin_cached(seed, tuple((k, record[k]) for k in _HISTORY_KEYS))


def _round_fen(value: float) -> float:
    return round(value, 2)


#: Few: only a bar request reaching before the origin asks for it (once per symbol in a load),
#: and each entry holds years of bars, so a larger cache would make a long backfill's memory
#: grow with its range (the histories from the origin on are cached for 256 symbols: their
#: length does not depend on what a load asks for).
@lru_cache(maxsize=8)
def _pre_origin_cached(seed: int, key: tuple) -> pd.DataFrame:
    """Walked backwards from the price at the origin, so that the last close before the origin is
    `start_price` (what the bars from the origin on are measured from) and each day's close stays
    within the limit of the day before's close, rounded to the fen, under `market_rules`."""
    record = dict(key)
    calendar = _calendar()
    days = list(calendar[bisect_left(calendar, record["list_date"]) : bisect_left(calendar, SIMULATION_ORIGIN)])
    n = len(days)
    if not n:
        return pd.DataFrame(columns=_BAR_COLUMNS)
    rng = np.random.default_rng([seed, int(record["code"]), 2005])
    vol = record["volatility"]
    shocks = (rng.standard_t(4, n) * vol / math.sqrt(2)).tolist()
    gaps = rng.normal(0, vol / 3, n).tolist()
    wick_up = np.abs(rng.normal(0, vol / 2, n)).tolist()
    wick_down = np.abs(rng.normal(0, vol / 2, n)).tolist()
    activity = np.exp(rng.normal(0, 0.4, n))
    anchor = math.log(record["start_price"])
    closes = np.empty(n)
    close = record["start_price"]
    for i in range(n - 1, 0, -1):
        closes[i] = close
        limit = _limit(record, days[i])
        # backwards, mean reversion pulls the earlier price towards the anchor too
        previous = max(0.5, _round_fen(close / math.exp(shocks[i] + 0.004 * (math.log(close) - anchor))))
        if close > _round_fen(previous * (1 + limit)):
            previous = math.ceil(close / (1 + limit) * 100) / 100
            while close > _round_fen(previous * (1 + limit)):
                previous = _round_fen(previous + 0.01)
        elif close < _round_fen(previous * (1 - limit)):
            previous = math.floor(close / (1 - limit) * 100) / 100
            while close < _round_fen(previous * (1 - limit)):
                previous = _round_fen(previous - 0.01)
        close = previous
    closes[0] = close
    # the listing day is measured from the issue price, within the first-day band where there is one
    band = first_day_band_pct(record["board"], record["list_date"])
    issue = _round_fen(close / 1.3)
    if band is not None:
        issue = max(issue, math.ceil(close / (1 + band[0] / 100) * 100) / 100)
        while close > _round_fen(issue * (1 + band[0] / 100)):
            issue = _round_fen(issue + 0.01)
    last_close = np.concatenate([[issue], closes[:-1]])
    ohlc = np.empty((n, 4))
    for i in range(n):
        prev, close = float(last_close[i]), float(closes[i])
        if i == 0:
            up, down = (
                (_round_fen(prev * (1 + band[0] / 100)), _round_fen(prev * (1 + band[1] / 100)))
                if band is not None
                else (math.inf, 0.0)
            )
        else:
            limit = _limit(record, days[i])
            up, down = _round_fen(prev * (1 + limit)), _round_fen(prev * (1 - limit))
        open_ = min(max(_round_fen(prev * math.exp(gaps[i])), down), up)
        high = min(max(_round_fen(max(open_, close) * (1 + wick_up[i])), open_, close), up)
        low = max(min(_round_fen(min(open_, close) * (1 - wick_down[i])), open_, close), down)
        ohlc[i] = (open_, close, high, low)
    opens, day_closes, highs, lows = ohlc.T
    moves = np.abs(np.log(day_closes / last_close))
    lots = np.maximum(1, (record["float_shares"] / 100 * 0.01 * activity * (1 + 20 * moves)).astype("int64"))
    return pd.DataFrame(
        {
            "日期": days,
            "股票代码": record["code"],
            "开盘": opens,
            "收盘": day_closes,
            "最高": highs,
            "最低": lows,
            "成交量": lots,
            "成交额": np.round(lots * 100 * ohlc.mean(axis=1), 2),
            "振幅": np.round((highs - lows) / last_close * 100, 2),
            "涨跌幅": np.round((day_closes / last_close - 1) * 100, 2),
            "涨跌额": np.round(day_closes - last_close, 2),
            "换手率": np.round(lots * 100 / record["float_shares"] * 100, 2),
        },
        columns=_BAR_COLUMNS,
    )


def _cut(history: pd.DataFrame, column: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    dates = history[column].tolist()
    lo, hi = bisect_left(dates, start), bisect_right(dates, end)
    return pd.DataFrame() if lo >= hi else history.iloc[lo:hi].reset_index(drop=True)


def _walk(rng: np.random.Generator, n: int, start: float, vol: float, decimals: int):
    """Open, high, low, close and previous close of an unlimited random walk with mean reversion."""
    shocks = rng.standard_t(4, n) * vol / math.sqrt(2)
    gaps, up, down = rng.normal(0, vol / 3, n), np.abs(rng.normal(0, vol / 2, n)), np.abs(rng.normal(0, vol / 2, n))
    closes, prev, anchor = np.empty(n), start, math.log(start)
    previous = np.empty(n)
    for i in range(n):
        previous[i] = prev
        prev = round(prev * math.exp(shocks[i] - 0.004 * (math.log(prev) - anchor)), decimals)
        closes[i] = prev
    opens = np.round(previous * np.exp(gaps), decimals)
    highs = np.round(np.maximum(opens, closes) * (1 + up), decimals)
    lows = np.round(np.minimum(opens, closes) * (1 - down), decimals)
    return opens, highs, lows, closes, previous, np.abs(shocks)
