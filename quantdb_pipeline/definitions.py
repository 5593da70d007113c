"""The whole pipeline at a glance: assets, checks, resources and jobs.

    A-shares
    trading_calendar ─┬─────────────────────────────────────────────┐
      [calendar suite]│                                             │
                      ├─> corporate_actions (eastmoney dividends by │
    securities ───────┤     report period; ex-dates) [actions suite]│
      [securities suite]        │                                   │
                      └─> daily_bars ───> adjustment_factors ───────┤
                          (SSE sessions from  (sina hfq factors,    │
                           1990-12-19; a       refetched on a known │
                           range runs as one   new ex-date; derived │
                           step) [rows, batch] until they arrive)   │
    Hong Kong                                                       ├─> published_warehouse
    hk_trading_calendar ─┬─> hk_daily_bars ─> hk_adjustment_factors ┤   (atomic snapshot that
    hk_securities ───────┘   (HKEX calendar,  (sina hfq + cash, qfq;│    readers and BI open)
                              HKD, no limit;   every 30 days)       │
                              partitions: HKEX sessions)            │
    Indices                                                         │
    trading_calendar ───> index_daily_bars (000300, 399006, ...) ───┤
    Fundamentals                                                    │
    securities ─┬─> security_profiles (history; weekly) ────────────┤
                ├─> financial_statements (eastmoney; when due) ─────┤
                └─> financial_indicators (sina; when due) ──────────┘

Every asset writes to the working DuckDB file after its Great Expectations suite passed.
A dataset whose load stops (breaker, endpoint down, refused batch) keeps its last good rows
and fails its `load_complete` check; `published_warehouse` publishes the rest, then fails
the run naming each failed dataset (see `assets.outcome`).
"""

from dagster import Definitions, in_process_executor

from quantdb_pipeline.assets import project_asset_checks, project_assets
from quantdb_pipeline.jobs import (
    cn_range_job,
    daily_bars_job,
    financials_job,
    hk_daily_bars_job,
    hk_range_job,
    profiles_job,
    reference_job,
)
from quantdb_pipeline.resources import resources_from_env
from quantdb_pipeline.run_recovery import dead_run_sensor
from quantdb_pipeline.schedules import (
    financials_schedule,
    nightly_bars_schedule,
    nightly_hk_bars_schedule,
    nightly_profiles_schedule,
    reference_schedule,
    weekly_profiles_schedule,
)
from quantdb_pipeline.sensors import new_listings_sensor, run_failure_alert

defs = Definitions(
    # every asset of `quantdb_pipeline.assets`' modules, found by Dagster's module loader; each
    # says its group and market, which the jobs select by (`selections`)
    assets=project_assets(),
    asset_checks=project_asset_checks(),
    jobs=[reference_job, daily_bars_job, hk_daily_bars_job, profiles_job, financials_job, cn_range_job, hk_range_job],
    schedules=[
        reference_schedule,
        nightly_bars_schedule,
        nightly_hk_bars_schedule,
        nightly_profiles_schedule,
        weekly_profiles_schedule,
        financials_schedule,
    ],
    sensors=[new_listings_sensor, run_failure_alert, dead_run_sensor],
    resources=resources_from_env(),
    # Every step writes the one DuckDB file, which admits one writing process: run a job's
    # steps in one process, one after another, instead of racing for the file lock.
    executor=in_process_executor,
)
