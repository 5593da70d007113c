"""The nightly fast path: the day's bars from the whole-market quote list, its day checked,
and a rotating sample reconciled against the history endpoint the next nights."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.assets import daily_bars
from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.sample import SUSPENDED_SYMBOL, SUSPENSION, SampleMarket
from quantdb_pipeline_tests.conftest import d, failure_messages
from quantdb_pipeline_tests.faults import FakeQuoteList

pytestmark = pytest.mark.slow  # each test runs nights of bars through Dagster

BACKFILL = ("2024-05-06", "2024-06-04")
DAYS = ("2024-06-05", "2024-06-06", "2024-06-07")
BAR_VALUES = ["open", "high", "low", "close", "volume", "amount", "pct_change", "turnover_rate", "prev_close"]


class QuoteListMarket(MarketSourceResource):
    """The sample market whose quote list shows another session (`shows`), or has one wrong
    high price (`wrong_high` on the quoted day)."""

    shows: str = ""
    wrong_high: str = ""

    def build(self):
        market = super().build()
        original = market.a_share_spot_raw

        def a_share_spot_raw():
            if self.shows:
                quotes = SampleMarket(today=self.shows, size=self.sample_size).a_share_spot_raw()
                market.requests["stock_zh_a_spot_em"] += 1
            else:
                quotes = original()
            if self.wrong_high:
                quotes.loc[quotes["代码"] == self.wrong_high, "最高"] += 0.05
            return quotes

        market.a_share_spot_raw = a_share_spot_raw
        return market


def checks_of(result) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def backfill(pipeline):
    assert pipeline.run(*BACKFILL, today=BACKFILL[1]).success


def bars_on(pipeline, day: str) -> pd.DataFrame:
    return pipeline.query(
        f"SELECT symbol, {', '.join(BAR_VALUES)}, source FROM daily_bars WHERE trade_date = ? ORDER BY symbol", [day]
    )


def test_a_nightly_run_takes_the_day_from_the_quote_list_in_one_page_and_matches_history(pipeline):
    backfill(pipeline)
    result = pipeline.run(DAYS[0], DAYS[0], today=DAYS[0], assets=[daily_bars])
    assert result.success, failure_messages(result)
    meta = pipeline.bars_metadata(result)
    # 64 symbols: one page of the quote list instead of 63 history requests
    assert meta["upstream_requests"] == 1
    assert meta["spot_quotes"].startswith(f"{DAYS[0]}: 63 symbols in 1 requests, 1 without a trade")
    check = checks_of(result)["daily_bars_spot_day"]
    assert check.passed and check.metadata["rows_checked"].value >= 60
    stored = bars_on(pipeline, DAYS[0])
    assert set(stored["source"]) == {"sample/spot"}
    market = SampleMarket(today=DAYS[0])
    history = pd.concat(
        [
            normalize.a_share_bars(market.a_share_daily_raw(s, d(DAYS[0]), d(DAYS[0])), s, "sample")
            for s in stored["symbol"]
        ],
        ignore_index=True,
    )
    same = [v for v in BAR_VALUES if v != "pct_change"]
    pd.testing.assert_frame_equal(
        stored[["symbol", *same]].reset_index(drop=True),
        history[["symbol", *same]].astype({"symbol": object}),
        check_dtype=False,
    )
    # the list's 涨跌幅 is measured from its 昨收, the exchange's reference price: on an ex-date that
    # is the ex-rights price, while the history klines stay close-to-close
    quoted = pipeline.query(
        "SELECT symbol, close, pct_change, reference_price, prev_close FROM daily_bars "
        "WHERE trade_date = ? ORDER BY symbol",
        [DAYS[0]],
    )
    np.testing.assert_allclose(quoted["pct_change"], ((quoted["close"] / quoted["reference_price"] - 1) * 100).round(2))
    ex_dates = {s for s in quoted["symbol"] if d(DAYS[0]) in set(market.corporate_actions(s)["ex_date"])}
    shifted = set(quoted["symbol"][(quoted["reference_price"] - quoted["prev_close"]).abs() > 0.005])
    assert shifted == ex_dates and len(ex_dates) >= 2
    plain = ~stored["symbol"].isin(ex_dates).to_numpy()
    np.testing.assert_array_equal(stored["pct_change"][plain], history["pct_change"][plain])
    # the suspended symbol is listed without a trade: no bar, but covered, so not asked again
    assert SUSPENSION[0] <= d(DAYS[0]) <= SUSPENSION[1] and SUSPENDED_SYMBOL not in set(stored["symbol"])
    covered = pipeline.query("SELECT max(covered_to) AS c FROM bar_coverage WHERE symbol = ?", [SUSPENDED_SYMBOL])
    assert covered["c"][0].date() == d(DAYS[0])
    again = pipeline.run(DAYS[0], DAYS[0], today=DAYS[0], assets=[daily_bars])
    assert pipeline.bars_metadata(again)["upstream_requests"] == 0


def test_the_next_nights_reconcile_a_rotating_sample_against_history(pipeline):
    backfill(pipeline)
    assert pipeline.run(DAYS[0], DAYS[0], today=DAYS[0], assets=[daily_bars]).success
    sampled = []
    for day in DAYS[1:]:
        result = pipeline.run(
            day, day, today=day, assets=[daily_bars], ops={"daily_bars": {"config": {"reconcile_symbols": 5}}}
        )
        assert result.success, failure_messages(result)
        meta = pipeline.bars_metadata(result)
        assert meta["symbols_reconciled"] == 5 and meta["upstream_requests"] == 1 + 5
        check = checks_of(result)["daily_bars_spot_reconciliation"]
        assert check.passed  # the sample's quote list equals its history
        names = check.metadata["symbols_reconciled"].value.split(", ")
        sampled.append(set(names))
        stored = pipeline.query("SELECT DISTINCT source FROM daily_bars WHERE symbol IN (SELECT unnest(?))", [names])
        assert set(stored["source"]) == {"sample"}  # history rows replaced the quote-list ones
    assert len(sampled[0]) == 5 and not sampled[0] & sampled[1]  # the sample rotates
    pending = read.status(warehouse=pipeline.warehouse)["unreconciled"].iloc[0]
    # 62 symbols traded; the 5 reconciled on the last night took that night from history too
    assert pending["source"] == "sample/spot" and pending["symbols"] == 62 - 5
    assert pending["oldest"].date() == d(DAYS[0]) and pending["newest"].date() == d(DAYS[2])


def test_a_mismatch_is_reported_by_rule_and_example_and_the_history_row_replaces_it(pipeline):
    backfill(pipeline)
    wrong = QuoteListMarket(kind="sample", sample_today=DAYS[0], wrong_high="600000")
    assert pipeline.run(DAYS[0], DAYS[0], today=DAYS[0], market=wrong, assets=[daily_bars]).success
    quoted = bars_on(pipeline, DAYS[0]).set_index("symbol").loc["600000"]
    result = pipeline.run(
        DAYS[1], DAYS[1], today=DAYS[1], assets=[daily_bars], ops={"daily_bars": {"config": {"reconcile_symbols": 100}}}
    )
    assert result.success, failure_messages(result)
    check = checks_of(result)["daily_bars_spot_reconciliation"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["failed_rules"].value == "same_high (1)"
    assert check.metadata["rows_mismatched"].value == 1
    results = check.metadata["results"].value
    assert "symbol=600000" in results and f"trade_date={DAYS[0]}" in results
    fixed = bars_on(pipeline, DAYS[0]).set_index("symbol").loc["600000"]
    truth = SampleMarket(today=DAYS[1]).a_share_daily_raw("600000", d(DAYS[0]), d(DAYS[0]))
    assert fixed["high"] == truth["最高"].iloc[0] == round(quoted["high"] - 0.05, 2)
    assert fixed["source"] == "sample"


def test_a_quote_list_of_the_previous_session_is_refused_and_nothing_is_written(pipeline):
    backfill(pipeline)
    before = pipeline.query("SELECT * FROM daily_bars ORDER BY symbol, trade_date")
    stale = QuoteListMarket(kind="sample", sample_today=DAYS[0], shows=BACKFILL[1])
    result = pipeline.run(DAYS[0], DAYS[0], today=DAYS[0], market=stale, assets=[daily_bars])
    assert not result.success
    check = checks_of(result)["daily_bars_spot_day"]
    assert not check.passed and check.metadata["failed_rules"].value.startswith("spot_day (")
    message = " ".join(failure_messages(result))
    assert f"the quote list is not {DAYS[0]}'s" in message and f"the list still shows {BACKFILL[1]}" in message
    after = pipeline.query("SELECT * FROM daily_bars ORDER BY symbol, trade_date")
    pd.testing.assert_frame_equal(before, after)
    state = pipeline.query("SELECT count(*) AS n FROM ingest_state WHERE run_id = ?", [result.run_id])
    assert state["n"][0] == 0


def test_history_is_used_when_the_quote_list_is_off_or_more_than_today_is_missing(pipeline):
    backfill(pipeline)
    result = pipeline.run(
        DAYS[0], DAYS[0], today=DAYS[0], assets=[daily_bars], ops={"daily_bars": {"config": {"spot": False}}}
    )
    assert pipeline.bars_metadata(result)["upstream_requests"] == 63
    assert pipeline.bars_metadata(result)["spot_quotes"] == "not used"
    assert "daily_bars_spot_day" not in checks_of(result)  # not evaluated, not faked as passed
    two_days = pipeline.run(*DAYS[1:], today=DAYS[2], assets=[daily_bars])
    meta = pipeline.bars_metadata(two_days)
    # one request per symbol, the suspended one included: its empty history answer is not trusted
    assert meta["upstream_requests"] == 63 and meta["spot_quotes"] == "not used"


@responses.activate
def test_akshare_quote_list_pages_are_counted_and_normalized_like_the_history_endpoint():
    market = SampleMarket(today=DAYS[0], size=150)
    fake = FakeQuoteList(market, responses.mock)
    source = AkshareSource(requests_per_second=1e9, sleep=lambda seconds: None)
    raw = source.a_share_spot_raw()  # akshare's own paging and parsing
    assert fake.pages == [1, 2] and source.requests["stock_zh_a_spot_em"] == len(responses.calls) == 2
    bars, idle = normalize.a_share_spot_bars(raw, d(DAYS[0]), "akshare")
    assert idle == [SUSPENDED_SYMBOL]  # eastmoney's "-" for a suspended symbol
    assert len(bars) == len(raw) - 1 and bars["trade_date"].unique().tolist() == [dt.date(2024, 6, 5)]
    row = bars.set_index("symbol").loc["600000"]
    history = market.a_share_daily_raw("600000", d(DAYS[0]), d(DAYS[0])).iloc[0]
    assert row["volume"] == history["成交量"] * 100  # lots -> shares
    assert row["close"] == history["收盘"] and row["reference_price"] == round(history["收盘"] - history["涨跌额"], 2)
    assert np.isnan(row["prev_close"])  # the loader fills it from the stored previous close


def test_a_rerun_of_the_same_day_asks_upstream_for_nothing_unless_forced(pipeline):
    backfill(pipeline)
    assets_requests = {}
    for label in ("nightly", "rerun"):
        result = pipeline.run(DAYS[0], DAYS[0], today=DAYS[0])
        assert result.success, failure_messages(result)
        assets_requests[label] = {
            asset: pipeline.metadata(result, asset)["upstream_requests"]
            for asset in ("trading_calendar", "securities", "corporate_actions", "daily_bars", "adjustment_factors")
        }
        published = pipeline.metadata(result, "published_warehouse")
        assert published["run_upstream_requests"] == sum(assets_requests[label].values())
        assert pipeline.instance.get_run_by_id(result.run_id).tags["quantdb/upstream_requests"] == str(
            published["run_upstream_requests"]
        )
    # the exchange lists: 7 requests (bse.cn's page 0 is asked twice: once for the page count)
    assert assets_requests["nightly"]["daily_bars"] == 1 and assets_requests["nightly"]["securities"] == 7
    assert assets_requests["rerun"] == dict.fromkeys(assets_requests["rerun"], 0)
    assert pipeline.metadata(result, "securities")["fetched"].startswith(f"no: already fetched for {DAYS[0]}")
    forced = pipeline.run(DAYS[0], DAYS[0], today=DAYS[0], ops={"trading_calendar": {"config": {"force": True}}})
    assert pipeline.metadata(forced, "trading_calendar")["upstream_requests"] == 1
