"""Security profiles with history, and financial reports with their announcement dates."""

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from quantdb_pipeline import progress
from quantdb_pipeline.assets.checks import check_result, suite_check
from quantdb_pipeline.assets.outcome import DatasetFailed, load_check, settle_dataset
from quantdb_pipeline.assets.reference import POOL, securities
from quantdb_pipeline.loaders.fundamentals import (
    FundamentalsReport,
    load_indicators,
    load_profiles,
    load_statements,
)
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.warehouse.writes import Lineage

PROFILES_SUITE = "security_profiles_suite"
STATEMENTS_SUITE = "financial_statements_suite"
INDICATORS_SUITE = "financial_indicators_suite"


class RefreshConfig(Config):
    """`refresh: true` fetches every listed symbol now, not only those that are due."""

    refresh: bool = False


def _run(context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource,
         warehouse: WarehouseResource, load, suite: str):
    dataset = context.asset_key.to_user_string()
    yield from settle_dataset(context, warehouse, dataset, _load(context, config, market, warehouse, load, suite),
                              [suite])


def _load(context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource,
          warehouse: WarehouseResource, load, suite: str):
    source = market.build()

    def on_progress(done: int, total: int, symbol: str, rows: int) -> None:
        progress.report(context.asset_key.to_user_string(), done, total, symbol, rows)
        if done == total or done % 100 == 0:
            context.log.info(f"{context.asset_key.to_user_string()}: {done}/{total} symbols (last {symbol}: {rows} rows)")

    with warehouse.get_connection() as conn:
        report: FundamentalsReport = load(conn, source, Lineage.now(source.name, context.run_id),
                                          symbols=market.symbol_list(), refresh=config.refresh,
                                          progress=on_progress, breaker_threshold=market.breaker_threshold)
    for symbol, change in sorted(report.changes.items()):
        context.log.info(f"{report.dataset} {symbol}: new version ({change})")
    for symbol, reason in sorted(report.failed.items()):
        context.log.warning(f"{report.dataset} {symbol} failed, will retry next run: {reason}")
    yield check_result(suite, report.checks)
    reasons: dict[str, int] = {}
    for why in report.due.values():
        key = "report due" if why.startswith("report ") else why
        reasons[key] = reasons.get(key, 0) + 1
    metadata = {
        "symbols_due": len(report.due),
        "symbols_updated": report.symbols_updated,
        "symbols_failed": len(report.failed),
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "why_fetched": MetadataValue.md("| reason | symbols |\n|---|---:|\n" + "\n".join(
            f"| {r} | {n} |" for r, n in sorted(reasons.items())) if reasons else "nothing due"),
        "seconds": round(report.seconds, 2),
        "source": source.name,
    }
    if report.changes:
        metadata["new_versions"] = MetadataValue.md("| symbol | change |\n|---|---|\n" + "\n".join(
            f"| {s} | {c} |" for s, c in sorted(report.changes.items())))
    if report.circuit_open:
        raise DatasetFailed(f"circuit breaker: {report.circuit_open}", metadata)
    yield MaterializeResult(metadata=metadata)


@asset(group_name="fundamentals", deps=[securities], pool=POOL, kinds={"duckdb"},
       check_specs=[suite_check(PROFILES_SUITE, "security_profiles",
                                "one profile per symbol, name present, 0 < float shares <= total shares "
                                "(quarantine); industry known, listing date not in the future (warning)"),
                    load_check("security_profiles")])
def security_profiles(context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource,
                      warehouse: WarehouseResource):
    """Name, ST status, industry, shares and market values per symbol, with history: a change
    starts a new version. New listings at once, everyone else weekly."""
    yield from _run(context, config, market, warehouse, load_profiles, PROFILES_SUITE)


@asset(group_name="fundamentals", deps=[securities], pool=POOL, kinds={"duckdb"},
       check_specs=[suite_check(STATEMENTS_SUITE, "financial_statements",
                                "keys, quarter-end report dates, announced after the period, balance-sheet "
                                "identity within 0.1%; failing reports are quarantined"),
                    load_check("financial_statements")])
def financial_statements(context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource,
                         warehouse: WarehouseResource):
    """eastmoney's balance sheet, income statement and cash flow by report period (long, any
    layout), with announcement dates. Fetched when a new report can exist."""
    yield from _run(context, config, market, warehouse, load_statements, STATEMENTS_SUITE)


@asset(group_name="fundamentals", deps=[securities], pool=POOL, kinds={"duckdb"},
       check_specs=[suite_check(INDICATORS_SUITE, "financial_indicators",
                                "keys, quarter-end report dates (quarantine)"),
                    load_check("financial_indicators")])
def financial_indicators(context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource,
                         warehouse: WarehouseResource):
    """sina's key financial indicators (long; unknown labels kept), behind the key_financials view."""
    yield from _run(context, config, market, warehouse, load_indicators, INDICATORS_SUITE)
