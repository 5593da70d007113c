"""Code switches and codes that drop out of their exchange's list.

From 2025-10-09 every BSE stock listed before trades under a 920xxx code; eastmoney answers the
old 83xxxx codes with no data and serves the whole history under the new ones. The sample market
carries that switch (`BSE_SWITCH_DATE`); here it is served through the real akshare functions
behind HTTP fakes of the exchanges' lists and eastmoney's klines.
"""

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.assets import daily_bars, securities, trading_calendar
from quantdb_pipeline.loaders.bars import plan_bar_fetches
from quantdb_pipeline.loaders.factors import symbols_needing_factors
from quantdb_pipeline.loaders.profiles import profiled_symbols
from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.base import ListingFrames
from quantdb_pipeline.sources.sample import BSE_SWITCH_DATE, SampleMarket, old_bse_code
from quantdb_pipeline.warehouse.listing_status import MAX_DROP_SHARE
from quantdb_pipeline.warehouse.publish import open_working
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.conftest import failure_messages
from quantdb_pipeline_tests.faults import FakeEastmoney, FakeExchangeLists, FakeQuoteList

SIZE = 100  # 12 BSE symbols: 830001..830012, adjacent in symbol order, before the switch
BEFORE, AFTER = dt.date(2025, 9, 30), BSE_SWITCH_DATE  # the last session before it, the first after
NOW = {
    BEFORE: dt.datetime(2025, 9, 30, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
    AFTER: dt.datetime(2025, 10, 9, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
}


class FakedAkshare(MarketSourceResource):
    """The real `AkshareSource` (akshare's own functions) at a fixed Shanghai evening, no sleeping."""

    night: str = "2025-09-30"

    def build(self):
        return AkshareSource(
            requests_per_second=1e9,
            backoff_seconds=0.0,
            max_retries=1,
            sleep=lambda s: None,
            now=lambda: NOW[dt.date.fromisoformat(self.night)],
        )


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        market = SampleMarket(today=BEFORE, size=SIZE)
        yield FakeExchangeLists(market, mock), FakeEastmoney(market, mock), mock


def night(upstream, day: dt.date) -> None:
    """Upstream as of the evening of `day`; the quote list (the nightly's one-day path) too."""
    lists, eastmoney, mock = upstream
    lists.market = eastmoney.market = SampleMarket(today=day, size=SIZE)
    FakeQuoteList(lists.market, mock)


@pytest.mark.slow
def test_the_night_of_the_bse_code_switch_publishes_and_either_code_reads_the_joined_history(pipeline, upstream):
    lists, eastmoney, _ = upstream
    assets = [trading_calendar, securities, daily_bars]
    first = pipeline.run("2025-09-01", "2025-09-26", today="", assets=assets, market=FakedAkshare(night="2025-09-30"))
    assert first.success, failure_messages(first)
    bse = sorted(lists.market.universe().query("board == 'bse'")["code_after_switch"])
    old = [old_bse_code(code) for code in bse]
    assert len(old) >= 8 and old == sorted(old)  # adjacent in symbol order: one streak of empty answers
    assert pipeline.query("SELECT count(DISTINCT symbol) AS n FROM daily_bars WHERE symbol LIKE '83%'")["n"][0] == 12

    night(upstream, AFTER)
    eastmoney.calls.clear()
    # a catch-up run (a night was missed): every symbol's three missing days come from the
    # history endpoint, where the 12 old codes used to answer empty one after the other
    second = pipeline.run("2025-09-29", "2025-10-09", today="", assets=assets, market=FakedAkshare(night="2025-10-09"))
    assert second.success, failure_messages(second)  # published: no breaker, no failed step
    assert pipeline.bars_metadata(second)["upstream_requests"] == len(eastmoney.calls) > 12
    assert not set(eastmoney.calls) & set(old)  # the old codes are not asked for any more

    # every other listed symbol's bar of the night is published, and the 920 codes' whole history
    market = SampleMarket(today=AFTER, size=SIZE)
    expected = {code for code in market.universe()["code"] if len(market.a_share_daily_raw(code, AFTER, AFTER))}
    published = read.daily_bars(sorted(expected), AFTER, AFTER, warehouse=pipeline.warehouse)
    assert set(published["symbol"]) == expected and set(bse) <= expected

    # the old codes are inactive, kept, and mapped to their twins from the switch date on
    universe = read.securities(warehouse=pipeline.warehouse).set_index("symbol")
    assert universe.loc[old, "status"].tolist() == ["switched"] * len(old)
    assert universe.loc[old, "new_symbol"].tolist() == bse
    assert universe.loc[bse, "status"].tolist() == ["listed"] * len(bse)
    changes = pipeline.query("SELECT old_symbol, new_symbol, change_date, matched_by FROM symbol_changes ORDER BY 1")
    assert changes.assign(change_date=changes["change_date"].dt.date).values.tolist() == [
        [o, n, AFTER, "name_and_list_date"] for o, n in zip(old, bse)
    ]

    # either code reads one history: the old code's stored bars before the switch, the new code's after
    for code in (old[0], bse[0]):
        joined = read.daily_bars(
            code, "2025-09-01", "2025-10-09", columns=["close", "volume"], warehouse=pipeline.warehouse
        )
        truth = market.a_share_daily_raw(bse[0], dt.date(2025, 9, 1), AFTER)
        assert joined["trade_date"].dt.date.tolist() == truth["日期"].tolist()
        assert joined["close"].tolist() == truth["收盘"].tolist()
        assert joined["volume"].tolist() == (truth["成交量"] * 100).tolist()
        assert set(joined["symbol"]) == {code}  # reported under the code asked for
        assert joined.attrs["symbol_changes"][["old_symbol", "new_symbol"]].values.tolist() == [[old[0], bse[0]]]
    # nor does status() list them as behind or waiting for a retry
    for name, frame in read.status(warehouse=pipeline.warehouse).items():
        if "symbol" in frame.columns:
            assert not set(frame["symbol"].dropna()) & set(old), name
    before_switch = pipeline.query(
        "SELECT run_id FROM daily_bars WHERE symbol = ? AND trade_date = '2025-09-26'", [old[0]]
    )
    assert before_switch["run_id"].tolist() == [first.run_id]  # the old code's own bar, kept

    # point in time, each company trades under one code: the old before the switch, the new from it on
    on_sep_26 = set(read.securities(as_of="2025-09-26", warehouse=pipeline.warehouse)["symbol"])
    on_switch = set(read.securities(as_of=AFTER, warehouse=pipeline.warehouse)["symbol"])
    assert set(old) <= on_sep_26 and not set(bse) & on_sep_26
    assert set(bse) <= on_switch and not set(old) & on_switch
    # and a panel of the whole market has one column per company, with the new code's history
    wide = read.panel("close", start="2025-09-01", end="2025-10-09", warehouse=pipeline.warehouse)
    assert not set(old) & set(wide.columns) and set(bse) <= set(wide.columns)
    assert wide[bse[0]].dropna().tolist() == truth["收盘"].tolist()


def sample_warehouse(tmp_path, market: SampleMarket):
    conn = open_working(tmp_path / "quantdb.duckdb")
    migrate(conn)
    lineage = Lineage.now("sample", "setup")
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    return conn


class ShortList(SampleMarket):
    """A night on which the SZSE list comes back cut to its first rows, and one SSE code is gone."""

    def __init__(self, *args, keep_sz: int, drop_sh: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_sz, self.drop_sh = keep_sz, drop_sh

    def listings_raw(self) -> ListingFrames:
        lists = super().listings_raw()
        sh_main = lists.sh_main[lists.sh_main["证券代码"] != self.drop_sh].reset_index(drop=True)
        return dataclasses.replace(lists, sz=lists.sz.head(self.keep_sz), sh_main=sh_main)


def statuses(conn, symbols) -> list[str]:
    rows = dict(
        conn.execute(
            "SELECT symbol, status FROM securities WHERE symbol IN (SELECT unnest(?::VARCHAR[]))", [symbols]
        ).fetchall()
    )
    return [rows[s] for s in symbols]


def test_a_cut_list_deactivates_nothing_while_a_code_that_really_left_stops_being_fetched(tmp_path):
    day = dt.date(2024, 8, 30)
    conn = sample_warehouse(tmp_path, SampleMarket(today=day))
    sz = sorted(s for (s,) in conn.execute("SELECT symbol FROM securities WHERE exchange = 'SZ'").fetchall())
    assert len(sz) - 3 > max(3, MAX_DROP_SHARE * len(sz))  # the cut below is beyond the bound
    gone = "600003"
    loaded = load_securities(
        conn, ShortList(today=day + dt.timedelta(days=1), keep_sz=3, drop_sh=gone), Lineage.now("sample", "night")
    )
    assert loaded.counts["drops_refused"] == len(sz) - 3 and loaded.counts["dropped"] == 1
    assert set(statuses(conn, sz)) == {"listed"}  # the cut SZSE list deactivated nobody
    assert statuses(conn, [gone]) == ["dropped"]  # one SSE code left its list: inactive
    plan = plan_bar_fetches(conn, day, day + dt.timedelta(days=3), day + dt.timedelta(days=3))
    planned = {f.symbol for f in plan.fetches}
    assert gone not in planned and set(sz) <= planned
    assert gone not in profiled_symbols(conn, day)
    assert read_securities_row(conn, gone)["status"] == "dropped"  # kept, not deleted
    # the code is back in the list: fetched again
    load_securities(conn, SampleMarket(today=day + dt.timedelta(days=2)), Lineage.now("sample", "back"), force=True)
    assert statuses(conn, [gone]) == ["listed"]
    conn.close()


def read_securities_row(conn, symbol: str) -> dict:
    return conn.execute("SELECT * FROM securities WHERE symbol = ?", [symbol]).df().iloc[0].to_dict()


class BothCodesListed(SampleMarket):
    """The BSE list shows an old code next to its twin (same name and listing date), and
    optionally names the previous code in a 原代码 column."""

    def __init__(self, *args, old_code_column: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.old_code_column = old_code_column

    def listings_raw(self) -> ListingFrames:
        lists = super().listings_raw()
        bj = lists.bj
        olds = bj.assign(证券代码=bj["证券代码"].map(old_bse_code))
        if self.old_code_column:
            bj = bj.assign(原代码=olds["证券代码"], 证券简称=bj["证券简称"] + "(新)")  # names differ: only 原代码 maps
            olds = olds.assign(原代码=None)
        return dataclasses.replace(lists, bj=pd.concat([olds, bj], ignore_index=True))


@pytest.mark.parametrize("old_code_column, matched_by", [(False, "name_and_list_date"), (True, "exchange_list")])
def test_an_old_code_listed_next_to_its_twin_is_switched_and_never_fetched(tmp_path, old_code_column, matched_by):
    market = BothCodesListed(today=AFTER, old_code_column=old_code_column)
    conn = sample_warehouse(tmp_path, market)
    bse = sorted(market.universe().query("board == 'bse'")["code"])
    old = [old_bse_code(c) for c in bse]
    changes = conn.execute(
        "SELECT old_symbol, new_symbol, matched_by, change_date FROM symbol_changes ORDER BY 1"
    ).fetchall()
    # no bars of the old codes, and they are still listed: the switch date is the BSE's
    assert changes == [(o, n, matched_by, AFTER) for o, n in zip(old, bse)]
    assert statuses(conn, old) == ["switched"] * len(old)
    plan = plan_bar_fetches(conn, AFTER, AFTER, AFTER)
    assert not {f.symbol for f in plan.fetches} & set(old) and set(bse) <= {f.symbol for f in plan.fetches}
    # a later load keeps them switched (still listed next to their twins), and adds no row twice
    load_securities(conn, market, Lineage.now("sample", "again"), force=True)
    assert statuses(conn, old) == ["switched"] * len(old)
    assert conn.execute("SELECT count(*) FROM symbol_changes").fetchall() == [(len(old),)]
    conn.close()


def test_the_previous_code_column_of_the_bse_list_is_read_when_present():
    bj = pd.DataFrame(
        {
            "证券代码": ["920163", "920799", "920001"],
            "原代码": ["838163", None, "920001"],
            "证券简称": ["方大新材", "艾融软件", "x"],
        }
    )
    assert normalize.bse_previous_codes(bj).values.tolist() == [["838163", "920163"]]
    assert normalize.bse_previous_codes(bj.drop(columns="原代码")).empty  # akshare 1.19.5's shape


def test_inactive_codes_with_bars_are_not_due_for_factors(tmp_path):
    conn = sample_warehouse(tmp_path, SampleMarket(today=BEFORE))
    from quantdb_pipeline.loaders.bars import load_daily_bars

    load_daily_bars(conn, SampleMarket(today=BEFORE), dt.date(2025, 9, 22), BEFORE, Lineage.now("sample", "bars"))
    load_securities(conn, SampleMarket(today=AFTER), Lineage.now("sample", "after"), force=True)
    old = [s for (s,) in conn.execute("SELECT symbol FROM securities WHERE status = 'switched'").fetchall()]
    assert old and all(s.startswith("83") for s in old)
    due = symbols_needing_factors(conn, AFTER)
    assert not set(due) & set(old) and any(s.startswith("60") for s in due)
    conn.close()


def tiny_switch(tmp_path, new_factors_reach_back: bool):
    """830001 trades 09-26 and 09-29 (ex-date 09-29: factor 1 -> 1.25), 920001 from 10-09 on. The
    new code's factors either repeat the old history (sina serving it under the new code) or
    start afresh at 1.0 on its first day."""
    from quantdb_pipeline.warehouse.publish import publish

    conn = open_working(tmp_path / "quantdb.duckdb")
    migrate(conn)
    stamp = "'t', 'r', now()"
    conn.execute(f"""INSERT INTO securities (symbol, exchange, board, name, is_st, list_date, source, run_id,
                     ingested_at, status) VALUES ('830001', 'BJ', 'bse', 'X', false, DATE '2022-01-04', {stamp},
                     'switched'), ('920001', 'BJ', 'bse', 'X', false, DATE '2022-01-04', {stamp}, 'listed')""")
    bars = [
        ("830001", "2025-09-26", 10.0, 10.0),
        ("830001", "2025-09-29", 8.0, 10.0),
        ("920001", "2025-10-09", 8.4, 8.0),
        ("920001", "2025-10-10", 8.8, 8.4),
    ]
    for symbol, day, close, previous in bars:
        conn.execute(
            f"INSERT INTO daily_bars (symbol, trade_date, open, high, low, close, volume, amount, prev_close, "
            f"source, run_id, ingested_at) VALUES (?, ?, ?, ?, ?, ?, 100, 1000.0, ?, {stamp})",
            [symbol, day, close, close, close, close, previous],
        )
    factors = [("830001", "2022-01-04", 1.0), ("830001", "2025-09-29", 1.25)]
    factors += (
        [("920001", "2022-01-04", 1.0), ("920001", "2025-09-29", 1.25)]
        if new_factors_reach_back
        else [("920001", "2025-10-09", 1.0)]
    )
    for symbol, day, factor in factors:
        conn.execute(
            f"INSERT INTO adjustment_factors (symbol, ex_date, hfq_factor, source, run_id, ingested_at) "
            f"VALUES (?, ?, ?, {stamp})",
            [symbol, day, factor],
        )
    conn.execute(
        f"INSERT INTO symbol_changes VALUES ('830001', '920001', DATE '2025-10-09', 'name_and_list_date', "
        f"'X', DATE '2022-01-04', {stamp})"
    )
    conn.close()
    publish(tmp_path / "quantdb.duckdb")
    return tmp_path / "quantdb.duckdb"


@pytest.mark.parametrize("reach_back", [True, False], ids=["new_factors_cover_history", "new_factors_start_fresh"])
def test_adjusted_prices_of_the_joined_history_stay_continuous(tmp_path, reach_back):
    path = tiny_switch(tmp_path, reach_back)
    for code in ("830001", "920001"):
        hfq = read.daily_bars(code, columns=["close", "hfq_factor"], adjust="hfq", warehouse=path)
        assert hfq["close"].tolist() == [10.0, 10.0, 10.5, 11.0]  # 8 x 1.25 on and after the ex-date
        qfq = read.daily_bars(code, columns=["close", "pct_change"], adjust="qfq", warehouse=path)
        assert qfq["close"].round(6).tolist() == [8.0, 8.0, 8.4, 8.8]  # the latest prices as traded
        assert qfq["pct_change"].tolist()[1:] == [0.0, 5.0, 4.76]  # no jump at the switch or ex-date
        assert set(qfq["symbol"]) == {code}


def test_the_new_listings_sensor_never_asks_for_a_switched_code(tmp_path, monkeypatch):
    from quantdb_pipeline.sensors import unloaded_listings

    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(tiny_switch(tmp_path, new_factors_reach_back=True)))
    symbols, last = unloaded_listings()  # neither code has bar coverage in this warehouse
    assert symbols == ["920001"] and last == dt.date(2025, 10, 10)
