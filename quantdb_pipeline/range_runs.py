"""Materializing a date range over several markets: one Dagster run per market's partitions.

Dagster runs assets of one partitions definition per run ("Selected assets must have the same
partitions definitions"); HK bars are partitioned by HKEX sessions, A-share, index bars and
corporate actions by SSE sessions (`partitions`). So a range over both markets is two runs, in
order: the HK assets first, then the rest with `published_warehouse`, which publishes once for
both (its `PUBLISHES_RUNS_TAG` names the HK run, whose dataset outcomes and requests it counts).
One publish, not two: publishing copies the whole warehouse file.

Each run's range is snapped to its market's sessions (start -> next session, end -> previous
one): Dagster records the NEXT session as materialized for a range ending on a closed day. A
market whose snapped range holds no session gets no run. Used by the CLI and the tests' helper.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from quantdb_pipeline.partitions import TradingDays, trading_days_of

HK_GROUP = "hong_kong"  # the group of every HK asset (assets/markets.py)
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass
class PlannedRun:
    """One run: its assets (`published_warehouse` last in the last run), its snapped range."""

    market: str  # "HK" or "CN" (A-shares, indices, fundamentals: SSE sessions)
    assets: list
    start: dt.date
    end: dt.date


def _market_of(asset) -> str:
    return "HK" if HK_GROUP in {spec.group_name for spec in asset.specs} else "CN"


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


def materialize_range(assets: Sequence, publish, start: dt.date, end: dt.date, *, resources: dict, instance,
                      tags: dict[str, str] | None = None, run_config: dict | None = None,
                      stop: Callable[[], bool] = lambda: False,
                      may_use_quote_list: bool = True) -> RangeResult | None:
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
    results = []
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
        results.append(dagster.materialize(
            planned.assets, resources=resources, instance=instance, tags=run_tags, run_config=config,
            selection=selection_without_quote_list(planned.assets, may_use_quote_list), raise_on_error=False))
    return RangeResult(results, runs[:len(results)], skipped)
