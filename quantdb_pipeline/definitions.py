"""The whole pipeline at a glance: assets, resources and jobs.

    trading_calendar ─┐
                      ├─> daily_bars (partitioned by day, Asia/Shanghai; ranges run as one step)
    securities ───────┘
"""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from quantdb_pipeline.assets import daily_bars, securities, trading_calendar
from quantdb_pipeline.partitions import daily_partitions
from quantdb_pipeline.resources import resources_from_env

reference_job = define_asset_job(
    "reference_job",
    selection=AssetSelection.assets(trading_calendar, securities),
    description="Refresh the trading calendar and the security universe.",
)
daily_bars_job = define_asset_job(
    "daily_bars_job",
    selection=AssetSelection.assets(daily_bars),
    partitions_def=daily_partitions,
    description="Load daily bars for a date or a date range (one step per range).",
)

defs = Definitions(
    assets=[trading_calendar, securities, daily_bars],
    jobs=[reference_job, daily_bars_job],
    resources=resources_from_env(),
    # Every step writes the one DuckDB file, which admits one writing process: run a job's
    # steps in one process, one after another, instead of racing for the file lock.
    executor=in_process_executor,
)
