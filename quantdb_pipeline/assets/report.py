"""What a dataset's load tells the run's summary, as one typed value on its materialization.

The UI shows a load's figures as metadata: scalars and markdown tables (failed symbols, new
profile versions, changed factors). The CLI's summary needs some of them as numbers, and used
to read them back out of that metadata, counting the rows of a markdown table for a count. Each
dataset asset now builds a `DatasetReport` from its loader's report and puts it on its
materialization as JSON under `REPORT_KEY` (`metadata()`); `outcome.settle_dataset` stamps how
the load ended on it (and gives a dataset that built none an empty one), and the CLI reads it
back with `DatasetReport.from_metadata`. The markdown stays for the UI; nothing parses it.

Shape on the wire: `dataclasses.asdict`, `failed_symbols` as [[symbol, reason], ...]. A field
the asset does not report is null (`None`), which the summary shows as "-" or 0 as it always has.
For a partitioned asset the report travels on the run's one observation with the other
details (`outcome.slim_for_partitions`), not on each partition's materialization.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dagster import MetadataValue

REPORT_KEY = "dataset_report"


@dataclass(frozen=True)
class DatasetReport:
    """A dataset load's outcome and the figures the CLI's summary prints (counts are plain ints;
    None: not reported by this dataset, or its load failed before it could count)."""

    status: str = "ok"  # "ok" | "partial" (the failed part is retried) | "failed" (kept its last good rows)
    reason: str | None = None  # one line: why it failed, or which part failed
    rows_written: int | None = None
    rows_quarantined: int = 0
    symbols_failed: int | None = None
    failed_symbols: tuple[tuple[str, str], ...] = ()  # (symbol, reason), by symbol
    symbols_updated: int | None = None
    symbols_skipped_covered: int | None = None  # bars: symbols whose range was already covered
    symbols_due: int | None = None  # profiles, statements: symbols due a fetch
    new_versions: int | None = None  # profiles: symbols with a new profile version
    periods_fetched: int | None = None  # statements, corporate actions: report periods upstream answered
    new_ex_dates: int | None = None  # corporate actions: plans with an ex-date the table did not hold
    symbols_fetched: int | None = None  # factors: symbols whose factors were fetched
    symbols_changed: int | None = None  # factors: symbols whose upstream factors changed
    derived_factors: int | None = None  # factors: steps derived from the reference price
    adjustment_gaps: int | None = None  # factors: ex-dates no factor covers

    @classmethod
    def failures(cls, failed: Iterable[tuple[str, str]], **figures) -> DatasetReport:
        """A report whose `symbols_failed`/`failed_symbols` are `failed` ((symbol, reason), in order)."""
        pairs = tuple(failed)
        return cls(symbols_failed=len(pairs), failed_symbols=pairs, **figures)

    def settled(self, status: str, reason: str | None) -> DatasetReport:
        """This report with how the load ended (`outcome.settle_dataset`)."""
        return dataclasses.replace(self, status=status, reason=reason)

    def metadata(self) -> dict:
        """{REPORT_KEY: the report as a JSON metadata value}, to merge into the asset's metadata."""
        return {REPORT_KEY: MetadataValue.json(dataclasses.asdict(self))}

    @classmethod
    def from_metadata(cls, metadata: Mapping) -> DatasetReport | None:
        """The report in an asset's metadata (Dagster `MetadataValue`s, or their raw values as
        `outcome.run_metadata` gives them), or None when it has none (`published_warehouse`, a
        run of a version before reports). Keys this version does not know are ignored."""
        value = metadata.get(REPORT_KEY)
        if value is None:
            return None
        raw = getattr(value, "value", value)
        known = {field.name for field in dataclasses.fields(cls)}
        fields = {key: item for key, item in raw.items() if key in known}
        fields["failed_symbols"] = tuple((str(symbol), str(why)) for symbol, why in fields.get("failed_symbols") or ())
        return cls(**fields)


def failed_symbols_markdown(failed: Iterable[tuple[str, str]]) -> str:
    """| symbol | reason | rows of (symbol, reason), "none" without any: the failed-symbols table
    the UI shows and the CLI prints. A `|` in a reason would end its cell: shown as `/`."""
    rows = "\n".join(f"| {symbol} | {reason.replace('|', '/')} |" for symbol, reason in failed)
    return "| symbol | reason |\n|---|---|\n" + rows if rows else "none"
