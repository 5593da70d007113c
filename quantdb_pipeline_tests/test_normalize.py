import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.normalize import SourceSchemaError


def raw_bars(**overrides) -> pd.DataFrame:
    """Two rows shaped exactly like akshare's `stock_zh_a_hist` output."""
    frame = pd.DataFrame(
        {
            "日期": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
            "股票代码": ["600000", "600000"],
            "开盘": [6.60, 6.58],
            "收盘": [6.58, 6.61],
            "最高": [6.62, 6.65],
            "最低": [6.55, 6.56],
            "成交量": [337_123, 290_001],  # lots of 100 shares
            "成交额": [222_000_000.0, 191_500_000.0],
            "振幅": [1.06, 1.37],
            "涨跌幅": [-0.30, 0.46],
            "涨跌额": [-0.02, 0.03],
            "换手率": [0.11, 0.10],
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_volume_becomes_shares_and_units_are_kept():
    bars = normalize.a_share_bars(raw_bars(), "600000", "akshare")
    assert bars["volume"].tolist() == [33_712_300, 29_000_100]
    assert bars["amount"].tolist() == [222_000_000.0, 191_500_000.0]
    assert bars["pct_change"].tolist() == [-0.30, 0.46]
    assert bars[["open", "high", "low", "close"]].iloc[0].tolist() == [6.60, 6.62, 6.55, 6.58]
    assert bars["prev_close"].tolist() == [6.60, 6.58]  # close - 涨跌额
    # amount / volume is a price in CNY only once volume is in shares
    vwap = bars["amount"] / bars["volume"]
    assert ((vwap >= bars["low"]) & (vwap <= bars["high"])).all()


def test_canonical_columns_and_dtypes():
    bars = normalize.a_share_bars(raw_bars(), "600000", "akshare")
    assert list(bars.columns) == normalize.BAR_COLUMNS
    assert {c: str(t) for c, t in bars.dtypes.items()} == {
        "symbol": "string",
        "trade_date": "date32[day][pyarrow]",
        "open": "float64",
        "high": "float64",
        "low": "float64",
        "close": "float64",
        "volume": "Int64",
        "amount": "float64",
        "pct_change": "float64",
        "turnover_rate": "float64",
        "prev_close": "float64",
        "reference_price": "float64",
    }
    assert bars["trade_date"].tolist() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert bars["reference_price"].isna().all()  # the history klines carry no reference price


@pytest.mark.parametrize(
    "dates", [["2024-01-02", "2024-01-03"], ["20240102", "20240103"], pd.to_datetime(["2024-01-02", "2024-01-03"])]
)
def test_dates_as_strings_or_datetimes_are_accepted(dates):
    bars = normalize.a_share_bars(raw_bars(日期=dates), "600000", "sample")
    assert bars["trade_date"].tolist() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]


def test_missing_column_names_source_symbol_and_column():
    with pytest.raises(SourceSchemaError) as caught:
        normalize.a_share_bars(raw_bars().drop(columns=["成交量"]), "600000", "akshare")
    message = str(caught.value)
    assert "akshare" in message and "600000" in message and "'成交量'" in message and "missing" in message


def test_renamed_column_is_reported_as_missing_with_what_was_found():
    with pytest.raises(SourceSchemaError, match=r"'收盘'.*missing.*close_price"):
        normalize.a_share_bars(raw_bars().rename(columns={"收盘": "close_price"}), "600000", "akshare")


def test_a_numeric_column_of_text_is_a_type_error():
    with pytest.raises(SourceSchemaError, match=r"600000.*'开盘'.*numeric.*"):
        normalize.a_share_bars(raw_bars(开盘=["6.60", "6.58"]), "600000", "akshare")


def test_unparseable_date_is_named():
    with pytest.raises(SourceSchemaError, match=r"'日期'.*unparseable date 'not a date'"):
        normalize.a_share_bars(raw_bars(日期=["2024-01-02", "not a date"]), "600000", "akshare")


def test_rows_of_another_symbol_are_refused():
    with pytest.raises(SourceSchemaError, match="rows for other symbols"):
        normalize.a_share_bars(raw_bars(股票代码=["600000", "600004"]), "600000", "akshare")


def test_an_extra_upstream_column_is_ignored():
    bars = normalize.a_share_bars(raw_bars(新字段=[1, 2]), "600000", "akshare")
    assert list(bars.columns) == normalize.BAR_COLUMNS


def test_akshare_empty_answer_gives_an_empty_typed_frame():
    bars = normalize.a_share_bars(pd.DataFrame(), "600000", "akshare")
    assert bars.empty and list(bars.columns) == normalize.BAR_COLUMNS
    assert str(bars["volume"].dtype) == "Int64"


def listings():
    sh = pd.DataFrame(
        {
            "证券代码": ["600000", "688001"],
            "证券简称": ["浦发银行", "华兴源创"],
            "证券全称": ["a", "b"],
            "公司简称": ["a", "b"],
            "公司全称": ["a", "b"],
            "上市日期": [dt.date(1999, 11, 10), dt.date(2019, 7, 22)],
        }
    )
    sz = pd.DataFrame(
        {
            "板块": ["主板", "创业板", "主板"],
            "A股代码": ["000001", "300001", "000004"],
            "A股简称": ["平安银行", "特锐德", "*ST国华"],
            "A股上市日期": ["1991-04-03", "2009-10-30", "1991-01-14"],
            "A股总股本": [1, 2, 3],
            "A股流通股本": [1, 2, 3],
            "所属行业": ["J", "C", "I"],
        }
    )
    bj = pd.DataFrame(
        {
            "证券代码": ["830799"],
            "证券简称": ["艾融软件"],
            "总股本": [1],
            "流通股本": [1],
            "上市日期": [dt.date(2021, 11, 15)],
            "所属行业": ["I"],
            "地区": ["上海"],
            "报告日期": [dt.date(2024, 1, 1)],
        }
    )
    sh_delisted = pd.DataFrame(
        {
            "公司代码": ["600087"],
            "公司简称": ["退市长油"],
            "上市日期": [dt.date(1997, 6, 12)],
            "暂停上市日期": [dt.date(2014, 6, 5)],
        }
    )
    sz_delisted = pd.DataFrame(
        {
            "证券代码": ["000003"],
            "证券简称": ["PT金田A"],
            "上市日期": [dt.date(1991, 7, 3)],
            "终止上市日期": [dt.date(2002, 6, 14)],
        }
    )
    return sh, sz, bj, sh_delisted, sz_delisted


def test_securities_from_the_three_exchanges_and_the_delisting_lists():
    frame = normalize.securities(*listings(), source="akshare").set_index("symbol")
    assert list(frame.index) == ["000001", "000003", "000004", "300001", "600000", "600087", "688001", "830799"]
    assert frame.loc["300001", "board"] == "chinext" and frame.loc["688001", "board"] == "star"
    assert frame.loc["830799", "exchange"] == "BJ" and frame.loc["830799", "board"] == "bse"
    assert frame.loc["000001", "list_date"] == dt.date(1991, 4, 3)
    assert frame.loc["600087", "delist_date"] == dt.date(2014, 6, 5)
    assert pd.isna(frame.loc["600000", "delist_date"])
    assert frame["is_st"].to_dict() == {s: s == "000004" for s in frame.index}


def test_st_detection_does_not_mistake_star_for_st():
    names = pd.Series(["ST华微", "*ST中润", "S*ST前锋", "STAR 001", "华兴源创", "SST天海"], dtype="string")
    assert normalize._is_st(names).tolist() == [True, True, True, False, False, True]


def test_security_list_missing_a_column_names_it():
    sh, sz, bj, sh_d, sz_d = listings()
    with pytest.raises(SourceSchemaError, match=r"'A股上市日期'"):
        normalize.securities(sh, sz.drop(columns=["A股上市日期"]), bj, sh_d, sz_d, source="akshare")


def test_calendar():
    cal = normalize.trading_calendar(
        pd.DataFrame({"trade_date": [dt.date(2024, 1, 3), dt.date(2024, 1, 2), dt.date(2024, 1, 2)]}), "akshare"
    )
    assert cal["trade_date"].tolist() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert set(cal["market"]) == {"CN"}


def sina_factors(**overrides) -> pd.DataFrame:
    """Shaped like `stock_zh_a_daily(adjust="hfq-factor")`: Timestamps and text, newest first."""
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-06-05", "2023-06-07", "2022-02-10"]),
            "hfq_factor": ["1.5679240000", "1.0237900000", "1.0000000000"],
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_factors_become_ascending_numbers_per_ex_date():
    factors = normalize.adjustment_factors(sina_factors(), "600005", "akshare")
    assert list(factors.columns) == ["symbol", "ex_date", "hfq_factor"]
    assert factors["ex_date"].tolist() == [dt.date(2022, 2, 10), dt.date(2023, 6, 7), dt.date(2024, 6, 5)]
    assert factors["hfq_factor"].tolist() == [1.0, 1.02379, 1.567924]
    assert set(factors["symbol"]) == {"600005"}


@pytest.mark.parametrize("value", ["", "abc", "0", "-1.2"])
def test_a_factor_that_is_not_a_positive_number_names_symbol_and_value(value):
    with pytest.raises(SourceSchemaError) as caught:
        normalize.adjustment_factors(sina_factors(hfq_factor=["1.5", value, "1.0"]), "600005", "akshare")
    assert "600005" in str(caught.value) and "hfq_factor" in str(caught.value) and repr(value) in str(caught.value)


def test_a_missing_date_in_akshares_date_objects_is_null_not_year_one():
    """akshare's `.dt.date` columns hold NaT for a missing date (stock_fhps_em's ex-date of a
    plan not yet implemented); pyarrow alone would store it as 0001-01-01."""
    raw = pd.DataFrame(
        {
            "代码": ["600002", "000006"],
            "方案进度": ["实施分配", "股东大会决议通过"],
            "送转股份-送转总比例": [3.0, np.nan],
            "送转股份-送转比例": [3.0, np.nan],
            "送转股份-转股比例": [np.nan, np.nan],
            "现金分红-现金分红比例": [8.5, 2.0],
            "预案公告日": [dt.date(2026, 5, 1), dt.date(2026, 4, 20)],
            "股权登记日": pd.to_datetime(pd.Series(["2026-07-14", None]), errors="coerce").dt.date,
            "除权除息日": pd.to_datetime(pd.Series(["2026-07-15", None]), errors="coerce").dt.date,
            "最新公告日期": [dt.date(2026, 7, 9), dt.date(2026, 5, 20)],
        }
    )
    rows = normalize.corporate_actions(raw, dt.date(2026, 3, 31), "akshare")
    assert rows["ex_date"].tolist()[0] == dt.date(2026, 7, 15) and pd.isna(rows["ex_date"].iloc[1])
    assert pd.isna(rows["record_date"].iloc[1])
    assert rows["cash_per_share"].tolist() == [0.85, 0.2] and rows["bonus_shares_per_share"].tolist() == [0.3, 0.0]


def test_a_column_of_only_missing_dates_is_null_whatever_its_dtype():
    """A report period whose plans are all unimplemented has no ex-date at all: akshare's column
    is then datetime64 NaT throughout, not date objects."""
    raw = pd.DataFrame(
        {
            "代码": ["600002"],
            "方案进度": ["股东大会决议通过"],
            "送转股份-送转总比例": [3.0],
            "送转股份-送转比例": [3.0],
            "送转股份-转股比例": [np.nan],
            "现金分红-现金分红比例": [8.5],
            "预案公告日": [dt.date(2026, 5, 1)],
            "股权登记日": pd.to_datetime(pd.Series([None])),
            "除权除息日": pd.Series([pd.NaT], dtype="datetime64[s]"),
            "最新公告日期": [dt.date(2026, 5, 31)],
        }
    )
    rows = normalize.corporate_actions(raw, dt.date(2026, 3, 31), "akshare")
    assert rows["ex_date"].isna().all() and rows["record_date"].isna().all()
    assert rows["plan_announced_on"].tolist() == [dt.date(2026, 5, 1)]
