"""Publishing: the checked working file becomes the snapshot that readers and BI tools open."""

import datetime as dt
import errno
from pathlib import Path

import duckdb
from dagster import (
    AssetExecutionContext,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quantdb_pipeline.assets import dataset_keys, upstream_requests
from quantdb_pipeline.resources import WarehouseResource
from quantdb_pipeline.selections import PUBLISH_GROUP
from quantdb_pipeline.settings import MARKET_TIMEZONE
from quantdb_pipeline.warehouse import dataset_status

#: Readers expect the day's bars published by 18:00 Shanghai time on weekdays (the nightly
#: run starts at 17:00). On exchange holidays the policy reports stale; the schedule skips them.
BARS_FRESH_BY = FreshnessPolicy.cron(
    deadline_cron="0 18 * * 1-5", lower_bound_delta=dt.timedelta(hours=2), timezone=MARKET_TIMEZONE
)

TABLES = (
    "trading_calendar",
    "securities",
    "corporate_actions",
    "daily_bars",
    "adjustment_factors",
    "adjustment_gaps",
    "hk_securities",
    "hk_daily_bars",
    "hk_adjustment_factors",
    "indices",
    "index_daily_bars",
    "security_profiles",
    "financial_statements",
    "financial_indicators",
    "quarantine",
)

#: On a run that publishes for earlier runs of the same command (the CLI runs HK bars, which have
#: their own partitions, in a run before the publishing one): their run ids, comma-separated. Their
#: datasets' outcomes and upstream requests count as this run's.
PUBLISHES_RUNS_TAG = "quantdb/publishes_runs"
#: The upstream requests of the runs a publish covers (`upstream_requests.requests_by_asset`), on
#: the publishing run.
REQUESTS_TAG = "quantdb/upstream_requests"


@asset(
    group_name=PUBLISH_GROUP,
    # every dataset of the other asset modules (each asset of a market), found as this is defined
    deps=dataset_keys(),
    kinds={"duckdb"},
    freshness_policy=BARS_FRESH_BY,
)
def published_warehouse(context: AssetExecutionContext, warehouse: WarehouseResource):
    """Atomically replace the published warehouse file with the checkpointed working file.

    Runs after the tables it depends on. What passed its gate is published even when another
    dataset of the run failed: the loaders write only checked rows, so a failed dataset (see
    `assets.outcome`) still holds its last good rows, and `dataset_status` (published with the
    rest) makes `read.status()` report it stale. The step then fails AFTER publishing, its
    description naming each failed dataset and the reason on one line, so the run is marked
    failed and the run-failure alert fires. When every dataset of the run failed, nothing is
    published. A run that dies before this step leaves the published file exactly as it was.
    """
    run_ids = runs_published(context)
    # what the runs asked upstream, on the run itself (so the Runs page shows each run's cost to
    # the vendors), whether or not anything is published below
    requests = upstream_requests.requests_by_asset(context.instance, run_ids)
    context.instance.add_run_tags(context.run.run_id, {REQUESTS_TAG: str(upstream_requests.total(requests))})
    with warehouse.get_connection() as conn:
        outcomes = {
            dataset: reason
            for run_id in run_ids
            for dataset, reason in dataset_status.outcomes_of_run(conn, run_id).items()
        }
    failed = {dataset: reason for dataset, reason in outcomes.items() if reason is not None}
    if failed:  # on the run, so the Runs page (and the alert's tags) show which datasets are stale
        context.instance.add_run_tags(context.run.run_id, {"quantdb/failed_datasets": ",".join(sorted(failed))})
    if failed and len(failed) == len(outcomes):
        raise Failure(
            description=failure_text(failed, published=False),
            metadata={"failed_datasets": MetadataValue.json(failed), "published": False},
        )
    try:
        published = warehouse.publish()
    except OSError as error:  # NotEnoughSpace, a full volume (ENOSPC): one line, not a traceback
        hint = f"; free space in {Path(warehouse.database).parent} and run again" if error.errno == errno.ENOSPC else ""
        raise Failure(
            description=f"nothing published, the published file is unchanged: {error}{hint}",
            metadata={"published": False},
        ) from error
    for aside in published.orphaned_wals:
        context.log.warning(
            f"moved {published.path.name}.wal aside to {aside}: a write-ahead log of a session that "
            f"opened {published.path.name} read-write (a BI tool without read-only); it would have replayed that "
            "session's edits onto the new snapshot. Open the published file read-only (see README, SQL and BI "
            "tools); delete the moved file once inspected"
        )
    with duckdb.connect(":memory:") as conn:
        conn.execute("ATTACH ? AS published (READ_ONLY)", [str(published.path)])
        counts = {t: conn.execute(f"SELECT count(*) FROM published.{t}").fetchall()[0][0] for t in TABLES}
        last_bar = conn.execute("SELECT max(trade_date) FROM published.daily_bars").fetchall()[0][0]
    table = "| table | rows |\n|---|---:|\n" + "\n".join(f"| {t} | {n:,} |" for t, n in counts.items())
    context.log.info(f"published {published.path} ({published.size_bytes / 2**20:.1f} MiB) in {published.seconds:.2f}s")
    yield MaterializeResult(
        metadata={
            "path": str(published.path),
            "size_mib": round(published.size_bytes / 2**20, 2),
            "publish_seconds": round(published.seconds, 3),
            "orphaned_wals": MetadataValue.json([str(p) for p in published.orphaned_wals]),
            "latest_bar": str(last_bar),
            "run_upstream_requests": upstream_requests.total(requests),
            "upstream_requests_by_asset": MetadataValue.md(upstream_requests.markdown(requests)),
            "tables": MetadataValue.md(table),
            "datasets_failed": len(failed),
            "failed_datasets": MetadataValue.md(
                "| dataset | reason (keeps its last good rows) |\n|---|---|\n"
                + "\n".join(f"| {d} | {r.replace('|', '/')} |" for d, r in sorted(failed.items()))
                if failed
                else "none"
            ),
            **{f"rows_{t}": n for t, n in counts.items()},
        }
    )
    if failed:
        raise Failure(
            description=failure_text(failed, published=True),
            metadata={"failed_datasets": MetadataValue.json(failed), "published": True},
        )


def failure_text(failed: dict[str, str], published: bool) -> str:
    """The run's failure: a headline, then `dataset: reason`, one line per failed dataset."""
    head = (
        f"published; {len(failed)} dataset(s) failed and keep their last good rows (reported stale):"
        if published
        else "nothing published: every dataset of this run failed; the published file is unchanged:"
    )
    return "\n".join([head, *(f"{dataset}: {reason}" for dataset, reason in sorted(failed.items()))])


def runs_published(context: AssetExecutionContext) -> list[str]:
    """The runs this publish covers: the earlier ones named by `PUBLISHES_RUNS_TAG`, then this one."""
    linked = context.run.tags.get(PUBLISHES_RUNS_TAG, "")
    return list(dict.fromkeys([*(r for r in linked.split(",") if r), context.run.run_id]))
