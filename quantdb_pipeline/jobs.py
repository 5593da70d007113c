"""The jobs: what runs together. Each ends by publishing the checked working file."""

from dagster import AssetSelection, define_asset_job

from quantdb_pipeline.assets import (
    adjustment_factors,
    corporate_actions,
    daily_bars,
    financial_indicators,
    financial_statements,
    hk_adjustment_factors,
    hk_daily_bars,
    hk_securities,
    hk_trading_calendar,
    index_daily_bars,
    published_warehouse,
    securities,
    security_profiles,
    trading_calendar,
)
from quantdb_pipeline.partitions import hk_partitions, sse_partitions

reference_job = define_asset_job(
    "reference_job",
    selection=AssetSelection.assets(trading_calendar, securities, hk_trading_calendar, hk_securities,
                                    published_warehouse),
    description="Refresh the trading calendars and the security universes (A-shares, HK), then publish.",
)
daily_bars_job = define_asset_job(
    "daily_bars_job",
    selection=AssetSelection.assets(corporate_actions, daily_bars, adjustment_factors, index_daily_bars,
                                    published_warehouse),
    partitions_def=sse_partitions,
    description="Load A-share and index bars for an SSE trading day or a range of them (one step per range), "
                "refresh the corporate actions of open report periods and the adjustment factors of symbols with a new "
                "ex-date, then publish.",
)
# HK bars have their own partitions (HKEX sessions), and Dagster runs one partitions definition per
# run: HK bars are a job of their own.
hk_daily_bars_job = define_asset_job(
    "hk_daily_bars_job",
    selection=AssetSelection.assets(hk_daily_bars, hk_adjustment_factors, published_warehouse),
    partitions_def=hk_partitions,
    description="Load HK bars for an HKEX trading day or a range of them (one step per range), refresh the HK "
                "adjustment factors that are missing or due, then publish.",
)
# What `quantdb-pipeline run` runs (`range_runs.materialize_range`): one run per market's partitions,
# each a subset of one of these two jobs (the markets and datasets asked for, `published_warehouse`
# in the last run), so a CLI run is listed under a named job in the UI with its asset selection.
cn_range_job = define_asset_job(
    "cn_range_job",
    selection=AssetSelection.assets(trading_calendar, securities, corporate_actions, daily_bars, adjustment_factors,
                                    index_daily_bars, security_profiles, financial_statements, financial_indicators,
                                    published_warehouse),
    partitions_def=sse_partitions,
    description="A-shares, indices and fundamentals for a range of SSE sessions, then publish: the runs of "
                "`quantdb-pipeline run` (each selects the datasets asked for). HK assets run in hk_range_job.",
)
hk_range_job = define_asset_job(
    "hk_range_job",
    selection=AssetSelection.assets(hk_trading_calendar, hk_securities, hk_daily_bars, hk_adjustment_factors,
                                    published_warehouse),
    partitions_def=hk_partitions,
    description="HK calendar, securities, bars and factors for a range of HKEX sessions: the HK run of "
                "`quantdb-pipeline run`, before cn_range_job (which then publishes both), or publishing itself.",
)
#: The job of each market's run of a range (`range_runs.plan`'s `PlannedRun.market`).
RANGE_JOBS = {"CN": cn_range_job, "HK": hk_range_job}
profiles_job = define_asset_job(
    "profiles_job",
    selection=AssetSelection.assets(security_profiles, published_warehouse),
    description="Refresh every profile from the quote list (industries and name history weekly), then publish.",
)
financials_job = define_asset_job(
    "financials_job",
    selection=AssetSelection.assets(financial_statements, financial_indicators, published_warehouse),
    description="Fetch the financial reports that can be new (inside disclosure windows), then publish.",
)
