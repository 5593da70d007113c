"""How a dataset's load ends, so that one failed dataset does not hold back the others.

Dagster skips every step downstream of a failed step, and of a blocking check that failed
with severity ERROR (docs: `AssetCheckSpec(blocking=...)`, "If the check fails with severity
ERROR, then the downstream assets won't execute"). A dataset asset that raised would
therefore stop `published_warehouse` for every market. Instead each dataset asset runs its
body through `settle_dataset`:

- the body raises `DatasetFailed` (circuit breaker, gate refusal, every symbol failed), or
  an upstream error escapes it (`UPSTREAM_ERRORS`: endpoint down, unreadable answer, an
  upstream frame of another shape) -> the failure is recorded in `dataset_status`, the asset
  materializes with `dataset_status: failed` and the reason, and its non-blocking
  `load_complete` check fails with severity ERROR naming the reason. Nothing of the failed
  load that did not pass the gate was written (the loaders write only checked rows), so the
  dataset keeps its last good rows and `published_warehouse` publishes the rest, then fails
  the run naming each failed dataset;
- anything else (a bug, a usage error such as bars before the calendar) fails the step as
  before: visible as a failed step, and nothing is published, as the state is unknown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import requests
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetObservation,
    MaterializeResult,
    MetadataValue,
)

from quantdb_pipeline.assets.report import DatasetReport
from quantdb_pipeline.sources.normalize import SourceSchemaError
from quantdb_pipeline.sources.pacing import RetriesExhausted, UnreadableAnswer
from quantdb_pipeline.sources.request_counting import collecting_sources, requests_of
from quantdb_pipeline.warehouse import dataset_status

LOAD_CHECK = "load_complete"

#: The metadata a partitioned asset keeps on its materialization, i.e. on every partition's copy
#: (see `slim_for_partitions`): what the UI's partition view, `published_warehouse` (requests)
#: and the run's failure report need. The rest goes on one observation per run.
PARTITION_METADATA = (
    "rows_written",
    "rows_quarantined",
    "symbols_failed",
    "upstream_requests",
    "upstream_requests_by_endpoint",
    "range",
    "seconds",
    "source",
    "dataset_status",
    "failure_reason",
    "partial_reason",
    "last_good_at",
)
DETAILS_KEY = "details"

#: Errors that mean "upstream did not give us this dataset tonight", not "our code is wrong".
UPSTREAM_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    RetriesExhausted,
    UnreadableAnswer,
    SourceSchemaError,
    json.JSONDecodeError,
)


class DatasetFailed(Exception):
    """The dataset's load stopped; `reason` is one line, `metadata` the asset's usual metadata."""

    def __init__(self, reason: str, metadata: dict | None = None):
        super().__init__(reason)
        self.reason = dataset_status.one_line(reason)
        self.metadata = metadata or {}


def load_check(asset: str) -> AssetCheckSpec:
    """The dataset's `load_complete` check: not blocking, so the other datasets still publish."""
    return AssetCheckSpec(
        LOAD_CHECK,
        asset=asset,
        blocking=False,
        description=(
            "the load completed: endpoint answered, circuit breaker closed, batch accepted by the gate. A failure "
            "(ERROR) means the dataset kept its last good rows and is reported stale by read.status(); the "
            "other datasets are still published"
        ),
    )


def settle_dataset(
    context: AssetExecutionContext, warehouse, dataset: str, body: Iterable, suites: Iterable[str] = ()
) -> Iterator:
    """Run an asset `body` (a generator of Dagster results) and record how `dataset`'s load ended.

    `suites`: the asset's quality-check names; one the body did not yield before failing is
    yielded as not evaluated (WARN), since Dagster requires a result for every check spec.

    Whatever the body reports, the materialization carries the step's upstream requests
    (`request_metadata`: every source the body built, counted by the sources themselves), loaded
    or failed; a step that crashes records them on an observation before failing. It also carries
    the dataset's typed `DatasetReport` (the body's, or an empty one), marked `failed` with the
    reason when the load failed: what the CLI's summary reads.
    """
    yielded: set[str | None] = set()
    # or "partial" with its `partial_reason`, from the body's materialization
    loaded: dict[str, Any] = {"dataset_status": "ok"}
    sources: list = []  # the sources the body builds: their requests are the step's (`request_metadata`)
    checks: list[AssetCheckResult] = []  # held back until this step's materialization (`of_this_batch`)
    try:
        for event in _collecting(body, sources):
            if isinstance(event, AssetCheckResult):
                yielded.add(event.check_name)
                checks.append(of_this_batch(context, event))
                continue
            if isinstance(event, MaterializeResult):
                metadata = event.metadata or {}
                if metadata.get("dataset_status") == "partial":
                    loaded = {key: metadata[key] for key in ("dataset_status", "partial_reason") if key in metadata}
                report = DatasetReport.from_metadata(metadata) or DatasetReport()
                event = event._replace(metadata={**metadata, **request_metadata(sources), **report.metadata()})
            yield from slim_for_partitions(context, event)
            if isinstance(event, MaterializeResult):
                yield from checks
                checks.clear()
    except DatasetFailed as failed:
        reason, metadata = failed.reason, failed.metadata
    except UPSTREAM_ERRORS as error:
        reason, metadata = dataset_status.one_line(f"{type(error).__name__}: {error}"), {}
        # the traceback, for a log file (the CLI's); INFO stays off a terminal without handlers
        logging.getLogger(__name__).info("%s failed: where", dataset, exc_info=error)
    except Exception:
        # a crash fails the step; the suites' verdicts and what it asked upstream are still recorded
        yield from checks
        yield AssetObservation(
            asset_key=context.asset_key,
            metadata=request_metadata(sources),
            description=f"run {context.run.run_id}: upstream requests of a step that failed",
        )
        raise
    else:
        yield from checks
        with warehouse.get_connection() as conn:
            dataset_status.record(conn, dataset, context.run.run_id, None)
        yield of_this_batch(
            context,
            AssetCheckResult(
                check_name=LOAD_CHECK,
                passed=True,
                severity=AssetCheckSeverity.ERROR,
                description="the load completed"
                if loaded["dataset_status"] == "ok"
                else f"the load completed in part: {loaded.get('partial_reason', '')}",
                metadata=loaded,
            ),
        )
        return
    context.log.error(f"{dataset} failed and keeps its last good rows (reported stale): {reason}")
    with warehouse.get_connection() as conn:
        dataset_status.record(conn, dataset, context.run.run_id, reason)
        last_good = conn.execute("SELECT last_good_at FROM dataset_status WHERE dataset = ?", [dataset]).fetchall()
    last_good_at = str(last_good[0][0]) if last_good and last_good[0][0] is not None else "never"
    # Materialized although stale: Dagster runs the steps downstream of a materialized asset only.
    report = (DatasetReport.from_metadata(metadata) or DatasetReport()).settled("failed", reason)
    yield from slim_for_partitions(
        context,
        MaterializeResult(
            metadata={
                **metadata,
                **request_metadata(sources),
                "dataset_status": "failed",
                "failure_reason": reason,
                "last_good_at": last_good_at,
                **report.metadata(),
            }
        ),
    )
    yield from checks
    for suite in suites:
        if suite not in yielded:
            yield of_this_batch(
                context,
                AssetCheckResult(
                    check_name=suite,
                    passed=False,
                    severity=AssetCheckSeverity.WARN,
                    description="not evaluated: the load failed before rows reached the gate",
                    metadata={"rows_checked": 0},
                ),
            )
    yield of_this_batch(
        context,
        AssetCheckResult(
            check_name=LOAD_CHECK,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=reason,
            metadata={"dataset_status": "failed", "last_good_at": last_good_at, "reason": MetadataValue.text(reason)},
        ),
    )


def of_this_batch(context: AssetExecutionContext, check: AssetCheckResult) -> AssetCheckResult:
    """`check` with metadata naming the batch it checked: `run_id` (the run whose rows it checked; the
    loaders stamp each row they write with it) and, for a partitioned asset, `date_range`
    ("YYYY-MM-DD..YYYY-MM-DD", the run's partition range).

    Why held back and yielded after the step's materialization (`settle_dataset`): Dagster links a
    check result to the asset's latest materialization *at the moment the result is yielded*
    (`AssetCheckEvaluation.target_materialization_data`, what the UI shows a check against). A
    suite's verdict is known before the loader's `MaterializeResult`, and yielded then it pointed
    at the previous run's materialization: the UI showed each check against the previous batch.
    """
    extra = {"run_id": context.run.run_id}
    if context.assets_def.partitions_def is not None and context.has_partition_key_range:
        key_range = context.partition_key_range
        extra["date_range"] = f"{key_range.start}..{key_range.end}"
    return check.with_metadata({**(check.metadata or {}), **extra})


def _collecting(body: Iterable, sources: list) -> Iterator:
    """`body`'s events; each advance runs with `sources` collecting the sources built in it."""
    events = iter(body)
    while True:
        with collecting_sources(sources):
            try:
                event = next(events)
            except StopIteration:
                return
        yield event


def request_metadata(sources: list) -> dict:
    """The step's upstream requests, counted by its sources (HTTP requests for akshare, see
    `sources.request_counting`): `upstream_requests` (total) and `upstream_requests_by_endpoint`
    ("endpoint n, ..."). Every dataset asset reports them, 0 included, loaded or failed."""
    counts = requests_of(sources)
    return {
        "upstream_requests": sum(counts.values()),
        "upstream_requests_by_endpoint": ", ".join(f"{e} {n}" for e, n in sorted(counts.items()) if n) or "none",
    }


def slim_for_partitions(context: AssetExecutionContext, event) -> Iterator:
    """`event`, and for a partitioned asset's `MaterializeResult`, all but `PARTITION_METADATA`
    moved to one `AssetObservation`.

    Why: a range run's one `MaterializeResult` becomes one materialization event per partition, each
    holding a copy of its metadata (a 10-year range: ~2,400 copies), and Dagster serializes each
    copy, twice with the asset's latest-materialization row: metadata size is per-partition cost.
    A few scalars (rows written, symbols failed, requests, range, seconds, source, the dataset's
    status) stay on the materialization, where the UI's partition view and `published_warehouse`
    read them; the other counts and the markdown tables (failed symbols, market closures, preview)
    go to one observation of the asset, written once per run (the UI lists it among the asset's
    events), and the materialization names them under `details`. `run_metadata` puts both together
    again for the CLI's summary and the tests. Unpartitioned assets keep everything on their
    materialization.
    """
    if not isinstance(event, MaterializeResult) or context.assets_def.partitions_def is None:
        yield event
        return
    metadata = dict(event.metadata or {})
    details = {key: value for key, value in metadata.items() if key not in PARTITION_METADATA}
    if not details:
        yield event
        return
    asset_key = event.asset_key or context.asset_key
    yield AssetObservation(
        asset_key=asset_key,
        metadata=details,
        description=f"run {context.run.run_id}: the tables of its {asset_key.to_user_string()} "
        f"materialization ({context.partition_key_range.start}.."
        f"{context.partition_key_range.end})",
    )
    scalars = {key: value for key, value in metadata.items() if key not in details}
    scalars[DETAILS_KEY] = f"{', '.join(details)}: on this run's observation of the asset"
    yield event._replace(metadata=scalars)


def run_metadata(result) -> dict[str, dict]:
    """asset -> the metadata of its materialization in an execution result, with the details its
    run's observation holds (`slim_for_partitions`), as raw values. A range run repeats the
    materialization per partition: the first is taken."""
    found: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string()
        if key not in found:
            found[key] = {k: v.value for k, v in event.materialization.metadata.items()}
    for event in result.get_asset_observation_events():
        key = event.asset_key.to_user_string()
        if key in found:
            found[key].update({k: v.value for k, v in event.asset_observation_data.asset_observation.metadata.items()})
    return found


def step_failure_message(event) -> str:
    """The user-facing message of a STEP_FAILURE event: the step's own `Failure` description (for
    `published_warehouse`, one `dataset: reason` line per failed dataset), else the innermost
    error of the chain (a crash's own exception, not Dagster's "Error occurred while executing
    op" wrapper), as `ExceptionClass: message`."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description.strip()
    error = data.error
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error is not None else "unknown error"
