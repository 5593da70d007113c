"""The bar suite's price-limit rule on hand-made rows: the judgement, without a pipeline around it."""

import datetime as dt

import pandas as pd
import pytest

from quantdb_pipeline.quality.suites import BarContext, validate_bars
from quantdb_pipeline.sources import normalize

DAY = dt.date(2025, 3, 24)


def bars(symbol: str, prev_close: float, close: float, pct_change: float) -> pd.DataFrame:
    raw = pd.DataFrame({
        "日期": [DAY], "股票代码": [symbol], "开盘": [prev_close], "收盘": [close], "最高": [close],
        "最低": [min(prev_close, close)], "成交量": [1000], "成交额": [1000 * 100 * close],
        "振幅": [0.0], "涨跌幅": [pct_change], "涨跌额": [round(close - prev_close, 2)], "换手率": [0.1],
    })
    return normalize.a_share_bars(raw, symbol, "test")


def context(symbol: str, board: str = "main", is_st: bool = False) -> BarContext:
    securities = pd.DataFrame({"symbol": [symbol], "board": [board], "is_st": [is_st],
                               "list_date": [dt.date(2010, 1, 4)]})
    days = [d.date() for d in pd.bdate_range("2009-01-05", DAY)]  # listed long before: a limit applies
    return BarContext(today=DAY, trading_days=days, securities=securities)


def limit_rule(frame, ctx):
    rows, _ = validate_bars(frame, pd.DataFrame(columns=["symbol", "start", "end"]), ctx)
    return next(o for o in rows.outcomes if o.rule == "within_board_limit")


@pytest.mark.parametrize("prev_close, close, pct, passes", [
    (0.65, 0.72, 10.77, True),    # limit price round(0.715) = 0.72: the fen is worth 0.77%
    (10.00, 11.00, 10.00, True),  # exactly at the limit
    (10.00, 11.08, 10.80, False),  # beyond the limit: a fixed 0.6 tolerance would have let it through
    (3.33, 3.66, 9.91, True),     # round(3.663) = 3.66
])
def test_the_limit_is_measured_from_the_limit_price_rounded_to_the_fen(prev_close, close, pct, passes):
    outcome = limit_rule(bars("600000", prev_close, close, pct), context("600000"))
    assert outcome.success is passes


def test_chinext_has_a_twenty_percent_limit():
    assert limit_rule(bars("300001", 10.0, 11.9, 19.0), context("300001", board="chinext")).success
    assert not limit_rule(bars("600000", 10.0, 11.9, 19.0), context("600000")).success
