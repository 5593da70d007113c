"""Adjustment factors: refreshed per symbol when the bars show a new ex-date."""

from typing import Any

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from quantdb_pipeline.assets.bars import daily_bars, refuse_without_universe
from quantdb_pipeline.assets.corporate_actions import corporate_actions
from quantdb_pipeline.assets.checks import check_result, suite_check
from quantdb_pipeline.assets.outcome import DatasetFailed, load_check, settle_dataset
from quantdb_pipeline.assets.reference import POOL
from quantdb_pipeline.assets.report import DatasetReport
from quantdb_pipeline.loaders.factors import load_adjustment_factors
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.selections import market_tags
from quantdb_pipeline.warehouse.writes import Lineage

FACTORS_SUITE = "adjustment_factors_suite"


class FactorConfig(Config):
    """`refresh: true` refetches every symbol's factors, not only the stale ones."""

    refresh: bool = False


@asset(
    group_name="market_data",
    tags=market_tags("cn"),
    deps=[daily_bars, corporate_actions],
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        suite_check(
            FACTORS_SUITE,
            "adjustment_factors",
            "keys, positive factors, no future ex-dates (quarantined); each factor step "
            "matches last close / the exchange's reference price, and upstream confirms the "
            "steps the pipeline derived before it published them (warnings)",
        ),
        load_check("adjustment_factors"),
    ],
)
def adjustment_factors(
    context: AssetExecutionContext, config: FactorConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """sina's cumulative hfq factors per symbol, for qfq/hfq prices computed on read.

    Fetched for symbols never fetched, whose last attempt failed, or with a known ex-date
    (`corporate_actions`, or the quote list's reference price) that upstream's stored factors
    lack. The unadjusted bars are not refetched. Until upstream publishes a factor, its step
    is derived from the reference price and marked; ex-dates no factor can cover are listed
    in `adjustment_gaps` and make `read.daily_bars(adjust=...)` warn.
    """
    yield from settle_dataset(
        context, warehouse, "adjustment_factors", _load(context, config, market, warehouse), [FACTORS_SUITE]
    )


def _load(
    context: AssetExecutionContext, config: FactorConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    source = market.build()
    lineage = Lineage.now(source.name, context.run.run_id)

    def on_progress(done: int, total: int, symbol: str, rows: int) -> None:
        market.progress.report("adjustment_factors", done, total, symbol, rows)
        if done == total or done % 100 == 0:
            context.log.info(f"adjustment_factors: {done}/{total} symbols fetched (last {symbol}: {rows} rows)")

    refuse_without_universe(warehouse, market.symbol_list(), source.name, "factors")
    with warehouse.get_connection() as conn:
        report = load_adjustment_factors(
            conn,
            source,
            lineage,
            symbols=market.symbol_list(),
            refresh=config.refresh,
            progress=on_progress,
            breaker_threshold=market.breaker_threshold,
        )
    for symbol, change in sorted(report.changed.items()):
        context.log.info(f"adjustment_factors {symbol}: {change} (qfq history of {symbol} changes)")
    for symbol, reason in sorted(report.failed.items()):
        context.log.warning(f"adjustment_factors {symbol} failed, will retry next run: {reason}")
    derived, gaps = report.derived, report.gaps
    for row in gaps.itertuples(index=False):
        context.log.warning(f"adjustment_factors {row.symbol}: ex-date {row.ex_date} is not adjusted: {row.reason}")
    pending = {
        "derived_factors": len(derived),
        "derived_preview": MetadataValue.md(derived.head(10).to_markdown(index=False) if len(derived) else "none"),
        "adjustment_gaps": len(gaps),
        "adjustment_gaps_preview": MetadataValue.md(gaps.head(10).to_markdown(index=False) if len(gaps) else "none"),
    }
    yield check_result(FACTORS_SUITE, report.checks, extra=pending)
    metadata: dict[str, Any] = {
        "symbols_fetched": len(report.needed),
        "symbols_updated": report.symbols_updated,
        "symbols_failed": len(report.failed),
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "why_fetched": MetadataValue.md(_reasons(report.needed)),
        "changed": MetadataValue.md(
            "| symbol | change |\n|---|---|\n" + "\n".join(f"| {s} | {c} |" for s, c in sorted(report.changed.items()))
            if report.changed
            else "none"
        ),
        **pending,
        "seconds": round(report.seconds, 2),
        "source": source.name,
        **DatasetReport.failures(
            sorted(report.failed.items()),
            rows_written=report.rows_written,
            rows_quarantined=report.rows_quarantined,
            symbols_updated=report.symbols_updated,
            symbols_fetched=len(report.needed),
            symbols_changed=len(report.changed),
            derived_factors=len(derived),
            adjustment_gaps=len(gaps),
        ).metadata(),
    }
    if report.circuit_open:
        raise DatasetFailed(f"circuit breaker: {report.circuit_open}", metadata)
    yield MaterializeResult(metadata=metadata)


def _reasons(needed: dict[str, str]) -> str:
    if not needed:
        return "no symbol needed new factors"
    counts: dict[str, int] = {}
    for reason in needed.values():
        key = "new ex-date" if reason.startswith("new ex-date") else reason
        counts[key] = counts.get(key, 0) + 1
    return "| reason | symbols |\n|---|---:|\n" + "\n".join(f"| {r} | {n} |" for r, n in sorted(counts.items()))
