"""Publishing: the checked working file becomes the snapshot that readers and BI tools open."""

import datetime as dt

import duckdb
from dagster import AssetExecutionContext, FreshnessPolicy, MaterializeResult, MetadataValue, asset

from quantdb_pipeline.assets.bars import daily_bars
from quantdb_pipeline.assets.factors import adjustment_factors
from quantdb_pipeline.assets.fundamentals import financial_indicators, financial_statements, security_profiles
from quantdb_pipeline.assets.markets import hk_daily_bars, hk_securities, hk_trading_calendar, index_daily_bars
from quantdb_pipeline.assets.reference import securities, trading_calendar
from quantdb_pipeline.resources import WarehouseResource
from quantdb_pipeline.settings import MARKET_TIMEZONE

#: Readers expect the day's bars published by 18:00 Shanghai time on weekdays (the nightly
#: run starts at 17:00). On exchange holidays the policy reports stale; the schedule skips them.
BARS_FRESH_BY = FreshnessPolicy.cron(deadline_cron="0 18 * * 1-5", lower_bound_delta=dt.timedelta(hours=2),
                                     timezone=MARKET_TIMEZONE)

TABLES = ("trading_calendar", "securities", "daily_bars", "adjustment_factors", "hk_securities", "hk_daily_bars",
          "indices", "index_daily_bars", "security_profiles", "financial_statements", "financial_indicators",
          "quarantine")


@asset(
    group_name="publish",
    deps=[trading_calendar, securities, daily_bars, adjustment_factors,
          hk_trading_calendar, hk_securities, hk_daily_bars, index_daily_bars,
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
        "tables": MetadataValue.md(table),
        **{f"rows_{t}": n for t, n in counts.items()},
    })
