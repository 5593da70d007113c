"""The request-budget harness (benchmarks/request_budget.py) at a tiny size: what it reports per
scenario is what the HTTP fakes recorded, and a rerun of the same day asks upstream nothing."""

import datetime as dt
from collections import Counter

import pytest

from benchmarks import request_budget as rb
from benchmarks.budget_market import BudgetMarket

SIZE, HK_SIZE = 30, 20
FIRST, NIGHT = dt.date(2026, 9, 24), dt.date(2026, 9, 28)  # a load and the next night, outside disclosure windows
DAYS = [(FIRST, "first load", rb.ALL_JOBS), (FIRST, "no-op rerun", rb.ALL_JOBS),
        (NIGHT, "night", rb.NIGHT_JOBS)]
EVERY = 10  # financial statements and indicators for every 10th listed symbol (they are slow through the fakes)
SAMPLE = {"financial_statements": EVERY, "financial_indicators": EVERY}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory):
    return {s.what: s for s in rb.run_budget(tmp_path_factory.mktemp("budget"), size=SIZE, hk_size=HK_SIZE,
                                             sample=SAMPLE, days=DAYS)}


def listed_on(day: dt.date, with_delisted: bool = False) -> int:
    """A-shares listed on `day` (with those delisted before it, if asked)."""
    universe = BudgetMarket(day, size=SIZE, hk_size=HK_SIZE).universe()
    gone = universe["delist_date"].map(lambda d: d is not None and d <= day)
    return int(((universe["list_date"] <= day) & (with_delisted | ~gone)).sum())


def by_fake(scenario: rb.Scenario) -> Counter:
    """The scenario's HTTP counts (unscaled) grouped as the fakes' own lists group them."""
    counts = Counter()
    for endpoint, n in scenario.http.items():
        if endpoint.startswith("stock_hk_daily"):
            endpoint = "stock_hk_daily (sina scripts)"
        elif endpoint.startswith("*_by_report_em"):
            endpoint = "*_by_report_em (F10)"
        counts[endpoint] += n
    return counts


@pytest.mark.parametrize("what", ["first load", "no-op rerun", "night"])
def test_each_scenarios_counts_are_what_the_fakes_recorded(scenarios, what):
    scenario = scenarios[what]
    assert scenario.total(scaled=False) == scenario.requests_seen  # every request labelled, none counted twice
    counted = by_fake(scenario)
    for endpoint, recorded in scenario.fakes_recorded.items():
        assert counted[endpoint] == recorded, endpoint
    # nothing the fakes did not record (calendar and exchange lists have no list of their own)
    unlisted = set(counted) - set(scenario.fakes_recorded)
    assert unlisted <= {"tool_trade_date_hist_sina", "stock_info_sh_name_code", "stock_info_sh_delist",
                        "stock_info_sz_name_code", "stock_info_sz_delist", "stock_info_bj_name_code",
                        "stock_zh_index_daily_em"}, unlisted


def test_the_first_load_asks_each_symbol_once_from_listing_and_a_rerun_asks_nothing(scenarios):
    first = scenarios["first load"].http
    assert listed_on(FIRST, with_delisted=True) > listed_on(FIRST)  # the market has delisted names
    assert first["stock_zh_a_hist"] == listed_on(FIRST, with_delisted=True)  # their histories too
    assert first["stock_hk_hist"] == HK_SIZE
    assert first["stock_zh_a_daily hfq-factor"] == listed_on(FIRST, with_delisted=True)
    assert first["stock_hk_daily hfq-factor"] == first["stock_hk_daily qfq-factor"] == HK_SIZE
    assert first["stock_hk_daily (klc2_kl.js history)"] == 2 * HK_SIZE  # downloaded before each factor script
    assert first["stock_individual_info_em"] == listed_on(FIRST)
    assert first["stock_zh_index_daily_em"] == len(rb.DEFAULT_INDICES)
    assert scenarios["no-op rerun"].total() == 0
    assert scenarios["no-op rerun"].requests_seen == 0


def test_the_night_takes_todays_bars_from_the_quote_lists(scenarios):
    night = scenarios["night"].http
    assert night["stock_zh_a_spot_em (pages)"] == -(-listed_on(NIGHT) // 100)
    assert night["stock_hk_main_board_spot_em (pages)"] == 1
    assert night["stock_zh_a_hist"] <= rb.DEFAULT_RECONCILE_SYMBOLS  # only the reconciliation sample
    assert night["stock_individual_info_em"] == 0


def test_sampled_fundamentals_are_scaled_to_every_listed_symbol(scenarios):
    statements = next(s for s in scenarios["first load"].steps if s.step == "financial_statements")
    listed = listed_on(FIRST)
    assert statements.scale == pytest.approx(listed / len(range(0, listed, EVERY)))
    scenario = scenarios["first load"]
    expected = sum(sum(s.http.values()) * s.scale for s in scenario.steps)
    assert scenario.total() == round(expected)
    assert scenario.scaled


def test_the_report_section_has_each_row_against_its_goal(scenarios):
    text = rb.section(list(scenarios.values()), SIZE, HK_SIZE, 1.0, SAMPLE)
    assert "| no-op rerun (every job of the first load again, the same day) | 0 | = 0 | yes |" in text
    first = scenarios["first load"].total()
    assert f"| first full load (all A-shares and HK from listing, factors, profiles, 10 years of financial " \
           f"reports) | {first:,} (scaled, see below) | <= 20,000 |" in text
    assert "| weekly refresh (the Saturday profiles job) | not run |" in text
