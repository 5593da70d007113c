"""Adjusted prices: factors stored beside unadjusted bars, qfq/hfq computed on read.

Expected adjusted prices are computed here independently of the factors, from the sample
market's corporate actions (cash, new shares, the exchange's reference price).
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.sources.sample import (
    DIVIDEND_DATE,
    DIVIDEND_PERIOD,
    DIVIDEND_SYMBOL,
    SPLIT_DATE,
    SPLIT_SYMBOL,
    SampleMarket,
)
from quantdb_pipeline_tests.conftest import d

pytestmark = pytest.mark.slow  # each test loads and reloads bars and factors through Dagster

SYMBOLS = f"{DIVIDEND_SYMBOL},{SPLIT_SYMBOL},600005,000004,600000"
BEFORE, AFTER = "2026-07-10", "2026-07-20"  # DIVIDEND_DATE (2026-07-15) lies between


def expected_adjusted(
    market: SampleMarket, symbol: str, bars: pd.DataFrame, adjust: str, as_of: dt.date | None = None
) -> np.ndarray:
    """Adjusted closes from the corporate actions alone: each ex-date scales the prices before it
    by reference price / last close (qfq), or the prices from it on by the inverse (hfq, and
    qfq for ex-dates after `as_of`, whose prices stay as traded)."""
    actions = market.corporate_actions(symbol)
    actions = actions[actions["ex_date"] <= market.today()]
    days = pd.to_datetime(bars["trade_date"]).dt.date
    close = bars["close"].to_numpy(dtype=float).copy()
    for ex_date, last, reference in zip(actions["ex_date"], actions["previous_close"], actions["reference_close"]):
        if adjust == "qfq" and (as_of is None or ex_date <= as_of):
            close[(days < ex_date).to_numpy()] *= reference / last
        else:  # hfq, and qfq for ex-dates after as_of: continuous with the prices on as_of
            close[(days >= ex_date).to_numpy()] *= last / reference
    return close


def test_sample_ex_dates_carry_the_exchange_reference_price_and_matching_factors():
    market = SampleMarket(today="2026-11-20")
    actions = market.corporate_actions(DIVIDEND_SYMBOL)
    assert actions[["ex_date", "cash", "shares"]].values.tolist() == [[DIVIDEND_DATE, 0.85, 0.3]]
    raw = market.a_share_daily_raw(DIVIDEND_SYMBOL, d("2026-07-14"), DIVIDEND_DATE)
    last, ex_day = raw.iloc[0], raw.iloc[1]
    reference = round((last["收盘"] - 0.85) / 1.3, 2)
    # like eastmoney's unadjusted klines: 涨跌额 is close-to-close, the ex-date does not show
    assert round(ex_day["收盘"] - ex_day["涨跌额"], 2) == last["收盘"]
    assert ex_day["涨跌幅"] == round((ex_day["收盘"] / last["收盘"] - 1) * 100, 2)
    # the quote list that night shows the exchange's reference price as 昨收
    quote = SampleMarket(today=DIVIDEND_DATE).a_share_spot_raw().set_index("代码").loc[DIVIDEND_SYMBOL]
    assert quote["昨收"] == reference and quote["涨跌额"] == round(ex_day["收盘"] - reference, 2)
    # and eastmoney's dividend table lists it under the Q1 report, per 10 shares
    plan = market.dividends_raw(DIVIDEND_PERIOD).set_index("代码").loc[DIVIDEND_SYMBOL]
    assert (plan["现金分红-现金分红比例"], plan["送转股份-送转比例"], plan["除权除息日"]) == (8.5, 3.0, DIVIDEND_DATE)
    assert DIVIDEND_SYMBOL not in set(market.dividends_raw(dt.date(2025, 12, 31))["代码"])
    factors = market.adjustment_factors_raw(DIVIDEND_SYMBOL)
    assert factors["hfq_factor"].iloc[0] / factors["hfq_factor"].iloc[1] == pytest.approx(last["收盘"] / reference)
    # before its ex-date a dividend is not in upstream's factors
    assert pd.Timestamp(DIVIDEND_DATE) not in set(
        SampleMarket(today=BEFORE).adjustment_factors_raw(DIVIDEND_SYMBOL)["date"]
    )
    kinds = [market.corporate_actions(c) for c in market.universe()["code"]]
    assert sum(len(k) for k in kinds) > 100
    assert any((k["shares"] > 0).any() for k in kinds) and any((k["cash"] > 0).any() for k in kinds)


def test_a_later_dividend_changes_qfq_history_only_without_refetching_bars(pipeline):
    assert pipeline.run("2025-01-02", BEFORE, today=BEFORE, symbols=SYMBOLS).success
    factors_meta = pipeline.metadata(
        pipeline.run("2025-01-02", BEFORE, today=BEFORE, symbols=SYMBOLS), "adjustment_factors"
    )
    assert factors_meta["upstream_requests"] == 0  # nothing new: factors are not asked for again
    path = pipeline.warehouse
    window = ("2026-06-01", AFTER)
    old = {adj: read.daily_bars(DIVIDEND_SYMBOL, *window, adjust=adj, warehouse=path) for adj in (None, "qfq", "hfq")}
    assert (old["qfq"]["close"] == old[None]["close"]).all()  # no ex-date yet since June
    old_ingested = pipeline.query("SELECT trade_date, ingested_at FROM daily_bars WHERE symbol = ?", [DIVIDEND_SYMBOL])

    result = pipeline.run("2026-07-13", AFTER, today=AFTER, symbols=SYMBOLS)
    assert result.success
    bars_meta, factors_meta = pipeline.metadata(result, "daily_bars"), pipeline.metadata(result, "adjustment_factors")
    assert bars_meta["upstream_requests"] == 5  # one per symbol, for the new days only
    assert factors_meta["upstream_requests"] == 1 and "new ex-date" in factors_meta["why_fetched"]
    assert f"{DIVIDEND_SYMBOL} | new ex-date(s) {DIVIDEND_DATE}" in factors_meta["changed"]
    stored = pipeline.query(
        "SELECT trade_date, ingested_at FROM daily_bars WHERE symbol = ? AND trade_date <= ?",
        [DIVIDEND_SYMBOL, d(BEFORE)],
    )
    pd.testing.assert_frame_equal(
        stored.sort_values("trade_date").reset_index(drop=True),
        old_ingested.sort_values("trade_date").reset_index(drop=True),
    )

    new = {adj: read.daily_bars(DIVIDEND_SYMBOL, *window, adjust=adj, warehouse=path) for adj in (None, "qfq", "hfq")}
    before = new[None]["trade_date"].dt.date < DIVIDEND_DATE
    old_days = len(old[None])
    pd.testing.assert_frame_equal(new[None].iloc[:old_days], old[None])
    pd.testing.assert_frame_equal(new["hfq"].iloc[:old_days], old["hfq"])
    ratio = (new["qfq"]["close"].iloc[:old_days] / old["qfq"]["close"]).to_numpy()
    last = new[None]["close"][before].iloc[-1]
    reference = round((last - 0.85) / 1.3, 2)
    assert ratio == pytest.approx(np.full(old_days, reference / last))  # all of qfq history moved
    assert (new["qfq"]["close"][~before] == new[None]["close"][~before]).all()
    market = SampleMarket(today=AFTER)
    for adj in ("qfq", "hfq"):
        np.testing.assert_allclose(
            new[adj]["close"], expected_adjusted(market, DIVIDEND_SYMBOL, new[None], adj), rtol=1e-9
        )
    # prev_close is the previous bar's close: adjusted with that bar's factor, also across the ex-date
    for adj in ("qfq", "hfq"):
        chained = read.daily_bars(DIVIDEND_SYMBOL, *window, columns=["close", "prev_close"], adjust=adj, warehouse=path)
        np.testing.assert_allclose(chained["prev_close"].iloc[1:], chained["close"].iloc[:-1], rtol=1e-12)
        move = read.daily_bars(
            DIVIDEND_SYMBOL, *window, columns=["close", "prev_close", "pct_change"], adjust=adj, warehouse=path
        )
        np.testing.assert_allclose(move["pct_change"], ((move["close"] / move["prev_close"] - 1) * 100).round(2))
    on_ex_date = new[None]["trade_date"].dt.date == DIVIDEND_DATE
    assert new[None]["pct_change"][on_ex_date].iloc[0] < -20  # upstream's close-to-close: the dividend as a loss
    assert abs(new["qfq"]["pct_change"][on_ex_date].iloc[0]) < 10  # the adjusted series: the day's return
    # qfq as of a date before the dividend is the old qfq series
    as_of = read.daily_bars(DIVIDEND_SYMBOL, *window, adjust="qfq", as_of=BEFORE, warehouse=path)
    pd.testing.assert_series_equal(as_of["close"].iloc[:old_days], old["qfq"]["close"])

    rerun = pipeline.run("2026-07-13", AFTER, today=AFTER, symbols=SYMBOLS)
    assert pipeline.metadata(rerun, "adjustment_factors")["upstream_requests"] == 0


def test_a_split_and_years_of_dividends_match_an_independent_computation(pipeline):
    today = "2025-12-31"
    assert pipeline.run("2023-01-03", today, today=today, symbols=SYMBOLS).success
    market = SampleMarket(today=today)
    for symbol in (SPLIT_SYMBOL, "600005", "600000"):
        bars = read.daily_bars(symbol, warehouse=pipeline.warehouse)
        assert len(market.corporate_actions(symbol)) >= 1
        for adj in ("qfq", "hfq"):
            got = read.daily_bars(symbol, adjust=adj, warehouse=pipeline.warehouse)
            np.testing.assert_allclose(got["close"], expected_adjusted(market, symbol, bars, adj), rtol=1e-9)
        as_of = dt.date(2023, 12, 29)
        got = read.daily_bars(symbol, adjust="qfq", as_of=as_of, warehouse=pipeline.warehouse)
        np.testing.assert_allclose(got["close"], expected_adjusted(market, symbol, bars, "qfq", as_of), rtol=1e-9)
    split = read.daily_bars(SPLIT_SYMBOL, "2025-06-18", "2025-06-24", adjust="qfq", warehouse=pipeline.warehouse)
    raw = read.daily_bars(SPLIT_SYMBOL, "2025-06-18", "2025-06-24", warehouse=pipeline.warehouse)
    on_split = raw["trade_date"].dt.date == SPLIT_DATE
    assert raw["close"][on_split].iloc[0] < 0.6 * raw["close"].iloc[0]  # the unadjusted price halves
    steps = split["close"].pct_change().abs().dropna()
    assert (steps < 0.2).all()  # qfq has no gap at the split


def test_read_rejects_unknown_adjustments_and_as_of_without_qfq(pipeline):
    assert pipeline.run("2026-07-13", AFTER, today=AFTER, symbols=SYMBOLS).success
    with pytest.raises(ValueError, match="adjust='fwd'"):
        read.daily_bars(DIVIDEND_SYMBOL, adjust="fwd", warehouse=pipeline.warehouse)
    with pytest.raises(ValueError, match="as_of only applies to adjust='qfq'"):
        read.daily_bars(DIVIDEND_SYMBOL, adjust="hfq", as_of=BEFORE, warehouse=pipeline.warehouse)
    with pytest.raises(ValueError, match="as_of="):
        read.daily_bars(DIVIDEND_SYMBOL, adjust="qfq", as_of="July", warehouse=pipeline.warehouse)
    factors = read.adjustment_factors(DIVIDEND_SYMBOL, warehouse=pipeline.warehouse)
    assert factors["ex_date"].dt.date.tolist()[-1] == DIVIDEND_DATE
    bars = read.daily_bars(DIVIDEND_SYMBOL, columns=["close", "prev_close", "hfq_factor"], warehouse=pipeline.warehouse)
    assert set(bars["hfq_factor"]) == set(factors["hfq_factor"])


class LateFactors(SampleMarket):
    """Upstream that has not yet published the factor of `DIVIDEND_DATE`."""

    def adjustment_factors_raw(self, symbol):
        factors = super().adjustment_factors_raw(symbol)
        return factors[factors["date"] != pd.Timestamp(DIVIDEND_DATE)].reset_index(drop=True)


def load_all(conn, market: SampleMarket, symbols: list[str], start: str = "2026-06-01"):
    """What a run of the A-share assets does, in their order, on an open working connection."""
    from quantdb_pipeline.loaders.bars import load_daily_bars
    from quantdb_pipeline.loaders.corporate_actions import load_corporate_actions
    from quantdb_pipeline.loaders.factors import load_adjustment_factors
    from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
    from quantdb_pipeline.warehouse.writes import Lineage

    lineage = Lineage.now("sample", str(market.today()))
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    load_corporate_actions(conn, market, lineage, d(start))
    load_daily_bars(conn, market, d(start), market.today(), lineage, symbols=symbols)
    return load_adjustment_factors(conn, market, lineage, symbols=symbols)


def stored_factors(conn, symbol: str) -> pd.DataFrame:
    return (
        conn.execute(
            "SELECT ex_date, hfq_factor, derived_from FROM adjustment_factors WHERE symbol = ? ORDER BY ex_date",
            [symbol],
        )
        .df()
        .assign(ex_date=lambda f: pd.to_datetime(f["ex_date"]).dt.date)
    )


def test_an_ex_date_upstream_has_not_published_gets_a_derived_factor_until_upstream_confirms_it(tmp_path):
    from quantdb_pipeline.loaders.factors import DERIVED_RECHECK_DAYS, EX_DATE_GRACE_DAYS
    from quantdb_pipeline.warehouse.schema import connect

    conn = connect(tmp_path / "w.duckdb")
    symbols = [DIVIDEND_SYMBOL, "600000"]
    first = load_all(conn, LateFactors(today=AFTER), symbols)
    assert set(first.needed.values()) == {"never fetched"}
    assert first.derived[["symbol", "ex_date", "derived_from"]].astype(str).values.tolist() == [
        [DIVIDEND_SYMBOL, str(DIVIDEND_DATE), "corporate_actions"]
    ]
    assert first.gaps.empty
    # the derived step is the exchange's ex-rights price: (last close - 0.85) / 1.3, to the fen
    closes = conn.execute(
        "SELECT trade_date, close FROM daily_bars WHERE symbol = ? ORDER BY trade_date", [DIVIDEND_SYMBOL]
    ).df()
    last = closes["close"][pd.to_datetime(closes["trade_date"]).dt.date < DIVIDEND_DATE].iloc[-1]
    factors = stored_factors(conn, DIVIDEND_SYMBOL)
    assert factors["hfq_factor"].iloc[-1] / factors["hfq_factor"].iloc[-2] == pytest.approx(
        last / round((last - 0.85) / 1.3, 2), rel=1e-12
    )
    truth = SampleMarket(today=AFTER).adjustment_factors_raw(DIVIDEND_SYMBOL)
    assert factors["hfq_factor"].iloc[-1] == pytest.approx(truth["hfq_factor"].iloc[0], rel=1e-9)

    rerun = load_all(conn, LateFactors(today=AFTER), symbols)  # the same source day: nothing asked again
    assert rerun.needed == {} and rerun.requests == 0
    next_day = (d(AFTER) + dt.timedelta(days=1)).isoformat()
    second = load_all(conn, LateFactors(today=next_day), symbols)  # inside the grace period: asked again
    assert second.needed == {DIVIDEND_SYMBOL: f"new ex-date {DIVIDEND_DATE}"} and second.requests == 1
    late = DIVIDEND_DATE + dt.timedelta(days=EX_DATE_GRACE_DAYS + 2)
    assert DIVIDEND_SYMBOL in load_all(conn, LateFactors(today=late), symbols).needed
    fourth = load_all(conn, LateFactors(today=late), symbols)  # past the grace period: not asked every night
    assert fourth.needed == {} and fourth.requests == 0
    assert fourth.derived["symbol"].tolist() == [DIVIDEND_SYMBOL]  # still derived, still reported
    # upstream publishes it at last: the next recheck replaces the derived factor and confirms its step
    later = late + dt.timedelta(days=DERIVED_RECHECK_DAYS)
    fifth = load_all(conn, SampleMarket(today=later), symbols)
    assert fifth.needed == {DIVIDEND_SYMBOL: "derived factor awaiting upstream"}
    assert fifth.derived.empty and stored_factors(conn, DIVIDEND_SYMBOL)["derived_from"].isna().all()
    outcomes = {o.rule: o for o in fifth.checks.outcomes}
    assert outcomes["confirms_derived_step"].success  # the next test shows it fails on a contradiction


class NoRecentFactors(SampleMarket):
    """Upstream that has published no factor since 2026-06-01, for any symbol."""

    def adjustment_factors_raw(self, symbol):
        factors = super().adjustment_factors_raw(symbol)
        return factors[factors["date"] < pd.Timestamp("2026-06-01")].reset_index(drop=True) if len(factors) else factors


def test_stale_factors_are_asked_again_a_bounded_number_per_night_longest_waiting_first(tmp_path):
    """A peak ex-date season must not turn one night into hundreds of factor requests: derived
    factors serve meanwhile, and the queue drains a few symbols a night, each once."""
    from quantdb_pipeline.loaders.factors import load_adjustment_factors
    from quantdb_pipeline.warehouse.schema import connect
    from quantdb_pipeline.warehouse.writes import Lineage

    conn = connect(tmp_path / "w.duckdb")
    market = NoRecentFactors(today=AFTER)
    symbols = [s for s in market.universe()["code"][:64] if s.startswith(("600", "000"))]
    first = load_all(conn, market, symbols, start="2026-05-04")
    waiting = set(first.derived["symbol"])
    assert len(waiting) >= 8  # the sample's June-July ex-dates, every one derived
    asked: list[set[str]] = []
    for day in ("2026-07-27", "2026-07-28", "2026-07-29"):  # a week on: every derived factor awaits upstream
        night = load_adjustment_factors(
            conn, NoRecentFactors(today=day), Lineage.now("sample", day), symbols=symbols, refetch_per_run=3
        )
        assert len(night.needed) == 3 and night.requests == 3
        assert set(night.needed) <= waiting
        asked.append(set(night.needed))
        rerun = load_adjustment_factors(
            conn, NoRecentFactors(today=day), Lineage.now("sample", day), symbols=symbols, refetch_per_run=3
        )
        assert rerun.needed == {} and rerun.requests == 0  # once a source day
    assert len(set.union(*asked)) == 9  # three nights, nine different symbols


def test_an_upstream_factor_that_contradicts_the_derived_step_is_reported(tmp_path):
    from quantdb_pipeline.warehouse.schema import connect

    conn = connect(tmp_path / "w.duckdb")
    symbols = [DIVIDEND_SYMBOL]
    assert len(load_all(conn, LateFactors(today=AFTER), symbols).derived) == 1
    report = load_all(conn, WrongFactors(today="2026-07-21"), symbols)  # the next night asks again
    outcome = {o.rule: o for o in report.checks.outcomes}["confirms_derived_step"]
    assert not outcome.success and outcome.unexpected_count == 1
    assert str(DIVIDEND_DATE) in str(outcome.examples)
    assert stored_factors(conn, DIVIDEND_SYMBOL)["derived_from"].isna().all()  # a warning: upstream's is loaded


class WrongFactors(SampleMarket):
    """Upstream factors with a step that disagrees with the bars (600002), and one dated after today (600000)."""

    def adjustment_factors_raw(self, symbol):
        factors = super().adjustment_factors_raw(symbol).copy()
        if symbol == DIVIDEND_SYMBOL:
            factors.loc[factors["date"] == pd.Timestamp(DIVIDEND_DATE), "hfq_factor"] *= 1.1
        if symbol == "600000":
            future = pd.DataFrame(
                {
                    "date": [pd.Timestamp(self.today()) + pd.Timedelta(days=30)],
                    "hfq_factor": [factors["hfq_factor"].iloc[0] * 1.02],
                }
            )
            factors = pd.concat([future, factors], ignore_index=True)
        return factors


def test_factor_rules_warn_on_a_step_the_known_ex_date_contradicts_and_quarantine_future_ex_dates(tmp_path):
    from quantdb_pipeline.loaders.factors import load_adjustment_factors
    from quantdb_pipeline.warehouse.schema import connect
    from quantdb_pipeline.warehouse.writes import Lineage

    conn = connect(tmp_path / "w.duckdb")
    market, lineage, symbols = WrongFactors(today=AFTER), Lineage.now("sample", "t"), [DIVIDEND_SYMBOL, "600000"]
    report = load_all(conn, market, symbols)
    outcomes = {o.rule: o for o in report.checks.outcomes}
    assert not outcomes["step_matches_reference_price"].success
    assert (
        outcomes["step_matches_reference_price"].unexpected_count == 1
        and outcomes["not_in_future"].unexpected_count == 1
    )
    stored = dict(conn.execute("SELECT symbol, count(*) FROM adjustment_factors GROUP BY symbol").fetchall())
    assert stored.get(DIVIDEND_SYMBOL, 0) >= 2  # a warning: loaded
    assert "600000" in report.failed  # quarantined: nothing of upstream's list written, retried next run
    # meanwhile its known ex-dates are covered by derived factors, not left unadjusted
    assert stored_factors(conn, "600000")["derived_from"].notna().all() and stored["600000"] >= 2
    rules = conn.execute("SELECT rules FROM quarantine WHERE table_name = 'adjustment_factors'").fetchall()
    assert rules == [("not_in_future",)]
    assert "600000" in load_adjustment_factors(conn, SampleMarket(today=AFTER), lineage, symbols=symbols).needed


class UnannouncedDividend(SampleMarket):
    """An ex-date only the quote list shows: eastmoney's dividend table misses it (as reported in
    akshare#3656) and sina never publishes its factor."""

    def dividends_raw(self, period):
        table = super().dividends_raw(period)
        return table[table["代码"] != DIVIDEND_SYMBOL].reset_index(drop=True)

    def adjustment_factors_raw(self, symbol):
        factors = super().adjustment_factors_raw(symbol)
        return factors[factors["date"] != pd.Timestamp(DIVIDEND_DATE)].reset_index(drop=True)


def test_an_ex_date_only_the_quote_list_shows_is_adjusted_from_its_reference_price(pipeline):
    from quantdb_pipeline.resources import MarketSourceResource

    class Market(MarketSourceResource):
        def build(self):
            return UnannouncedDividend(today=self.sample_today)

    day_before, ex_day = "2026-07-14", DIVIDEND_DATE.isoformat()
    assert pipeline.run(
        "2026-07-01",
        day_before,
        today=day_before,
        market=Market(kind="sample", sample_today=day_before, symbols=SYMBOLS),
    ).success
    result = pipeline.run(
        ex_day, ex_day, today=ex_day, market=Market(kind="sample", sample_today=ex_day, symbols=SYMBOLS)
    )
    assert result.success
    assert pipeline.bars_metadata(result)["spot_quotes"].startswith(ex_day)  # the quote-list path
    factors_meta = pipeline.metadata(result, "adjustment_factors")
    assert factors_meta["derived_factors"] == 1 and factors_meta["adjustment_gaps"] == 0
    reference = float(SampleMarket(today=ex_day).corporate_actions(DIVIDEND_SYMBOL)["reference_close"].iloc[0])
    stored = pipeline.query(
        "SELECT reference_price, prev_close FROM daily_bars WHERE symbol = ? AND trade_date = ?",
        [DIVIDEND_SYMBOL, DIVIDEND_DATE],
    ).iloc[0]
    assert stored["reference_price"] == reference and stored["prev_close"] > reference * 1.2
    qfq = read.daily_bars(DIVIDEND_SYMBOL, day_before, ex_day, adjust="qfq", warehouse=pipeline.warehouse)
    raw = read.daily_bars(DIVIDEND_SYMBOL, day_before, ex_day, warehouse=pipeline.warehouse)
    # the day before trades at the exchange's reference price in qfq, never at its unadjusted close
    assert qfq["close"].iloc[0] == pytest.approx(reference, abs=1e-9) and raw["close"].iloc[0] > reference * 1.2
    assert qfq["close"].iloc[1] == raw["close"].iloc[1]
    factors = read.adjustment_factors(DIVIDEND_SYMBOL, warehouse=pipeline.warehouse)
    assert factors["derived_from"].tolist()[-1] == "quote_list_reference"
    pending = read.status(warehouse=pipeline.warehouse)["adjustment"]
    assert pending[["symbol", "kind", "detail"]].values.tolist() == [
        [DIVIDEND_SYMBOL, "derived", "quote_list_reference"]
    ]


class ForgetfulFactors(SampleMarket):
    """sina's list lacks an old ex-date of 600005 that eastmoney's dividend table has."""

    forgotten: dt.date

    def adjustment_factors_raw(self, symbol):
        factors = super().adjustment_factors_raw(symbol)
        if symbol != "600005":
            return factors
        kept = factors[factors["date"] != pd.Timestamp(self.forgotten)]
        later = kept["date"] > pd.Timestamp(self.forgotten)
        step = (
            factors["hfq_factor"][factors["date"] == pd.Timestamp(self.forgotten)].iloc[0]
            / factors["hfq_factor"][factors["date"] < pd.Timestamp(self.forgotten)].iloc[0]
        )
        kept.loc[later, "hfq_factor"] = kept.loc[later, "hfq_factor"] / step  # as if it never happened
        return kept.reset_index(drop=True)


def test_a_known_ex_date_no_factor_covers_makes_adjusted_reads_warn_and_mark_the_rows(tmp_path):
    from quantdb_pipeline.warehouse.schema import connect

    today = "2025-12-31"
    market = ForgetfulFactors(today=today)
    events = market.corporate_actions("600005")
    events = events[(events["ex_date"] >= d("2024-01-02")) & (events["ex_date"] <= d(today))]
    assert len(events) >= 2
    market.forgotten = events["ex_date"].iloc[0]
    path = tmp_path / "w.duckdb"
    conn = connect(path)
    report = load_all(conn, market, ["600005"], start="2024-01-02")
    conn.close()
    assert report.gaps[["symbol", "ex_date"]].astype(str).values.tolist() == [["600005", str(market.forgotten)]]
    assert "later ex-dates but not this one" in report.gaps["reason"].iloc[0]
    with pytest.warns(read.AdjustmentGapWarning, match=f"600005 {market.forgotten:%Y-%m-%d}"):
        qfq = read.daily_bars("600005", "2024-01-02", today, adjust="qfq", warehouse=path)
    before = (qfq["trade_date"].dt.date < market.forgotten).to_numpy()
    assert qfq["adjustment_gap"].to_numpy().tolist() == before.tolist() and before.any()
    assert qfq.attrs["adjustment_gaps"]["ex_date"].dt.date.tolist() == [market.forgotten]
    with pytest.warns(read.AdjustmentGapWarning):
        hfq = read.daily_bars("600005", "2024-01-02", today, adjust="hfq", warehouse=path)
    assert hfq["adjustment_gap"].to_numpy().tolist() == (~before).tolist()
    # qfq as of a day before the gap keeps the earlier prices and scales the later ones: those miss it
    with pytest.warns(read.AdjustmentGapWarning):
        early = read.daily_bars(
            "600005", "2024-01-02", today, adjust="qfq", as_of=market.forgotten - dt.timedelta(days=1), warehouse=path
        )
    assert early["adjustment_gap"].to_numpy().tolist() == (~before).tolist()
    with pytest.warns(read.AdjustmentGapWarning, match="600005"):
        read.panel("close", ["600005"], "2024-01-02", today, adjust="qfq", warehouse=path)
    pending = read.status(warehouse=path)["adjustment"]
    assert pending[["symbol", "kind"]].values.tolist() == [["600005", "gap"]]
    # a Hong Kong code asked of an A-share table is an error, not an empty frame
    with pytest.raises(ValueError, match="00700: not A-share symbol"):
        read.corporate_actions("00700", warehouse=path)
    with pytest.raises(ValueError, match="hk_adjustment_factors"):
        read.adjustment_factors("0700.HK", warehouse=path)
