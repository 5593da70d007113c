"""The bar suite's price-limit rule on hand-made rows: the judgement, without a pipeline around it."""

import datetime as dt

import pandas as pd
import pytest

from quantdb_pipeline.quality.suites import BarContext, validate_bars
from quantdb_pipeline.sources import normalize

DAY = dt.date(2025, 3, 24)


def bars(symbol: str, prev_close: float, close: float, pct_change: float, day: dt.date = DAY) -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            "日期": [day],
            "股票代码": [symbol],
            "开盘": [prev_close],
            "收盘": [close],
            "最高": [close],
            "最低": [min(prev_close, close)],
            "成交量": [1000],
            "成交额": [1000 * 100 * close],
            "振幅": [0.0],
            "涨跌幅": [pct_change],
            "涨跌额": [round(close - prev_close, 2)],
            "换手率": [0.1],
        }
    )
    return normalize.a_share_bars(raw, symbol, "test")


def context(
    symbol: str, board: str = "main", is_st: bool = False, day: dt.date = DAY, list_date: dt.date = dt.date(2010, 1, 4)
) -> BarContext:
    securities = pd.DataFrame({"symbol": [symbol], "board": [board], "is_st": [is_st], "list_date": [list_date]})
    days = [d.date() for d in pd.bdate_range("2009-01-05", day)]  # listed long before: a limit applies
    return BarContext(today=day, trading_days=days, securities=securities)


def rule_outcome(frame, ctx, rule):
    rows, _ = validate_bars(frame, pd.DataFrame(columns=["symbol", "start", "end"]), ctx)
    return next(o for o in rows.outcomes if o.rule == rule)


def limit_rule(frame, ctx):
    return rule_outcome(frame, ctx, "within_board_limit")


@pytest.mark.parametrize(
    "prev_close, close, pct, passes",
    [
        (0.65, 0.72, 10.77, True),  # limit price round(0.715) = 0.72: the fen is worth 0.77%
        (10.00, 11.00, 10.00, True),  # exactly at the limit
        (10.00, 11.08, 10.80, False),  # beyond the limit: a fixed 0.6 tolerance would have let it through
        (3.33, 3.66, 9.91, True),  # round(3.663) = 3.66
    ],
)
def test_the_limit_is_measured_from_the_limit_price_rounded_to_the_fen(prev_close, close, pct, passes):
    outcome = limit_rule(bars("600000", prev_close, close, pct), context("600000"))
    assert outcome.success is passes


def test_chinext_has_a_twenty_percent_limit():
    assert limit_rule(bars("300001", 10.0, 11.9, 19.0), context("300001", board="chinext")).success
    assert not limit_rule(bars("600000", 10.0, 11.9, 19.0), context("600000")).success


BEFORE_REFORM, REFORM = dt.date(2020, 8, 21), dt.date(2020, 8, 24)


@pytest.mark.parametrize(
    "day, close, pct, passes",
    [
        (BEFORE_REFORM, 11.00, 10.00, True),  # ChiNext's limit was 10% before the registration reform
        (BEFORE_REFORM, 11.50, 15.00, False),  # a 15% move then is beyond it: quarantined
        (REFORM, 11.50, 15.00, True),  # from 2020-08-24 the limit is 20%
        (REFORM, 12.00, 20.00, True),
        (REFORM, 12.10, 21.00, False),
    ],
)
def test_the_chinext_limit_is_ten_percent_before_the_reform_and_twenty_from_it(day, close, pct, passes):
    outcome = limit_rule(bars("300001", 10.0, close, pct, day), context("300001", "chinext", day=day))
    assert outcome.success is passes


@pytest.mark.parametrize(
    "symbol, board, day, close, pct, warns",
    [
        ("000002", "main", dt.date(2026, 7, 3), 10.50, 5.00, False),  # main-board ST: 5% until 2026-07-05
        ("000002", "main", dt.date(2026, 7, 3), 10.99, 9.90, True),
        ("000002", "main", dt.date(2026, 7, 6), 10.99, 9.90, False),  # 10% from 2026-07-06: an ordinary limit move
        ("000002", "main", dt.date(2026, 7, 6), 9.00, -10.00, False),
        ("000002", "main", dt.date(2026, 7, 6), 11.20, 12.00, True),
        ("300001", "chinext", dt.date(2025, 3, 24), 11.90, 19.00, False),  # ChiNext ST names keep 20%
        ("688001", "star", dt.date(2025, 3, 24), 11.90, 19.00, False),  # STAR ST names keep 20%
    ],
)
def test_the_st_limit_follows_the_board_and_the_date(symbol, board, day, close, pct, warns):
    frame, ctx = bars(symbol, 10.0, close, pct, day), context(symbol, board, is_st=True, day=day)
    st = rule_outcome(frame, ctx, "within_st_limit")
    assert st.action == "warn" and st.success is not warns
    assert limit_rule(frame, ctx).success is (abs(pct) <= 10 or board != "main")


@pytest.mark.parametrize(
    "board, list_date, session, pct, passes",
    [
        ("main", dt.date(2021, 3, 1), 1, 44.00, True),  # approval-based: day one's band is around the issue price
        ("main", dt.date(2021, 3, 1), 2, 15.00, False),  # ... and the board's 10% from day two
        ("main", dt.date(2023, 4, 10), 5, 30.00, True),  # registration-based main board: five days without a limit
        ("main", dt.date(2023, 4, 10), 6, 15.00, False),
        ("chinext", dt.date(2019, 3, 1), 2, 15.00, False),  # ChiNext before its reform: approval-based
        ("chinext", dt.date(2020, 8, 24), 4, 60.00, True),
        ("star", dt.date(2019, 7, 22), 5, 30.00, True),
        ("star", dt.date(2019, 7, 22), 6, 30.00, False),
        ("bse", dt.date(2022, 3, 1), 3, 50.00, True),  # BSE: exempt as widely as the summaries disagree
    ],
)
def test_the_first_days_after_listing_follow_the_board_and_the_listing_date(board, list_date, session, pct, passes):
    days = [d.date() for d in pd.bdate_range(list_date, periods=session)]
    symbol = {"main": "600000", "chinext": "300001", "star": "688001", "bse": "920001"}[board]
    close = round(10.0 * (1 + pct / 100), 2)
    frame = bars(symbol, 10.0, close, pct, days[-1])
    assert limit_rule(frame, context(symbol, board, day=days[-1], list_date=list_date)).success is passes
