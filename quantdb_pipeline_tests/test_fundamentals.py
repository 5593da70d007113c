"""Profiles with history and financial reports read point-in-time, on the sample market
through Dagster, and the rules that keep bad reports out. The financial tests here run the
per-symbol path: their symbols are the financials watchlist (the whole-market path is
test_financial_reports.py)."""

import datetime as dt

import pandas as pd
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.assets import financial_indicators, financial_statements, securities, security_profiles
from quantdb_pipeline.loaders.fundamentals import open_report_periods, reports_due
from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources.sample import (
    BANK_SYMBOL,
    INDUSTRY_CHANGE_DATE,
    INDUSTRY_CHANGE_SYMBOL,
    ST_DATE,
    ST_SYMBOL,
    SampleMarket,
)
from quantdb_pipeline_tests.conftest import d, failure_messages

pytestmark = pytest.mark.slow  # each test loads profiles and statements through Dagster

ASSETS = [securities, security_profiles, financial_statements, financial_indicators]
SYMBOLS = f"{ST_SYMBOL},{BANK_SYMBOL},600000,{INDUSTRY_CHANGE_SYMBOL}"


def run(pipeline, today: str, market=None, **config):
    from quantdb_pipeline.assets import trading_calendar

    result = pipeline.run(
        today,
        today,
        today=today,
        assets=[trading_calendar, *ASSETS],
        market=market,
        **({} if market else {"symbols": SYMBOLS, "financials_watchlist": SYMBOLS}),
        **config,
    )
    assert result.success, failure_messages(result)
    return result


def test_a_name_change_to_st_starts_a_new_version_and_keeps_the_old_one(pipeline):
    before, after = ST_DATE - dt.timedelta(days=3), ST_DATE + dt.timedelta(days=5)
    run(pipeline, before.isoformat())
    result = run(pipeline, after.isoformat())  # a week later: the weekly refresh sees the new name
    meta = pipeline.metadata(result, "security_profiles")
    assert "weekly refresh" in meta["why_fetched"] and "*ST" in meta["new_versions"]
    old = read.profile(ST_SYMBOL, as_of=before, warehouse=pipeline.warehouse)
    new = read.profile(ST_SYMBOL, warehouse=pipeline.warehouse)
    assert not old["is_st"] and new["is_st"] and new["name"] == "*ST " + old["name"]
    assert old["valid_to"].date() == after and new["valid_from"].date() == after
    assert (
        read.profile(ST_SYMBOL, as_of=after - dt.timedelta(days=1), warehouse=pipeline.warehouse)["name"] == old["name"]
    )
    as_of_before = read.securities(as_of=before, warehouse=pipeline.warehouse).set_index("symbol")
    assert not as_of_before.loc[ST_SYMBOL, "is_st"] and as_of_before.loc[ST_SYMBOL, "profile_known"]
    assert read.securities(warehouse=pipeline.warehouse).set_index("symbol").loc[ST_SYMBOL, "is_st"]
    # before the first observation, SZSE's dated name-change record answers the name (and nothing else)
    earlier = read.profile(ST_SYMBOL, as_of=before - dt.timedelta(days=30), warehouse=pipeline.warehouse)
    assert earlier["name"] == old["name"] and not earlier["is_st"] and earlier["valid_to"].date() == ST_DATE
    assert earlier["shares_source"] == "exchange_record" and pd.isna(earlier["total_shares"])
    with pytest.raises(read.NoProfileError, match=f"first was observed on {before}"):  # SSE: no dated record
        read.profile("600000", as_of=before - dt.timedelta(days=30), warehouse=pipeline.warehouse)
    history = pipeline.query("SELECT count(*) AS n FROM security_profiles WHERE symbol = ?", [ST_SYMBOL])
    assert history["n"][0] == 2
    unchanged = pipeline.query("SELECT count(*) AS n FROM security_profiles WHERE symbol = '600000'")
    assert unchanged["n"][0] == 1  # market values move every day; they do not make versions


def test_an_industry_change_is_kept_as_history(pipeline):
    run(pipeline, (INDUSTRY_CHANGE_DATE - dt.timedelta(days=4)).isoformat())
    run(pipeline, (INDUSTRY_CHANGE_DATE + dt.timedelta(days=3)).isoformat())
    versions = pipeline.query(
        "SELECT industry FROM security_profiles WHERE symbol = ? ORDER BY valid_from", [INDUSTRY_CHANGE_SYMBOL]
    )
    assert versions["industry"].tolist()[1] == "非银金融" and versions["industry"].tolist()[0] != "非银金融"


def test_reports_are_read_point_in_time_around_their_announcement(pipeline):
    today = "2024-11-15"
    run(pipeline, today)
    market = SampleMarket(today=today)
    reports = market.financial_reports("600000")
    q3 = reports[reports["report_date"] == dt.date(2024, 9, 30)].iloc[0]
    notice = q3["notice_date"]
    seen_before = read.financials(
        "600000", ["revenue"], as_of=notice - dt.timedelta(days=1), warehouse=pipeline.warehouse
    )
    seen_on = read.financials("600000", ["revenue"], as_of=notice, warehouse=pipeline.warehouse)
    assert dt.date(2024, 9, 30) not in set(seen_before["report_date"].dt.date)
    row = seen_on[seen_on["report_date"].dt.date == dt.date(2024, 9, 30)].iloc[0]
    assert row["revenue"] == pytest.approx(q3["revenue"]) and row["available_from"].date() == notice
    assert not row["available_from_estimated"]
    everything = read.financials("600000", warehouse=pipeline.warehouse)
    assert everything["report_date"].dt.date.max() == dt.date(2024, 9, 30)  # Q4 not announced by 11-15
    assert {"revenue", "parent_net_profit", "eps_basic", "roe", "debt_to_assets"} <= set(everything.columns)
    with pytest.raises(ValueError, match="unknown metric"):
        read.financials("600000", ["turnover"], warehouse=pipeline.warehouse)


class NoStatements(SampleMarket):
    """eastmoney has nothing for 600000: only sina's indicators, without announcement dates."""

    def statement_raw(self, symbol, statement):
        return pd.DataFrame() if symbol == "600000" else super().statement_raw(symbol, statement)


class Unbalanced(SampleMarket):
    """The bank's latest balance sheet does not balance."""

    def statement_raw(self, symbol, statement):
        raw = super().statement_raw(symbol, statement)
        if symbol == BANK_SYMBOL and statement == "balance" and self.today() > dt.date(2024, 11, 10):
            raw = raw.copy()
            raw.loc[0, "TOTAL_ASSETS"] = raw.loc[0, "TOTAL_ASSETS"] * 1.2
        return raw


def sample_resource(cls, today):
    class Market(MarketSourceResource):
        def build(self):
            return cls(today=today)

    return Market(kind="sample", symbols=SYMBOLS, financials_watchlist=SYMBOLS)


def test_without_an_announcement_date_the_statutory_deadline_applies_and_is_flagged(pipeline):
    run(pipeline, "2024-11-15", market=sample_resource(NoStatements, "2024-11-15"))
    rows = read.financials("600000", ["revenue"], warehouse=pipeline.warehouse)
    q3 = rows[rows["report_date"].dt.date == dt.date(2024, 9, 30)].iloc[0]
    assert q3["available_from_estimated"] and q3["available_from"].date() == dt.date(2024, 10, 31)
    annual = rows[rows["report_date"].dt.date == dt.date(2023, 12, 31)].iloc[0]
    assert annual["available_from"].date() == dt.date(2024, 4, 30)
    assert dt.date(2024, 9, 30) not in set(
        read.financials("600000", as_of="2024-10-30", warehouse=pipeline.warehouse)["report_date"].dt.date
    )


def test_a_label_we_do_not_map_is_kept_and_a_bank_layout_loads(pipeline):
    run(pipeline, "2024-11-15")
    unknown = pipeline.query(
        "SELECT DISTINCT indicator, metric FROM financial_indicators WHERE indicator = '研发费用率'"
    )
    assert len(unknown) == 1 and unknown["metric"].isna().all()
    bank = pipeline.query(
        "SELECT DISTINCT item FROM financial_statements WHERE symbol = ? AND statement = 'balance'", [BANK_SYMBOL]
    )
    assert {"LOAN_ADVANCE", "ACCEPT_DEPOSIT", "TOTAL_ASSETS"} <= set(bank["item"])
    assert "TOTAL_CURRENT_ASSETS" not in set(bank["item"])
    income = pipeline.query(
        "SELECT DISTINCT item FROM financial_statements WHERE symbol = ? AND statement = 'income'", [BANK_SYMBOL]
    )
    assert "OPERATE_INCOME" in set(income["item"])
    assert not any(i.endswith("_YOY") for i in income["item"])


def test_an_unbalanced_balance_sheet_is_quarantined_and_the_stored_report_kept(pipeline):
    run(pipeline, "2024-11-08")
    stored = pipeline.query(
        "SELECT value FROM financial_statements WHERE symbol = ? AND statement = 'balance' "
        "AND item = 'TOTAL_ASSETS' AND report_date = '2024-09-30'",
        [BANK_SYMBOL],
    )
    assert len(stored) == 1
    from quantdb_pipeline.assets import trading_calendar

    result = pipeline.run(
        "2024-11-15",
        "2024-11-15",
        today="2024-11-15",
        assets=[trading_calendar, *ASSETS],
        market=sample_resource(Unbalanced, "2024-11-15"),
        ops={"financial_statements": {"config": {"refresh": True}}},
    )
    assert result.success, failure_messages(result)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    statements_check = checks["financial_statements_suite"]
    assert not statements_check.passed and "balance_identity" in statements_check.description
    after = pipeline.query(
        "SELECT value FROM financial_statements WHERE symbol = ? AND statement = 'balance' "
        "AND item = 'TOTAL_ASSETS' AND report_date = '2024-09-30'",
        [BANK_SYMBOL],
    )
    assert after["value"].tolist() == stored["value"].tolist()  # the stored, balanced report is kept
    quarantined = pipeline.query("SELECT DISTINCT rules FROM quarantine WHERE table_name = 'financial_statements'")
    assert quarantined["rules"].tolist() == ["balance_identity"]


def test_reports_are_fetched_only_when_a_new_one_can_exist(pipeline):
    first = run(pipeline, "2024-11-15")
    # per symbol, as akshare asks: the company type once, then per statement the report dates and 5 reports a request
    market = SampleMarket(today="2024-11-15")
    announced = {
        s: int((market.financial_reports(s)["notice_date"] <= d("2024-11-15")).sum()) for s in SYMBOLS.split(",")
    }
    assert pipeline.metadata(first, "financial_statements")["upstream_requests"] == sum(
        1 + 3 * (1 + -(-n // 5)) for n in announced.values()
    )
    again = run(pipeline, "2024-11-15")
    assert pipeline.metadata(again, "financial_statements")["upstream_requests"] == 0
    assert pipeline.metadata(again, "security_profiles")["upstream_requests"] == 0
    quiet = run(pipeline, "2024-12-20")  # no disclosure window open: nothing can be new
    assert pipeline.metadata(quiet, "financial_statements")["upstream_requests"] == 0
    assert open_report_periods(d("2024-12-20")) == []
    assert open_report_periods(d("2025-04-10")) == [dt.date(2024, 12, 31), dt.date(2025, 3, 31)]
    window = run(pipeline, "2025-04-10")  # annual and Q1 reports are due
    meta = pipeline.metadata(window, "financial_statements")
    assert meta["upstream_requests"] > 0 and "report due" in meta["why_fetched"]


def test_due_logic_waits_a_week_between_attempts_inside_a_window(tmp_path):
    from quantdb_pipeline.loaders.fundamentals import STATEMENTS, load_statements
    from quantdb_pipeline.loaders.reference import load_securities
    from quantdb_pipeline.warehouse.schema import connect
    from quantdb_pipeline.warehouse.writes import Lineage

    conn = connect(tmp_path / "w.duckdb")
    for today in ("2025-04-02", "2025-04-05", "2025-04-09"):
        market = SampleMarket(today=today)
        load_securities(conn, market, Lineage.now("sample", today))
        report = load_statements(conn, market, Lineage.now("sample", today), symbols=["600000"])
        due = reports_due(conn, STATEMENTS, STATEMENTS, d(today), ["600000"])
        if today == "2025-04-02":
            assert report.due == {"600000": "never fetched"}
        elif today == "2025-04-05":
            assert report.due == {}  # the annual report is still missing, but asked 3 days ago
        else:
            assert "600000" in report.due and report.due["600000"].startswith("report ")
    assert due == {}  # just asked: not due again until a week has passed
