"""Security profiles with history, and financial reports with their announcement dates.

Financial reports come from eastmoney's whole-market tables, one report period a call
(`loaders.financial_reports`), for every symbol except those on the watchlist
(`MarketSourceResource.financials_watchlist`, $QUANTDB_FINANCIALS_WATCHLIST): their
statements are fetched per symbol with every item and their indicators from sina
(`loaders.fundamentals`). Both paths name the same number the same way, so
`financial_statements`, `key_financials` and `read.financials` do not show which filled a row.
"""

from functools import partial

from typing import Any

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from quantdb_pipeline import schema
from quantdb_pipeline.assets.checks import check_result, suite_check
from quantdb_pipeline.assets.outcome import DatasetFailed, load_check, settle_dataset
from quantdb_pipeline.assets.bars import daily_bars
from quantdb_pipeline.assets.reference import POOL, securities
from quantdb_pipeline.assets.report import DatasetReport
from quantdb_pipeline.loaders.financial_reports import FinancialReportsReport, load_financial_reports
from quantdb_pipeline.loaders.fundamentals import (
    FundamentalsReport,
    load_indicators,
    load_statements,
)
from quantdb_pipeline.loaders.profiles import ProfileReport, load_profiles
from quantdb_pipeline.quality.expectations import combine
from quantdb_pipeline.quality.suites import validate_indicators, validate_statements
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.selections import market_tags
from quantdb_pipeline.warehouse.writes import Lineage

PROFILES_SUITE = "security_profiles_suite"
STATEMENTS_SUITE = "financial_statements_suite"
INDICATORS_SUITE = "financial_indicators_suite"
#: The whole-market tables' indicator rows (results summary etc.), checked by the financial_statements asset.
REPORT_INDICATORS_SUITE = "report_indicators_suite"


class RefreshConfig(Config):
    """`refresh: true` fetches every listed symbol now, not only those that are due."""

    refresh: bool = False


class ProfilesConfig(RefreshConfig):
    """`weekly_refresh: false` leaves the weekly industry and name-history refresh (about 120
    requests) to another run, e.g. the Saturday one, so that it never adds to a trading night."""

    weekly_refresh: bool = True


def _run(
    context: AssetExecutionContext,
    config: RefreshConfig,
    market: MarketSourceResource,
    warehouse: WarehouseResource,
    load,
    suite: str,
    symbols: list[str] | None = None,
):
    dataset = context.asset_key.to_user_string()
    yield from settle_dataset(
        context, warehouse, dataset, _load(context, config, market, warehouse, load, suite, symbols), [suite]
    )


def _progress(context: AssetExecutionContext, market: MarketSourceResource, noun: str = "symbols"):
    def on_progress(done: int, total: int, item: str, rows: int) -> None:
        market.progress.report(context.asset_key.to_user_string(), done, total, item, rows)
        if done == total or done % 100 == 0 or noun == "periods":
            context.log.info(f"{context.asset_key.to_user_string()}: {done}/{total} {noun} (last {item}: {rows} rows)")

    return on_progress


def _watchlist(market: MarketSourceResource) -> list[str]:
    """The watchlist symbols in the run's scope (`symbols` restricts it when set)."""
    scope = market.symbol_list()
    return [s for s in market.financials_watchlist_list() if scope is None or s in scope]


def _why_fetched(due: dict[str, str]) -> MetadataValue | str:
    reasons: dict[str, int] = {}
    for why in due.values():
        key = "report due" if why.startswith("report ") else why
        reasons[key] = reasons.get(key, 0) + 1
    return (
        MetadataValue.md(
            "| reason | symbols |\n|---|---:|\n" + "\n".join(f"| {r} | {n} |" for r, n in sorted(reasons.items()))
        )
        if reasons
        else "nothing due"
    )


def _load(
    context: AssetExecutionContext,
    config: RefreshConfig,
    market: MarketSourceResource,
    warehouse: WarehouseResource,
    load,
    suite: str,
    symbols: list[str] | None = None,
):
    source = market.build()
    with warehouse.get_connection() as conn:
        report: FundamentalsReport = load(
            conn,
            source,
            Lineage.now(source.name, context.run.run_id),
            symbols=market.symbol_list() if symbols is None else symbols,
            refresh=config.refresh,
            progress=_progress(context, market),
            breaker_threshold=market.breaker_threshold,
        )
    for symbol, change in sorted(report.changes.items()):
        context.log.info(f"{report.dataset} {symbol}: new version ({change})")
    for symbol, reason in sorted(report.failed.items()):
        context.log.warning(f"{report.dataset} {symbol} failed, will retry next run: {reason}")
    yield check_result(suite, report.checks)
    metadata: dict[str, Any] = {
        "symbols_due": len(report.due),
        "symbols_updated": report.symbols_updated,
        "symbols_failed": len(report.failed),
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "why_fetched": _why_fetched(report.due),
        "seconds": round(report.seconds, 2),
        "source": source.name,
    }
    if isinstance(report, ProfileReport):
        metadata["quote_list"] = report.quote_list or "not used"
        metadata["weekly_refresh"] = (
            MetadataValue.md(
                "| endpoint | requests |\n|---|---:|\n"
                + "\n".join(f"| {e} | {n} |" for e, n in sorted(report.weekly_requests.items()))
            )
            if report.weekly_refresh
            else "not due"
        )
        metadata["industries_assigned"] = report.industries
        metadata["dated_name_periods"] = report.name_periods
        metadata["former_names_asked"] = len(report.former_names_asked)
        metadata["not_in_quote_list"] = report.not_in_quote_list
    if report.changes:
        metadata["new_versions"] = MetadataValue.md(
            "| symbol | change |\n|---|---|\n" + "\n".join(f"| {s} | {c} |" for s, c in sorted(report.changes.items()))
        )
    metadata |= DatasetReport.failures(
        sorted(report.failed.items()),
        rows_written=report.rows_written,
        rows_quarantined=report.rows_quarantined,
        symbols_updated=report.symbols_updated,
        symbols_due=len(report.due),
        new_versions=len(report.changes),
    ).metadata()
    if report.circuit_open:
        raise DatasetFailed(f"circuit breaker: {report.circuit_open}", metadata)
    yield MaterializeResult(metadata=metadata)


# after daily_bars where both run: the bars step leaves the quote list it fetched for this one
@asset(
    group_name="fundamentals",
    deps=[securities, daily_bars],
    pool=POOL,
    kinds={"duckdb"},
    tags=market_tags("fundamentals"),
    check_specs=[
        suite_check(
            PROFILES_SUITE,
            "security_profiles",
            "one profile per symbol, name present, 0 < float shares <= total shares "
            "(quarantine); industry known, listing date not in the future (warning)",
        ),
        load_check("security_profiles"),
    ],
)
def security_profiles(
    context: AssetExecutionContext, config: ProfilesConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """Name, ST status, industry, shares and market values per symbol, with history: a change
    starts a new version. From the whole-market quote list (reused from the nightly bars step)
    every night, industries and name history in a weekly refresh (see `loaders.profiles`)."""
    yield from _run(
        context, config, market, warehouse, partial(load_profiles, weekly=config.weekly_refresh), PROFILES_SUITE
    )


def _load_financials(
    context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """The whole-market tables for every symbol in scope off the watchlist (skipped when the
    scope is the watchlist alone), then the watchlist's per-symbol statements."""
    source = market.build()
    scope, watchlist = market.symbol_list(), _watchlist(market)
    whole: FinancialReportsReport | None = None
    per_symbol: FundamentalsReport | None = None
    with warehouse.get_connection() as conn:
        lineage = Lineage.now(source.name, context.run.run_id)
        if scope is None or set(scope) - set(watchlist):
            whole = load_financial_reports(
                conn,
                source,
                lineage,
                symbols=scope,
                exclude=watchlist,
                refresh=config.refresh,
                years=market.financial_years,
                progress=_progress(context, market, "periods"),
                breaker_threshold=market.breaker_threshold,
            )
        if watchlist:
            per_symbol = load_statements(
                conn,
                source,
                lineage,
                symbols=watchlist,
                refresh=config.refresh,
                progress=_progress(context, market),
                breaker_threshold=market.breaker_threshold,
            )
    statement_checks = combine(None, validate_statements(schema.empty_frame(schema.STATEMENT_DTYPES)))
    for checks in (whole.statement_checks if whole else None, per_symbol.checks if per_symbol else None):
        if checks is not None:
            statement_checks = combine(statement_checks, checks)
    indicator_checks = (
        whole.indicator_checks
        if whole and whole.indicator_checks
        else validate_indicators(schema.empty_frame(schema.INDICATOR_DTYPES))
    )
    yield check_result(STATEMENTS_SUITE, statement_checks)
    yield check_result(REPORT_INDICATORS_SUITE, indicator_checks)
    if whole:
        for period, reason in sorted(whole.failed.items()):
            context.log.warning(f"financial reports {period} failed, will retry next run: {reason}")
    if per_symbol:
        for symbol, reason in sorted(per_symbol.failed.items()):
            context.log.warning(f"financial_statements {symbol} failed, will retry next run: {reason}")
    why: dict[str, int] = {}
    for reason in whole.due.values() if whole else ():
        why[reason] = why.get(reason, 0) + 1
    metadata: dict[str, Any] = {
        "periods_due": len(whole.due) if whole else 0,
        "periods_fetched": len(whole.companies) if whole else 0,
        "periods_empty": len(whole.empty) if whole else 0,
        "periods_failed": len(whole.failed) if whole else 0,
        "why_periods_fetched": MetadataValue.md(
            "| reason | periods |\n|---|---:|\n" + "\n".join(f"| {r} | {n} |" for r, n in sorted(why.items()))
            if why
            else "nothing due"
        ),
        "companies_per_period": MetadataValue.md(
            "| period | companies |\n|---|---:|\n"
            + "\n".join(f"| {p} | {n} |" for p, n in sorted(whole.companies.items(), reverse=True))
            if whole and whole.companies
            else "none fetched"
        ),
        "whole_market_requests": whole.requests if whole else 0,
        "watchlist_symbols": len(watchlist),
        "symbols_due": len(per_symbol.due) if per_symbol else 0,
        "why_fetched": _why_fetched(per_symbol.due if per_symbol else {}),
        "symbols_failed": len(per_symbol.failed) if per_symbol else 0,
        "rows_written": ((whole.statement_rows + whole.indicator_rows) if whole else 0)
        + (per_symbol.rows_written if per_symbol else 0),
        "rows_quarantined": (whole.rows_quarantined if whole else 0)
        + (per_symbol.rows_quarantined if per_symbol else 0),
        "seconds": round((whole.seconds if whole else 0) + (per_symbol.seconds if per_symbol else 0), 2),
        "source": source.name,
    }
    metadata |= DatasetReport(
        rows_written=metadata["rows_written"],
        rows_quarantined=metadata["rows_quarantined"],
        symbols_failed=metadata["symbols_failed"],
        symbols_due=metadata["symbols_due"],
        periods_fetched=metadata["periods_fetched"],
    ).metadata()
    breaker = (whole.circuit_open if whole else None) or (per_symbol.circuit_open if per_symbol else None)
    if breaker:
        raise DatasetFailed(f"circuit breaker: {breaker}", metadata)
    yield MaterializeResult(metadata=metadata)


@asset(
    group_name="fundamentals",
    deps=[securities],
    pool=POOL,
    kinds={"duckdb"},
    tags=market_tags("fundamentals"),
    check_specs=[
        suite_check(
            STATEMENTS_SUITE,
            "financial_statements",
            "keys, quarter-end report dates, announced after the period, balance-sheet "
            "identity within 0.1%; failing reports are quarantined",
        ),
        suite_check(
            REPORT_INDICATORS_SUITE,
            "financial_statements",
            "the whole-market tables' indicator rows (in financial_indicators (results summary, equity, debt ratio, "
            "operating cash flow): keys, quarter-end report dates (quarantine))",
        ),
        load_check("financial_statements"),
    ],
)
def financial_statements(
    context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """Balance sheet, income statement and cash flow by report period (long), with announcement
    dates, from eastmoney's whole-market tables one report period a call (also the results
    summary's indicators behind key_financials); the watchlist's full statements per symbol.
    A period is fetched on a first load (10 years), while its disclosure window is open
    (once a day) and when a fetch failed."""
    yield from settle_dataset(
        context,
        warehouse,
        "financial_statements",
        _load_financials(context, config, market, warehouse),
        [STATEMENTS_SUITE, REPORT_INDICATORS_SUITE],
    )


@asset(
    group_name="fundamentals",
    deps=[securities],
    pool=POOL,
    kinds={"duckdb"},
    tags=market_tags("fundamentals"),
    check_specs=[
        suite_check(INDICATORS_SUITE, "financial_indicators", "keys, quarter-end report dates (quarantine)"),
        load_check("financial_indicators"),
    ],
)
def financial_indicators(
    context: AssetExecutionContext, config: RefreshConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """sina's key financial indicators (long; unknown labels kept) of the watchlist's symbols,
    behind the key_financials view; nothing to do without a watchlist (the whole market's
    indicators come with financial_statements)."""
    yield from _run(context, config, market, warehouse, load_indicators, INDICATORS_SUITE, _watchlist(market))
