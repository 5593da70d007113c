"""The jobs: what runs together. Each ends by publishing the checked working file.

Each selects by group and market (`selections`), not by a list of asset names: a new dataset
joins the jobs of its group and market where it is defined. Only the profile and financial-report
jobs, each about its own datasets, name them.
"""

from dagster import AssetSelection, PartitionsDefinition, define_asset_job

from quantdb_pipeline.partitions import hk_partitions, sse_partitions
from quantdb_pipeline.selections import PUBLISH, REFERENCE, of_exchange


def publishing_job(
    name: str, selection: AssetSelection, description: str, partitions_def: PartitionsDefinition | None = None
):
    """A job of `selection` and `published_warehouse`, which runs after the rest."""
    return define_asset_job(name, selection=selection | PUBLISH, partitions_def=partitions_def, description=description)


reference_job = publishing_job(
    "reference_job", REFERENCE, "Refresh the trading calendars and the security universes (A-shares, HK), then publish."
)
daily_bars_job = publishing_job(
    "daily_bars_job",
    AssetSelection.groups("market_data", "indices"),
    "Load A-share and index bars for an SSE trading day or a range of them (one step per range), "
    "refresh the corporate actions of open report periods and the adjustment factors of symbols with a new "
    "ex-date, then publish.",
    sse_partitions,
)
# HK bars have their own partitions (HKEX sessions), and Dagster runs one partitions definition per
# run: HK bars are a job of their own.
hk_daily_bars_job = publishing_job(
    "hk_daily_bars_job",
    AssetSelection.groups("hong_kong") - REFERENCE,
    "Load HK bars for an HKEX trading day or a range of them (one step per range), refresh the HK "
    "adjustment factors that are missing or due, then publish.",
    hk_partitions,
)
# What `quantdb-pipeline run` runs (`range_runs.materialize_range`): one run per exchange's partitions,
# each a subset of one of these jobs (the markets and datasets asked for, `published_warehouse` in the
# last run), so a CLI run is listed under a named job in the UI with its asset selection.
#: The job of each exchange's run of a range (`range_runs.plan`'s `PlannedRun.market`): every
#: dataset of the markets that exchange's sessions partition (`selections.MARKETS`).
RANGE_JOBS = {
    exchange: publishing_job(f"{exchange.lower()}_range_job", of_exchange(exchange), description, partitions)
    for exchange, partitions, description in (
        (
            "CN",
            sse_partitions,
            "A-shares, indices and fundamentals for a range of SSE sessions, then publish: the runs of "
            "`quantdb-pipeline run` (each selects the datasets asked for). HK assets run in hk_range_job.",
        ),
        (
            "HK",
            hk_partitions,
            "HK calendar, securities, bars and factors for a range of HKEX sessions: the HK run of "
            "`quantdb-pipeline run`, before cn_range_job (which then publishes both), or publishing itself.",
        ),
    )
}
cn_range_job, hk_range_job = RANGE_JOBS["CN"], RANGE_JOBS["HK"]
profiles_job = publishing_job(
    "profiles_job",
    AssetSelection.assets("security_profiles"),
    "Refresh every profile from the quote list (industries and name history weekly), then publish.",
)
financials_job = publishing_job(
    "financials_job",
    AssetSelection.assets("financial_statements", "financial_indicators"),
    "Fetch the financial reports that can be new (inside disclosure windows), then publish.",
)
