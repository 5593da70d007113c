"""The whole pipeline at a glance: assets, checks, resources and jobs.

    A-shares
    trading_calendar ─┬─────────────────────────────────────────────┐
      [calendar suite]│                                             │
                      ├─> daily_bars ───> adjustment_factors ───────┤
    securities ───────┘   (daily partitions,  (sina hfq factors,    │
      [securities suite]   Asia/Shanghai; a    refetched when bars  │
                           range runs as one   show a new ex-date)  │
                           step) [rows, batch] [factors suite]      │
    Hong Kong                                                       ├─> published_warehouse
    hk_trading_calendar ─┬─> hk_daily_bars ─────────────────────────┤   (atomic snapshot that
    hk_securities ───────┘   (HKEX calendar, HKD, no price limit)   │    readers and BI open)
    Indices                                                         │
    trading_calendar ───> index_daily_bars (000300, 399006, ...) ───┤
    Fundamentals                                                    │
    securities ─┬─> security_profiles (history; weekly) ────────────┤
                ├─> financial_statements (eastmoney; when due) ─────┤
                └─> financial_indicators (sina; when due) ──────────┘

Every asset writes to the working DuckDB file after its Great Expectations suite passed;
blocking checks that fail stop the run before `published_warehouse`.
"""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from quantdb_pipeline.assets import (
    adjustment_factors,
    daily_bars,
    hk_daily_bars,
    hk_securities,
    financial_indicators,
    financial_statements,
    hk_trading_calendar,
    index_daily_bars,
    published_warehouse,
    securities,
    security_profiles,
    trading_calendar,
)
from quantdb_pipeline.partitions import daily_partitions
from quantdb_pipeline.resources import resources_from_env

reference_job = define_asset_job(
    "reference_job",
    selection=AssetSelection.assets(trading_calendar, securities, hk_trading_calendar, hk_securities,
                                    published_warehouse),
    description="Refresh the trading calendars and the security universes (A-shares, HK), then publish.",
)
daily_bars_job = define_asset_job(
    "daily_bars_job",
    selection=AssetSelection.assets(daily_bars, adjustment_factors, hk_daily_bars, index_daily_bars,
                                    published_warehouse),
    partitions_def=daily_partitions,
    description="Load A-share, HK and index bars for a date or a date range (one step per range), "
                "refresh the adjustment factors that the new bars show to be stale, then publish.",
)

fundamentals_job = define_asset_job(
    "fundamentals_job",
    selection=AssetSelection.assets(security_profiles, financial_statements, financial_indicators,
                                    published_warehouse),
    description="Refresh the profiles that are due (new listings, weekly) and the financial reports that "
                "can be new (inside disclosure windows), then publish.",
)

defs = Definitions(
    assets=[trading_calendar, securities, daily_bars, adjustment_factors,
            hk_trading_calendar, hk_securities, hk_daily_bars, index_daily_bars,
            security_profiles, financial_statements, financial_indicators, published_warehouse],
    jobs=[reference_job, daily_bars_job, fundamentals_job],
    resources=resources_from_env(),
    # Every step writes the one DuckDB file, which admits one writing process: run a job's
    # steps in one process, one after another, instead of racing for the file lock.
    executor=in_process_executor,
)
