"""Hong Kong adjustment: sina's HK factor scripts behind HTTP fakes (fetched at akshare's URLs and
read as akshare reads them, two requests a symbol), adjusted HK prices on read, and the
`hk_adjustment_factors` asset on the sample market.

The fakes serve one upstream market (the sample's): eastmoney's unadjusted HK klines, and sina's
encoded HK history (`klc2_kl.js`) with its hfq and qfq factor scripts. Our HK qfq/hfq, computed on
read from eastmoney's bars and sina's stored factors, must equal what akshare's own
`stock_hk_daily(adjust="qfq"/"hfq")` computes from sina for the same upstream data.
"""

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import akshare as ak
import numpy as np
import pandas as pd
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.assets import (
    adjustment_factors,
    daily_bars,
    hk_adjustment_factors,
    hk_daily_bars,
    hk_securities,
    hk_trading_calendar,
    securities,
    trading_calendar,
)
from quantdb_pipeline.loaders.hk_factors import REFRESH_AFTER_DAYS, load_hk_adjustment_factors
from quantdb_pipeline.loaders.markets import HK, load_hk_calendar, load_hk_securities, load_market_bars
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.sample import (
    DIVIDEND_SYMBOL,
    HK_ACTION_SYMBOL,
    HK_BONUS_DATE,
    HK_NO_ACTION_SYMBOL,
    SampleMarket,
)
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.conftest import failure_messages
from quantdb_pipeline_tests.faults import FakeSinaHongKong, kline_strings

TODAY = dt.date(2025, 6, 30)
START = dt.date(2023, 1, 2)
SYMBOLS = [HK_ACTION_SYMBOL, "00005", HK_NO_ACTION_SYMBOL]  # a bonus issue; twice-yearly dividends; none
HK_KLINE_URL = "https://33.push2his.eastmoney.com/api/qt/stock/kline/get"
PRICES = ("open", "high", "low", "close")


def akshare(today: dt.date = TODAY) -> AkshareSource:
    return AkshareSource(
        requests_per_second=1000,
        backoff_seconds=0.01,
        sleep=lambda s: None,
        now=lambda: dt.datetime.combine(today, dt.time(18), ZoneInfo("Asia/Shanghai")),
    )


class Upstream:
    """eastmoney's HK klines and sina's HK scripts, both answered from one sample market."""

    def __init__(self, mock: responses.RequestsMock, today: dt.date = TODAY):
        self.market = SampleMarket(today=today)
        self.sina = FakeSinaHongKong(self.market, mock)
        self.eastmoney_calls: list[str] = []
        mock.add_callback(responses.GET, re.compile(re.escape(HK_KLINE_URL)), callback=self._klines)

    def _klines(self, request):
        code = request.params["secid"].split(".")[1]
        self.eastmoney_calls.append(code)
        raw = self.market.hk_daily_raw(code, dt.date(1970, 1, 1), dt.date(2050, 1, 1))
        klines = kline_strings(raw)
        return 200, {}, json.dumps({"rc": 0, "data": {"code": code, "klines": klines} if klines else None})


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Upstream(mock)


def load(path, source, symbols=SYMBOLS, start=START, end=TODAY, bars=True):
    """HK bars (eastmoney) and factors (sina) through `source` into the warehouse at `path`, published."""
    conn = open_working(path)
    try:
        migrate(conn)
        lineage = Lineage.now(source.name, "http")
        if bars:
            market = SampleMarket(today=end)
            load_hk_calendar(conn, market, lineage)  # the calendar and list have their own tests
            load_hk_securities(conn, market, lineage)
            load_market_bars(conn, source, HK, start, end, lineage, symbols=symbols)
        return load_hk_adjustment_factors(conn, source, lineage, symbols=symbols)
    finally:
        conn.close()
        publish(path)


def theirs(symbol: str, adjust: str, start: dt.date = START, end: dt.date = TODAY) -> pd.DataFrame:
    frame = ak.stock_hk_daily(symbol=symbol, adjust=adjust)
    return frame[(frame["date"] >= start) & (frame["date"] <= end)].reset_index(drop=True)


@pytest.mark.slow
def test_our_hk_qfq_and_hfq_equal_akshares_own_for_the_same_upstream_data(upstream, tmp_path):
    path, source = tmp_path / "quantdb.duckdb", akshare()
    report = load(path, source)
    assert not report.failed and report.checks.failed == []
    # sina's two factor scripts, not the whole history stock_hk_daily downloads before each: 2 a symbol
    assert report.requests == 2 * len(SYMBOLS)
    assert sorted(upstream.sina.calls) == sorted((s, script) for s in SYMBOLS for script in ("hfq", "qfq"))
    worst = 0.0
    for symbol in SYMBOLS:
        raw = read.daily_bars(symbol, START, TODAY, warehouse=path)
        for adjust in ("qfq", "hfq"):
            expected = theirs(symbol, adjust)
            ours = read.daily_bars(f"{int(symbol)}.HK", START, TODAY, adjust=adjust, warehouse=path)
            assert ours["trade_date"].dt.date.tolist() == expected["date"].tolist()
            for column in PRICES:
                gap = np.abs(ours[column].to_numpy() - expected[column].to_numpy()).max()
                worst = max(worst, gap)
                assert gap <= 0.01, f"{symbol} {adjust} {column}: {gap}"
            moved = np.abs(ours["close"].to_numpy() / raw["close"].to_numpy() - 1).max()
            assert (moved > 0.01) == (symbol != HK_NO_ACTION_SYMBOL), f"{symbol} {adjust}: adjusted by {moved:.2%}"
    assert worst < 1e-4  # akshare rounds to 4 decimals; the same upstream numbers leave nothing else
    print(f"max |ours - akshare's| over {START}..{TODAY}: {worst:.2e}")


def test_hk_factors_are_stored_as_sina_sends_them(upstream, tmp_path):
    path = tmp_path / "quantdb.duckdb"
    load(path, akshare())
    stored = read.hk_adjustment_factors(["00700", HK_NO_ACTION_SYMBOL], warehouse=path)
    assert set(stored["symbol"]) == {"00700"}  # one row of sina's means no corporate action
    events = upstream.market.hk_corporate_actions("00700")
    assert stored["ex_date"].dt.date.tolist() == [dt.date(1900, 1, 1), *events["ex_date"]]
    bonus = stored[stored["ex_date"].dt.date >= HK_BONUS_DATE]
    assert bonus["hfq_factor"].tolist() == pytest.approx([1.1] * len(bonus)) and stored["hfq_factor"].iloc[0] == 1.0
    assert stored["hfq_cash"].iloc[-1] == pytest.approx(
        sum(cash * (1.1 if day >= HK_BONUS_DATE else 1.0) for day, cash in zip(events["ex_date"], events["cash"]))
    )
    assert stored["qfq_factor"].iloc[-1] == 1.0 and stored["qfq_factor"].is_monotonic_increasing


def test_hk_qfq_as_of_a_day_equals_akshares_qfq_on_that_day(tmp_path):
    as_of = dt.date(2024, 6, 28)  # after the 2024-05-17 dividend, before the 2025-05-16 one
    path = tmp_path / "quantdb.duckdb"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        Upstream(mock)
        load(path, akshare(), symbols=[HK_ACTION_SYMBOL])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        Upstream(mock, today=as_of)  # sina's answer back then
        expected = theirs(HK_ACTION_SYMBOL, "qfq", end=as_of)
    ours = read.daily_bars(HK_ACTION_SYMBOL, START, as_of, adjust="qfq", as_of=as_of, warehouse=path)
    assert ours["trade_date"].dt.date.tolist() == expected["date"].tolist()
    for column in PRICES:
        np.testing.assert_allclose(ours[column], expected[column], atol=1e-4, err_msg=column)
    latest = read.daily_bars(HK_ACTION_SYMBOL, START, as_of, adjust="qfq", warehouse=path)
    assert (latest["close"] < ours["close"]).all()  # the 2025 dividend lowers every earlier qfq price


def test_hk_symbols_without_factors_read_unadjusted_and_sina_errors_are_retried(upstream, tmp_path):
    upstream.sina.queue("00005", "hfq", "nothing")  # {"total": 0, "data": []}: akshare cannot name its columns
    upstream.sina.queue("00005", "qfq", "nothing")
    upstream.sina.queue(HK_ACTION_SYMBOL, "hfq", 502)  # an error page: akshare's eval fails, we retry
    path = tmp_path / "quantdb.duckdb"
    report = load(path, akshare())
    assert not report.failed
    assert upstream.sina.calls.count((HK_ACTION_SYMBOL, "hfq")) == 2
    states = dict(
        read.connect(path)
        .execute("SELECT symbol, status FROM ingest_state WHERE dataset = 'hk_adjustment_factors'")
        .fetchall()
    )
    assert states == {HK_ACTION_SYMBOL: "ok", "00005": "empty", HK_NO_ACTION_SYMBOL: "empty"}
    for symbol in ("00005", HK_NO_ACTION_SYMBOL):
        raw = read.daily_bars(symbol, warehouse=path, columns=["open", "close", "prev_close"])
        for adjust in ("qfq", "hfq"):
            adjusted = read.daily_bars(symbol, warehouse=path, adjust=adjust, columns=["open", "close", "prev_close"])
            pd.testing.assert_frame_equal(adjusted, raw)
    # akshare's own rule for sina's one-row scripts: prices stay unadjusted
    one_row = theirs(HK_NO_ACTION_SYMBOL, "qfq")
    np.testing.assert_allclose(
        one_row["close"], read.daily_bars(HK_NO_ACTION_SYMBOL, START, TODAY, warehouse=path)["close"]
    )


def test_adjusted_hk_prev_close_is_the_previous_adjusted_close(upstream, tmp_path):
    """eastmoney's HK prev_close is the previous unadjusted close, also on an ex-date."""
    path = tmp_path / "quantdb.duckdb"
    load(path, akshare(), symbols=[HK_ACTION_SYMBOL])
    for adjust in (None, "qfq", "hfq"):
        bars = read.daily_bars(
            HK_ACTION_SYMBOL, START, TODAY, adjust=adjust, columns=["close", "prev_close"], warehouse=path
        )
        np.testing.assert_allclose(bars["prev_close"].iloc[1:], bars["close"].iloc[:-1], atol=1e-9)


@pytest.mark.slow
def test_hk_and_a_share_factors_through_dagster_on_the_sample_market(pipeline):
    hk_assets = [hk_trading_calendar, hk_securities, hk_daily_bars, hk_adjustment_factors]
    a_assets = [trading_calendar, securities, daily_bars, adjustment_factors]
    result = pipeline.run(
        "2024-03-01",
        "2024-06-28",
        today="2024-06-28",
        assets=a_assets + hk_assets,
        symbols=DIVIDEND_SYMBOL,
        hk_symbols="0700.HK,00005,hk03690",
    )
    assert result.success, failure_messages(result)
    meta = pipeline.metadata(result, "hk_adjustment_factors")
    assert meta["symbols_fetched"] == 3 and meta["upstream_requests"] == 2 * 3 and meta["symbols_failed"] == 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["hk_adjustment_factors_suite"].passed  # the qfq steps agree with the hfq steps
    assert pipeline.query("SELECT count(DISTINCT symbol) AS n FROM hk_adjustment_factors")["n"][0] == 2

    mixed = read.daily_bars(
        [DIVIDEND_SYMBOL, "00700"], "2024-05-10", "2024-05-24", adjust="qfq", warehouse=pipeline.warehouse
    )
    assert list(dict.fromkeys(mixed["symbol"])) == [DIVIDEND_SYMBOL, "00700"]
    assert set(mixed.groupby("symbol")["currency"].first().items()) == {(DIVIDEND_SYMBOL, "CNY"), ("00700", "HKD")}
    raw = read.daily_bars("00700", "2024-05-10", "2024-05-24", warehouse=pipeline.warehouse)
    tencent = mixed[mixed["symbol"] == "00700"].reset_index(drop=True)
    before = tencent["trade_date"].dt.date < dt.date(2024, 5, 17)
    assert (tencent["close"][before] < raw["close"][before]).all()  # the ex-date of 2024-05-17
    assert (tencent["close"][~before] == raw["close"][~before]).all()

    rerun = pipeline.run(
        "2024-06-28", "2024-06-28", today="2024-06-28", assets=hk_assets, hk_symbols="00700,00005,03690"
    )
    assert pipeline.metadata(rerun, "hk_adjustment_factors")["upstream_requests"] == 0
    later = dt.date(2024, 6, 28) + dt.timedelta(days=REFRESH_AFTER_DAYS + 1)  # a Monday: a range needs a session
    due = pipeline.run(
        later.isoformat(), later.isoformat(), today=later.isoformat(), assets=hk_assets, hk_symbols="00700,00005,03690"
    )
    meta = pipeline.metadata(due, "hk_adjustment_factors")
    assert meta["symbols_fetched"] == 3 and "due by age" in meta["why_fetched"]


def test_normalize_joins_the_two_scripts_on_the_union_of_their_dates():
    from quantdb_pipeline.sources import HkFactorFrames, normalize

    start = dt.date(1900, 1, 1)
    hfq = pd.DataFrame(
        {
            "date": [dt.date(2024, 5, 17), dt.date(2023, 9, 15), start],
            "hfq_factor": ["1.1000", "1.1000", "1.0000"],
            "cash": ["13.58", "9.84", "0"],
        }
    )
    qfq = pd.DataFrame({"date": [dt.date(2024, 5, 20), start], "qfq_factor": ["1.0", "0.9"]})  # a date hfq lacks
    rows = normalize.hk_adjustment_factors(HkFactorFrames(hfq, qfq), "00700", "akshare")
    assert rows["ex_date"].tolist() == [start, dt.date(2023, 9, 15), dt.date(2024, 5, 17), dt.date(2024, 5, 20)]
    assert rows["hfq_factor"].tolist() == [1.0, 1.1, 1.1, 1.1] and rows["hfq_cash"].tolist() == [0, 9.84, 13.58, 13.58]
    assert rows["qfq_factor"].tolist() == [0.9, 0.9, 0.9, 1.0]

    one_row = normalize.hk_adjustment_factors(HkFactorFrames(hfq, qfq.iloc[-1:]), "00700", "akshare")
    assert one_row["qfq_factor"].tolist() == [1.0, 1.0, 1.0]  # akshare leaves qfq unadjusted for one row
    bad = hfq.assign(hfq_factor=["1.1", "-1", "1"])
    with pytest.raises(normalize.SourceSchemaError, match="hfq_factor"):
        normalize.hk_adjustment_factors(HkFactorFrames(bad, qfq), "00700", "akshare")


@pytest.mark.slow
def test_hk_bars_beyond_the_last_factor_fetch_read_adjusted_with_a_warning(pipeline):
    """No source tells HK ex-dates between fetches: reading past the fetch day says so."""
    import warnings

    hk_assets = [hk_trading_calendar, hk_securities, hk_daily_bars, hk_adjustment_factors]
    fetched, later = "2024-05-10", "2024-06-10"  # 00700 goes ex on 2024-05-17 in between
    assert pipeline.run("2024-03-01", fetched, today=fetched, assets=hk_assets, hk_symbols="00700").success
    with warnings.catch_warnings():
        warnings.simplefilter("error", read.AdjustmentGapWarning)
        read.daily_bars("00700", "2024-05-01", fetched, adjust="qfq", warehouse=pipeline.warehouse)  # in step
    # a Friday (a range needs a session), the last one before the factors are due
    stale_day = dt.date.fromisoformat(fetched) + dt.timedelta(days=REFRESH_AFTER_DAYS - 2)
    assert pipeline.run(
        fetched, stale_day.isoformat(), today=stale_day.isoformat(), assets=hk_assets, hk_symbols="00700"
    ).success
    with pytest.warns(read.StaleFactorsWarning, match=f"00700 \\(factors fetched {fetched}, bars to"):
        stale = read.daily_bars("00700", "2024-05-01", later, adjust="qfq", warehouse=pipeline.warehouse)
    raw = read.daily_bars("00700", "2024-05-01", later, warehouse=pipeline.warehouse)
    assert (stale["close"] == raw["close"]).all()  # the dividend of 2024-05-17 is not in them: hence the warning
    refreshed = pipeline.run(
        stale_day.isoformat(),
        stale_day.isoformat(),
        today=stale_day.isoformat(),
        assets=hk_assets,
        hk_symbols="00700",
        ops={"hk_adjustment_factors": {"config": {"refresh": True}}},
    )
    assert refreshed.success
    with warnings.catch_warnings():
        warnings.simplefilter("error", read.AdjustmentGapWarning)
        fresh = read.daily_bars("00700", "2024-05-01", later, adjust="qfq", warehouse=pipeline.warehouse)
    assert (
        fresh["close"][fresh["trade_date"].dt.date < dt.date(2024, 5, 17)]
        < raw["close"][raw["trade_date"].dt.date < dt.date(2024, 5, 17)]
    ).all()
