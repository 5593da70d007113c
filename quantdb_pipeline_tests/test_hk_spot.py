"""Hong Kong's nightly fast path: the day's HK bars from the main-board quote list that the
universe already fetches (one fetch a night), its day checked, a rotating sample reconciled
against `stock_hk_hist`, and its 昨收 as the ex-date signal of the HK factors."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import responses

from quantdb_pipeline.assets import hk_adjustment_factors, hk_daily_bars, hk_securities, hk_trading_calendar
from quantdb_pipeline.loaders import hk_spot
from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.base import spot_pages
from quantdb_pipeline.sources.sample import HK_ACTION_SYMBOL, HK_SYMBOLS, SampleMarket
from quantdb_pipeline_tests.conftest import d, failure_messages
from quantdb_pipeline_tests.faults import HK_QUOTE_LIST_URL, FakeQuoteList

pytestmark = pytest.mark.slow  # each test runs several nights of HK loads through Dagster

HK_ASSETS = [hk_trading_calendar, hk_securities, hk_daily_bars]
BACKFILL = ("2024-04-15", "2024-05-14")
#: HK sessions after the backfill (05-15 was a holiday); 05-17 is 00700's ex-date (HKD 3.40 cash),
#: 05-20 01299's.
NIGHTS = ("2024-05-16", "2024-05-17", "2024-05-20", "2024-05-21")
VALUES = ["open", "high", "low", "close", "volume", "amount", "prev_close"]


class HkListShowing(MarketSourceResource):
    """The sample market whose HK quote list shows the session of `shows` (a stale list)."""

    shows: str = ""

    def build(self):
        market = super().build()
        if self.shows:

            def hk_listings_raw():
                stale = SampleMarket(today=self.shows, size=self.sample_size)
                frame = stale.hk_listings_raw()
                market.requests.update(stale.requests)
                return frame

            market.hk_listings_raw = hk_listings_raw
        return market


class HkClockAt(MarketSourceResource):
    """The sample market whose clock reads `clock` (HH:MM, Hong Kong time) on its today."""

    clock: str = "23:59"

    def build(self):
        market = super().build()
        hour, minute = map(int, self.clock.split(":"))
        market.now = lambda: dt.datetime.combine(market.today(), dt.time(hour, minute), hk_spot.HKT)
        return market


def hk_bars_on(pipeline, day: str) -> pd.DataFrame:
    return pipeline.query(
        f"SELECT symbol, {', '.join(VALUES)}, pct_change, source FROM hk_daily_bars "
        "WHERE trade_date = ? ORDER BY symbol",
        [day],
    )


def history_of(symbols, day: str) -> pd.DataFrame:
    market = SampleMarket(today=day)
    return pd.concat(
        [normalize.hk_bars(market.hk_daily_raw(s, d(day), d(day)), s, "sample") for s in symbols], ignore_index=True
    )


def test_a_night_takes_hk_bars_from_the_list_the_universe_fetched_equal_to_history(pipeline):
    assert pipeline.run(*BACKFILL, today=BACKFILL[1], assets=HK_ASSETS).success
    night = pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], assets=HK_ASSETS)
    assert night.success, failure_messages(night)
    # one fetch of the list (one page: 8 symbols) serves the universe and the bars
    assert pipeline.metadata(night, "hk_securities")["upstream_requests"] == spot_pages(len(HK_SYMBOLS)) == 1
    bars_meta = pipeline.metadata(night, "hk_daily_bars")
    assert bars_meta["upstream_requests"] == 0
    assert bars_meta["spot_quotes"].startswith(f"{NIGHTS[0]}: 8 symbols in 0 requests")
    stored = hk_bars_on(pipeline, NIGHTS[0])
    assert len(stored) == len(HK_SYMBOLS) and set(stored["source"]) == {"sample/spot"}
    history = history_of(stored["symbol"], NIGHTS[0])
    pd.testing.assert_frame_equal(
        stored[["symbol", *VALUES, "pct_change"]].astype({"symbol": object}),
        history[["symbol", *VALUES, "pct_change"]].astype({"symbol": object}),
        check_dtype=False,
    )
    accepted = pipeline.query(
        "SELECT count(*) AS n, bool_and(accepted) AS ok FROM hk_quote_list WHERE as_of = ?", [NIGHTS[0]]
    )
    assert accepted["n"][0] == 8 and accepted["ok"][0]
    # a rerun of the night asks upstream for nothing
    again = pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], assets=HK_ASSETS)
    assert pipeline.metadata(again, "hk_securities")["upstream_requests"] == 0
    assert pipeline.metadata(again, "hk_daily_bars")["upstream_requests"] == 0
    # the history path costs one request per symbol for the same night
    off = pipeline.run(
        NIGHTS[1], NIGHTS[1], today=NIGHTS[1], assets=HK_ASSETS, ops={"hk_daily_bars": {"config": {"spot": False}}}
    )
    assert pipeline.metadata(off, "hk_daily_bars")["upstream_requests"] == 8
    assert pipeline.metadata(off, "hk_daily_bars")["spot_quotes"] == "not used"


def test_a_stale_hk_list_is_refused_nothing_written_and_the_rerun_fetches_it_again(pipeline):
    assert pipeline.run(*BACKFILL, today=BACKFILL[1], assets=HK_ASSETS).success
    before = pipeline.query("SELECT * FROM hk_daily_bars ORDER BY symbol, trade_date")
    stale = HkListShowing(kind="sample", sample_today=NIGHTS[0], shows=BACKFILL[1])
    result = pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], market=stale, assets=HK_ASSETS)
    meta = pipeline.metadata(result, "hk_daily_bars")
    assert meta["dataset_status"] == "failed"
    reason = meta["failure_reason"]
    assert f"the quote list is not {NIGHTS[0]}'s" in reason and f"the list still shows {BACKFILL[1]}" in reason
    pd.testing.assert_frame_equal(before, pipeline.query("SELECT * FROM hk_daily_bars ORDER BY symbol, trade_date"))
    kept = pipeline.query("SELECT count(*) AS n FROM hk_quote_list WHERE as_of = ?", [NIGHTS[0]])
    assert kept["n"][0] == 0  # the refused list is not kept as the day's
    rerun = pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], assets=HK_ASSETS)
    assert rerun.success, failure_messages(rerun)
    assert pipeline.metadata(rerun, "hk_securities")["upstream_requests"] == 0  # fetched for the day already
    assert pipeline.metadata(rerun, "hk_daily_bars")["upstream_requests"] == 1  # so the bars fetch the list
    assert set(hk_bars_on(pipeline, NIGHTS[0])["source"]) == {"sample/spot"}


def test_the_next_nights_reconcile_a_rotating_sample_of_hk_symbols(pipeline):
    assert pipeline.run(*BACKFILL, today=BACKFILL[1], assets=HK_ASSETS).success
    assert pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], assets=HK_ASSETS).success
    sampled = []
    for night in NIGHTS[1:3]:
        result = pipeline.run(
            night, night, today=night, assets=HK_ASSETS, ops={"hk_daily_bars": {"config": {"reconcile_symbols": 3}}}
        )
        assert result.success, failure_messages(result)
        meta = pipeline.metadata(result, "hk_daily_bars")
        # the list came with hk_securities; one stock_hk_hist request per reconciled symbol
        assert meta["symbols_reconciled"] == 3 and meta["upstream_requests"] == 3
        names = meta["reconciliation"].removeprefix("agrees in ").split(", ")
        assert meta["reconciliation"].startswith("agrees") and len(names) == 3
        sampled.append(set(names))
        sources = pipeline.query(
            "SELECT DISTINCT source FROM hk_daily_bars WHERE symbol IN (SELECT unnest(?)) AND trade_date < ?",
            [names, night],
        )
        assert set(sources["source"]) == {"sample"}  # history rows replaced the quote-list ones
    assert not sampled[0] & sampled[1]  # the sample rotates
    pending = pipeline.query(
        "SELECT count(DISTINCT symbol) AS n, min(trade_date) AS first FROM hk_daily_bars WHERE source = 'sample/spot'"
    )
    # the 3 reconciled on the last night took that night from history too
    assert pending["n"][0] == 8 - 3 and pending["first"][0].date() == d(NIGHTS[0])


def test_an_hk_ex_date_seen_through_the_lists_reference_close_refetches_that_symbols_factors(pipeline):
    assets = [*HK_ASSETS, hk_adjustment_factors]
    first = pipeline.run(*BACKFILL, today=BACKFILL[1], assets=assets)
    assert first.success, failure_messages(first)
    assert pipeline.metadata(first, "hk_adjustment_factors")["upstream_requests"] == 2 * 8  # never fetched
    quiet = pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], assets=assets)
    assert pipeline.metadata(quiet, "hk_adjustment_factors")["upstream_requests"] == 0
    ex_night = NIGHTS[1]
    result = pipeline.run(ex_night, ex_night, today=ex_night, assets=assets)
    assert result.success, failure_messages(result)
    factors = pipeline.metadata(result, "hk_adjustment_factors")
    assert factors["symbols_fetched"] == 1 and factors["upstream_requests"] == 2
    assert "ex-date signal (昨收) | 1" in factors["why_fetched"]
    stored = pipeline.query("SELECT ex_date FROM hk_adjustment_factors WHERE symbol = ?", [HK_ACTION_SYMBOL])
    assert d(ex_night) in set(stored["ex_date"].dt.date)
    quote = pipeline.query(
        "SELECT reference_price FROM hk_quote_list WHERE symbol = ? AND as_of = ?", [HK_ACTION_SYMBOL, ex_night]
    )["reference_price"][0]
    last_close = pipeline.query(
        "SELECT close FROM hk_daily_bars WHERE symbol = ? AND trade_date = ?", [HK_ACTION_SYMBOL, NIGHTS[0]]
    )["close"][0]
    assert quote == round(last_close - 3.40, 3)  # the ex-rights reference: last close less the cash dividend
    # the whole HK night (the HK calendar comes from a library, no request): the list (1 page), the
    # 5 symbols reconciled by default, one factor fetch (2: sina's two scripts)
    night_total = sum(
        pipeline.metadata(result, a)["upstream_requests"]
        for a in ("hk_securities", "hk_daily_bars", "hk_adjustment_factors")
    )
    assert night_total == 1 + 5 + 2
    # the signal is spent: a rerun of the night asks nothing, nor does the next night without ex-dates
    again = pipeline.run(ex_night, ex_night, today=ex_night, assets=assets)
    assert pipeline.metadata(again, "hk_adjustment_factors")["upstream_requests"] == 0
    assert pipeline.metadata(again, "hk_daily_bars")["upstream_requests"] == 0


class HkListSuspending(MarketSourceResource):
    """The sample market whose HK quote list shows `suspended` without a trade ("-" prices)."""

    suspended: str = ""

    def build(self):
        market = super().build()
        original = market.hk_listings_raw

        def hk_listings_raw():
            frame = original()
            frame.loc[
                frame["代码"] == self.suspended,
                ["最新价", "涨跌额", "涨跌幅", "今开", "最高", "最低", "成交量", "成交额"],
            ] = np.nan
            return frame

        market.hk_listings_raw = hk_listings_raw
        return market


def test_a_symbol_the_list_shows_without_a_trade_is_covered_and_not_asked_from_history_the_next_night(pipeline):
    assert pipeline.run(*BACKFILL, today=BACKFILL[1], assets=HK_ASSETS).success
    quiet = HkListSuspending(kind="sample", sample_today=NIGHTS[0], suspended="00005")
    night = pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], market=quiet, assets=HK_ASSETS)
    assert night.success, failure_messages(night)
    assert pipeline.metadata(night, "hk_daily_bars")["spot_quotes"].startswith(
        f"{NIGHTS[0]}: 8 symbols in 0 requests (0: the list hk_securities fetched), 1 without a trade"
    )
    assert "00005" not in set(hk_bars_on(pipeline, NIGHTS[0])["symbol"])
    # the next night 00005 lacks no day: it takes the list like the others, no history request
    after = pipeline.run(
        NIGHTS[1],
        NIGHTS[1],
        today=NIGHTS[1],
        assets=HK_ASSETS,
        ops={"hk_daily_bars": {"config": {"reconcile_symbols": 0}}},
    )
    assert after.success, failure_messages(after)
    meta = pipeline.metadata(after, "hk_daily_bars")
    assert meta["upstream_requests"] == 0 and meta["spot_quotes"].startswith(f"{NIGHTS[1]}: 8 symbols in 0 requests")
    assert "00005" in set(hk_bars_on(pipeline, NIGHTS[1])["symbol"])


def hk_list_frame(size: int, day: str) -> pd.DataFrame:
    """An HK main-board list of `size` rows, akshare's columns: the sample's 8 symbols repeated under
    other five-digit codes."""
    base = SampleMarket(today=day).hk_listings_raw()
    frame = pd.concat([base] * -(-size // len(base)), ignore_index=True).iloc[:size].copy()
    frame["代码"] = [*base["代码"], *(f"{80000 + i:05d}" for i in range(size - len(base)))]
    frame.loc[frame.index[-1], ["最新价", "今开", "最高", "最低", "成交量", "成交额"]] = np.nan  # suspended
    return frame


@responses.activate
def test_akshare_hk_main_board_list_pages_fields_and_units_through_an_http_fake():
    day = NIGHTS[0]
    quotes = hk_list_frame(250, day)
    fake = FakeQuoteList(None, responses.mock, quotes=quotes, url=HK_QUOTE_LIST_URL, market_id=116)
    source = AkshareSource(requests_per_second=1e9, sleep=lambda seconds: None)
    raw = source.hk_listings_raw()  # akshare's own stock_hk_main_board_spot_em: paging, positional names
    assert fake.pages == [1, 2, 3] and len(responses.calls) == spot_pages(250) == 3
    assert fake.params[0]["fs"] == "m:128 t:3" and fake.params[0]["pz"] == "100"
    assert len(raw) == 250
    rows = normalize.hk_quote_list(raw, "akshare")
    bars, idle = normalize.hk_spot_bars(rows, d(day), "akshare")
    assert idle == [quotes["代码"].iloc[-1]]  # eastmoney's "-": listed without a trade
    row = bars.set_index("symbol").loc[HK_ACTION_SYMBOL]
    history = SampleMarket(today=day).hk_daily_raw(HK_ACTION_SYMBOL, d(day), d(day)).iloc[0]
    assert row["volume"] == history["成交量"]  # shares, as stock_hk_hist
    assert (row["open"], row["high"], row["low"], row["close"], row["amount"]) == (
        history["开盘"],
        history["最高"],
        history["最低"],
        history["收盘"],
        history["成交额"],
    )
    assert row["reference_price"] == round(history["收盘"] - history["涨跌额"], 3)
    assert np.isnan(row["prev_close"]) and row["trade_date"] == dt.date(2024, 5, 16)


def test_whether_the_list_is_final_is_decided_by_the_sources_clock_not_the_wall_clock(pipeline):
    """Before the HKEX close the list is intraday: the history path, by the source's own clock.
    The sample market's clock is the end of its simulated day, so a replayed or simulated future
    night takes the list whatever the wall clock says."""
    assert pipeline.run(*BACKFILL, today=BACKFILL[1], assets=HK_ASSETS).success
    early = HkClockAt(kind="sample", sample_today=NIGHTS[0], clock="15:00")
    before_close = pipeline.run(NIGHTS[0], NIGHTS[0], today=NIGHTS[0], assets=HK_ASSETS, market=early)
    assert before_close.success, failure_messages(before_close)
    assert pipeline.metadata(before_close, "hk_daily_bars")["spot_quotes"] == "not used"
    assert pipeline.metadata(before_close, "hk_daily_bars")["upstream_requests"] == len(HK_SYMBOLS)
    late = HkClockAt(kind="sample", sample_today=NIGHTS[1], clock="16:45")
    after_close = pipeline.run(NIGHTS[1], NIGHTS[1], today=NIGHTS[1], assets=HK_ASSETS, market=late)
    assert pipeline.metadata(after_close, "hk_daily_bars")["spot_quotes"].startswith(f"{NIGHTS[1]}: 8 symbols")
    assert pipeline.metadata(after_close, "hk_daily_bars")["upstream_requests"] == 0
    # the plain sample market: a night after today's wall clock still takes the list
    future = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert hk_spot.source_now(SampleMarket(today=future)) > hk_spot.final_after(d(future))
