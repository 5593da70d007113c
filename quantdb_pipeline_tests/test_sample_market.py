import datetime as dt

import pandas as pd
import pandas.testing as pdt
import pytest

from quantdb_pipeline.market_rules import board_limit_pcts
from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.base import bundled_sse_calendar
from quantdb_pipeline.sources.sample import (
    DELIST_DATE,
    DELISTED_SYMBOL,
    IPO_DATE,
    IPO_SYMBOL,
    ST_DATE,
    ST_LIMIT_UP_DATE,
    ST_SYMBOL,
    SUSPENDED_SYMBOL,
    SUSPENSION,
    SampleMarket,
)

TODAY = dt.date(2026, 11, 20)
WINDOW = (dt.date(2023, 11, 20), TODAY)


def all_bars(market: SampleMarket) -> pd.DataFrame:
    frames = [
        normalize.a_share_bars(market.a_share_daily_raw(s, *WINDOW), s, "sample") for s in market.universe()["code"]
    ]
    return pd.concat([f for f in frames if len(f)], ignore_index=True)


def test_same_inputs_give_identical_frames():
    a, b = SampleMarket(today=TODAY), SampleMarket(today=TODAY)
    pdt.assert_frame_equal(a.a_share_daily_raw("600000", *WINDOW), b.a_share_daily_raw("600000", *WINDOW))
    la, lb = a.listings_raw(), b.listings_raw()
    pdt.assert_frame_equal(la.sz, lb.sz)


def test_moving_today_forward_only_appends_days():
    early = SampleMarket(today=dt.date(2025, 6, 30)).a_share_daily_raw("600000", *WINDOW)
    late = SampleMarket(today=TODAY).a_share_daily_raw("600000", *WINDOW)
    pdt.assert_frame_equal(early, late.iloc[: len(early)])
    assert early["日期"].max() == dt.date(2025, 6, 30)


def test_universe_spans_every_board_with_the_special_cases():
    market = SampleMarket(today=TODAY)
    universe = market.universe()
    assert len(universe) >= 60
    assert universe["board"].value_counts().to_dict().keys() >= {"main", "chinext", "star", "bse"}
    assert set(universe["code"].str[:3]) >= {"600", "000", "300", "688", "920"}
    listed = market.listings_raw().sz.set_index("A股代码")["A股简称"]
    assert listed[ST_SYMBOL].startswith("*ST")
    before = SampleMarket(today=ST_DATE - dt.timedelta(days=1)).listings_raw().sz.set_index("A股代码")["A股简称"]
    assert not before[ST_SYMBOL].startswith("*ST")  # named ST only from ST_DATE on


def test_real_sse_calendar_and_only_trading_days():
    calendar = set(bundled_sse_calendar())
    assert dt.date(2024, 10, 1) not in calendar and dt.date(2024, 10, 8) in calendar  # National Day
    bars = all_bars(SampleMarket(today=TODAY))
    assert set(bars["trade_date"]) <= calendar


def test_daily_price_limits_hold_per_board_and_for_st():
    market = SampleMarket(today=TODAY)
    bars = all_bars(market).merge(market.universe()[["code", "board"]], left_on="symbol", right_on="code")
    bars = bars[bars["symbol"] != IPO_SYMBOL].reset_index(drop=True)  # no limit in the first days after listing
    days = pd.to_datetime(bars["trade_date"].astype(object)).to_numpy().astype("datetime64[D]")
    st = ((bars["symbol"] == ST_SYMBOL) & (bars["trade_date"] >= ST_DATE)).to_numpy()
    limit = board_limit_pcts(bars["board"].to_numpy(dtype=object), days, st=st)
    assert set(limit[st]) == {5.0, 10.0}  # the main-board ST limit widened on 2026-07-06
    # the exchange measures the limit from its reference price: on an ex-date the ex-rights
    # price (the history's 涨跌幅 is close-to-close there, like eastmoney's)
    events = pd.concat([market.corporate_actions(s).assign(symbol=s) for s in market.universe()["code"]])
    keyed = (
        bars[["symbol", "trade_date"]]
        .astype({"trade_date": object})
        .merge(
            events[["symbol", "ex_date", "reference_close"]],
            how="left",
            left_on=["symbol", "trade_date"],
            right_on=["symbol", "ex_date"],
        )
    )
    reference = keyed["reference_close"].astype("float64").fillna(bars["prev_close"]).to_numpy()
    moves = (bars["close"] / reference - 1).abs() * 100
    # limit prices are rounded to the fen, so a move can exceed the limit by a rounding step
    assert (moves <= limit + 0.6).all()
    assert keyed["reference_close"].notna().sum() > 20  # ex-dates were measured from their reference
    assert (bars["pct_change"].abs() > limit + 0.6).any()  # ... where close-to-close exceeds the limit
    assert bars.loc[bars["board"] == "main", "pct_change"].abs().max() > 9.5  # limits are actually hit
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()


def test_ipo_delisting_and_suspension_inside_the_window():
    market = SampleMarket(today=TODAY)
    ipo = market.a_share_daily_raw(IPO_SYMBOL, *WINDOW)
    assert ipo["日期"].min() == IPO_DATE
    delisted = market.a_share_daily_raw(DELISTED_SYMBOL, *WINDOW)
    assert delisted["日期"].max() < DELIST_DATE
    assert DELISTED_SYMBOL not in set(market.listings_raw().sh_main["证券代码"])
    assert DELISTED_SYMBOL in set(market.listings_raw().sh_delisted["公司代码"])
    suspended = market.a_share_daily_raw(SUSPENDED_SYMBOL, *WINDOW)["日期"]
    assert not suspended.between(*SUSPENSION).any()


def test_before_the_ipo_the_symbol_is_not_listed_and_has_no_bars():
    market = SampleMarket(today=IPO_DATE - dt.timedelta(days=7))
    listed = set(market.listings_raw().sz["A股代码"])
    assert IPO_SYMBOL not in listed
    assert market.a_share_daily_raw(IPO_SYMBOL, *WINDOW).empty


def test_requests_are_counted():
    market = SampleMarket(today=TODAY)
    market.a_share_daily_raw("600000", *WINDOW)
    market.a_share_daily_raw("000001", *WINDOW)
    assert market.requests["stock_zh_a_hist"] == 2


def test_chinext_moves_within_ten_percent_before_the_reform_and_twenty_after_it():
    market = SampleMarket(today=TODAY)
    chinext = [
        s
        for s, b, listed in market.universe()[["code", "board", "list_date"]].itertuples(index=False)
        if b == "chinext" and listed < dt.date(2019, 8, 1)
    ]
    frames = [
        normalize.a_share_bars(market.a_share_daily_raw(s, dt.date(2019, 8, 1), dt.date(2021, 8, 20)), s, "sample")
        for s in chinext
    ]
    bars = pd.concat(frames, ignore_index=True)
    rise = (bars["close"] / bars["prev_close"] - 1) * 100  # rises only: an ex-date lowers close-to-close moves
    before = (bars["trade_date"] < dt.date(2020, 8, 24)).to_numpy()
    assert len(chinext) >= 5
    assert rise[before].max() <= 10.0 + 0.6 and rise[before].max() >= 9.9  # limit-up days at 10%
    assert rise[~before].max() > 15  # from 2020-08-24 on, 20%


@pytest.mark.slow
def test_the_sample_market_from_2005_to_today_passes_the_gate_with_nothing_quarantined(tmp_path):
    """Every board's limit on each date, ChiNext before and after its reform, ST names before and
    after 2026-07-06, and listings inside the range: the gate and the sample share their rules.
    Runs the loader: the same range through the CLI (5,300 SSE-session partitions for the A-share
    run, 4,200 HKEX-session ones for the HK run) spends most of its time on Dagster's per-partition
    bookkeeping (two sqlite events per partition)."""
    from quantdb_pipeline.loaders.bars import load_daily_bars
    from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
    from quantdb_pipeline.quality.suites import BarContext, validate_bars
    from quantdb_pipeline.warehouse.publish import open_working
    from quantdb_pipeline.warehouse.schema import migrate
    from quantdb_pipeline.warehouse.writes import Lineage

    market = SampleMarket(size=64)  # today: the real today (at most the calendar's last day)
    universe = market.universe()
    listed = universe[universe["list_date"] <= market.today()]
    assert set(listed["board"]) == {"main", "chinext", "star", "bse"}
    assert (
        (listed["board"] == "chinext")
        & (listed["list_date"] > dt.date(2016, 1, 4))
        & (listed["list_date"] < dt.date(2020, 8, 24))
    ).any()  # approval-based ChiNext listings inside
    assert ((listed["board"] == "main") & (listed["list_date"] > dt.date(2014, 1, 1))).any()
    conn = open_working(tmp_path / "quantdb.duckdb")
    migrate(conn)
    lineage = Lineage.now("sample", "acceptance")
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    report = load_daily_bars(conn, market, dt.date(2005, 1, 1), market.today(), lineage)

    assert report.rows_quarantined == 0 and report.failed == {} and report.circuit_open is None
    assert conn.execute("SELECT count(*) FROM quarantine").fetchall() == [(0,)]
    limit_rule = next(o for o in report.row_checks.outcomes if o.rule == "within_board_limit")
    assert limit_rule.success and report.row_checks.rows == report.rows_written > 100_000
    first, chinext_before_reform = conn.execute(
        "SELECT min(trade_date), count(*) FILTER (WHERE s.board = 'chinext' AND trade_date < DATE '2020-08-24') "
        "FROM daily_bars JOIN securities s USING (symbol)"
    ).fetchall()[0]
    assert first < dt.date(2006, 1, 1) and chinext_before_reform > 10_000
    assert conn.execute(
        "SELECT count(DISTINCT symbol) FROM ingest_state WHERE dataset = 'daily_bars' AND status = 'ok'"
    ).fetchall() == [(len(listed),)]  # every symbol covered

    # the ST name's limit moves after 2026-07-06 (10% on the main board now) are not warned about
    if market.today() >= ST_LIMIT_UP_DATE:
        st_bars = normalize.a_share_bars(
            market.a_share_daily_raw(ST_SYMBOL, dt.date(2026, 7, 6), market.today()), ST_SYMBOL, "sample"
        )
        limit_up = st_bars[st_bars["trade_date"] == ST_LIMIT_UP_DATE].iloc[0]
        assert limit_up["close"] == round(limit_up["prev_close"] * 1.1, 2)  # beyond the old 5%
        securities = conn.execute("SELECT symbol, board, is_st, list_date FROM securities").fetchdf()
        assert securities.set_index("symbol").loc[ST_SYMBOL, "is_st"]
        days = [d for (d,) in conn.execute("SELECT trade_date FROM trading_calendar WHERE market = 'CN'").fetchall()]
        context = BarContext(today=market.today(), trading_days=days, securities=securities)
        rows, _ = validate_bars(st_bars, pd.DataFrame(columns=["symbol", "start", "end"]), context)
        assert next(o for o in rows.outcomes if o.rule == "within_st_limit").success
    conn.close()
