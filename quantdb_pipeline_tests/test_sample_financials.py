"""The sample market's financial reports look like a company's, as a researcher reads them from
the warehouse (read.financials, key_financials, financial_statements) after a load of every
report period: the balance identity, equity that evolves by profit and dividends, year-to-date
flows, ROE and margins within normal ranges. One load builds the warehouse for the module: the
whole-market tables for every sample company, the per-symbol statements for a watchlist."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.loaders.financial_reports import load_financial_reports
from quantdb_pipeline.loaders.fundamentals import load_indicators, load_statements
from quantdb_pipeline.loaders.reference import load_securities
from quantdb_pipeline.sources.sample import BANK_SYMBOL, FIRST_REPORT, SampleMarket
from quantdb_pipeline.warehouse.schema import connect
from quantdb_pipeline.warehouse.writes import Lineage

pytestmark = pytest.mark.slow  # its module fixtures generate and load every report of the sample market

TODAY = "2026-07-20"  # every report up to Q1 2026 is announced
WATCHLIST = f"{BANK_SYMBOL},600000"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """What the financial assets write (the same loaders, in-process: a Dagster run would add
    seconds, not coverage), for every report period of the sample."""
    path = tmp_path_factory.mktemp("financials") / "w.duckdb"
    market, lineage, watchlist = SampleMarket(today=TODAY), Lineage.now("sample", "financials"), WATCHLIST.split(",")
    with connect(path) as conn:
        load_securities(conn, market, lineage)
        whole = load_financial_reports(conn, market, lineage, exclude=watchlist, years=11)
        assert whole.failed == {} and FIRST_REPORT in whole.due
        assert load_statements(conn, market, lineage, symbols=watchlist).failed == {}
        assert load_indicators(conn, market, lineage, symbols=watchlist).failed == {}
    return path


@pytest.fixture(scope="module")
def reports(warehouse) -> pd.DataFrame:
    """Every symbol's key metrics by report date, through read.financials, with the quarter
    (1..4) and the quarter's own parent net profit (the year-to-date figure less the previous one)."""
    symbols = read.securities(include_delisted=True, warehouse=warehouse)["symbol"].tolist()
    frame = read.financials(symbols, warehouse=warehouse)
    frame["quarter"] = frame["report_date"].dt.month // 3
    frame["year"] = frame["report_date"].dt.year
    previous = frame.groupby(["symbol", "year"])["parent_net_profit"].shift().fillna(0.0)
    frame["quarter_profit"] = frame["parent_net_profit"] - previous
    return frame


def statements(warehouse, items: list[str]) -> pd.DataFrame:
    """financial_statements items as columns, one row per symbol and report date."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        long = conn.execute(
            "SELECT symbol, report_date, item, value FROM financial_statements "
            "WHERE item IN (SELECT unnest(?::VARCHAR[]))",
            [items],
        ).df()
    return long.pivot_table(index=["symbol", "report_date"], columns="item", values="value").reset_index()


def offenders(frame: pd.DataFrame, bad, columns: list[str]) -> str:
    rows = frame[bad]
    return f"{len(rows)} rows, e.g.\n{rows[['symbol', 'report_date', *columns]].head(8).to_string()}"


def test_every_sample_company_has_every_report_since_the_first(reports):
    assert reports["symbol"].nunique() >= 60
    assert reports["report_date"].min().date() == FIRST_REPORT
    per_symbol = reports.groupby("symbol")["report_date"].agg(["min", "max", "count"])
    quarters = (
        (per_symbol["max"].dt.year - per_symbol["min"].dt.year) * 4
        + (per_symbol["max"].dt.month - per_symbol["min"].dt.month) // 3
        + 1
    )
    assert (per_symbol["count"] == quarters).all()  # no gap a plot would show as a cliff


def test_assets_equal_liabilities_plus_equity_in_every_balance_sheet(warehouse):
    sheets = statements(warehouse, ["TOTAL_ASSETS", "TOTAL_LIABILITIES", "TOTAL_EQUITY", "TOTAL_LIAB_EQUITY"])
    gap = (sheets["TOTAL_ASSETS"] - sheets["TOTAL_LIABILITIES"] - sheets["TOTAL_EQUITY"]).abs()
    assert sheets["TOTAL_ASSETS"].notna().all() and len(sheets) > 1500
    assert (gap <= 0.02).all(), offenders(sheets, gap > 0.02, ["TOTAL_ASSETS", "TOTAL_LIABILITIES", "TOTAL_EQUITY"])
    watched = sheets.dropna(subset=["TOTAL_LIAB_EQUITY"])  # the per-symbol statements carry the total too
    assert set(watched["symbol"]) == set(WATCHLIST.split(","))
    assert (watched["TOTAL_LIAB_EQUITY"] == watched["TOTAL_ASSETS"]).all()


def test_roe_annualised_stays_within_normal_ranges_and_matches_profit_over_equity(reports):
    annualised = reports["roe"] * 4 / reports["quarter"]  # eastmoney's ROE is year-to-date
    bad = ~annualised.between(-20, 35)
    assert not bad.any(), offenders(reports.assign(annualised=annualised), bad, ["roe", "annualised"])
    assert annualised.median() == pytest.approx(10, abs=4)
    # ROE is the parent's profit over the parent's (average) equity: within 0.8..1.4 of profit / total equity
    ratio = reports["roe"] / (reports["parent_net_profit"] / reports["total_equity"] * 100)
    assert ratio.between(0.8, 1.4).all(), offenders(
        reports.assign(ratio=ratio), ~ratio.between(0.8, 1.4), ["roe", "parent_net_profit", "total_equity"]
    )
    assert (np.sign(reports["roe"]) == np.sign(reports["parent_net_profit"])).all()
    assert (reports["parent_net_profit"] < 0).any()  # a few loss makers, as on the real market


def test_the_watchlists_roe_is_ytd_profit_over_average_parent_equity(warehouse, reports):
    equity = statements(warehouse, ["TOTAL_PARENT_EQUITY"]).set_index(["symbol", "report_date"])["TOTAL_PARENT_EQUITY"]
    checked = 0
    for row in reports[reports["symbol"].isin(WATCHLIST.split(","))].itertuples():
        opening = (row.symbol, pd.Timestamp(row.year - 1, 12, 31))
        if opening not in equity.index:
            continue
        expected = row.parent_net_profit / ((equity[opening] + equity[(row.symbol, row.report_date)]) / 2) * 100
        assert row.roe == pytest.approx(expected, abs=1e-3), (row.symbol, row.report_date)
        checked += 1
    assert checked >= 60


def test_equity_never_collapses_without_a_loss(reports):
    ordered = reports.sort_values(["symbol", "report_date"])
    change = ordered.groupby("symbol")["total_equity"].pct_change()
    collapse = (change < -0.3) & (ordered["quarter_profit"] >= 0)
    assert not collapse.any(), offenders(ordered.assign(change=change), collapse, ["total_equity", "change"])
    assert change.abs().max() < 0.15  # profit and dividends move equity by a few percent a quarter
    assert (ordered["total_equity"] > 0).all()


def test_flows_are_year_to_date_and_grow_smoothly(reports):
    ordered = reports.sort_values(["symbol", "report_date"])
    step = ordered.groupby(["symbol", "year"])["revenue"].diff()
    assert (step.dropna() > 0).all()  # Q1 < H1 < Q3 < annual: cumulative, as Chinese reports are
    profitable = ordered["quarter_profit"] > 0
    profit_step = ordered.groupby(["symbol", "year"])["parent_net_profit"].diff()
    assert (profit_step[profitable & profit_step.notna()] > 0).all()
    years = ordered[ordered["quarter"] == 4].copy()
    first_quarters = ordered[ordered["quarter"] == 1].set_index(["symbol", "year"])["revenue"]
    share = years.set_index(["symbol", "year"])["revenue"] / first_quarters
    assert share.dropna().between(3.5, 5.5).all()  # a year is about four quarters, not one
    growth = years.groupby("symbol")["revenue"].pct_change().dropna()
    assert growth.between(-0.3, 0.5).all(), growth.describe()


def test_margins_and_leverage_are_plausible(reports):
    margins = reports["net_margin"].dropna()  # sina's indicators (the watchlist) carry it
    assert len(margins) > 60 and margins.between(-30, 60).all(), margins.describe()
    general = reports[reports["symbol"] != BANK_SYMBOL]
    both = general.dropna(subset=["net_margin"])
    assert len(both) > 20 and (both["gross_margin"] > both["net_margin"]).all()
    assert general["gross_margin"].between(5, 90).all()
    assert reports.loc[reports["symbol"] == BANK_SYMBOL, "debt_to_assets"].between(85, 95).all()
    assert general["debt_to_assets"].between(10, 85).all()
    assert general["bvps"].between(0.5, 60).all()


def test_both_paths_of_the_sample_serve_the_same_reports():
    market = SampleMarket(today=TODAY)
    sheet = market.statement_raw("600000", "balance")
    assert np.allclose(sheet["TOTAL_ASSETS"], sheet["TOTAL_LIABILITIES"] + sheet["TOTAL_EQUITY"], atol=0.02)
    balance = market.report_table_raw("balance", sheet["REPORT_DATE"].map(pd.Timestamp).iloc[0].date())
    row = balance.set_index("股票代码").loc["600000"]
    assert row["股东权益合计"] == sheet["TOTAL_EQUITY"].iloc[0]
