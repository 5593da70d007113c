"""Row rules of a suite evaluated together, in one vectorised pass, with Great Expectations' semantics.

Great Expectations' pandas engine spends about 17 ms of Python per expectation per validation
(building each expectation's metric graph, whatever the batch size) and copies the whole frame
for every column-pair rule that ignores missing values. The 25 `daily_bars` row rules thus cost
about 0.4 s per batch before looking at a single row: a chunked load validating 50,000 rows at
a time would spend more time there than writing. The gate therefore evaluates the suite's
row-wise rules (the types below, on plain NumPy columns) here, one boolean mask per rule, and
lets Great Expectations judge the batch on the merged result (see `expectations.run_suite`).

The masks follow what Great Expectations 1.x computes for the same expectation on pandas
(`quantdb_pipeline_tests/test_row_rules.py` checks both agree rule by rule, row by row):

- `expect_column_values_to_not_be_null`: null (None, NaN, NaT, NA) is unexpected;
- `expect_column_values_to_be_between`: nulls are skipped; `min <= v` (`<` when strict_min),
  `v <= max` (`<` when strict_max);
- `expect_column_values_to_be_in_set` on a bool column: not in the set is unexpected;
- `expect_column_pair_values_a_to_be_greater_than_b` with ignore_row_if
  "either_value_is_missing": rows where both are present and not `A >= B` (`A > B`);
- `expect_compound_columns_to_be_unique` (ignore_row_if "all_values_are_missing"): every row
  of a repeated key, among the rows with at least one key column present.

Anything else (other types, `mostly` below 1, row conditions, object or datetime columns where a
comparison is asked) is left to Great Expectations itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_NUMERIC = ("f", "i", "u")
_FIELDS = (
    "column",
    "column_A",
    "column_B",
    "column_list",
    "min_value",
    "max_value",
    "strict_min",
    "strict_max",
    "value_set",
    "or_equal",
    "ignore_row_if",
    "mostly",
    "row_condition",
)


@dataclass
class RuleMask:
    """One rule's verdict on every row: `unexpected[i]` is True where row i breaks it."""

    unexpected: np.ndarray  # bool, one per row of the frame


def _numeric(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and isinstance(frame[column].dtype, np.dtype) and frame[column].dtype.kind in _NUMERIC


def evaluate(frame: pd.DataFrame, config) -> RuleMask | None:
    """The rule's mask on `frame`, or None when this module does not evaluate that expectation.

    `config` is a Great Expectations expectation object (its type and fields are read as attributes:
    its `configuration` property costs more than evaluating the rule on a small batch).
    """
    kind = config.expectation_type
    kwargs = {name: getattr(config, name) for name in _FIELDS if hasattr(config, name)}
    if kwargs.get("row_condition") or (kwargs.get("mostly") not in (None, 1, 1.0)):
        return None
    if kind == "expect_column_values_to_not_be_null":
        column = kwargs["column"]
        if column not in frame:
            return None
        return RuleMask(frame[column].isna().to_numpy(dtype=bool))
    if kind == "expect_column_values_to_be_between":
        column = kwargs["column"]
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        bounds_plain = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in (low, high))
        if not _numeric(frame, column) or (low is None and high is None) or not bounds_plain:
            return None
        values = frame[column].to_numpy()
        with np.errstate(invalid="ignore"):
            inside = np.ones(len(values), dtype=bool)
            if low is not None:
                inside &= (values > low) if kwargs.get("strict_min") else (values >= low)
            if high is not None:
                inside &= (values < high) if kwargs.get("strict_max") else (values <= high)
        present = ~pd.isna(values) if values.dtype.kind == "f" else np.ones(len(values), dtype=bool)
        return RuleMask(present & ~inside)
    if kind == "expect_column_values_to_be_in_set":
        column, allowed = kwargs["column"], kwargs.get("value_set")
        if (
            column not in frame
            or frame[column].dtype != bool
            or not allowed
            or not all(isinstance(v, (bool, np.bool_)) for v in allowed)
        ):
            return None
        values = frame[column].to_numpy()
        return RuleMask(~np.isin(values, np.array(list(allowed), dtype=bool)))
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs["column_A"], kwargs["column_B"]
        if kwargs.get("ignore_row_if") != "either_value_is_missing" or not (_numeric(frame, a) and _numeric(frame, b)):
            return None
        left, right = frame[a].to_numpy(), frame[b].to_numpy()
        with np.errstate(invalid="ignore"):
            holds = (left >= right) if kwargs.get("or_equal") else (left > right)
        present = ~np.isnan(left.astype("float64")) & ~np.isnan(right.astype("float64"))
        return RuleMask(present & ~holds)
    if kind == "expect_compound_columns_to_be_unique":
        columns = list(kwargs["column_list"])
        if kwargs.get("ignore_row_if", "all_values_are_missing") != "all_values_are_missing" or not all(
            c in frame for c in columns
        ):
            return None
        return RuleMask(_repeated_keys(frame, columns))
    return None


def _repeated_keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Rows whose key occurs more than once, among rows with some key column present (nulls equal)."""
    n = len(frame)
    considered = np.zeros(n, dtype=bool)
    key = np.zeros(n, dtype="int64")
    for column in columns:
        # factorize: one code per distinct value, -1 for null (nulls compare equal, as in duplicated())
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        considered |= codes >= 0
        if key.size and (int(key.max()) + 1) * (len(uniques) + 1) >= 2**62:  # would overflow: re-code first
            key = pd.factorize(key)[0].astype("int64")
        key = key * (len(uniques) + 1) + (codes + 1)
    repeated = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(considered)
    if len(rows):
        repeated[rows] = pd.Series(key[rows]).duplicated(keep=False).to_numpy()
    return repeated
