"""Financial reports from eastmoney's whole-market tables (`stock_yjbb_em`, `stock_zcfz_em`,
`stock_zcfz_bj_em`, `stock_lrb_em`, `stock_xjll_em`), one report period at a time: the real
akshare functions behind an HTTP fake in the data center's shape (paged JSON, fields in
eastmoney's order, `"result": null` for an empty period), served from the sample market."""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.loaders.financial_reports import load_financial_reports, periods_due, report_periods
from quantdb_pipeline.loaders.fundamentals import open_report_periods
from quantdb_pipeline.loaders.reference import load_securities
from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.base import DATA_CENTER_PAGE_ROWS, REPORT_TABLES
from quantdb_pipeline.sources.sample import BANK_SYMBOL, SampleMarket
from quantdb_pipeline.warehouse.schema import connect
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.faults import FakeDataCenter

#: A small page so that the sample's ~60 companies span several pages, as 5,000 span 11 of 500.
PAGE = 20
#: reportName (and the BSE balance sheet's filter) of each table, as the fake records them.
REPORTS = {
    "summary": "RPT_LICO_FN_CPD",
    "balance": "RPT_DMSK_FN_BALANCE",
    "balance_bse": "RPT_DMSK_FN_BALANCE/BJ",
    "income": "RPT_DMSK_FN_INCOME",
    "cash_flow": "RPT_DMSK_FN_CASHFLOW",
}
Q3 = dt.date(2024, 9, 30)
SYMBOL = "600000"


def akshare_on(day: str) -> AkshareSource:
    now = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(18), tzinfo=ZoneInfo("Asia/Shanghai"))
    return AkshareSource(requests_per_second=1e9, sleep=lambda s: None, now=lambda: now)


def pages_plus_one(market: SampleMarket, table: str, period: dt.date) -> int:
    """What akshare costs for one table: page 1 for the page count, then every page."""
    rows = len(market.report_table_raw(table, period))
    return 1 + -(-rows // PAGE)


@pytest.fixture
def data_center():
    """`serve(day)`: the one fake data center, answering as upstream on `day`, its calls and
    queued faults cleared."""
    fakes = []

    def serve(day: str, page_size: int = PAGE) -> FakeDataCenter:
        if not fakes:
            fakes.append(FakeDataCenter(SampleMarket(today=day), mock, page_size=page_size))
        fakes[0].market, fakes[0].page_size = SampleMarket(today=day), page_size
        fakes[0].calls.clear()
        fakes[0].table_calls.clear()
        fakes[0].faults.clear()
        return fakes[0]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield serve


def warehouse_on(path, day: str):
    conn = connect(path)
    load_securities(conn, SampleMarket(today=day), Lineage.now("sample", f"securities-{day}"))
    return conn


@pytest.mark.slow
def test_each_table_through_akshare_costs_its_pages_plus_one_and_matches_the_sample(data_center):
    fake = data_center("2024-11-15")
    source, market = akshare_on("2024-11-15"), SampleMarket(today="2024-11-15")
    for table, report in REPORTS.items():
        got = source.report_table_raw(table, Q3)
        expected = market.report_table_raw(table, Q3)
        assert fake.requests(report) == pages_plus_one(market, table, Q3) >= 2, table
        assert list(got.columns) == list(expected.columns), table  # akshare's positional names land right
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False, obj=table)
    assert len(source.report_table_raw("summary", Q3)) == len(market.report_table_raw("balance", Q3)) + len(
        market.report_table_raw("balance_bse", Q3)
    )  # the summary holds the BSE, the main tables do not


def test_whole_market_rows_carry_the_per_symbol_paths_names_and_values(data_center):
    data_center("2024-11-15")
    source, market = akshare_on("2024-11-15"), SampleMarket(today="2024-11-15")
    statements, indicators = normalize.whole_market_reports(
        {t: source.report_table_raw(t, Q3) for t in REPORT_TABLES}, Q3, "akshare"
    )
    mine = statements[statements["symbol"] == SYMBOL].set_index(["statement", "item"])
    per_symbol = pd.concat(
        [
            normalize.financial_statement(market.statement_raw(SYMBOL, s), SYMBOL, s, "sample")
            for s in ("balance", "income", "cash_flow")
        ]
    )
    per_symbol = per_symbol[per_symbol["report_date"] == Q3].set_index(["statement", "item"])
    shared = mine.index.intersection(per_symbol.index)
    assert {i for _, i in shared} == {
        "TOTAL_ASSETS",
        "MONETARYFUNDS",
        "TOTAL_LIABILITIES",
        "TOTAL_EQUITY",
        "TOTAL_OPERATE_INCOME",
        "OPERATE_COST",
        "PARENT_NETPROFIT",
        "NETCASH_OPERATE",
        "NETCASH_INVEST",
        "NETCASH_FINANCE",
    }
    assert mine.loc[shared, "value"].tolist() == pytest.approx(per_symbol.loc[shared, "value"].tolist())
    assert set(mine["notice_date"]) == set(per_symbol.loc[shared, "notice_date"])
    assert list(mine.columns) == list(per_symbol.columns)  # same shape: symbol, report_date, value, notice, currency
    sina = normalize.financial_indicators(market.financial_abstract_raw(SYMBOL), SYMBOL, "sample")
    sina = sina[(sina["report_date"] == Q3) & sina["metric"].notna()].drop_duplicates("metric").set_index("metric")
    metrics = indicators[indicators["symbol"] == SYMBOL].set_index("metric")
    both = metrics.index.intersection(sina.index)
    assert set(both) == {
        "revenue",
        "parent_net_profit",
        "eps_basic",
        "bvps",
        "roe",
        "gross_margin",
        "total_equity",
        "operating_cash_flow",
        "debt_to_assets",
    }
    assert metrics.loc[both, "value"].tolist() == pytest.approx(sina.loc[both, "value"].tolist())
    bank = statements[(statements["symbol"] == BANK_SYMBOL) & (statements["statement"] == "balance")]
    assert "MONETARYFUNDS" not in set(bank["item"]) and "TOTAL_ASSETS" in set(bank["item"])  # null: no row


@pytest.mark.slow
def test_an_empty_period_is_one_request_per_table_and_no_error(data_center, tmp_path):
    fake = data_center("2024-11-15")
    source = akshare_on("2024-11-15")
    empty = dt.date(2015, 3, 31)  # before the sample's first report: eastmoney answers "result": null
    assert all(source.report_table_raw(t, empty).empty for t in REPORT_TABLES)
    assert len(fake.table_calls) == len(REPORT_TABLES)
    conn = warehouse_on(tmp_path / "w.duckdb", "2024-11-15")
    report = load_financial_reports(conn, source, Lineage.now("akshare", "r1"), years=10)
    assert report.failed == {} and empty in report.empty and len(report.companies) == 40 - len(report.empty)
    assert conn.execute(
        "SELECT status, companies FROM financial_report_periods WHERE report_date = ?", [empty]
    ).fetchall() == [("empty", 0)]


@pytest.mark.slow
def test_first_load_window_night_rerun_and_normal_night_ask_what_they_should(data_center, tmp_path):
    conn = warehouse_on(tmp_path / "w.duckdb", "2025-04-10")
    first = data_center("2025-04-10")
    sample = SampleMarket(today="2025-04-10")
    report = load_financial_reports(conn, akshare_on("2025-04-10"), Lineage.now("akshare", "first"), years=2)
    wanted = report_periods(dt.date(2025, 4, 10), 2)
    assert len(wanted) == 8 and set(report.due) == set(wanted) and set(report.due.values()) == {"never fetched"}
    assert len(first.table_calls) == sum(pages_plus_one(sample, t, p) for p in wanted for t in REPORT_TABLES)
    full_pages = data_center("2025-04-10", page_size=DATA_CENTER_PAGE_ROWS)  # eastmoney's own page size
    load_financial_reports(conn, akshare_on("2025-04-10"), Lineage.now("akshare", "again"), years=2, refresh=True)
    sample = SampleMarket(today="2025-04-10")
    load_financial_reports(conn, sample, Lineage.now("sample", "again"), years=2, refresh=True)
    assert sum(sample.requests.values()) == len(full_pages.table_calls) >= 8 * 5  # the sample counts HTTP

    first = data_center("2025-04-10")
    again = load_financial_reports(conn, akshare_on("2025-04-10"), Lineage.now("akshare", "again"), years=2)
    assert again.due == {} and first.table_calls == []  # the same day again: nothing asked

    night = data_center("2025-04-11")
    sample = SampleMarket(today="2025-04-11")
    report = load_financial_reports(conn, akshare_on("2025-04-11"), Lineage.now("akshare", "night"), years=2)
    open_periods = open_report_periods(dt.date(2025, 4, 11))
    assert open_periods == [dt.date(2024, 12, 31), dt.date(2025, 3, 31)]
    assert report.due == {p: "disclosure window open" for p in reversed(open_periods)}
    assert {p for _, p, _ in night.table_calls} == {p.isoformat() for p in open_periods}
    assert len(night.table_calls) == sum(pages_plus_one(sample, t, p) for p in open_periods for t in REPORT_TABLES)

    closing = data_center("2025-05-20")  # both windows closed on 05-07, after their last fetch
    report = load_financial_reports(conn, akshare_on("2025-05-20"), Lineage.now("akshare", "closing"), years=2)
    assert set(report.due) == set(open_periods) and set(report.due.values()) == {"window closed since the last fetch"}
    assert {p for _, p, _ in closing.table_calls} == {p.isoformat() for p in open_periods}
    quiet = data_center("2025-05-21")  # a normal night: no window open, nothing left to close
    assert open_report_periods(dt.date(2025, 5, 21)) == []
    report = load_financial_reports(conn, akshare_on("2025-05-21"), Lineage.now("akshare", "quiet"), years=2)
    assert report.due == {} and quiet.table_calls == []


@pytest.mark.slow
def test_a_report_is_visible_from_its_announcement_date(data_center, tmp_path):
    path = tmp_path / "w.duckdb"
    data_center("2024-11-15")
    conn = warehouse_on(path, "2024-11-15")
    load_financial_reports(conn, akshare_on("2024-11-15"), Lineage.now("akshare", "r1"), years=1)
    conn.close()
    report = SampleMarket(today="2024-11-15").financial_reports(SYMBOL).set_index("report_date").loc[Q3]
    notice = report["notice_date"]
    before = read.financials(SYMBOL, ["revenue"], as_of=notice - dt.timedelta(days=1), warehouse=path)
    on = read.financials(SYMBOL, ["revenue", "debt_to_assets"], as_of=notice, warehouse=path)
    assert Q3 not in set(before["report_date"].dt.date)
    row = on[on["report_date"].dt.date == Q3].iloc[0]
    assert row["available_from"].date() == notice and not row["available_from_estimated"]
    assert row["revenue"] == pytest.approx(report["revenue"])
    assert row["debt_to_assets"] == pytest.approx(report["debt_to_assets"])
    import duckdb

    with duckdb.connect(str(path), read_only=True) as view:
        seen = view.execute(
            "SELECT available_from FROM key_financials WHERE symbol = ? AND report_date = ?", [SYMBOL, Q3]
        ).fetchall()
    assert seen == [(notice,)]


@pytest.mark.slow
def test_a_bad_row_is_quarantined_and_the_periods_other_rows_are_written(data_center, tmp_path):
    fake = data_center("2024-11-15")

    def unbalanced(table):
        table = table.copy()
        table.loc[table["股票代码"] == SYMBOL, "资产-总资产"] *= 1.2
        return table

    fake.queue(Q3.isoformat(), *[unbalanced] * 10, report="RPT_DMSK_FN_BALANCE")  # on every page of the table
    conn = warehouse_on(tmp_path / "w.duckdb", "2024-11-15")
    report = load_financial_reports(conn, akshare_on("2024-11-15"), Lineage.now("akshare", "r1"), years=1)
    assert report.failed == {} and report.rows_quarantined == 4  # 600000's four balance items of Q3
    quarantined = conn.execute(
        "SELECT DISTINCT symbol, trade_date, rules FROM quarantine WHERE table_name = 'financial_statements'"
    ).fetchall()
    assert quarantined == [(SYMBOL, Q3, "balance_identity")]
    stored = conn.execute(
        "SELECT statement, count(*) FROM financial_statements WHERE symbol = ? AND report_date = ? "
        "GROUP BY ALL ORDER BY 1",
        [SYMBOL, Q3],
    ).fetchall()
    assert stored == [("cash_flow", 4), ("income", 3)]  # its other statements are written
    others = conn.execute(
        "SELECT count(DISTINCT symbol) FROM financial_statements WHERE statement = 'balance' AND report_date = ?", [Q3]
    ).fetchone()[0]
    assert others == report.companies[Q3] - 1
    assert conn.execute("SELECT status FROM financial_report_periods WHERE report_date = ?", [Q3]).fetchone() == ("ok",)


def test_periods_due_on_an_empty_warehouse_cover_the_configured_years(tmp_path):
    conn = connect(tmp_path / "w.duckdb")
    due = periods_due(conn, dt.date(2025, 4, 10), years=10)
    assert len(due) == 40 and max(due) == dt.date(2025, 3, 31) and min(due) == dt.date(2015, 6, 30)
    assert list(due) == sorted(due, reverse=True)  # newest first: a cut-short first load has the recent ones


@pytest.mark.slow
def test_through_dagster_the_whole_market_is_the_default_and_the_watchlist_looks_the_same(pipeline, instance, tmp_path):
    from quantdb_pipeline.assets import financial_indicators, financial_statements, securities, trading_calendar
    from quantdb_pipeline_tests.conftest import Pipeline, failure_messages

    today, symbols = "2024-11-15", f"{SYMBOL},{BANK_SYMBOL},600001"
    assets = [trading_calendar, securities, financial_statements, financial_indicators]
    default = pipeline.run(today, today, today=today, assets=assets, symbols=symbols, financial_years=1)
    assert default.success, failure_messages(default)
    statements_meta = pipeline.metadata(default, "financial_statements")
    market = SampleMarket(today=today)
    assert statements_meta["periods_fetched"] == 4 and statements_meta["symbols_due"] == 0
    assert statements_meta["upstream_requests"] == sum(
        1 + -(-len(market.report_table_raw(t, p)) // DATA_CENTER_PAGE_ROWS)
        for p in report_periods(dt.date(2024, 11, 15), 1)
        for t in REPORT_TABLES
    )
    assert pipeline.metadata(default, "financial_indicators")["upstream_requests"] == 0  # no watchlist, no sina
    stored = set(pipeline.query("SELECT DISTINCT symbol FROM financial_statements")["symbol"])
    assert stored == {SYMBOL, BANK_SYMBOL, "600001"}  # the run's symbols only

    watched = Pipeline(instance, tmp_path / "watched.duckdb")
    result = watched.run(
        today, today, today=today, assets=assets, symbols=symbols, financial_years=1, financials_watchlist=SYMBOL
    )
    assert result.success, failure_messages(result)
    assert watched.metadata(result, "financial_statements")["symbols_due"] == 1
    assert watched.metadata(result, "financial_indicators")["symbols_due"] == 1
    whole = read.financials(SYMBOL, as_of=today, warehouse=pipeline.warehouse).set_index("report_date")
    per_symbol = read.financials(SYMBOL, as_of=today, warehouse=watched.warehouse).set_index("report_date")
    q3 = pd.Timestamp(Q3)
    for metric in (
        "revenue",
        "parent_net_profit",
        "eps_basic",
        "bvps",
        "roe",
        "gross_margin",
        "total_equity",
        "operating_cash_flow",
        "debt_to_assets",
    ):
        assert whole.loc[q3, metric] == pytest.approx(per_symbol.loc[q3, metric]), metric
    assert whole.loc[q3, "available_from"] == per_symbol.loc[q3, "available_from"]
    sql = (
        "SELECT statement, item, value, notice_date FROM financial_statements WHERE symbol = ? "
        "AND report_date = ? ORDER BY ALL"
    )
    a, b = pipeline.query(sql, [SYMBOL, Q3]), watched.query(sql, [SYMBOL, Q3])
    shared = a.merge(b, on=["statement", "item"], suffixes=("_whole", "_per_symbol"))
    assert len(shared) == 10 and (shared["value_whole"] - shared["value_per_symbol"]).abs().max() < 1e-6
    assert (shared["notice_date_whole"] == shared["notice_date_per_symbol"]).all()


@pytest.mark.slow
def test_a_refetched_period_replaces_the_companies_rows_and_clears_their_quarantine(data_center, tmp_path):
    fake = data_center("2024-11-15")

    def unbalanced(table):
        table = table.copy()
        table.loc[table["股票代码"] == SYMBOL, "资产-总资产"] *= 1.2
        return table

    fake.queue(Q3.isoformat(), *[unbalanced] * 10, report="RPT_DMSK_FN_BALANCE")
    conn = warehouse_on(tmp_path / "w.duckdb", "2024-11-15")
    load_financial_reports(conn, akshare_on("2024-11-15"), Lineage.now("akshare", "r1"), years=1)
    other = "600001"
    data_center("2024-11-18")

    def restated(table):  # upstream restates 600001's revenue and drops its operating cost
        table = table.copy()
        table.loc[table["股票代码"] == other, "营业总收入"] = 1234.5
        table.loc[table["股票代码"] == other, "营业总支出-营业支出"] = float("nan")
        return table

    fake.queue(Q3.isoformat(), *[restated] * 10, report="RPT_DMSK_FN_INCOME")
    report = load_financial_reports(conn, akshare_on("2024-11-18"), Lineage.now("akshare", "r2"), years=1, refresh=True)
    assert report.rows_quarantined == 0
    income = dict(
        conn.execute(
            "SELECT item, value FROM financial_statements WHERE symbol = ? AND report_date = ? "
            "AND statement = 'income'",
            [other, Q3],
        ).fetchall()
    )
    assert income["TOTAL_OPERATE_INCOME"] == 1234.5 and "OPERATE_COST" not in income
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0  # the clean reload cleared it
    balance = conn.execute(
        "SELECT count(*) FROM financial_statements WHERE symbol = ? AND report_date = ? AND statement = 'balance'",
        [SYMBOL, Q3],
    ).fetchone()[0]
    assert balance == 4


@pytest.mark.slow
def test_a_period_that_fails_is_recorded_and_asked_again_while_the_others_are_written(data_center, tmp_path):
    fake = data_center("2024-11-15")
    fake.queue(Q3.isoformat(), *[502] * 20, report="RPT_DMSK_FN_INCOME")  # more than the retries
    conn = warehouse_on(tmp_path / "w.duckdb", "2024-11-15")
    report = load_financial_reports(conn, akshare_on("2024-11-15"), Lineage.now("akshare", "r1"), years=1)
    assert list(report.failed) == [Q3] and "stock_lrb_em(20240930)" in report.failed[Q3]
    assert len(report.companies) == 3  # the other periods of the year are written
    assert conn.execute("SELECT count(*) FROM financial_statements WHERE report_date = ?", [Q3]).fetchone()[0] == 0
    assert conn.execute("SELECT status FROM financial_report_periods WHERE report_date = ?", [Q3]).fetchone() == (
        "failed",
    )
    assert periods_due(conn, dt.date(2024, 11, 15), years=1) == {Q3: "last attempt failed"}  # the hole, next run
