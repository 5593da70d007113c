"""The real assets, materialized with dagster.materialize on a real instance and DuckDB file."""

import datetime as dt

import duckdb
import pandas as pd
import pandas.testing as pdt
import pytest

from quantdb_pipeline.assets import daily_bars, securities
from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources.sample import (
    BSE_SWITCH_DATE,
    DELIST_DATE,
    DELISTED_SYMBOL,
    IPO_DATE,
    IPO_SYMBOL,
    SUSPENDED_SYMBOL,
    SUSPENSION,
    SampleMarket,
    old_bse_code,
)
from quantdb_pipeline.warehouse.publish import working_path
from quantdb_pipeline_tests import faults
from quantdb_pipeline_tests.conftest import d, failure_messages

pytestmark = pytest.mark.slow  # each test materializes the assets through Dagster over a range of days

START, END = "2024-05-20", "2024-07-31"  # spans the sample suspension
ALL_COLUMNS = "SELECT * FROM {} ORDER BY ALL"


def expected_rows(market: SampleMarket, start: dt.date, end: dt.date) -> dict[str, int]:
    counts = {}
    for code in market.universe()["code"]:
        raw = market.a_share_daily_raw(code, start, end)
        if len(raw):
            counts[code] = len(raw)
    return counts


def test_backfill_of_a_range_is_one_run_with_one_request_per_symbol(pipeline):
    result = pipeline.run(START, END, today="2024-08-30")
    assert result.success
    meta = pipeline.bars_metadata(result)
    market = SampleMarket(today="2024-08-30")
    expected = expected_rows(market, d(START), d(END))
    assert meta["upstream_requests"] == meta["symbols_updated"] == len(expected)
    assert meta["rows_written"] == sum(expected.values())
    per_symbol = pipeline.query("SELECT symbol, count(*) AS n FROM daily_bars GROUP BY symbol")
    assert dict(zip(per_symbol["symbol"], per_symbol["n"])) == expected
    # volume arrives in lots and is stored in shares
    raw = market.a_share_daily_raw("600000", d(START), d(START))
    stored = pipeline.query("SELECT volume FROM daily_bars WHERE symbol = '600000' AND trade_date = ?", [d(START)])
    assert stored["volume"].iloc[0] == raw["成交量"].iloc[0] * 100
    # the suspended symbol is covered through its suspension but has no rows inside it
    suspended = pipeline.query("SELECT trade_date FROM daily_bars WHERE symbol = ?", [SUSPENDED_SYMBOL])
    assert not suspended["trade_date"].dt.date.between(*SUSPENSION).any()
    coverage = pipeline.query("SELECT * FROM bar_coverage WHERE symbol = ?", [SUSPENDED_SYMBOL])
    assert coverage[["covered_from", "covered_to"]].astype(str).values.tolist() == [[START, END]]
    lineage = pipeline.query("SELECT DISTINCT source, run_id FROM daily_bars")
    assert lineage.values.tolist() == [["sample", result.run_id]]


def test_rerun_is_idempotent_and_calls_upstream_zero_times(pipeline):
    assert pipeline.run(START, END, today="2024-08-30").success
    before = {t: pipeline.query(ALL_COLUMNS.format(t)) for t in ("daily_bars", "bar_coverage", "securities")}
    again = pipeline.run(START, END, today="2024-08-30", assets=[daily_bars])
    meta = pipeline.bars_metadata(again)
    assert meta["upstream_requests"] == 0 and meta["rows_written"] == 0
    for table, frame in before.items():
        pdt.assert_frame_equal(pipeline.query(ALL_COLUMNS.format(table)), frame)


def test_reloading_a_window_replaces_it_with_identical_rows(pipeline):
    assert pipeline.run(START, END, today="2024-08-30").success
    columns = "symbol, trade_date, open, high, low, close, volume, amount, pct_change, turnover_rate"
    before = pipeline.query(f"SELECT {columns} FROM daily_bars ORDER BY ALL")
    with duckdb.connect(str(working_path(pipeline.warehouse))) as conn:
        conn.execute("DELETE FROM bar_coverage")  # forget coverage: everything is fetched again
    again = pipeline.run(START, END, today="2024-08-30", assets=[daily_bars])
    assert pipeline.bars_metadata(again)["rows_written"] == len(before)
    pdt.assert_frame_equal(pipeline.query(f"SELECT {columns} FROM daily_bars ORDER BY ALL"), before)
    assert pipeline.query("SELECT DISTINCT run_id FROM daily_bars")["run_id"].tolist() == [again.run_id]


def test_next_day_fetches_only_that_day(pipeline):
    assert pipeline.run(START, END, today="2024-08-30").success
    result = pipeline.run("2024-08-01", "2024-08-01", today="2024-08-30", assets=[daily_bars])
    meta = pipeline.bars_metadata(result)
    market = SampleMarket(today="2024-08-30")
    expected = expected_rows(market, d("2024-08-01"), d("2024-08-01"))
    assert meta["rows_written"] == len(expected) == meta["upstream_requests"]
    assert pipeline.query("SELECT max(trade_date) AS m FROM daily_bars")["m"].iloc[0].date() == d("2024-08-01")
    coverage = pipeline.query("SELECT covered_from, covered_to FROM bar_coverage WHERE symbol = '600000'")
    assert coverage.astype(str).values.tolist() == [[START, "2024-08-01"]]  # merged, not two intervals


def test_a_holiday_range_starts_no_run_writes_nothing_and_calls_nothing(pipeline, monkeypatch):
    assert pipeline.run("2024-09-23", "2024-09-30", today="2024-10-31").success
    before = pipeline.query(ALL_COLUMNS.format("daily_bars"))
    runs_before = len(pipeline.instance.get_runs())
    monkeypatch.setattr(faults.SampleMarket, "a_share_daily_raw", faults.refuse("stock_zh_a_hist"))
    # National Day week: no SSE session, so no partition; a run would record 2024-10-08 materialized
    assert pipeline.run("2024-10-01", "2024-10-07", today="2024-10-31", assets=[daily_bars]) is None
    assert len(pipeline.instance.get_runs()) == runs_before
    assert "2024-10-08" not in pipeline.instance.get_materialized_partitions(daily_bars.key)
    pdt.assert_frame_equal(pipeline.query(ALL_COLUMNS.format("daily_bars")), before)
    # a range from the holiday to the next session runs that session only
    result = pipeline.run("2024-10-05", "2024-10-08", today="2024-10-31", assets=[daily_bars])
    assert [(r.start.isoformat(), r.end.isoformat()) for r in result.runs] == [("2024-10-08", "2024-10-08")]
    assert "circuit breaker" in pipeline.metadata(result, "daily_bars")["failure_reason"]  # it did fetch


def test_a_new_listing_gets_its_history_from_its_listing_date(pipeline):
    before_ipo = (IPO_DATE - dt.timedelta(days=30)).isoformat()
    assert pipeline.run("2025-08-01", "2025-08-15", today=before_ipo).success
    assert pipeline.query("SELECT count(*) AS n FROM daily_bars WHERE symbol = ?", [IPO_SYMBOL])["n"][0] == 0
    today = "2025-10-10"
    assert pipeline.run("2025-10-10", "2025-10-10", today=today, assets=[securities]).success
    result = pipeline.run("2025-10-10", "2025-10-10", today=today, assets=[daily_bars])
    meta = pipeline.bars_metadata(result)
    ipo_rows = pipeline.query("SELECT trade_date FROM daily_bars WHERE symbol = ? ORDER BY 1", [IPO_SYMBOL])
    expected = SampleMarket(today=today).a_share_daily_raw(IPO_SYMBOL, IPO_DATE, d(today))
    assert ipo_rows["trade_date"].dt.date.tolist() == expected["日期"].tolist()
    assert ipo_rows["trade_date"].iloc[0].date() == IPO_DATE
    # every other symbol lacked the days after its coverage (08-16..10-09) too: they came in the
    # same one request per symbol as the requested day
    days = pipeline.query(
        "SELECT count(*) AS n FROM trading_calendar WHERE market = 'CN' "
        "AND trade_date BETWEEN '2025-08-18' AND '2025-10-10'"
    )["n"][0]
    gap = pipeline.query(
        "SELECT count(DISTINCT trade_date) AS days, count(DISTINCT symbol) AS symbols FROM daily_bars "
        "WHERE symbol <> ? AND trade_date BETWEEN '2025-08-16' AND '2025-10-10'",
        [IPO_SYMBOL],
    )
    assert gap["days"][0] == days and gap["symbols"][0] == meta["symbols_updated"] - 1
    assert meta["symbols_updated"] == meta["upstream_requests"]
    # the old BSE codes the first run stored are switched to their twins and no longer fetched
    bse = sorted(SampleMarket(today=today).universe().query("board == 'bse'")["code"])
    changes = pipeline.query("SELECT old_symbol, new_symbol, change_date, matched_by FROM symbol_changes ORDER BY 1")
    assert changes.assign(change_date=changes["change_date"].dt.date).values.tolist() == [
        [old_bse_code(code), code, BSE_SWITCH_DATE, "name_and_list_date"] for code in bse
    ]
    statuses = pipeline.query("SELECT status, count(*) AS n FROM securities WHERE symbol LIKE '83%' GROUP BY 1")
    assert statuses.values.tolist() == [["switched", len(bse)]]
    assert (
        pipeline.query("SELECT count(*) AS n FROM daily_bars WHERE symbol LIKE '83%' AND trade_date > '2025-08-15'")[
            "n"
        ][0]
        == 0
    )


def test_a_delisted_symbol_is_fetched_up_to_its_last_trading_day_only(pipeline):
    result = pipeline.run("2025-03-03", "2025-03-31", today="2025-04-30")
    assert result.success
    rows = pipeline.query("SELECT max(trade_date) AS m FROM daily_bars WHERE symbol = ?", [DELISTED_SYMBOL])
    assert rows["m"][0].date() == d("2025-03-14") < DELIST_DATE
    again = pipeline.run("2025-04-01", "2025-04-03", today="2025-04-30", assets=[daily_bars])
    assert (
        pipeline.query(
            "SELECT count(*) AS n FROM ingest_state WHERE symbol = ? AND run_id = ?", [DELISTED_SYMBOL, again.run_id]
        )["n"][0]
        == 0
    )


class BrokenSymbolMarket(MarketSourceResource):
    """The sample market, except that one symbol's answer has a renamed column."""

    broken: str = "600000"

    def build(self):
        market = super().build()
        original = market.a_share_daily_raw

        def a_share_daily_raw(symbol, start, end):
            raw = original(symbol, start, end)
            return raw.rename(columns={"收盘": "收盘价"}) if symbol == self.broken else raw

        market.a_share_daily_raw = a_share_daily_raw
        return market


def test_a_bad_symbol_is_isolated_recorded_and_retried_by_the_next_run(pipeline):
    broken = BrokenSymbolMarket(kind="sample", sample_today="2024-08-30")
    result = pipeline.run(START, END, today="2024-08-30", market=broken)
    assert result.success
    meta = pipeline.bars_metadata(result)
    assert meta["symbols_failed"] == 1 and "600000" in meta["failed_symbols"] and "收盘" in meta["failed_symbols"]
    state = pipeline.query("SELECT status, error FROM ingest_state WHERE symbol = '600000'")
    assert state["status"][0] == "failed" and "'收盘'" in state["error"][0]
    assert pipeline.query("SELECT count(*) AS n FROM daily_bars WHERE symbol = '600000'")["n"][0] == 0
    assert pipeline.query("SELECT count(DISTINCT symbol) AS n FROM daily_bars")["n"][0] > 50
    healed = pipeline.run(START, END, today="2024-08-30", assets=[daily_bars])
    meta = pipeline.bars_metadata(healed)
    assert meta["upstream_requests"] == 1 and meta["symbols_updated"] == 1
    assert pipeline.query("SELECT status FROM ingest_state WHERE symbol = '600000'")["status"][0] == "ok"


def test_symbols_setting_restricts_the_universe(pipeline):
    result = pipeline.run(START, "2024-05-31", today="2024-08-30", symbols="600000.SH,sz000001")
    meta = pipeline.bars_metadata(result)
    assert meta["upstream_requests"] == 2
    assert sorted(pipeline.query("SELECT DISTINCT symbol FROM daily_bars")["symbol"]) == ["000001", "600000"]


def test_bars_before_the_calendar_fail_with_a_clear_message(pipeline):
    result = pipeline.run(START, END, today="2024-08-30", assets=[daily_bars])
    assert not result.success
    messages = failure_messages(result)
    assert any("materialize trading_calendar first" in m for m in messages)


@pytest.mark.parametrize("table", ["trading_calendar", "securities", "daily_bars"])
def test_every_row_carries_lineage(pipeline, table):
    result = pipeline.run(START, "2024-05-24", today="2024-08-30")
    lineage = pipeline.query(f"SELECT DISTINCT source, run_id, ingested_at IS NOT NULL AS t FROM {table}")
    assert lineage.values.tolist() == [["sample", result.run_id, True]]
    assert isinstance(lineage, pd.DataFrame)


class FaultySampleResource(MarketSourceResource):
    """The sample market with one symbol's answer damaged, or most symbols answering empty."""

    fault: str = "negative_price"

    def build(self):
        from quantdb_pipeline_tests import faults

        market = super().build()
        if self.fault == "half_empty":
            original = market.a_share_daily_raw
            market.a_share_daily_raw = lambda s, a, b: pd.DataFrame() if int(s) % 2 else original(s, a, b)
            return market
        return faults.FaultyMarket(today=self.sample_today, symbol="600000", fault=getattr(faults, self.fault))


def checks_by_name(result) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_quarantined_rows_show_in_a_warning_check_and_the_rest_is_published(pipeline):
    result = pipeline.run(
        START, END, today="2024-08-30", market=FaultySampleResource(kind="sample", sample_today="2024-08-30")
    )
    assert result.success
    rows = checks_by_name(result)["daily_bars_rows_suite"]
    assert not rows.passed and rows.severity.value == "WARN"
    meta = {k: v.value for k, v in rows.metadata.items()}
    assert "close_positive (1)" in meta["failed_rules"] and meta["rows_quarantined"] == 1
    assert "600000" in meta["results"]  # the example row is shown
    assert checks_by_name(result)["daily_bars_batch_suite"].passed
    quarantine = pipeline.query("SELECT symbol, rules FROM quarantine")
    assert quarantine["symbol"].tolist() == ["600000"] and "close_positive" in quarantine["rules"][0]
    assert pipeline.query("SELECT count(DISTINCT symbol) AS n FROM daily_bars")["n"][0] >= 60


def test_a_refused_batch_fails_its_blocking_check_and_publishes_nothing(pipeline):
    assert pipeline.run(START, "2024-06-28", today="2024-08-30").success
    snapshot = pipeline.warehouse.read_bytes()
    result = pipeline.run(
        "2024-07-01",
        END,
        today="2024-08-30",
        assets=[daily_bars],
        market=FaultySampleResource(kind="sample", sample_today="2024-08-30", fault="half_empty"),
    )
    assert not result.success
    batch = checks_by_name(result)["daily_bars_batch_suite"]
    assert not batch.passed and batch.severity.value == "ERROR"
    assert "daily_universe_coverage" in batch.metadata["failed_rules"].value
    assert any("daily_universe_coverage" in m for m in failure_messages(result))
    published_step = [e for e in result.all_events if e.step_key == "published_warehouse" and e.is_step_success]
    assert not published_step
    assert pipeline.warehouse.read_bytes() == snapshot  # readers still see the previous snapshot
