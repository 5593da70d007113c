"""Publishing: the checked working file becomes the snapshot that readers and BI tools open."""

import datetime as dt

import duckdb
from dagster import AssetExecutionContext, DagsterEventType, FreshnessPolicy, MaterializeResult, MetadataValue, asset

from quantdb_pipeline.assets.bars import daily_bars
from quantdb_pipeline.assets.corporate_actions import corporate_actions
from quantdb_pipeline.assets.factors import adjustment_factors
from quantdb_pipeline.assets.fundamentals import financial_indicators, financial_statements, security_profiles
from quantdb_pipeline.assets.markets import (
    hk_adjustment_factors,
    hk_daily_bars,
    hk_securities,
    hk_trading_calendar,
    index_daily_bars,
)
from quantdb_pipeline.assets.reference import securities, trading_calendar
from quantdb_pipeline.resources import WarehouseResource
from quantdb_pipeline.settings import MARKET_TIMEZONE

#: Readers expect the day's bars published by 18:00 Shanghai time on weekdays (the nightly
#: run starts at 17:00). On exchange holidays the policy reports stale; the schedule skips them.
BARS_FRESH_BY = FreshnessPolicy.cron(deadline_cron="0 18 * * 1-5", lower_bound_delta=dt.timedelta(hours=2),
                                     timezone=MARKET_TIMEZONE)

TABLES = ("trading_calendar", "securities", "corporate_actions", "daily_bars", "adjustment_factors", "adjustment_gaps",
          "hk_securities", "hk_daily_bars", "hk_adjustment_factors",
          "indices", "index_daily_bars", "security_profiles", "financial_statements", "financial_indicators",
          "quarantine")


@asset(
    group_name="publish",
    deps=[trading_calendar, securities, corporate_actions, daily_bars, adjustment_factors,
          hk_trading_calendar, hk_securities, hk_daily_bars, hk_adjustment_factors, index_daily_bars,
          security_profiles, financial_statements, financial_indicators],
    kinds={"duckdb"},
    freshness_policy=BARS_FRESH_BY,
)
def published_warehouse(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """Atomically replace the published warehouse file with the checkpointed working file.

    Runs after the tables it depends on, and not at all when one of their blocking checks
    failed: readers only ever see data that passed the gate, and a run that dies before this
    step leaves the published file exactly as it was.
    """
    requests = _upstream_requests(context)
    # on the run itself, so the Runs page shows each run's cost to the vendors
    context.instance.add_run_tags(context.run_id, {"quantdb/upstream_requests": str(sum(requests.values()))})
    published = warehouse.publish()
    with duckdb.connect(":memory:") as conn:
        conn.execute("ATTACH ? AS published (READ_ONLY)", [str(published.path)])
        counts = {t: conn.execute(f"SELECT count(*) FROM published.{t}").fetchall()[0][0] for t in TABLES}
        last_bar = conn.execute("SELECT max(trade_date) FROM published.daily_bars").fetchall()[0][0]
    table = "| table | rows |\n|---|---:|\n" + "\n".join(f"| {t} | {n:,} |" for t, n in counts.items())
    context.log.info(f"published {published.path} ({published.size_bytes / 2**20:.1f} MiB) in {published.seconds:.2f}s")
    return MaterializeResult(metadata={
        "path": str(published.path),
        "size_mib": round(published.size_bytes / 2**20, 2),
        "publish_seconds": round(published.seconds, 3),
        "latest_bar": str(last_bar),
        "run_upstream_requests": sum(requests.values()),
        "upstream_requests_by_asset": MetadataValue.md(
            "| asset | requests |\n|---|---:|\n" + "\n".join(f"| {a} | {n:,} |" for a, n in sorted(requests.items()))),
        "tables": MetadataValue.md(table),
        **{f"rows_{t}": n for t, n in counts.items()},
    })


def _upstream_requests(context: AssetExecutionContext) -> dict[str, int]:
    """The `upstream_requests` of every asset this run materialized, from the run's event log."""
    records = context.instance.get_records_for_run(
        run_id=context.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=1000).records
    requests = {}
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        value = materialization.metadata.get("upstream_requests") if materialization else None
        if value is not None:
            key = materialization.asset_key.to_user_string()
            requests[key] = requests.get(key, 0) + int(value.value)
    return requests
