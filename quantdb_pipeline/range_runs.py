"""Materializing a date range over several markets: one Dagster run per market's partitions.

Dagster runs assets of one partitions definition per run ("Selected assets must have the same
partitions definitions"); HK bars are partitioned by HKEX sessions, A-share, index bars and
corporate actions by SSE sessions (`partitions`). So a range over both markets is two runs, in
order: the HK assets first, then the rest with `published_warehouse`, which publishes once for
both (its `PUBLISHES_RUNS_TAG` names the HK run, whose dataset outcomes and requests it counts).
One publish, not two: publishing copies the whole warehouse file.

Each run's range is snapped to its market's sessions (start -> next session, end -> previous
one): Dagster records the NEXT session as materialized for a range ending on a closed day. A
market whose snapped range holds no session gets no run. Each run executes a subset of its
market's named job (`jobs.RANGE_JOBS`: `hk_range_job`, `cn_range_job`; see `range_job`), so the UI
lists it under that job. Used by the CLI and the tests' helper.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from quantdb_pipeline.partitions import TradingDays, trading_days_of

RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass
class PlannedRun:
    """One run: its assets (`published_warehouse` last in the last run), its snapped range."""

    market: str  # "HK" or "CN" (A-shares, indices, fundamentals: SSE sessions)
    assets: list
    start: dt.date
    end: dt.date


def _market_of(asset) -> str:
    """The exchange whose sessions partition `asset`'s runs, by its market tag (`selections.MARKETS`);
    "CN" for an asset of no market (`published_warehouse`, a test's stand-in)."""
    from quantdb_pipeline.selections import MARKET_TAG, MARKETS

    return next((MARKETS[spec.tags[MARKET_TAG]] for spec in asset.specs if MARKET_TAG in spec.tags), "CN")


def plan(assets: Sequence, publish, start: dt.date, end: dt.date) -> tuple[list[PlannedRun], list[str]]:
    """The runs for `assets` over [start, end] (HK first, `publish` in the last), and one line per
    market left out because its range holds no trading day."""
    groups: dict[str, list] = {}
    for asset in dict.fromkeys(assets):
        groups.setdefault(_market_of(asset), []).append(asset)
    runs, skipped = [], []
    for market in ("HK", "CN"):
        members = groups.get(market)
        if not members:
            continue
        definitions = {id(a.partitions_def): a.partitions_def for a in members if a.partitions_def is not None}
        days: TradingDays | None = trading_days_of(next(iter(definitions.values()))) if definitions else None
        if len(definitions) > 1:
            raise ValueError(f"{market} assets with different partitions: {[a.key for a in members]}")
        snapped = days.snap(start, end) if days else (start, end)
        if snapped is None:
            exchange = "HKEX" if market == "HK" else "SSE"
            names = ", ".join(a.key.to_user_string() for a in members if a.partitions_def is not None)
            skipped.append(f"no {exchange} trading day in {start}..{end}: {names} not run")
            continue
        runs.append(PlannedRun(market, members, *snapped))
    if runs:
        runs[-1].assets.append(publish)
    return runs, skipped


@dataclass
class RangeResult:
    """The results of a range's runs, read as one: events of all runs, `run_id` of the publishing
    (last) run; any other attribute is the last run's."""

    results: list
    runs: list[PlannedRun]
    skipped: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def run_id(self) -> str:
        return self.results[-1].run_id

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.results]

    @property
    def all_events(self) -> list:
        return [e for r in self.results for e in r.all_events]

    def get_asset_materialization_events(self) -> list:
        return [e for r in self.results for e in r.get_asset_materialization_events()]

    def get_asset_check_evaluations(self) -> list:
        return [e for r in self.results for e in r.get_asset_check_evaluations()]

    def get_asset_observation_events(self) -> list:
        return [e for r in self.results for e in r.get_asset_observation_events()]

    def __getattr__(self, name):
        return getattr(self.results[-1], name)


def materialize_range(
    assets: Sequence,
    publish,
    start: dt.date,
    end: dt.date,
    *,
    resources: dict,
    instance,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
    stop: Callable[[], bool] = lambda: False,
    may_use_quote_list: bool = True,
) -> RangeResult | None:
    """Materialize `assets` then `publish` over [start, end] in one run per market (see `plan`).

    `run_config["ops"]` entries go to the run holding the op; `stop()` is asked between runs (a
    Ctrl-C during the first run launches no second one). `may_use_quote_list=False` leaves the
    quote-list checks out of the runs (`assets.bars.selection_without_quote_list`: only a range
    ending on the source's today can use the quote list). Returns None when no market's range holds
    a trading day: no run is launched, nothing is written, nothing is fetched. Otherwise the runs'
    results (`RangeResult.skipped`: the markets left out).
    """
    import dagster

    from quantdb_pipeline.assets.bars import selection_without_quote_list
    from quantdb_pipeline.assets.publish import PUBLISHES_RUNS_TAG

    runs, skipped = plan(assets, publish, start, end)
    if not runs:
        return None
    run_config = dict(run_config or {})
    ops = run_config.pop("ops", {})
    results: list = []  # as RangeResult.results
    for planned in runs:
        if results and stop():
            break
        names = {a.node_def.name for a in planned.assets}
        config = {**run_config, **({"ops": {k: v for k, v in ops.items() if k in names}} if ops else {})}
        if not config.get("ops"):
            config.pop("ops", None)
        run_tags = {**(tags or {}), RANGE_START_TAG: planned.start.isoformat(), RANGE_END_TAG: planned.end.isoformat()}
        if publish in planned.assets and results:
            run_tags[PUBLISHES_RUNS_TAG] = ",".join(r.run_id for r in results)
        selection = selection_without_quote_list(planned.assets, may_use_quote_list)
        job = range_job(planned, resources, selection)
        if job is None:  # assets that are not the project's (tests' stand-ins): an ephemeral job
            results.append(
                dagster.materialize(
                    planned.assets,
                    resources=resources,
                    instance=instance,
                    tags=run_tags,
                    run_config=config,
                    selection=selection,
                    raise_on_error=False,
                )
            )
        else:
            results.append(execute_subset(job, config, instance, run_tags))
    return RangeResult(results, runs[: len(results)], skipped)


def range_job(planned: PlannedRun, resources: dict, selection=None):
    """The named job that runs `planned` (`jobs.RANGE_JOBS[planned.market]`), subset to its assets
    and their checks (`selection`, if given, narrows them: e.g. without the quote-list checks), with
    `resources`; None when an asset is not one of that job's (a test's stand-in).

    Why a named job and not `dagster.materialize`: materialize runs an ephemeral job, and every
    CLI run was listed as `__ephemeral_asset_job__`, under none of the project's jobs. A subset of
    a named job is what the UI itself launches for "Materialize selected": the run is listed under
    the job, records its asset and check selection, and re-executes as it ran.
    """
    from dagster import AssetSelection, Definitions, in_process_executor

    from quantdb_pipeline.assets import project_asset_checks, project_assets
    from quantdb_pipeline.jobs import RANGE_JOBS

    every = project_assets()
    # the loader's copies run the modules' own ops: an asset is the project's if its op is
    ops = {id(p.node_def) for p in every}
    if any(id(a.node_def) not in ops for a in planned.assets):
        return None
    definitions = Definitions(
        assets=every,
        asset_checks=project_asset_checks(),
        jobs=[RANGE_JOBS[planned.market]],
        resources=resources,
        executor=in_process_executor,
    )
    job = definitions.resolve_job_def(RANGE_JOBS[planned.market].name)
    graph = job.asset_layer.asset_graph
    wanted = selection if selection is not None else AssetSelection.assets(*planned.assets)
    keys = wanted.resolve(graph)
    if not keys <= graph.get_all_asset_keys() & job.asset_layer.selected_asset_keys:
        return None
    return job.get_subset(asset_selection=keys, asset_check_selection=wanted.resolve_checks(graph))


def execute_subset(job, run_config: dict, instance, tags: dict[str, str]):
    """Execute a subset job (`range_job`) in process as `JobDefinition.execute_in_process` does, but
    recording the run's asset selection: `execute_in_process(asset_selection=...)` would subset the
    job again with every check of those assets (the quote-list checks a run leaves out included),
    and without it the run records no selection (the UI would re-execute the whole job).

    Uses Dagster's own in-process entry point (`core_execute_in_process`, protected); Dagster is
    pinned in pyproject.toml and the named-job tests run through here. An `ExecuteInProcessResult`.
    """
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import core_execute_in_process, merge_run_tags

    selected = frozenset(job.asset_layer.selected_asset_keys)
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={})
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral),
        run_config=run_config,
        instance=instance,
        output_capturing_enabled=True,
        raise_on_error=False,
        asset_selection=selected,
        run_tags=merge_run_tags(
            job_def=job,
            partition_key=None,
            tags=tags,
            asset_selection=sorted(selected),
            instance=instance,
            run_config=run_config,
        ),
    )
