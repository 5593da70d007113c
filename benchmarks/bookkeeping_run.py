"""One measurement of Dagster's per-partition bookkeeping: a single-run backfill of `daily_bars`.

Run by `run_benchmarks.bench_bookkeeping` in a fresh process per variant (the partitions
definition is fixed when the assets are imported, and Dagster reads its batching variable per
process). Prints one JSON line.

In a temporary directory: the repo's dagster.yaml (or, with `--storage stock`, the stock
`storage: sqlite:` layout it replaced, for comparison), a new instance and warehouse; the trading
calendar and securities are loaded first, untimed; then ONE `materialize` of `daily_bars` over
[start, end] with Dagster's partition range tags (as a UI single-run backfill and the CLI run it),
timed. `--partitions trading` swaps in daily partitions that are exactly the SSE trading days
(weekend cron + weekday holidays of the bundled SSE calendar as exclusions), unless the project's
own partitions already have exclusions.

Output: wall seconds of the materialize, `body_s` (the asset's own `seconds` metadata: fetch,
normalize, gate, write), events the run wrote by type, the partitions Dagster recorded as
materialized in the range and the partitions the range holds.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STOCK_STORAGE = "storage:\n  sqlite:\n    base_dir: .dagster/storage\n"


def stock_yaml(text: str) -> str:
    """dagster.yaml with the three storages replaced by the stock `storage: sqlite:` block."""
    if "run_storage:" not in text:  # already the stock layout
        return text
    start = text.index("run_storage:")
    end = text.index("local_artifact_storage:")
    return text[:start] + STOCK_STORAGE + "\n" + text[end:]


def trading_day_partitions():
    """Daily partitions on SSE trading days only, built offline from the bundled calendar."""
    from dagster import DailyPartitionsDefinition

    from quantdb_pipeline.settings import MARKET_TIMEZONE, PARTITIONS_START
    from quantdb_pipeline.sources.base import bundled_sse_calendar

    days = bundled_sse_calendar()
    listed = set(days)
    every = (days[0] + dt.timedelta(n) for n in range((days[-1] - days[0]).days + 1))
    closures = [dt.datetime(d.year, d.month, d.day) for d in every if d.weekday() < 5 and d not in listed]
    start = max(PARTITIONS_START, days[0].isoformat())
    return DailyPartitionsDefinition(
        start_date=start, timezone=MARKET_TIMEZONE, end_offset=1, exclusions=["0 0 * * 0,6", *closures]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--today", required=True)
    parser.add_argument("--symbols", type=int, required=True)
    parser.add_argument("--partitions", choices=["calendar", "trading"], default="trading")
    parser.add_argument("--storage", choices=["repo", "stock"], default="repo")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bookkeeping_"))
    os.chdir(work)
    text = (REPO / "dagster.yaml").read_text()
    (work / "dagster.yaml").write_text(stock_yaml(text) if args.storage == "stock" else text)
    for name in (
        "QUANTDB_WAREHOUSE",
        "QUANTDB_SOURCE",
        "QUANTDB_SYMBOLS",
        "DAGSTER_HOME",
        "DAGSTER_EVENT_BATCH_SIZE",
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS",
    ):
        os.environ.pop(name, None)

    import quantdb_pipeline.partitions as partitions_module

    if args.partitions == "trading" and not getattr(partitions_module.daily_partitions, "exclusions", None):
        partitions_module.daily_partitions = trading_day_partitions()

    import dagster
    from dagster import AssetKey, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    from quantdb_pipeline.assets import bars
    from quantdb_pipeline.assets.reference import securities, trading_calendar
    from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource

    # (a checkout from before the quote-list checks were left out of past ranges selects everything)
    select = getattr(bars, "selection_without_quote_list", lambda assets, may_use_quote_list: None)
    partitions = bars.daily_bars.partitions_def
    # (a key range ending on an excluded day snaps to the next session: keep the keys inside)
    expected = [
        key
        for key in partitions.get_partition_keys_in_range(dagster.PartitionKeyRange(args.start, args.end))
        if args.start <= key <= args.end
    ]
    market = MarketSourceResource(kind="sample", sample_today=args.today, sample_size=args.symbols)
    resources = {"market": market, "warehouse": WarehouseResource(database=str(work / "warehouse" / "w.duckdb"))}
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    ref = InstanceRef.from_dir(str(work / ".dagster"), config_dir=str(work))
    try:
        with DagsterInstance.from_ref(ref) as instance:
            first = dagster.materialize(
                [trading_calendar, securities], resources=resources, instance=instance, run_config=quiet
            )
            assert first.success
            began = time.perf_counter()
            result = dagster.materialize(
                [bars.daily_bars],
                resources=resources,
                instance=instance,
                run_config=quiet,
                raise_on_error=False,
                selection=select([bars.daily_bars], may_use_quote_list=False),
                tags={
                    "dagster/asset_partition_range_start": expected[0],
                    "dagster/asset_partition_range_end": expected[-1],
                },
            )
            wall = time.perf_counter() - began
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            counts = collections.Counter(
                e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event
            )
            metadata = {
                k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()
            }
            recorded = instance.get_materialized_partitions(AssetKey("daily_bars"))
            print(
                json.dumps(
                    {
                        "partitions": args.partitions,
                        "storage": args.storage,
                        "symbols": args.symbols,
                        "range": f"{expected[0]}..{expected[-1]}",
                        "wall_s": round(wall, 2),
                        "body_s": float(metadata["seconds"]),
                        "rows": int(metadata["rows_written"]),
                        "events": sum(counts.values()),
                        "events_by_type": dict(counts),
                        "partitions_in_range": len(expected),
                        "partitions_recorded": len(recorded),
                        "recorded_equals_range": sorted(recorded) == sorted(expected),
                        "batch_size_env": os.environ.get("DAGSTER_EVENT_BATCH_SIZE"),
                    }
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
