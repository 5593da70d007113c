"""Hong Kong and index bars: symbol forms, units, calendars and each market's own gate rules,
on the sample market through Dagster and through the real akshare functions behind HTTP fakes."""

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.assets import (
    hk_daily_bars,
    hk_securities,
    hk_trading_calendar,
    index_daily_bars,
    trading_calendar,
)
from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.calendars import hk_trading_days
from quantdb_pipeline.sources.sample import HK_SYMBOLS, INDEX_SYMBOLS, SampleMarket
from quantdb_pipeline.symbols import SymbolError, normalize_hk_symbol, normalize_index_symbol
from quantdb_pipeline_tests.conftest import d, failure_messages
from quantdb_pipeline_tests.faults import kline_strings

TODAY = "2024-10-31"
START, END = "2024-03-25", TODAY
MARKET_ASSETS = [trading_calendar, hk_trading_calendar, hk_securities, hk_daily_bars, index_daily_bars]
GOOD_FRIDAY = dt.date(2024, 3, 29)  # HKEX closed, SSE open
GOLDEN_WEEK_HK_OPEN = dt.date(2024, 10, 3)  # SSE closed for National Day week, HKEX open


@pytest.mark.parametrize("form", ["00700", "0700.HK", "700.hk", "hk00700", "HK00700", " 00700 "])
def test_each_hong_kong_form_names_the_same_symbol(form):
    assert normalize_hk_symbol(form) == "00700"


@pytest.mark.parametrize(
    "form, code",
    [
        ("000300", "000300"),
        ("sh000300", "000300"),
        ("000300.SH", "000300"),
        ("sz399006", "399006"),
        ("399006.SZ", "399006"),
    ],
)
def test_each_index_form_names_the_same_index(form, code):
    assert normalize_index_symbol(form) == code


@pytest.mark.parametrize("form", ["sz000300", "399006.SH", "0700", "700", "hk0070000"])
def test_contradicting_or_malformed_symbols_are_refused(form):
    with pytest.raises(SymbolError):
        normalize_hk_symbol(form) if "hk" in form.lower() or len(form) <= 4 else normalize_index_symbol(form)


@pytest.mark.slow
def test_hk_and_index_bars_end_to_end_on_their_own_calendars_and_units(pipeline):
    result = pipeline.run(START, END, today=TODAY, assets=MARKET_ASSETS, hk_symbols="0700.HK,hk00005,09988")
    assert result.success, failure_messages(result)
    market = SampleMarket(today=TODAY)
    hk = read.daily_bars(["00700", "00005", "9988.HK"], START, END, warehouse=pipeline.warehouse)
    assert set(hk["symbol"]) == {"00700", "00005", "09988"} and set(hk["currency"]) == {"HKD"}
    days = set(hk["trade_date"].dt.date)
    assert GOOD_FRIDAY not in days and GOLDEN_WEEK_HK_OPEN in days
    assert days <= set(hk_trading_days())
    raw = market.hk_daily_raw("00700", d(START), d(END))
    stored = hk[hk["symbol"] == "00700"]
    assert len(stored) == len(raw)
    assert stored["volume"].tolist() == raw["成交量"].tolist()  # HK volume arrives in shares, stored as is
    vwap = stored["amount"] / stored["volume"]
    assert ((vwap >= stored["low"] * 0.99) & (vwap <= stored["high"] * 1.01)).all()

    index = read.index_bars(["sh000300", "399006.SZ"], START, END, warehouse=pipeline.warehouse)
    index_days = set(index["trade_date"].dt.date)
    assert GOOD_FRIDAY in index_days and GOLDEN_WEEK_HK_OPEN not in index_days
    raw = market.index_daily_raw("000300", d(START), d(END))
    csi300 = index[index["symbol"] == "000300"]
    assert csi300["volume"].tolist() == (raw["volume"] * 100).tolist()  # lots of 100 -> shares
    assert csi300["close"].tolist() == raw["close"].tolist()
    assert len(read.index_bars(warehouse=pipeline.warehouse)["symbol"].unique()) == len(INDEX_SYMBOLS)
    assert set(read.hk_securities(warehouse=pipeline.warehouse)["symbol"]) == set(HK_SYMBOLS)

    rerun = pipeline.run(START, END, today=TODAY, assets=MARKET_ASSETS, hk_symbols="00700,00005,09988")
    assert pipeline.metadata(rerun, "hk_daily_bars")["upstream_requests"] == 0
    assert pipeline.metadata(rerun, "index_daily_bars")["upstream_requests"] == 0
    later = pipeline.run(
        "2024-11-01", "2024-11-08", today="2024-11-08", assets=MARKET_ASSETS, hk_symbols="00700,00005,09988"
    )
    assert pipeline.metadata(later, "hk_daily_bars")["upstream_requests"] == 3
    assert pipeline.metadata(later, "index_daily_bars")["rows_written"] == 6 * len(INDEX_SYMBOLS)


class JumpyHongKong(SampleMarket):
    """HK 00700 moves +40% in a day (legal: HKEX has no limit); HK 00005 reports a negative close."""

    def hk_daily_raw(self, symbol, start, end):
        raw = super().hk_daily_raw(symbol, start, end).copy()
        if symbol == "00700" and len(raw) > 2:
            raw.loc[raw.index[-1], ["开盘", "收盘", "最高", "最低"]] = raw["收盘"].iloc[-2] * 1.4
            raw.loc[raw.index[-1], "涨跌幅"] = 40.0
            raw.loc[raw.index[-1], "成交额"] = raw["成交量"].iloc[-1] * raw["收盘"].iloc[-2] * 1.4
        if symbol == "00005" and len(raw) > 2:
            raw.loc[raw.index[-1], "收盘"] = -1.0
        return raw


@pytest.mark.slow
def test_each_market_is_gated_by_its_own_rules(pipeline):
    from quantdb_pipeline.resources import MarketSourceResource

    class Jumpy(MarketSourceResource):
        def build(self):
            return JumpyHongKong(today=TODAY)

    result = pipeline.run(
        "2024-10-21", END, today=TODAY, assets=MARKET_ASSETS, market=Jumpy(kind="sample", hk_symbols="00700,00005")
    )
    assert result.success, failure_messages(result)
    hk = read.daily_bars(["00700", "00005"], "2024-10-21", END, warehouse=pipeline.warehouse)
    tencent = hk[hk["symbol"] == "00700"]
    assert tencent["close"].iloc[-1] / tencent["close"].iloc[-2] == pytest.approx(1.4)  # no price limit in HK
    assert hk[hk["symbol"] == "00005"]["trade_date"].max().date() < d(END)  # the bad bar stayed out
    quarantined = pipeline.query("SELECT table_name, symbol, rules FROM quarantine")
    assert quarantined[["table_name", "symbol"]].values.tolist() == [["hk_daily_bars", "00005"]]
    assert set(quarantined["rules"].iloc[0].split(",")) == {"close_positive", "low_le_close"}
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["hk_daily_bars_suite"].passed and checks["index_daily_bars_suite"].passed
    rules = {r for r in checks["hk_daily_bars_suite"].metadata["results"].value.split("|")}
    assert not any("within_board_limit" in r for r in rules) and not any("turnover" in r for r in rules)


# -- through the real akshare functions ----------------------------------------------------

HK_KLINE_URL = "https://33.push2his.eastmoney.com/api/qt/stock/kline/get"
KLINE_URL = "https://push2his.eastmoney.com/api/qt/stock/kline/get"
HK_LIST_URL = "https://81.push2.eastmoney.com/api/qt/clist/get"
CLIST_FIELDS = [f"f{i}" for i in range(1, 19)] + [
    "f20",
    "f21",
    "f22",
    "f23",
    "f24",
    "f25",
    "f62",
    "f115",
    "f128",
    "f136",
    "f140",
    "f141",
    "f152",
]


def fake_eastmoney_markets(market: SampleMarket, calls: list):
    def kline(request):
        secid = request.params["secid"]
        calls.append(secid)
        prefix, code = secid.split(".")
        if prefix == "116":
            raw = market.hk_daily_raw(code, dt.date(1970, 1, 1), dt.date(2050, 1, 1))
            klines = kline_strings(raw.assign(成交量=raw["成交量"]))
        else:
            raw = market.index_daily_raw(
                code,
                dt.datetime.strptime(request.params["beg"], "%Y%m%d").date(),
                dt.datetime.strptime(request.params["end"], "%Y%m%d").date(),
            )
            klines = [
                f"{r.date},{r.open},{r.close},{r.high},{r.low},{r.volume},{r.amount},0.00" for r in raw.itertuples()
            ]
        return 200, {}, json.dumps({"rc": 0, "data": {"code": code, "klines": klines} if klines else None})

    def hk_list(request):
        listing = market.hk_listings_raw()
        diff = [
            {
                **{f: "-" for f in CLIST_FIELDS},
                "f2": r.最新价,
                "f3": r.涨跌幅,
                "f4": r.涨跌额,
                "f5": r.成交量,
                "f6": r.成交额,
                "f12": r.代码,
                "f14": r.名称,
                "f15": r.最高,
                "f16": r.最低,
                "f17": r.今开,
                "f18": r.昨收,
            }
            for r in listing.itertuples()
        ]
        return 200, {}, json.dumps({"rc": 0, "data": {"total": len(diff), "diff": diff}})

    responses.add_callback(responses.GET, re.compile(re.escape(HK_KLINE_URL)), callback=kline)
    responses.add_callback(responses.GET, re.compile(re.escape(KLINE_URL)), callback=kline)
    responses.add_callback(responses.GET, re.compile(re.escape(HK_LIST_URL)), callback=hk_list)


@responses.activate
def test_hk_and_index_functions_through_http_fakes_keep_units_and_symbols():
    market, calls = SampleMarket(today=TODAY), []
    fake_eastmoney_markets(market, calls)
    source = AkshareSource(
        requests_per_second=1e9,
        sleep=lambda s: None,
        now=lambda: dt.datetime(2024, 10, 31, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    listed = normalize.hk_securities(source.hk_listings_raw(), "akshare")
    assert set(listed["symbol"]) == set(HK_SYMBOLS) and set(listed["currency"]) == {"HKD"}

    raw = source.hk_daily_raw("00700", d("2024-10-02"), d("2024-10-08"))
    bars = normalize.hk_bars(raw, "00700", "akshare")
    assert "116.00700" in calls
    expected = market.hk_daily_raw("00700", d("2024-10-02"), d("2024-10-08"))
    assert bars["trade_date"].tolist() == expected["日期"].tolist()
    assert bars["volume"].tolist() == expected["成交量"].tolist()
    np.testing.assert_allclose(bars["prev_close"], expected["收盘"] - expected["涨跌额"], atol=1e-9)

    raw = source.index_daily_raw("000300", d("2024-10-08"), d("2024-10-11"))
    index = normalize.index_bars(raw, "000300", "akshare")
    assert "1.000300" in calls and list(index.columns) == normalize.INDEX_BAR_COLUMNS_OUT
    expected = market.index_daily_raw("000300", d("2024-10-08"), d("2024-10-11"))
    assert index["volume"].tolist() == (expected["volume"] * 100).tolist()
    source.index_daily_raw("399006", d("2024-10-08"), d("2024-10-11"))
    assert "0.399006" in calls  # SZSE indices go to market 0
    assert source.index_daily_raw("000300", d("2024-10-01"), d("2024-10-07")).empty  # Golden Week: data null


@responses.activate
def test_hk_and_index_loads_through_http_fakes_end_to_end(tmp_path):
    from quantdb_pipeline.loaders.markets import HK, INDEX, load_hk_calendar, load_hk_securities, load_market_bars
    from quantdb_pipeline.loaders.markets import register_indices
    from quantdb_pipeline.loaders.reference import load_trading_calendar
    from quantdb_pipeline.warehouse.publish import open_working, publish
    from quantdb_pipeline.warehouse.schema import migrate
    from quantdb_pipeline.warehouse.writes import Lineage

    market, calls = SampleMarket(today=TODAY), []
    fake_eastmoney_markets(market, calls)
    source = AkshareSource(
        requests_per_second=1e9,
        sleep=lambda s: None,
        now=lambda: dt.datetime(2024, 10, 31, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    path = tmp_path / "quantdb.duckdb"
    conn = open_working(path)
    migrate(conn)
    lineage = Lineage.now("akshare", "http")
    load_trading_calendar(conn, market, lineage)  # the SSE calendar's own contract test is elsewhere
    load_hk_calendar(conn, source, lineage)
    load_hk_securities(conn, source, lineage)
    register_indices(conn, ["000300", "399006"])
    hk = load_market_bars(conn, source, HK, d("2024-09-02"), d(TODAY), lineage, symbols=["00700", "09988"])
    index = load_market_bars(conn, source, INDEX, d("2024-09-02"), d(TODAY), lineage)
    conn.close()
    publish(path)
    assert not hk.failed and not index.failed and hk.requests == 2 and index.requests == 2
    assert hk.checks.failed == [] and index.checks.failed == []
    bars = read.daily_bars(["hk00700", "9988.HK"], warehouse=path)
    expected = market.hk_daily_raw("09988", d("2024-09-02"), d(TODAY))
    alibaba = bars[bars["symbol"] == "09988"]
    assert alibaba["trade_date"].dt.date.tolist() == expected["日期"].tolist()
    assert alibaba["volume"].tolist() == expected["成交量"].tolist() and set(alibaba["currency"]) == {"HKD"}
    levels = read.index_bars(warehouse=path)
    assert set(levels["symbol"]) == {"000300", "399006"}
    expected = market.index_daily_raw("399006", d("2024-09-02"), d(TODAY))
    assert levels[levels["symbol"] == "399006"]["volume"].tolist() == (expected["volume"] * 100).tolist()


#: eastmoney's HK klines for 02171 around 2024-04-22 ("date,open,close,high,low,volume,amount,
#: amplitude,pct,chg,turnover"). The 2024-04-22 bar's prices are recorded upstream data: its
#: open (the opening auction's price, 4.81) lies above the continuous session's high (4.65).
#: Its volume and amount, and the bars around it, are made up to be consistent with it.
HK_AUCTION_OPEN_KLINES = [
    "2024-04-18,4.70,4.75,4.78,4.66,1520000,7196000.00,2.56,1.06,0.05,0.08",
    "2024-04-19,4.74,4.80,4.85,4.70,1830000,8767000.00,3.16,1.05,0.05,0.10",
    "2024-04-22,4.81,4.52,4.65,4.41,2410000,10893000.00,5.00,-5.83,-0.28,0.13",
    "2024-04-23,4.50,4.55,4.60,4.46,1290000,5856000.00,3.10,0.66,0.03,0.07",
]


@responses.activate
def test_an_hk_open_outside_the_session_range_is_kept_and_warned_and_the_symbol_covered(tmp_path):
    from quantdb_pipeline.loaders.markets import HK, load_hk_calendar, load_market_bars
    from quantdb_pipeline.warehouse.publish import open_working
    from quantdb_pipeline.warehouse.schema import migrate
    from quantdb_pipeline.warehouse.writes import Lineage

    calls = []

    def kline(request):
        calls.append(request.params["secid"])
        return 200, {}, json.dumps({"rc": 0, "data": {"code": "02171", "klines": HK_AUCTION_OPEN_KLINES}})

    responses.add_callback(responses.GET, re.compile(re.escape(HK_KLINE_URL)), callback=kline)
    source = AkshareSource(
        requests_per_second=1e9,
        sleep=lambda s: None,
        now=lambda: dt.datetime(2024, 4, 23, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    conn = open_working(tmp_path / "quantdb.duckdb")
    migrate(conn)
    lineage = Lineage.now("akshare", "http")
    load_hk_calendar(conn, SampleMarket(today="2024-04-23"), lineage)
    report = load_market_bars(conn, source, HK, d("2024-04-18"), d("2024-04-23"), lineage, symbols=["02171"])

    assert calls == ["116.02171"]
    assert report.rows_quarantined == 0 and report.failed == {} and report.rows_written == 4
    stored = conn.execute(
        "SELECT open, high, low, close FROM hk_daily_bars WHERE symbol = '02171' AND trade_date = DATE '2024-04-22'"
    ).fetchall()
    assert stored == [(4.81, 4.65, 4.41, 4.52)]
    warned = {o.rule: o for o in report.checks.failed}
    assert set(warned) == {"open_le_high"} and warned["open_le_high"].action == "warn"
    example = warned["open_le_high"].examples[0]
    assert (example["symbol"], str(example["trade_date"]), example["open"]) == ("02171", "2024-04-22", 4.81)
    assert conn.execute("SELECT count(*) FROM quarantine").fetchall() == [(0,)]
    assert conn.execute(
        "SELECT status FROM ingest_state WHERE dataset = 'hk_daily_bars' AND symbol = '02171'"
    ).fetchall() == [("ok",)]

    again = load_market_bars(conn, source, HK, d("2024-04-18"), d("2024-04-23"), lineage, symbols=["02171"])
    assert again.symbols_skipped == 1 and again.requests == 0 and calls == ["116.02171"]  # covered: not retried


def test_an_hk_close_outside_the_range_or_high_below_low_is_still_quarantined():
    from quantdb_pipeline.quality.suites import validate_market_bars

    rows = normalize.hk_bars(
        pd.DataFrame(
            {
                "日期": [d("2024-04-19"), d("2024-04-22"), d("2024-04-23")],
                "开盘": [4.74, 4.81, 4.50],
                "收盘": [4.80, 4.70, 4.55],
                "最高": [4.85, 4.65, 4.40],
                "最低": [4.70, 4.41, 4.46],
                "成交量": [1830000, 2410000, 1290000],
                "成交额": [8767000.0, 10893000.0, 5700000.0],
                "振幅": [3.16, 5.0, 3.1],
                "涨跌幅": [1.05, -2.08, -3.19],
                "涨跌额": [0.05, -0.10, -0.15],
                "换手率": [0.1, 0.13, 0.07],
            }
        ),
        "02171",
        "test",
    )
    days = [d("2024-04-19"), d("2024-04-22"), d("2024-04-23")]
    outcome = validate_market_bars(rows, "hk", d("2024-04-23"), days)
    # 04-22: close 4.70 above high 4.65; 04-23: high 4.40 below low 4.46 (and the close)
    assert sorted(outcome.quarantined_rows()) == [1, 2]
    assert set(outcome.quarantined_rows()[1]) == {"close_le_high"}
    assert "low_le_high" in outcome.quarantined_rows()[2]


def test_an_hk_vwap_between_the_session_range_and_an_auction_open_is_not_quarantined():
    """Much of the day's volume at an opening auction above the session's high lifts amount /
    volume above the high: the bar is valid. Beyond both the high and the open it is not."""
    from quantdb_pipeline.quality.suites import validate_market_bars

    rows = normalize.hk_bars(
        pd.DataFrame(
            {
                "日期": [d("2024-04-22"), d("2024-04-23")],
                "开盘": [4.81, 4.50],
                "收盘": [4.52, 4.55],
                "最高": [4.65, 4.60],
                "最低": [4.41, 4.46],
                "成交量": [2410000, 1290000],
                "成交额": [2410000 * 4.74, 1290000 * 4.75],
                "振幅": [5.0, 3.1],
                "涨跌幅": [-5.83, 0.66],
                "涨跌额": [-0.28, 0.03],
                "换手率": [0.13, 0.07],
            }
        ),
        "02171",
        "test",
    )
    outcome = validate_market_bars(rows, "hk", d("2024-04-23"), [d("2024-04-22"), d("2024-04-23")])
    assert outcome.quarantined_rows() == {1: ["vwap_below_high"]}  # 4.75 above 4.60 x 1.01 and the open 4.50
