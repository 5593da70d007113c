"""Corporate actions: eastmoney's whole-market dividend table, by report period."""

import datetime as dt
from typing import Any

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quantdb_pipeline.assets.checks import check_result, suite_check
from quantdb_pipeline.assets.outcome import DatasetFailed, load_check, settle_dataset
from quantdb_pipeline.assets.reference import POOL, securities, trading_calendar
from quantdb_pipeline.assets.report import DatasetReport
from quantdb_pipeline.loaders.corporate_actions import load_corporate_actions
from quantdb_pipeline.partitions import sse_partitions
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.selections import market_tags
from quantdb_pipeline.warehouse.writes import Lineage

ACTIONS_SUITE = "corporate_actions_suite"


class CorporateActionsConfig(Config):
    """`refresh: true` refetches every report period, not only the open ones."""

    refresh: bool = False


@asset(
    group_name="market_data",
    tags=market_tags("cn"),
    deps=[trading_calendar, securities],
    partitions_def=sse_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        suite_check(
            ACTIONS_SUITE,
            "corporate_actions",
            "six-digit codes, one plan per symbol and period, non-negative amounts, ex-date after "
            "record date and report period (quarantined); a plan that distributes nothing (warning)",
        ),
        load_check("corporate_actions"),
    ],
)
def corporate_actions(
    context: AssetExecutionContext,
    config: CorporateActionsConfig,
    market: MarketSourceResource,
    warehouse: WarehouseResource,
):
    """Cash dividends, bonus and transferred shares with their ex-dates, for the whole market.

    One `stock_fhps_em` call per report period answers every company (500 rows a page).
    Periods reach back from the run's first day; a period is refetched nightly while its
    distributions can still change, never once closed. The ex-dates here tell
    `adjustment_factors` which symbols' factors are stale, and tell the bar gate the
    exchange's reference price on ex-dates (the history klines do not show it).
    """
    yield from settle_dataset(
        context, warehouse, "corporate_actions", _load(context, config, market, warehouse), [ACTIONS_SUITE]
    )


def _load(
    context: AssetExecutionContext,
    config: CorporateActionsConfig,
    market: MarketSourceResource,
    warehouse: WarehouseResource,
):
    source = market.build()
    lineage = Lineage.now(source.name, context.run.run_id)
    start = (
        dt.date.fromisoformat(context.partition_key_range.start) if context.has_partition_key_range else source.today()
    )

    def on_progress(done: int, total: int, period: str, rows: int) -> None:
        market.progress.report("corporate_actions", done, total, period, rows)
        context.log.info(f"corporate_actions: {done}/{total} report periods fetched (last {period}: {rows} rows)")

    with warehouse.get_connection() as conn:
        report = load_corporate_actions(
            conn,
            source,
            lineage,
            start,
            refresh=config.refresh,
            progress=on_progress,
            breaker_threshold=market.breaker_threshold,
        )
    for period, reason in sorted(report.failed.items()):
        context.log.warning(f"corporate_actions {period} failed, will retry next run: {reason}")
    yield check_result(ACTIONS_SUITE, report.checks)
    new = report.new_ex_dates
    # a period counts as fetched when upstream answered it (rows or none), not when it was asked for
    answered = len(report.needed) - len(report.failed) - report.not_attempted
    metadata: dict[str, Any] = {
        "periods_fetched": answered,
        "periods_needed": len(report.needed),
        "periods": MetadataValue.md(
            "| period | why |\n|---|---|\n" + "\n".join(f"| {p} | {r} |" for p, r in report.needed.items())
            if report.needed
            else "no period needed fetching"
        ),
        "periods_empty": len(report.empty),
        "periods_failed": len(report.failed),
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "new_ex_dates": len(new),
        "new_ex_dates_preview": MetadataValue.md(new.head(10).to_markdown(index=False) if len(new) else "none"),
        "seconds": round(report.seconds, 2),
        "source": source.name,
    }
    summary = DatasetReport(
        rows_written=report.rows_written,
        rows_quarantined=report.rows_quarantined,
        periods_fetched=answered,
        new_ex_dates=len(new),
    )
    metadata |= summary.metadata()
    if report.circuit_open:
        raise DatasetFailed(f"circuit breaker: {report.circuit_open}", metadata)
    if report.failed and answered == 0:  # nothing loaded: a failed dataset, not an ok one with 0 rows
        raise DatasetFailed(
            f"every period failed ({len(report.failed)} of {len(report.needed)}), retried by the next run", metadata
        )
    if report.failed:  # the periods answered are stored; the others are retried by the next run
        why = f"{len(report.failed)} of {len(report.needed)} periods failed, retried by the next run"
        metadata |= {"dataset_status": "partial", "partial_reason": why, **summary.settled("partial", why).metadata()}
    yield MaterializeResult(metadata=metadata)
