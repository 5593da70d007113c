"""Sensors: new listings get their history, and a failed run raises an alert."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from quantdb_pipeline.assets.outcome import step_failure_message
from quantdb_pipeline.jobs import daily_bars_job
from quantdb_pipeline.run_log import failure_line
from quantdb_pipeline.settings import warehouse_path

log = logging.getLogger(__name__)

WEBHOOK_ENV = "QUANTDB_ALERT_WEBHOOK_URL"
#: Failures are recorded one JSON object per line, beside the warehouse.
ALERTS_FILE = "alerts.jsonl"


def unloaded_listings() -> tuple[list[str], dt.date | None]:
    """Listed A-shares without any bar coverage, and the last trading day with bars.

    Read from the pipeline's working file, else the published one (`warehouse.planning`);
    raises `read.WarehouseNotFoundError`, or `read.WarehouseBusyError` when both are locked.
    """
    from quantdb_pipeline.warehouse.planning import planning_connection

    with planning_connection() as conn:
        last = conn.execute("SELECT max(trade_date) FROM daily_bars").fetchall()[0][0]
        if last is None:
            return [], None
        symbols = [
            s
            for (s,) in conn.execute(
                """
            SELECT symbol FROM securities s
            WHERE s.list_date <= ? AND (s.delist_date IS NULL OR s.delist_date > ?) AND s.status = 'listed'
              AND NOT EXISTS (SELECT 1 FROM bar_coverage c WHERE c.symbol = s.symbol)
            ORDER BY symbol
            """,
                [last, last],
            ).fetchall()
        ]
    return symbols, last


@sensor(
    job=daily_bars_job,
    minimum_interval_seconds=3600,
    default_status=DefaultSensorStatus.STOPPED,
    description="Hourly: listed A-shares with no bars yet (new listings) get their whole history.",
)
def new_listings_sensor(context: SensorEvaluationContext):
    """A run of the latest bar date: symbols with no coverage are fetched from their listing date."""
    from quantdb_pipeline import read

    try:
        symbols, last = unloaded_listings()
    except read.WarehouseNotFoundError:
        return SkipReason("no warehouse yet")
    except read.WarehouseBusyError as error:  # both files locked: say by whom, try again next hour
        return SkipReason(str(error))
    if not symbols or last is None:  # no bars at all: no symbols either
        return SkipReason("every listed symbol has bars")
    shown = ", ".join(symbols[:20]) + (f" and {len(symbols) - 20} more" if len(symbols) > 20 else "")
    context.log.info(f"new listings without bars: {shown}")
    return RunRequest(
        run_key=f"listings-{last}-{','.join(symbols)}",
        partition_key=last.isoformat(),
        tags={"quantdb/new_listings": shown[:200]},
    )


def alert(payload: dict, webhook: str | None = None, record_to: Path | None = None, log_line: bool = True) -> None:
    """Log a failure (unless not `log_line`), append it to the alerts file and POST it to the
    webhook (if one is set).

    `payload`: run_id, job, error (one line per failed dataset or step), and optionally
    failed_datasets ({dataset: reason}), tags and at.
    """
    if log_line:
        log.error("ALERT run %s of %s failed: %s", payload["run_id"], payload["job"], payload["error"])
    if record_to is not None:
        record_to.parent.mkdir(parents=True, exist_ok=True)
        with record_to.open("a", encoding="utf-8") as out:
            out.write(json.dumps(payload, ensure_ascii=False) + "\n")
    if webhook:
        request = urllib.request.Request(
            webhook, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except OSError as error:  # an alert channel that is down must not hide the failure
            log.error("alert webhook %s failed: %s", webhook, error)


#: Set on a run once its failure was alerted, by the CLI (`alert_run`, as its run ends) or by
#: `run_failure_alert`: the other one then leaves it alone, so a failure is alerted once.
ALERTED_TAG = "quantdb/alerted"


def alerts_file(warehouse: Path | None = None) -> Path:
    """Where failures are recorded: `alerts.jsonl` beside the warehouse (default: `settings.warehouse_path()`)."""
    return (warehouse or warehouse_path()).parent / ALERTS_FILE


def alert_run(
    instance, run_id: str, by: str, record_to: Path | None = None, cause: str | None = None, log_line: bool = True
) -> dict | None:
    """Alert a failed or canceled run once: build its payload from the run's events, tag the run
    `ALERTED_TAG` = `by` ("cli" or "sensor"), and `alert` it (alerts file `record_to`, default
    `alerts_file()`; the webhook of $QUANTDB_ALERT_WEBHOOK_URL). Returns the payload, or None when
    the run was alerted already, does not exist, or did not fail (nothing is written then).
    `log_line=False`: no ALERT log line (the CLI prints its own line where its output has room).

    Payload: run_id, job, status ("FAILURE" or "CANCELED"), error (`cause` first, e.g. "stopped by
    Ctrl-C (SIGINT)", then one line per failed dataset or crashed step with its innermost error,
    else Dagster's own run failure message), failed_datasets, published, tags, at, alerted_by.

    Why the CLI calls this itself: its runs execute in its own process, often from cron with no
    daemon running, and a Ctrl-C leaves its run CANCELED, which no run-failure sensor sees; so
    failures from the CLI reach the same alerts file, log line and webhook whether or not a
    daemon runs. The tag is what keeps `run_failure_alert` from alerting the same run again.
    """
    from dagster import DagsterEventType, DagsterRunStatus

    run = instance.get_run_by_id(run_id)
    if (
        run is None
        or run.tags.get(ALERTED_TAG)
        or run.status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
    ):
        return None
    instance.add_run_tags(run_id, {ALERTED_TAG: by})  # first: a sensor tick in between skips the run
    failures = [e.dagster_event for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)]
    warnings = [
        e.user_message
        for e in instance.all_logs(run_id)
        if e.dagster_event is None and e.level >= logging.WARNING and e.user_message
    ]
    failed, lines, published = failure_lines(failures, warnings)
    if not lines:  # no step failed: the run's own verdict (a dead process, a cancel, a start timeout)
        ended = instance.all_logs(run_id, of_type={DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED})
        lines = [ended[-1].message] if ended else [f"run {run.status.value}"]
    payload = {
        "run_id": run_id,
        "job": run.job_name,
        "status": run.status.value,
        # the steps' own words: "hk_daily_bars: circuit breaker: ..." per dataset, not "Steps failed: [...]"
        "error": "\n".join([*([cause] if cause else []), *lines]),
        "failed_datasets": failed,
        # True: the other datasets were published, the failed ones keep their last good rows
        "published": published,
        "tags": {
            k: v for k, v in run.tags.items() if k.startswith(("quantdb/", "dagster/partition")) and k != ALERTED_TAG
        },
        "at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "alerted_by": by,
    }
    alert(payload, os.environ.get(WEBHOOK_ENV) or None, record_to or alerts_file(), log_line)
    return payload


# monitor_all_code_locations: the CLI executes its runs in process (without a code-location
# origin), and a run-status sensor that watches only its own code location skips them silently:
# a dead CLI run that dead_run_sensor failed would raise no alert. The CLI alerts its own runs'
# failures as they end (`alert_run`, tagged), and this sensor skips a run so tagged. This instance
# holds this project's runs only.
@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=True,
    description=f"Records each failed run in {ALERTS_FILE} beside the warehouse, logs it, "
    f"and POSTs it to ${WEBHOOK_ENV} when set (once per run: runs the CLI "
    f"alerted itself carry the {ALERTED_TAG} tag and are skipped).",
)
def run_failure_alert(context: RunFailureSensorContext):
    payload = alert_run(context.instance, context.dagster_run.run_id, "sensor")
    if payload is None:
        context.log.info(f"run {context.dagster_run.run_id} was alerted already")


def failure_lines(step_failures, warnings: Sequence[str] = ()) -> tuple[dict[str, str], list[str], bool]:
    """({dataset: reason}, one line per failed dataset or crashed step, whether the run published)
    from a run's step failure events. Each dataset's line is the CLI summary's
    (`run_log.failure_line`: the step's words, then the root cause in plain words, taken from the
    run's `warnings` about the dataset when its reason names none), so a cron user reading only
    the alert learns what the terminal would have said.

    `published_warehouse` fails after publishing with a `Failure` whose metadata `failed_datasets`
    maps each failed dataset to its reason; any other step failed by itself (a crash), and its
    line carries the innermost error, not Dagster's "Error occurred while executing op" wrapper.
    """
    failed: dict[str, str] = {}
    lines: list[str] = []
    published = False
    for event in step_failures:
        data = event.step_failure_data
        user = data.user_failure_data
        datasets = user.metadata.get("failed_datasets") if user is not None else None
        if datasets is not None:
            failed.update(datasets.value)
            flag = user.metadata.get("published")
            published = published or bool(flag is not None and flag.value)
            lines += [
                failure_line(dataset, reason, [w for w in warnings if w.split(" ")[0] == dataset])
                for dataset, reason in sorted(datasets.value.items())
            ]
            continue
        message = step_failure_message(event)
        lines.append(f"step {event.step_key} failed: {' '.join(message.split())}")
    return failed, lines, published
