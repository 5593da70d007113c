"""Adjustment through the real akshare functions, against HTTP-level fakes of eastmoney and sina.

The fakes serve one upstream market (the sample's): unadjusted and adjusted klines from
eastmoney, cumulative hfq factors from sina. Our qfq/hfq, computed on read from the
unadjusted bars and sina's factors, must equal what akshare itself returns as qfq/hfq for
the same upstream data, to within upstream's rounding to the fen.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import akshare as ak
import pandas as pd
import numpy as np
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.loaders.corporate_actions import load_corporate_actions
from quantdb_pipeline.loaders.factors import load_adjustment_factors
from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.sample import DIVIDEND_DATE, DIVIDEND_SYMBOL, SPLIT_SYMBOL, SampleMarket
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.faults import FakeDataCenter, FakeEastmoney, FakeSina

TODAY = dt.date(2026, 7, 20)
START = dt.date(2024, 1, 2)
SYMBOLS = [DIVIDEND_SYMBOL, SPLIT_SYMBOL, "600005", "300002"]


def akshare() -> AkshareSource:
    return AkshareSource(
        requests_per_second=1000,
        backoff_seconds=0.01,
        sleep=lambda s: None,
        now=lambda: dt.datetime(2026, 7, 20, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
    )


@pytest.fixture
def upstream():
    market = SampleMarket(today=TODAY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeDataCenter(market, mock)
        yield market, FakeEastmoney(market, mock), FakeSina(market, mock)


def load(path, source, run_id="http"):
    conn = open_working(path)
    try:
        migrate(conn)
        lineage = Lineage.now(source.name, run_id)
        load_corporate_actions(conn, source, lineage, START)
        load_daily_bars(conn, source, START, TODAY, lineage, symbols=SYMBOLS)
        return load_adjustment_factors(conn, source, lineage, symbols=SYMBOLS)
    finally:
        conn.close()
        publish(path)


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "quantdb.duckdb"
    conn = open_working(path)
    migrate(conn)
    market, lineage = SampleMarket(today=TODAY), Lineage.now("sample", "reference")
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    conn.close()
    return path


@pytest.mark.slow
def test_our_qfq_and_hfq_equal_akshares_own_for_the_same_upstream_data(upstream, warehouse):
    _, _, sina = upstream
    report = load(warehouse, akshare())
    assert not report.failed and report.requests == len(SYMBOLS)
    assert sorted(sina.calls) == sorted(SYMBOLS)
    for symbol in SYMBOLS:
        for adjust in ("qfq", "hfq"):
            theirs = ak.stock_zh_a_hist(
                symbol=symbol,
                period="daily",
                start_date=START.strftime("%Y%m%d"),
                end_date=TODAY.strftime("%Y%m%d"),
                adjust=adjust,
            )
            ours = read.daily_bars(symbol, START, TODAY, adjust=adjust, warehouse=warehouse)
            assert ours["trade_date"].dt.date.tolist() == theirs["日期"].tolist()
            for column, upstream_name in (("open", "开盘"), ("high", "最高"), ("low", "最低"), ("close", "收盘")):
                np.testing.assert_allclose(
                    ours[column], theirs[upstream_name], atol=0.0051, err_msg=f"{symbol} {adjust} {column}"
                )
            # the adjusted series' daily change, also on ex-dates; upstream computes it from prices
            # rounded to the fen, which on a low qfq price is worth up to 100 x 0.01 / price percent
            rounding = 100 * 0.01 / theirs["收盘"].shift(1).iloc[1:].to_numpy() + 0.011
            gap = np.abs(ours["pct_change"].iloc[1:].to_numpy() - theirs["涨跌幅"].iloc[1:].to_numpy())
            assert (gap <= rounding).all(), f"{symbol} {adjust} pct_change off by {gap.max():.3f}"


@pytest.mark.slow
def test_sina_factors_parse_to_the_stored_change_points(upstream, warehouse):
    market, _, _ = upstream
    load(warehouse, akshare())
    stored = read.adjustment_factors(SPLIT_SYMBOL, warehouse=warehouse)
    expected = market.adjustment_factors_raw(SPLIT_SYMBOL).sort_values("date")
    assert stored["ex_date"].tolist() == expected["date"].tolist()
    np.testing.assert_allclose(stored["hfq_factor"], expected["hfq_factor"], rtol=1e-9)


@pytest.mark.slow
def test_an_error_page_from_sina_is_retried_and_missing_factors_are_derived_from_the_dividend_table(
    upstream, warehouse
):
    _, _, sina = upstream
    sina.queue(DIVIDEND_SYMBOL, 502)  # akshare evaluates the page text: an error page is unreadable
    sina.queue("300002", lambda factors: factors.iloc[0:0])  # sina has no factors for it
    sina.queue("600005", lambda factors: factors.iloc[0:0])
    report = load(warehouse, akshare())
    assert not report.failed
    assert sina.calls.count(DIVIDEND_SYMBOL) == 2
    states = dict(
        read.connect(warehouse)
        .execute("SELECT symbol, status FROM ingest_state WHERE dataset = 'adjustment_factors'")
        .fetchall()
    )
    assert states["300002"] == "empty" and states[DIVIDEND_SYMBOL] == "ok"
    # no upstream factors, but eastmoney's dividend table knows their ex-dates: derived, not unadjusted
    assert set(report.derived["symbol"]) == {"300002", "600005"} and report.gaps.empty
    for symbol in ("300002", "600005"):
        theirs = ak.stock_zh_a_hist(
            symbol=symbol,
            period="daily",
            start_date=START.strftime("%Y%m%d"),
            end_date=TODAY.strftime("%Y%m%d"),
            adjust="qfq",
        )
        ours = read.daily_bars(symbol, START, TODAY, adjust="qfq", warehouse=warehouse)
        raw = read.daily_bars(symbol, START, TODAY, warehouse=warehouse)
        assert (ours["close"] != raw["close"]).any()
        np.testing.assert_allclose(ours["close"], theirs["收盘"], atol=0.01, err_msg=symbol)


def refresh(path, source, start, end, run_id):
    """What a run of the A-share assets does for [start, end], in the assets' order."""
    conn = open_working(path)
    try:
        migrate(conn)
        lineage = Lineage.now(source.name, run_id)
        actions = load_corporate_actions(conn, source, lineage, start)
        bars = load_daily_bars(conn, source, start, end, lineage, symbols=SYMBOLS)
        factors = load_adjustment_factors(conn, source, lineage, symbols=SYMBOLS)
        return actions, bars, factors
    finally:
        conn.close()
        publish(path)


@pytest.mark.slow
def test_a_dividend_that_arrives_through_a_history_load_moves_qfq_like_akshares_own(warehouse):
    """eastmoney's unadjusted 涨跌额 is close-to-close on ex-dates (recorded: 000001 on
    2024-06-14), so history-path bars never show the ex-date: it must come from elsewhere."""
    before, after = dt.date(2026, 7, 10), dt.date(2026, 7, 20)  # DIVIDEND_DATE 2026-07-15 between
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fakes = [
            FakeEastmoney(SampleMarket(today=before), mock),
            FakeSina(SampleMarket(today=before), mock),
            FakeDataCenter(SampleMarket(today=before), mock),
        ]
        first, _, _ = refresh(warehouse, akshare_on(before), START, before, "first")
        # plans announced but not yet implemented have no ex-date yet: stored, not quarantined
        assert first.rows_quarantined == 0
        plans = read.corporate_actions(implemented_only=False, warehouse=warehouse)
        pending = plans[plans["ex_date"].isna()]
        assert len(pending) > 0 and (pending["plan_progress"] != "实施分配").all()
        assert len(read.corporate_actions(warehouse=warehouse)) == len(plans) - len(pending)
        for fake in fakes:
            fake.market = SampleMarket(today=after)
        fakes[2].calls.clear()
        actions, bars, factors = refresh(warehouse, akshare_on(after), START, after, "second")
        assert bars.requests == len(SYMBOLS) and bars.rows_per_symbol[DIVIDEND_SYMBOL] == 6  # new days only
        assert not bars.rows_quarantined  # the ex-date's -24% close-to-close is the ex-rights price's +0.4%
        # the open report periods only, 0331 among them (the dividend is paid from the Q1 report)
        assert sorted({p for p, _ in fakes[2].calls}) == ["2025-12-31", "2026-03-31", "2026-06-30"]
        assert actions.requests == 2 + 2 + 1  # 1231 and 0331: page 1 twice (akshare); 0630: empty (code 9201)
        assert factors.needed == {DIVIDEND_SYMBOL: f"new ex-date {DIVIDEND_DATE}"} and factors.requests == 1
        theirs = ak.stock_zh_a_hist(
            symbol=DIVIDEND_SYMBOL,
            period="daily",
            start_date=START.strftime("%Y%m%d"),
            end_date=after.strftime("%Y%m%d"),
            adjust="qfq",
        )
    stored = (
        read.connect(warehouse)
        .execute(
            "SELECT report_period, ex_date, cash_per_share, bonus_shares_per_share FROM corporate_actions "
            "WHERE symbol = ?",
            [DIVIDEND_SYMBOL],
        )
        .fetchall()
    )
    assert stored == [(dt.date(2026, 3, 31), DIVIDEND_DATE, 0.85, 0.3)]  # announced 07-09: known before it happened
    ours = read.daily_bars(DIVIDEND_SYMBOL, START, after, adjust="qfq", warehouse=warehouse)
    assert ours["trade_date"].dt.date.tolist() == theirs["日期"].tolist()
    np.testing.assert_allclose(ours["close"], theirs["收盘"], atol=0.01)
    last = ours["trade_date"].dt.date < DIVIDEND_DATE
    raw = read.daily_bars(DIVIDEND_SYMBOL, START, after, warehouse=warehouse)
    assert ours["close"][last].iloc[-1] < 0.8 * raw["close"][last].iloc[-1]  # 10送3派8.5 moved history


def akshare_on(day: dt.date) -> AkshareSource:
    return AkshareSource(
        requests_per_second=1000,
        backoff_seconds=0.01,
        sleep=lambda s: None,
        now=lambda: dt.datetime.combine(day, dt.time(18), tzinfo=ZoneInfo("Asia/Shanghai")),
    )


def test_stock_fhps_em_pages_become_per_share_corporate_actions_and_an_empty_period_is_no_error():
    from quantdb_pipeline.sources import normalize

    market = SampleMarket(today=TODAY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeDataCenter(market, mock)
        fake.queue("2025-12-31", 502)
        source = akshare()
        raw = source.dividends_raw(dt.date(2025, 12, 31))
        # the 502 is retried; akshare then asks for page 1 twice (once for the page count)
        assert len(raw) == 38 and source.requests["stock_fhps_em"] == len(fake.calls) == 3
        assert len(source.dividends_raw(dt.date(2025, 6, 30))) == 0  # code 9201: no plans, not an error
        assert source.requests["stock_fhps_em"] == len(fake.calls) == 4
    rows = normalize.corporate_actions(raw, dt.date(2025, 12, 31), "akshare")
    expected = market.corporate_actions("000007")
    expected = expected[expected["ex_date"].map(lambda d: d.year) == 2026].iloc[0]
    mine = rows[rows["symbol"] == "000007"].iloc[0]
    assert mine["ex_date"] == expected["ex_date"] and mine["report_period"] == dt.date(2025, 12, 31)
    assert mine["cash_per_share"] == pytest.approx(expected["cash"])  # upstream: per 10 shares
    assert mine["bonus_shares_per_share"] + mine["transfer_shares_per_share"] == pytest.approx(expected["shares"])
    assert mine["plan_progress"] == "实施分配" and pd.isna(mine["pay_date"])
