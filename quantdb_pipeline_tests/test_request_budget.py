"""The request-budget harness (benchmarks/request_budget.py) at a tiny size: what it reports per
scenario is what the HTTP fakes recorded, and a rerun of the same day asks upstream nothing."""

import datetime as dt
from collections import Counter

import pytest

from benchmarks import request_budget as rb
from benchmarks.budget_market import BudgetMarket
from quantdb_pipeline.loaders.profiles import FORMER_NAMES_PER_REFRESH

pytestmark = pytest.mark.slow  # its module fixture loads every scenario of the sample market through Dagster

SIZE, HK_SIZE = 30, 20
FIRST, NIGHT = dt.date(2026, 9, 24), dt.date(2026, 9, 28)  # a load and a later night, outside disclosure windows
WINDOW = dt.date(2026, 10, 1)  # the Q3 window's first day: an SSE holiday, the weekly profiles refresh due
DAYS = rb.timeline(FIRST, WINDOW)  # the first load, the rerun, each night up to WINDOW as the schedules run them


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    return {
        (s.what, s.day): s
        for s in rb.run_budget(tmp_path_factory.mktemp("budget"), size=SIZE, hk_size=HK_SIZE, days=DAYS)
    }


def listed_on(day: dt.date, with_delisted: bool = False) -> int:
    """A-shares listed on `day` (with those delisted before it, if asked)."""
    universe = BudgetMarket(day, size=SIZE, hk_size=HK_SIZE).universe()
    gone = universe["delist_date"].map(lambda d: d is not None and d <= day)
    return int(((universe["list_date"] <= day) & (with_delisted | ~gone)).sum())


def by_fake(scenario: rb.Scenario) -> Counter:
    """The scenario's HTTP counts grouped as the fakes' own lists group them."""
    counts = Counter()
    for endpoint, n in scenario.http.items():
        if endpoint.startswith(("stock_hk_daily", "sina HK")):
            endpoint = "sina HK scripts"
        elif endpoint.startswith("*_by_report_em"):
            endpoint = "*_by_report_em (F10)"
        counts[endpoint] += n
    return counts


@pytest.mark.parametrize("key", [(what, day) for day, what, _ in DAYS], ids=lambda k: f"{k[0]}-{k[1]}")
def test_each_scenarios_counts_are_what_the_fakes_recorded(scenarios, key):
    scenario = scenarios[key]
    assert scenario.total() == scenario.requests_seen  # every request labelled, none counted twice
    assert sum(s.source for s in scenario.steps) == scenario.total()  # source.requests counts HTTP requests
    counted = by_fake(scenario)
    for endpoint, recorded in scenario.fakes_recorded.items():
        assert counted[endpoint] == recorded, endpoint
    # nothing the fakes did not record (calendar, exchange lists and SZSE's name changes have no list of their own)
    unlisted = set(counted) - set(scenario.fakes_recorded)
    assert unlisted <= {
        "tool_trade_date_hist_sina",
        "stock_info_sh_name_code",
        "stock_info_sh_delist",
        "stock_info_sz_name_code",
        "stock_info_sz_delist",
        "stock_info_bj_name_code",
        "stock_zh_index_daily_em",
        "stock_info_sz_change_name",
    }, unlisted
    # no request went unlabelled (a label is an akshare function, not a host/path)
    assert all("/" not in endpoint for endpoint in counted), counted


def test_the_first_load_asks_each_symbol_once_from_listing_and_a_rerun_asks_nothing(scenarios):
    first = scenarios[("first load", FIRST)].http
    assert listed_on(FIRST, with_delisted=True) > listed_on(FIRST)  # the market has delisted names
    assert first["stock_zh_a_hist"] == listed_on(FIRST, with_delisted=True)  # their histories too
    assert first["stock_hk_hist"] == HK_SIZE
    assert first["stock_zh_a_daily hfq-factor"] == listed_on(FIRST, with_delisted=True)
    # HK factors: two scripts a symbol, no history script
    assert first["sina HK hfq.js"] == first["sina HK qfq.js"] == HK_SIZE
    assert first["stock_hk_daily (klc2_kl.js history)"] == 0
    assert first["stock_zh_index_daily_em"] == len(rb.DEFAULT_INDICES)
    # financials from the whole-market tables, none per symbol: akshare asks page 1 for the page count,
    # then every page from 1 (one page at this size: 2 requests a table and period with reports)
    periods = first["stock_yjbb_em (pages)"]
    assert 2 * 38 <= periods <= 2 * 41  # ten years of quarters (40, or 41 with today's period)
    assert first["stock_lrb_em (pages)"] == first["stock_xjll_em (pages)"] == first["stock_zcfz_em (pages)"] > 0
    assert first["stock_individual_info_em"] == first["stock_financial_abstract"] == 0
    assert sum(n for e, n in first.items() if e.startswith("*_by_report_em")) == 0
    # profiles: the weekly refresh runs with the first load, over the industry boards
    assert first["stock_board_industry_name_em (pages)"] == 1
    assert first["stock_board_industry_cons_em (pages)"] >= 1
    assert first["stock_info_sz_change_name"] == 1
    assert scenarios[("no-op rerun", FIRST)].total() == 0
    assert scenarios[("no-op rerun", FIRST)].requests_seen == 0


def test_the_night_takes_todays_bars_and_profiles_from_the_quote_lists(scenarios):
    assert ("night", NIGHT) in scenarios and ("weekly refresh", WINDOW) in scenarios
    night = scenarios[("night", NIGHT)]
    http = night.http
    assert http["stock_zh_a_spot_em (pages)"] == -(-listed_on(NIGHT) // 100)  # fetched once, by the bars step
    assert http["stock_hk_main_board_spot_em (pages)"] == 1  # once, for hk_securities and hk_daily_bars
    assert http["stock_zh_a_hist"] <= rb.DEFAULT_RECONCILE_SYMBOLS  # only the reconciliation sample
    assert http["stock_hk_hist"] <= rb.DEFAULT_HK_RECONCILE_SYMBOLS
    profiles = next(s for s in night.steps if s.step == "security_profiles")
    assert sum(profiles.http.values()) == 0  # the quote list the bars step stored


def test_the_weekly_refresh_reads_the_boards_and_a_bounded_batch_of_former_names(scenarios):
    weekly = scenarios[("weekly refresh", WINDOW)].http
    assert weekly["stock_board_industry_name_em (pages)"] == 1
    assert weekly["stock_board_industry_cons_em (pages)"] >= 1
    assert weekly["stock_info_sz_change_name"] == 1
    assert weekly["stock_info_change_name"] <= FORMER_NAMES_PER_REFRESH
    assert weekly["stock_zh_a_spot_em (pages)"] == 0  # the list of the last session is stored


def test_a_window_night_fetches_the_open_period_from_the_whole_market_tables(scenarios):
    window = scenarios[("night", WINDOW)]
    assert {s.job for s in window.steps} == {"reference_job", "financials_job"}  # no bars on an SSE/HKEX holiday
    financials = Counter()
    for step in window.steps:
        if step.job == "financials_job":
            financials.update(step.http)
    assert financials["stock_yjbb_em (pages)"] >= 1
    assert set(financials) <= set(rb.DATA_CENTER_LABELS.values())  # nothing per symbol
    assert sum(financials.values()) <= 5 * 2 * 2  # five tables, at most two open periods, one page each here


def test_the_report_section_has_each_row_against_its_goal(scenarios):
    text = rb.section(list(scenarios.values()), SIZE, HK_SIZE, 1.0)
    assert "| no-op rerun (every job of the first load again, the same day) | 0 | = 0 | yes |" in text
    first = scenarios[("first load", FIRST)].total()
    assert (
        f"| first full load (all A-shares and HK from listing, factors, profiles, 10 years of financial "
        f"reports) | {first:,} | <= 20,000 | yes |" in text
    )
    weekly = scenarios[("weekly refresh", WINDOW)].total()
    assert f"| {weekly:,} | <= 300 | yes | {WINDOW} |" in text
    assert "scaled" not in text.split("### ")[0].replace("no count is sampled or scaled", "")
