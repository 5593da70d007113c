"""Running Great Expectations suites on in-memory frames, and what their results mean to us.

Each expectation carries `meta={"rule": ..., "action": ...}`: the rule is the short name
users see (in quarantine rows, Dagster metadata and the CLI), and the action says what a
failure does:

- `quarantine`: the offending rows are kept out of the warehouse and recorded in `quarantine`;
- `warn`: reported (with examples) but loaded, for rules with legitimate exceptions;
- `fail`: a batch-level rule; the whole batch is refused and nothing of it is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

QUARANTINE, WARN, FAIL = "quarantine", "warn", "fail"
EXAMPLES = 5


@dataclass
class RuleOutcome:
    rule: str
    expectation: str
    action: str
    description: str
    success: bool
    unexpected_count: int = 0
    examples: list[dict] = field(default_factory=list)
    failed_rows: list[int] = field(default_factory=list)


@dataclass
class SuiteOutcome:
    suite: str
    rows: int
    outcomes: list[RuleOutcome]

    @property
    def failed(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def batch_failed(self) -> bool:
        return any(o.action == FAIL for o in self.failed)

    def quarantined_rows(self) -> dict[int, list[str]]:
        """Row position -> the quarantining rules it failed."""
        rows: dict[int, list[str]] = {}
        for outcome in self.failed:
            if outcome.action == QUARANTINE:
                for row in outcome.failed_rows:
                    rows.setdefault(row, []).append(outcome.rule)
        return rows

    def summary_table(self) -> str:
        """A markdown table of every rule: what it checks, its result, and examples of failures."""
        lines = ["| rule | action | result | failing rows | examples |", "|---|---|---|---:|---|"]
        for o in self.outcomes:
            examples = "; ".join(_example(e) for e in o.examples[:3]).replace("|", "/")
            lines.append(
                f"| {o.rule} | {o.action} | {'ok' if o.success else 'FAILED'} | {o.unexpected_count} | {examples} |"
            )
        return "\n".join(lines)


def _example(row: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in row.items())


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@lru_cache(maxsize=1)
def _context():
    # Usage statistics would try to reach the network: off before the import.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def gx_expectations():
    """The `great_expectations.expectations` module, imported on first use."""
    _context()
    import great_expectations.expectations as gxe

    return gxe


@lru_cache(maxsize=None)
def _batch_definition(name: str):
    context = _context()
    source = context.data_sources.add_pandas(f"staged_{name}")
    return source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("staged")


#: The column Great Expectations judges when a suite's row rules were evaluated together.
MERGED_COLUMN = "row_rules_failed"


def run_suite(name: str, frame: pd.DataFrame, expectations: list, merge_row_rules: bool = True) -> SuiteOutcome:
    """Validate `frame` against `expectations`; failing rows are reported by position.

    `frame` must have a default RangeIndex: GE reports failing rows by index, which is how
    they are mapped back to the staged rows.

    With `merge_row_rules`, the row-wise rules `row_rules` knows are evaluated there, one mask
    per rule with Great Expectations' semantics, and Great Expectations validates the batch on
    their merged result: one expectation, "every row breaks 0 row rules", on a one-column frame
    (`MERGED_COLUMN`), next to the rules it evaluates itself. Each rule keeps its own outcome:
    name, action, failing rows, examples. Without it, every rule is a Great Expectations
    expectation of its own (the reference the merged path is tested against; about 17 ms of
    Python per rule and call).
    """
    from quantdb_pipeline.quality import row_rules

    masks: dict[int, np.ndarray] = {}
    if merge_row_rules:
        for position, expectation in enumerate(expectations):
            try:
                mask = row_rules.evaluate(frame, expectation)
            except Exception:  # noqa: BLE001 - left to Great Expectations, which reports the error per rule
                mask = None
            if mask is not None:
                masks[position] = mask.unexpected
    judged = [(position, e) for position, e in enumerate(expectations) if position not in masks]
    if not masks:
        by_position = _validate(name, frame, judged)
    else:
        failed = np.zeros(len(frame), dtype="int64")
        for unexpected in masks.values():
            failed += unexpected
        merged = pd.DataFrame({MERGED_COLUMN: failed})
        if judged:  # the other rules need the frame's own columns
            by_position = _validate(name, frame.assign(**{MERGED_COLUMN: failed}), [*judged, (-1, _merged_rule())])
            verdict = by_position[-1][0]
        else:  # alone, the merged check needs its own column and GE's verdict only: the masks name the rows
            verdict = _validate_merged(name, merged)
            by_position = {}
        if bool(verdict.success) != (not failed.any()):
            raise RuntimeError(
                f"{name}: Great Expectations' verdict on the merged row rules ({verdict.success}) "
                f"disagrees with the rules' own count of failing rows ({int((failed > 0).sum())})"
            )

    outcomes = []
    for position, expectation in enumerate(expectations):
        meta = expectation.meta or {}
        if position in masks:
            failed_rows = np.flatnonzero(masks[position]).tolist()
            outcomes.append(
                RuleOutcome(
                    rule=meta.get("rule", expectation.expectation_type),
                    expectation=expectation.expectation_type,
                    action=meta.get("action", QUARANTINE),
                    description=meta.get("description", ""),
                    success=not failed_rows,
                    unexpected_count=len(failed_rows),
                    examples=[_offending_values(frame, row) for row in failed_rows[:EXAMPLES]],
                    failed_rows=failed_rows,
                )
            )
            continue
        item, details = by_position[position]
        config = item.expectation_config
        index_list = details.get("unexpected_index_list") or []
        failed_rows = sorted({int(i) for i in index_list}) if not item.success else []
        examples = [_offending_values(frame, row) for row in failed_rows[:EXAMPLES]] if failed_rows else []
        if not item.success and not examples and details.get("partial_unexpected_list"):
            examples = [{"value": v} for v in details["partial_unexpected_list"][:EXAMPLES]]
        if not item.success and item.exception_info and item.exception_info.get("raised_exception"):
            examples = [{"error": item.exception_info.get("exception_message")}]
        outcomes.append(
            RuleOutcome(
                rule=meta.get("rule", config.type),
                expectation=config.type,
                action=meta.get("action", QUARANTINE),
                description=meta.get("description", ""),
                success=bool(item.success),
                unexpected_count=int(details.get("unexpected_count") or (0 if item.success else 1)),
                examples=examples,
                failed_rows=failed_rows,
            )
        )
    return SuiteOutcome(name, len(frame), outcomes)


def _merged_rule():
    return gx_expectations().ExpectColumnValuesToBeBetween(
        column=MERGED_COLUMN,
        max_value=0,
        meta={
            "rule": "row_rules",
            "action": QUARANTINE,
            "description": "each row breaks none of the suite's row rules",
            "position": -1,
        },
    )


@lru_cache(maxsize=None)
def _merged_suite(name: str):
    """The suite holding only the merged check, registered once per suite name (it never changes)."""
    import great_expectations as gx

    return _context().suites.add(gx.ExpectationSuite(name=f"{name}_merged_row_rules", expectations=[_merged_rule()]))


def _validate_merged(name: str, merged: pd.DataFrame):
    """Great Expectations' verdict (an ExpectationValidationResult) on the merged check alone:
    BOOLEAN_ONLY, about a third cheaper than COMPLETE, as the masks already name the rows."""
    batch = _batch_definition(name).get_batch(batch_parameters={"dataframe": merged})
    return batch.validate(_merged_suite(name), result_format={"result_format": "BOOLEAN_ONLY"}).results[0]


def _validate(name: str, frame: pd.DataFrame, judged: list[tuple[int, Expectation]]) -> dict[int, tuple]:
    """Great Expectations' results of `judged` (position, expectation) on `frame`: position -> (result, details)."""
    import great_expectations as gx

    if not judged:
        return {}
    context = _context()
    copies = []
    for position, expectation in judged:
        copy = expectation.copy()
        copy.meta = {**(expectation.meta or {}), "position": position}
        copies.append(copy)
    suite = gx.ExpectationSuite(name=f"{name}_{id(frame)}", expectations=copies)
    suite = context.suites.add(suite)
    try:
        batch = _batch_definition(name).get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            suite,
            result_format={
                "result_format": "COMPLETE",
                "return_unexpected_index_query": False,
                "partial_unexpected_count": EXAMPLES,
            },
        )
    finally:
        context.suites.delete(suite.name)
    return {int(item.expectation_config.meta["position"]): (item, item.result or {}) for item in result.results}


def _plain(value):
    if isinstance(value, pd.Timestamp) and value == value.normalize() and value.tzinfo is None:
        return value.date().isoformat()  # a date column held as datetime64
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _offending_values(frame: pd.DataFrame, position: int) -> dict:
    row = frame.iloc[position]
    return {
        k: _plain(v) for k, v in row.items() if k in frame.attrs.get("report_columns", frame.columns) and not pd.isna(v)
    }


def combine(first: SuiteOutcome | None, second: SuiteOutcome) -> SuiteOutcome:
    """One outcome for a suite run chunk by chunk over the same rules (a load that writes its
    batch in chunks): rows and failing counts add up, examples are kept up to `EXAMPLES`.

    `failed_rows` of `second` are shifted by the rows before it, so they stay distinct: the
    positions of the chunks' frames laid end to end (quarantining itself is done per chunk,
    on each chunk's own outcome).
    """

    def shifted(o: RuleOutcome, offset: int) -> RuleOutcome:
        return RuleOutcome(
            **{**o.__dict__, "examples": list(o.examples), "failed_rows": [row + offset for row in o.failed_rows]}
        )

    if first is None:
        return SuiteOutcome(second.suite, second.rows, [shifted(o, 0) for o in second.outcomes])
    by_rule = {o.rule: o for o in first.outcomes}
    for o in second.outcomes:
        mine = by_rule.get(o.rule)
        if mine is None:
            first.outcomes.append(shifted(o, first.rows))
            continue
        mine.success = mine.success and o.success
        mine.unexpected_count += o.unexpected_count
        mine.examples = (mine.examples + o.examples)[:EXAMPLES]
        mine.failed_rows += [row + first.rows for row in o.failed_rows]
    first.rows += second.rows
    return first
