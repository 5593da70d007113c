"""The row rules evaluated together give, rule by rule and row by row, what Great Expectations gives.

`run_suite(..., merge_row_rules=False)` runs every rule as a Great Expectations expectation of
its own: the reference. The frames hold what bites comparisons: NaN, infinities, equal values,
None in object columns, NaT, repeated and half-missing keys.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quantdb_pipeline.quality.expectations import QUARANTINE, WARN, gx_expectations, run_suite
from quantdb_pipeline.quality.suites import BarContext, bar_row_expectations, prepare_bars
from quantdb_pipeline.sources import normalize


def _frame() -> pd.DataFrame:
    nan, inf = np.nan, np.inf
    return pd.DataFrame(
        {
            "x": [1.0, 0.0, -1.0, nan, inf, -inf, 5.0, 0.0, 2.5, nan],
            "y": [1.0, 1.0, -2.0, 3.0, inf, nan, 4.0, 0.0, 2.5, nan],
            "n": np.array([0, 1, 2, 3, 4, -5, 6, 7, 8, 9], dtype="int64"),
            "flag": [True, True, False, True, True, True, False, True, True, True],
            "code": ["a", "b", None, "a", "c", "d", "e", None, "b", "f"],
            "day": pd.to_datetime(
                [
                    "2024-01-02",
                    "2024-01-03",
                    "2024-01-02",
                    "2024-01-02",
                    None,
                    "2024-01-05",
                    "2024-01-06",
                    None,
                    "2024-01-03",
                    "2024-01-08",
                ]
            ),
        }
    )


def _rules():
    gxe = gx_expectations()

    def rule(cls, name, action=QUARANTINE, **kwargs):
        return cls(meta={"rule": name, "action": action, "description": name}, **kwargs)

    return [
        rule(gxe.ExpectColumnValuesToNotBeNull, "x_present", column="x"),
        rule(gxe.ExpectColumnValuesToNotBeNull, "code_present", column="code"),
        rule(gxe.ExpectColumnValuesToNotBeNull, "day_present", WARN, column="day"),
        rule(gxe.ExpectColumnValuesToNotBeNull, "n_present", column="n"),
        rule(gxe.ExpectColumnValuesToBeBetween, "x_positive", column="x", min_value=0, strict_min=True),
        rule(gxe.ExpectColumnValuesToBeBetween, "x_non_negative", column="x", min_value=0),
        rule(gxe.ExpectColumnValuesToBeBetween, "x_at_most_2_5", WARN, column="x", max_value=2.5),
        rule(gxe.ExpectColumnValuesToBeBetween, "x_below_2_5", column="x", max_value=2.5, strict_max=True),
        rule(gxe.ExpectColumnValuesToBeBetween, "x_in_0_5", column="x", min_value=0, max_value=5),
        rule(gxe.ExpectColumnValuesToBeBetween, "n_in_0_7", column="n", min_value=0, max_value=7, strict_max=True),
        rule(gxe.ExpectColumnValuesToBeInSet, "flag_true", column="flag", value_set=[True]),
        rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "y_le_x",
            column_A="x",
            column_B="y",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "y_lt_x",
            WARN,
            column_A="x",
            column_B="y",
            or_equal=False,
            ignore_row_if="either_value_is_missing",
        ),
        rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "n_le_x",
            column_A="x",
            column_B="n",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        rule(gxe.ExpectCompoundColumnsToBeUnique, "code_day_unique", column_list=["code", "day"]),
        rule(gxe.ExpectCompoundColumnsToBeUnique, "code_flag_unique", column_list=["code", "flag"]),
        # not evaluated by row_rules: Great Expectations judges these itself, next to the merged check
        rule(gxe.ExpectColumnValuesToMatchRegex, "code_letter", column="code", regex=r"^[a-e]$"),
        rule(gxe.ExpectColumnValuesToBeInSet, "code_known", column="code", value_set=["a", "b", "c"]),
        rule(gxe.ExpectColumnValuesToBeBetween, "x_mostly_positive", column="x", min_value=0, mostly=0.5),
    ]


def _as_compared(outcome):
    return [(o.rule, o.action, o.success, o.unexpected_count, o.failed_rows, o.examples) for o in outcome.outcomes]


def test_every_rule_matches_great_expectations_row_by_row():
    frame = _frame()
    merged = run_suite("row_rules_test", frame, _rules())
    reference = run_suite("row_rules_test", frame, _rules(), merge_row_rules=False)
    assert _as_compared(merged) == _as_compared(reference)
    failing = {o.rule: o.failed_rows for o in merged.failed}
    # not vacuous: the frame breaks the rules where expected
    assert failing["x_positive"] == [1, 2, 5, 7]
    assert failing["y_le_x"] == [1]
    assert failing["code_day_unique"] == [0, 1, 3, 8]  # row 7 (None, NaT) has no key: ignored, as in GE
    assert failing["flag_true"] == [2, 6]
    assert merged.quarantined_rows()[2] == [
        "code_present",
        "x_positive",
        "x_non_negative",
        "x_in_0_5",
        "flag_true",
        "n_le_x",
    ]


def test_a_clean_frame_passes_every_rule_either_way():
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0],
            "y": [0.5, 1.5],
            "n": np.array([0, 1], dtype="int64"),
            "flag": [True, True],
            "code": ["a", "b"],
            "day": pd.to_datetime(["2024-01-02", "2024-01-03"]),
        }
    )
    rules = [r for r in _rules() if r.meta["rule"] not in ("x_at_most_2_5", "x_below_2_5")]
    for merge in (True, False):
        outcome = run_suite("row_rules_clean", frame, rules, merge_row_rules=merge)
        assert [o.rule for o in outcome.failed] == [], merge


def _bars_with_defects() -> pd.DataFrame:
    def day(symbol, date, open_, high, low, close, volume, amount, pct):
        return {
            "日期": date,
            "股票代码": symbol,
            "开盘": open_,
            "收盘": close,
            "最高": high,
            "最低": low,
            "成交量": volume,
            "成交额": amount,
            "振幅": 0.0,
            "涨跌幅": pct,
            "涨跌额": 0.0,
            "换手率": 0.1,
        }

    rows = {
        "600000": [
            day("600000", dt.date(2025, 3, 17), 10, 10.5, 9.8, 10.2, 1000, 1000 * 100 * 10.1, 2.0),
            day("600000", dt.date(2025, 3, 18), 10.2, 10.1, 9.9, 10.0, 1000, 1000 * 100 * 10.0, -1.96),
            day("600000", dt.date(2025, 3, 18), 10.2, 10.3, 9.9, 10.0, 1000, 1000 * 100 * 10.0, -1.96),
            day("600000", dt.date(2025, 3, 22), 10.0, 10.0, 10.0, 10.0, 0, 0.0, 0.0),
        ],  # a Saturday
        "000001": [
            day("000001", dt.date(2025, 3, 17), 12, 12.5, 11.9, 12.4, 500, 500 * 12.2, 3.0),  # lots?
            day("000001", dt.date(2025, 3, 18), -1, 12.5, 11.9, 14.0, 500, 500 * 100 * 12.2, 12.9),
            day("000001", dt.date(2025, 3, 28), 12, 12.5, 11.9, 12.4, 500, 500 * 100 * 12.2, 0.0),
        ],
    }
    return pd.concat([normalize.a_share_bars(pd.DataFrame(r), s, "test") for s, r in rows.items()], ignore_index=True)


def test_the_bar_suite_quarantines_the_same_rows_for_the_same_rules():
    securities = pd.DataFrame(
        {
            "symbol": ["600000", "000001"],
            "board": ["main", "main"],
            "is_st": [False, True],
            "list_date": [dt.date(2000, 1, 4), dt.date(1991, 4, 3)],
        }
    )
    context = BarContext(
        today=dt.date(2025, 3, 25),
        trading_days=[d.date() for d in pd.bdate_range("2024-01-02", "2025-12-31")],
        securities=securities,
        previous_close={"600000": 10.0, "000001": 12.0},
    )
    staged = prepare_bars(_bars_with_defects(), context)
    merged = run_suite("daily_bars", staged, bar_row_expectations(context))
    reference = run_suite("daily_bars", staged, bar_row_expectations(context), merge_row_rules=False)
    assert _as_compared(merged) == _as_compared(reference)
    quarantined = merged.quarantined_rows()
    assert {"key_unique", "open_le_high"} <= set(quarantined[1])  # the repeated day, one with high < open
    assert quarantined[3] == ["trading_day"]
    assert quarantined[5] == ["open_positive", "low_le_open", "close_le_high"]
    assert quarantined[6] == ["not_in_future"]
    assert "vwap_above_low" in quarantined[4]  # amount in lots: amount / volume far below low
    assert 0 not in quarantined


@pytest.mark.parametrize("merge", [True, False])
def test_a_rule_on_a_missing_column_fails_the_rule_not_the_run(merge):
    gxe = gx_expectations()
    rules = [
        gxe.ExpectColumnValuesToBeBetween(
            column="absent", min_value=0, meta={"rule": "absent_positive", "action": QUARANTINE}
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="x", min_value=0, meta={"rule": "x_non_negative", "action": QUARANTINE}
        ),
    ]
    outcome = run_suite("row_rules_missing", pd.DataFrame({"x": [1.0, -1.0]}), rules, merge_row_rules=merge)
    assert [(o.rule, o.failed_rows) for o in outcome.failed] == [("absent_positive", []), ("x_non_negative", [1])]
