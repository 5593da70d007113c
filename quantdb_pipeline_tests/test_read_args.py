"""What `read` accepts and returns, on the demo warehouse (the session's `demo_warehouse`):
one date type (datetime64[ns]) in every result, every date form as an argument, one column
given as a string, markets in any case, an index code where a stock is expected, and
point-in-time names without look-ahead."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.sources.sample import (
    RENAMED_SYMBOL,
    ST_DATE,
    ST_SYMBOL,
    SampleMarket,
    name_changes,
    name_on,
)
from quantdb_pipeline_tests.conftest import DEMO_TODAY

pytestmark = pytest.mark.slow  # on the session's demo warehouse (the whole sample market through the CLI)

NS = np.dtype("datetime64[ns]")


@pytest.fixture(scope="module")
def w(demo_warehouse):
    read.clear_cache()
    return demo_warehouse


def test_trading_days_match_bars_and_index_the_panel(w):
    days = read.trading_days("2024-02-01", "2024-02-29", warehouse=w)
    assert isinstance(days, pd.DatetimeIndex) and days.dtype == NS and days.name == "trade_date"
    assert [d.isoformat() for d in days.date][:3] == ["2024-02-01", "2024-02-02", "2024-02-05"]
    bars = read.daily_bars("600000", "2024-02-01", "2024-02-29", warehouse=w)
    assert bars["trade_date"].isin(days).sum() == len(bars) == len(days) == 15
    closes = read.panel("close", ["600000", "000001"], "2024-02-01", "2024-02-29", warehouse=w)
    assert closes.index.dtype == NS
    assert closes.loc[days[3], "600000"] == bars["close"].iloc[3]
    assert list(closes.index) == list(days)


def test_every_date_a_read_returns_is_datetime64_ns(w):
    frames = {
        "daily_bars": (
            read.daily_bars(
                ["600000", "0700.HK"],
                "2026-01-05",
                "2026-01-09",
                columns=["close", "ingested_at"],
                adjust="qfq",
                warehouse=w,
            ),
            ["trade_date", "ingested_at"],
        ),
        "index_bars": (read.index_bars("000300", "2026-01-05", "2026-01-09", warehouse=w), ["trade_date"]),
        "securities": (
            read.securities(as_of="2024-06-03", warehouse=w),
            ["list_date", "delist_date", "last_listed", "change_date"],
        ),
        "name_history": (read.name_history(ST_SYMBOL, warehouse=w), ["valid_from", "valid_to"]),
        "financials": (read.financials("600000", as_of="2024-10-20", warehouse=w), ["report_date", "available_from"]),
        "corporate_actions": (
            read.corporate_actions(start="2026-01-01", warehouse=w),
            ["ex_date", "record_date", "pay_date", "report_period", "announced_on"],
        ),
        "adjustment_factors": (read.adjustment_factors("600002", warehouse=w), ["ex_date"]),
        "hk_adjustment_factors": (read.hk_adjustment_factors("00700", warehouse=w), ["ex_date"]),
        "market_closures": (read.market_closures(warehouse=w), ["day", "detected_at"]),
        "status tables": (read.status(warehouse=w)["tables"], ["latest_date", "last_written_at"]),
    }
    for function, (frame, columns) in frames.items():
        for column in columns:
            dtype = frame[column].dtype
            assert dtype.kind == "M" and np.datetime_data(getattr(dtype, "base", dtype))[0] == "ns", (
                f"{function}.{column} is {dtype}"
            )
    assert len(frames["daily_bars"][0]) == 10 and len(frames["securities"][0]) > 50
    version = read.profile(ST_SYMBOL, warehouse=w)
    assert isinstance(version["valid_from"], pd.Timestamp) and version["valid_from"].unit == "ns"


@pytest.mark.parametrize(
    "start, end",
    [
        ("2024-03-04", "2024-03-08"),
        ("20240304", "20240308"),
        (dt.date(2024, 3, 4), dt.date(2024, 3, 8)),
        (dt.datetime(2024, 3, 4, 9, 30), dt.datetime(2024, 3, 8, 15)),
        (pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-08 15:00")),
        (np.datetime64("2024-03-04"), np.datetime64("2024-03-08T15:00:00")),
    ],
)
def test_every_date_form_is_accepted_by_every_date_argument(w, start, end):
    assert len(read.daily_bars("600000", start, end, warehouse=w)) == 5
    assert len(read.trading_days(start, end, warehouse=w)) == 5
    assert len(read.index_bars("000300", start, end, warehouse=w)) == 5
    assert read.securities(as_of=start, warehouse=w).set_index("symbol").loc[ST_SYMBOL, "is_st"]
    assert read.profile(ST_SYMBOL, as_of=start, warehouse=w)["is_st"]


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda w, v: read.daily_bars("600000", start=v, warehouse=w), "start"),
        (lambda w, v: read.daily_bars("600000", end=v, warehouse=w), "end"),
        (lambda w, v: read.daily_bars("600000", adjust="qfq", as_of=v, warehouse=w), "as_of"),
        (lambda w, v: read.trading_days(v, warehouse=w), "start"),
        (lambda w, v: read.securities(as_of=v, warehouse=w), "as_of"),
        (lambda w, v: read.profile("600000", as_of=v, warehouse=w), "as_of"),
        (lambda w, v: read.financials("600000", as_of=v, warehouse=w), "as_of"),
        (lambda w, v: read.panel("close", ["600000"], end=v, warehouse=w), "end"),
    ],
)
@pytest.mark.parametrize("value", ["2024-02-30", "2024/02/05", "2024-2-5", "2024-W06-1", "yesterday", 20240205])
def test_a_bad_date_is_a_value_error_naming_the_argument_and_the_value(w, call, argument, value):
    with pytest.raises(ValueError, match=f"^{argument}={value!r} is not a date"):
        call(w, value)


def test_one_column_given_as_a_string_is_that_column(w):
    bars = read.daily_bars("600000", "2024-03-04", "2024-03-08", columns="close", warehouse=w)
    assert list(bars.columns) == ["symbol", "trade_date", "close"] and len(bars) == 5
    assert (
        bars["close"].tolist()
        == read.daily_bars("600000", "2024-03-04", "2024-03-08", columns=["close"], warehouse=w)["close"].tolist()
    )
    reports = read.financials("600000", metrics="roe", warehouse=w)
    assert list(reports.columns) == ["symbol", "report_date", "available_from", "available_from_estimated", "roe"]
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['closing'\]"):
        read.daily_bars("600000", columns="closing", warehouse=w)


def test_markets_are_case_insensitive_and_an_unknown_one_is_an_error(w):
    hk = read.trading_days("2024-03-27", "2024-04-03", market="HK", warehouse=w)
    assert [d.isoformat() for d in hk.date] == ["2024-03-27", "2024-03-28", "2024-04-02", "2024-04-03"]  # Easter
    for spelling in ("hk", "Hk", " hk "):
        assert list(read.trading_days("2024-03-27", "2024-04-03", market=spelling, warehouse=w)) == list(hk)
    assert len(read.trading_days("2024-03-27", "2024-04-03", market="cn", warehouse=w)) == 6
    assert read.market_closures("hk", warehouse=w).equals(read.market_closures("HK", warehouse=w))
    for bad in ("US", "A-share", ""):
        with pytest.raises(ValueError, match=r"market='.*' is not a market: choose from \['CN', 'HK'\]"):
            read.trading_days(market=bad, warehouse=w)
        with pytest.raises(ValueError, match=r"choose from \['CN', 'HK'\]"):
            read.market_closures(bad, warehouse=w)


@pytest.mark.parametrize(
    "symbol, index",
    [
        ("sh000300", "the CSI 300 index on SH"),
        ("000300.SH", "the CSI 300 index on SH"),
        ("SH000300", "the CSI 300 index on SH"),
        ("000300", "the CSI 300 index on SH"),
        ("399006", "the ChiNext Index on SZ"),
        ("sz399006", "the ChiNext Index on SZ"),
        ("sh000001", "the SSE Composite index on SH"),
    ],
)
def test_an_index_code_where_a_stock_is_expected_names_the_index_and_index_bars(w, symbol, index):
    expected = f"{symbol} is {index}, not a stock: use index_bars\\('{symbol}'\\)"
    with pytest.raises(read.IndexSymbolError, match=expected) as raised:
        read.daily_bars(symbol, warehouse=w)
    assert raised.value.code == symbol.lower().removeprefix("sh").removeprefix("sz")[:6]
    with pytest.raises(read.IndexSymbolError, match=expected):
        read.daily_bars(["600000", symbol], warehouse=w)
    assert len(read.index_bars(symbol, "2024-03-04", "2024-03-08", warehouse=w)) == 5  # where it points


def test_stock_forms_with_prefixes_and_suffixes_read_the_same_rows(w):
    expected = read.daily_bars("000001", "2024-03-04", "2024-03-08", warehouse=w)
    for form in ("sz000001", "SZ000001", "000001.SZ", "000001.sz", "sz.000001"):
        assert read.daily_bars(form, "2024-03-04", "2024-03-08", warehouse=w).equals(expected), form
    bse = read.daily_bars("920001", "2024-03-04", "2024-03-08", warehouse=w)
    assert len(bse) == 5 and read.daily_bars("bj920001", "2024-03-04", "2024-03-08", warehouse=w).equals(bse)


def test_securities_and_profile_as_of_a_day_show_no_look_ahead_for_any_renamed_symbol(w):
    """For every day around each rename of the sample, the name and ST flag of every security are
    the day's own or NULL (unknown), never a later one; 000002's SZSE record dates its rename."""
    market = SampleMarket(today=DEMO_TODAY)
    records = {r["code"]: r for r in market.universe().to_dict("records")}
    renames = {code: name_changes(r, dt.date.fromisoformat(DEMO_TODAY)) for code, r in records.items()}
    renamed = {code for code, changes in renames.items() if changes}
    assert {ST_SYMBOL, RENAMED_SYMBOL} <= renamed
    days = sorted(
        {
            d
            for changes in renames.values()
            for day, _, _ in changes
            for d in (day - dt.timedelta(days=3), day, day + dt.timedelta(days=1))
        }
    )
    for day in days:
        universe = read.securities(as_of=day, warehouse=w).set_index("symbol")
        for code, row in universe.iterrows():
            truth = name_on(records[code], day)
            assert pd.isna(row["name"]) or row["name"] == truth, (code, day, row["name"], truth)
            assert pd.isna(row["is_st"]) or bool(row["is_st"]) == truth.startswith("*ST"), (code, day)
            assert pd.isna(row["name"]) == pd.isna(row["is_st"]) and (pd.isna(row["name"]) or row["name_source"])
    before = read.securities(as_of="2023-05-01", warehouse=w).set_index("symbol").loc[ST_SYMBOL]
    assert (before["name"], bool(before["is_st"]), before["name_source"]) == ("SZ main 002", False, "exchange_record")
    assert not before["name"].startswith("*ST")
    version = read.profile(ST_SYMBOL, as_of="2023-05-01", warehouse=w)
    assert (version["name"], bool(version["is_st"])) == ("SZ main 002", False)
    assert version["valid_to"] == pd.Timestamp(ST_DATE)
    after = read.profile(ST_SYMBOL, as_of=ST_DATE, warehouse=w)
    assert (after["name"], bool(after["is_st"])) == ("*ST SZ main 002", True)
    sse = read.securities(as_of="2021-02-26", warehouse=w).set_index("symbol").loc[RENAMED_SYMBOL]
    assert pd.isna(sse["name"]) and pd.isna(sse["is_st"])  # SSE dates no rename: unknown, not today's name
