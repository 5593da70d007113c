"""From suite outcomes to what gets written: passing rows, quarantine rows, and errors."""

from __future__ import annotations

import json

import pandas as pd

from quantdb_pipeline.quality.expectations import SuiteOutcome
from quantdb_pipeline.schema import QUARANTINE_COLUMNS, empty_quarantine


class GateFailed(RuntimeError):
    """A blocking, batch-level rule failed: nothing of the batch may be written."""

    def __init__(self, outcome: SuiteOutcome, what: str, row_checks: SuiteOutcome | None = None):
        self.outcome = outcome
        self.row_checks = row_checks
        failed = "; ".join(
            f"{o.rule} ({o.unexpected_count} failing: {o.description}; e.g. {o.examples[:2]})" for o in outcome.failed
        )
        super().__init__(f"{what}: quality gate refused the batch: {failed}")


def _json(row: pd.Series) -> str:
    values: dict[str, object] = {}
    for key, value in row.items():
        if pd.api.types.is_scalar(value) and pd.isna(value):
            values[key] = None
        elif hasattr(value, "isoformat"):
            values[key] = value.isoformat()
        elif hasattr(value, "item"):
            values[key] = value.item()
        else:
            values[key] = value
    return json.dumps(values, ensure_ascii=False, default=str)


def split(
    table: str, staged: pd.DataFrame, outcome: SuiteOutcome, key_columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows that passed every quarantining rule, quarantine rows for the others)."""
    bad = outcome.quarantined_rows()
    if not bad:
        return staged, empty_quarantine()
    positions = sorted(bad)
    rejected = staged.iloc[positions]
    # the quarantine's date column: a bar's trade date, a report's period, a factor's ex-date
    date_column = next((c for c in ("trade_date", "report_date", "report_period", "ex_date") if c in rejected), None)
    quarantine = pd.DataFrame(
        {
            "table_name": table,
            "row_key": [" ".join(str(row[k]) for k in key_columns) for _, row in rejected.iterrows()],
            "symbol": rejected["symbol"].astype(object).to_numpy() if "symbol" in rejected else None,
            "trade_date": rejected[date_column].astype(object).to_numpy() if date_column else None,
            "rules": [",".join(bad[p]) for p in positions],
            "row_values": [_json(row) for _, row in rejected.iterrows()],
        }
    )[QUARANTINE_COLUMNS]
    quarantine["trade_date"] = pd.to_datetime(quarantine["trade_date"], errors="coerce").dt.date
    passed = staged.drop(staged.index[positions]).reset_index(drop=True)
    return passed, quarantine
