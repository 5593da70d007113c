"""What BI tools and notebooks use beyond daily_bars: the SQL views, panels, and the qdb-compatible
get_stock_data, on a sample warehouse that has seen a dividend."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.compat import get_stock_data
from quantdb_pipeline.sources.sample_market import DIVIDEND_DATE, DIVIDEND_SYMBOL, SampleMarket

SYMBOLS = f"{DIVIDEND_SYMBOL},600000,000001,000004"
TODAY = "2026-07-20"


@pytest.fixture
def warehouse(pipeline):
    assert pipeline.run("2026-06-01", TODAY, today=TODAY, symbols=SYMBOLS).success
    return pipeline.warehouse


def test_the_bars_adjusted_view_agrees_with_read(warehouse):
    with read.connect(warehouse) as conn:
        view = conn.execute("SELECT trade_date, close, close_qfq, close_hfq FROM bars_adjusted "
                            "WHERE symbol = ? ORDER BY trade_date", [DIVIDEND_SYMBOL]).df()
        comment = conn.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'bars_adjusted'").fetchall()
    for adjust, column in (("qfq", "close_qfq"), ("hfq", "close_hfq"), (None, "close")):
        expected = read.daily_bars(DIVIDEND_SYMBOL, adjust=adjust, warehouse=warehouse)["close"]
        np.testing.assert_allclose(view[column], expected, rtol=1e-12)
    assert "forward-adjusted" in comment[0][0]
    before = view[view["trade_date"].dt.date < DIVIDEND_DATE]
    assert (before["close_qfq"] < before["close"]).all()


def test_latest_profiles_view_has_every_security(warehouse):
    with read.connect(warehouse) as conn:
        rows = conn.execute("SELECT count(*), count(*) FILTER (WHERE symbol = '000002' AND is_st) FROM latest_profiles"
                            ).fetchall()[0]
    assert rows[0] == len(read.securities(include_delisted=True, warehouse=warehouse)) and rows[1] == 1


def test_panel_is_dates_by_symbols_with_gaps_as_missing(warehouse):
    closes = read.panel("close", start="2026-06-01", end=TODAY, warehouse=warehouse)
    assert sorted(closes.columns) == sorted(SYMBOLS.split(","))
    assert list(closes.index) == sorted(closes.index)
    assert len(closes) == len(read.trading_days("2026-06-01", TODAY, warehouse=warehouse))
    day = pd.Timestamp("2026-06-15")
    one = read.daily_bars("600000", day, day, warehouse=warehouse)
    assert closes.loc[day, "600000"] == one["close"].iloc[0]
    qfq = read.panel("close", [DIVIDEND_SYMBOL], adjust="qfq", warehouse=warehouse)
    assert qfq[DIVIDEND_SYMBOL].tolist() == read.daily_bars(DIVIDEND_SYMBOL, adjust="qfq",
                                                             warehouse=warehouse)["close"].tolist()
    table = read.panel("volume", ["600000", "000001"], output="arrow", warehouse=warehouse)
    assert isinstance(table, pa.Table) and table.column_names == ["trade_date", "000001", "600000"]
    with pytest.raises(ValueError, match="unknown field"):
        read.panel("close; DROP TABLE daily_bars", warehouse=warehouse)
    with pytest.raises(ValueError, match="output="):
        read.panel("close", output="excel", warehouse=warehouse)


def test_panel_equals_a_pivot_of_daily_bars_for_every_field_and_adjustment(warehouse):
    codes = SYMBOLS.split(",")
    for field, adjust in (("close", None), ("volume", None), ("open", "hfq"), ("close", "qfq")):
        long = read.daily_bars(codes, "2026-06-01", TODAY, columns=[field], adjust=adjust, warehouse=warehouse)
        expected = long.pivot(index="trade_date", columns="symbol", values=field).astype("float64")
        expected.columns.name = None
        got = read.panel(field, codes, "2026-06-01", TODAY, adjust=adjust, warehouse=warehouse)
        pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_freq=False)
        assert list(got.columns) == sorted(codes)
    with pytest.raises(read.UnknownSymbolError, match="688999"):
        read.panel("close", ["600000", "688999"], warehouse=warehouse)
    with pytest.raises(ValueError, match="A-shares only"):
        read.panel("close", ["600000", "00700"], warehouse=warehouse)


def test_get_stock_data_answers_like_qdb_and_akshare(warehouse):
    frame = get_stock_data("600000", start_date="20260701", end_date="20260710", warehouse=warehouse)
    raw = SampleMarket(today=TODAY).a_share_daily_raw("600000", dt.date(2026, 7, 1), dt.date(2026, 7, 10))
    assert list(frame.columns) == list(raw.columns)  # akshare's stock_zh_a_hist layout
    pd.testing.assert_frame_equal(frame, raw.reset_index(drop=True), check_dtype=False, atol=0.011)
    last3 = get_stock_data(DIVIDEND_SYMBOL, days=3, warehouse=warehouse)
    assert last3["日期"].tolist() == list(read.trading_days("2026-07-16", TODAY, warehouse=warehouse).date)
    qfq = get_stock_data(DIVIDEND_SYMBOL, end_date="20260714", days=2, adjust="qfq", warehouse=warehouse)
    assert qfq["收盘"].iloc[-1] == pytest.approx(45.96)  # 60.60 before the 07-15 dividend, in qfq terms
    with pytest.raises(ValueError, match="adjust="):
        get_stock_data("600000", adjust="forward", warehouse=warehouse)
