"""The sample market's indices: the major CN indices' daily bars on the SSE calendar."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from quantdb_pipeline.sources.sample.prices import _walk
from quantdb_pipeline.sources.sample.universe import SIMULATION_ORIGIN, _calendar


#: Index sample: akshare symbol -> first level.
INDEX_SYMBOLS = {
    "sh000001": 3500.0,
    "sz399001": 12000.0,
    "sz399006": 2700.0,
    "sh000300": 3700.0,
    "sh000905": 7000.0,
    "sh000852": 7500.0,
    "sh000016": 2500.0,
    "sh000688": 1000.0,
}
INDEX_FIRST_DAY = {"sh000688": dt.date(2020, 1, 2)}  # the STAR 50 starts later


@lru_cache(maxsize=16)
def _index_history(seed: int, symbol: str) -> pd.DataFrame:
    first = max(SIMULATION_ORIGIN, INDEX_FIRST_DAY.get(symbol, dt.date.min))
    days = [d for d in _calendar() if d >= first]
    rng = np.random.default_rng([seed, int(symbol[2:]), 300])
    opens, highs, lows, closes, _, moves = _walk(rng, len(days), INDEX_SYMBOLS[symbol], 0.012, 2)
    lots = (rng.lognormal(18.5, 0.3, len(days)) * (1 + 10 * moves)).astype("int64")
    return pd.DataFrame(
        {
            "date": days,
            "open": opens,
            "close": closes,
            "high": highs,
            "low": lows,
            "volume": lots,
            "amount": np.round(lots * 100 * rng.uniform(8, 15, len(days)), 2),
        }
    )
