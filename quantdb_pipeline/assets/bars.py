"""Daily bars, partitioned by trading date, backfilled as one run per date range."""

import datetime as dt

from dagster import (
    AssetCheckKey,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    Config,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from quantdb_pipeline.assets.checks import check_result, suite_check
from quantdb_pipeline.assets.outcome import DatasetFailed, load_check, settle_dataset
from quantdb_pipeline.assets.reference import POOL, securities, trading_calendar
from quantdb_pipeline.assets.report import DatasetReport, failed_symbols_markdown
from quantdb_pipeline.loaders.bars import BarLoadReport, load_daily_bars
from quantdb_pipeline.loaders.spot import DEFAULT_RECONCILE_SYMBOLS, SpotRejected
from quantdb_pipeline.partitions import sse_partitions
from quantdb_pipeline.quality.gate import GateFailed
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.selections import market_tags
from quantdb_pipeline.settings import MARKET_TIMEZONE
from quantdb_pipeline.warehouse.writes import Lineage

PREVIEW_ROWS = 10
ROWS_SUITE = "daily_bars_rows_suite"
BATCH_SUITE = "daily_bars_batch_suite"
SPOT_DAY_SUITE = "daily_bars_spot_day"
RECONCILE_SUITE = "daily_bars_spot_reconciliation"

#: The two checks only a run that may use the quote list evaluates: its range ends on the source's
#: today (see `loaders.bars`). Other runs leave them out of their selection
#: (`AssetSelection.assets(...) - QUOTE_LIST_CHECKS`): Dagster plans every selected check of a range
#: run once per partition (a row each in its check history), and shows an unevaluated one as skipped.
QUOTE_LIST_CHECKS = AssetSelection.checks(
    *(AssetCheckKey(AssetKey("daily_bars"), name) for name in (SPOT_DAY_SUITE, RECONCILE_SUITE))
)


def selection_without_quote_list(assets: list, may_use_quote_list: bool) -> AssetSelection | None:
    """What a run of `assets` selects: everything (None) when it may use the quote list or does not
    load `daily_bars`, else everything but `QUOTE_LIST_CHECKS`."""
    if may_use_quote_list or not any(AssetKey("daily_bars") in getattr(a, "keys", ()) for a in assets):
        return None
    return AssetSelection.assets(*assets) - QUOTE_LIST_CHECKS


class BarsConfig(Config):
    """`spot`: take today's bars from the whole-market quote list (about 56 requests instead of
    one per symbol) when only today is missing, and reconcile `reconcile_symbols` symbols'
    earlier quote-list bars against the history endpoint. `lag_days`: also refetch the last N
    trading days already stored through the history endpoint (one request per symbol)."""

    spot: bool = True
    reconcile_symbols: int = DEFAULT_RECONCILE_SYMBOLS
    lag_days: int = 0


DESCRIPTION = "Unadjusted A-share daily bars, loaded incrementally and checked before they are written."


@multi_asset(
    specs=[
        AssetSpec(
            "daily_bars",
            description=DESCRIPTION,
            group_name="market_data",
            partitions_def=sse_partitions,
            deps=[trading_calendar, securities],
            kinds={"duckdb"},
            tags=market_tags("cn"),
            freshness_policy=FreshnessPolicy.cron(
                deadline_cron="0 18 * * 1-5", lower_bound_delta=dt.timedelta(hours=2), timezone=MARKET_TIMEZONE
            ),
        )
    ],
    partitions_def=sse_partitions,
    # A backfill of a date range runs as ONE step, so each symbol's range is one request.
    backfill_policy=BackfillPolicy.single_run(),
    pool=POOL,
    # the two quote-list checks are evaluated only by runs that use the quote list; a subsettable
    # asset may leave a check unevaluated (Dagster shows it skipped) instead of faking a pass
    can_subset=True,
    check_specs=[
        suite_check(
            ROWS_SUITE,
            "daily_bars",
            "row rules: keys, trading day, not in future, OHLC order, "
            "positive prices, board price limit, amount/volume within [low, high]; failing rows "
            "are quarantined",
        ),
        suite_check(
            BATCH_SUITE,
            "daily_bars",
            "batch rule, checked at the end of the load: each trading day "
            "has rows for enough of the symbols fetched for it; a failing day is refused (the run's "
            "bars of it removed, left to the next run) and the load fails",
        ),
        # not declared blocking: a wrong day fails the step itself, before anything is written
        AssetCheckSpec(
            SPOT_DAY_SUITE,
            asset="daily_bars",
            description=(
                "the quote list shows the expected session: its 昨收 equals the stored previous close for most "
                "symbols; a failure fails the load and writes nothing (runs that use the quote list only)"
            ),
        ),
        AssetCheckSpec(
            RECONCILE_SUITE,
            asset="daily_bars",
            description=(
                "a rotating sample of symbols' earlier quote-list bars equal the history endpoint's, field by "
                "field; the history rows replace them either way (runs that use the quote list only)"
            ),
        ),
        load_check("daily_bars"),
    ],
)
def daily_bars(
    context: AssetExecutionContext, config: BarsConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """Unadjusted A-share daily bars, loaded incrementally and checked before they are written.

    Writes to DuckDB itself (no IO manager): a multi-partition run cannot hand one value
    per partition to an IO manager, and the write must replace exactly the fetched window.
    Its checks are evaluated while it loads, so running a check alone runs the load.
    """
    if AssetKey("daily_bars") not in context.selected_asset_keys:
        raise Failure(description="daily_bars' checks are evaluated while it loads: materialize daily_bars")
    # the two suites are left unevaluated when the load fails first: this asset is subsettable
    yield from settle_dataset(context, warehouse, "daily_bars", _load(context, config, market, warehouse))


def _load(
    context: AssetExecutionContext, config: BarsConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    key_range = context.partition_key_range
    start, end = dt.date.fromisoformat(key_range.start), dt.date.fromisoformat(key_range.end)
    source = market.build()
    lineage = Lineage.now(source.name, context.run.run_id)

    def on_progress(done: int, total: int, symbol: str, rows: int) -> None:
        market.progress.report("daily_bars", done, total, symbol, rows)
        if done == total or done % 50 == 0:
            context.log.info(f"daily_bars: {done}/{total} symbols fetched (last {symbol}: {rows} rows)")

    refuse_without_universe(warehouse, market.symbol_list(), source.name, "bars")
    try:
        with warehouse.get_connection() as conn:
            report = load_daily_bars(
                conn,
                source,
                start,
                end,
                lineage,
                symbols=market.symbol_list(),
                progress=on_progress,
                min_daily_coverage=market.min_daily_coverage,
                breaker_threshold=market.breaker_threshold,
                lag_days=config.lag_days,
                use_spot=config.spot,
                reconcile_symbols=config.reconcile_symbols,
                revisit_days=market.revisit_days,
            )
            preview = conn.execute(
                """
                SELECT symbol, trade_date, open, high, low, close, volume, amount
                FROM daily_bars WHERE run_id = ? ORDER BY trade_date DESC, symbol LIMIT ?
                """,
                [context.run.run_id, PREVIEW_ROWS],
            ).df()
    except SpotRejected as refused:
        yield check_result(SPOT_DAY_SUITE, refused.outcome)
        raise DatasetFailed(
            str(refused), {"rows_written": 0, "source": source.name, **DatasetReport(rows_written=0).metadata()}
        ) from refused
    except GateFailed as refused:
        if refused.row_checks is not None:
            yield check_result(ROWS_SUITE, refused.row_checks)
        yield check_result(BATCH_SUITE, refused.outcome)
        raise DatasetFailed(
            str(refused), {"rows_written": 0, "source": source.name, **DatasetReport(rows_written=0).metadata()}
        ) from refused
    _log_per_symbol(context, report)
    yield check_result(ROWS_SUITE, report.row_checks)
    yield check_result(BATCH_SUITE, report.batch_checks)
    if report.spot_checks is not None:
        yield check_result(SPOT_DAY_SUITE, report.spot_checks, {"day": str(report.spot_day)})
    if report.reconciliation is not None:
        yield check_result(
            RECONCILE_SUITE,
            report.reconciliation,
            {
                "symbols_reconciled": MetadataValue.text(", ".join(report.reconciled)),
                "rows_mismatched": report.reconcile_mismatches,
            },
        )
    if report.circuit_open:
        raise DatasetFailed(f"circuit breaker: {report.circuit_open}", _metadata(report, source.name, preview))
    if report.failed and not report.rows_per_symbol and not report.symbols_skipped:
        raise DatasetFailed(f"every symbol failed for {start}..{end}", _metadata(report, source.name, preview))
    yield MaterializeResult(metadata=_metadata(report, source.name, preview))


def refuse_without_universe(warehouse: WarehouseResource, named: list[str] | None, source: str, what: str) -> None:
    """Raise `DatasetFailed` when the warehouse lists no security: bars and adjustment factors
    (`what`) are fetched for the listed universe only (`plan_bar_fetches`, the factor plan), so
    every symbol, the named ones included, would be skipped and the load would end "ok" with
    nothing requested. That happens when `securities` failed on a warehouse that never loaded it
    (a first run without network); the named symbols are reported failed, so the run's summary,
    progress marks and exit code say they were not loaded."""
    with warehouse.get_connection() as conn:
        if not conn.execute("SELECT count(*) FROM trading_calendar WHERE market = 'CN'").fetchall()[0][0]:
            return  # bars before the calendar: a usage error the loader names (`CalendarMissing`)
        listed = conn.execute("SELECT count(*) FROM securities WHERE status = 'listed'").fetchall()[0][0]
        if listed:
            return
        why = conn.execute("SELECT status FROM dataset_status WHERE dataset = 'securities'").fetchall()
    cause = "securities failed" if why and why[0][0] == "failed" else "no listed securities stored"
    reason = f"skipped: universe unavailable ({cause})"
    if named:
        reason += f"; no {what} requested for {', '.join(named)}"
    summary = DatasetReport.failures(
        [(symbol, f"universe unavailable ({cause})") for symbol in named or []], rows_written=0
    )
    raise DatasetFailed(
        reason,
        {
            "rows_written": 0,
            "symbols_failed": len(named or []),
            "source": source,
            "failed_symbols": MetadataValue.md(failed_symbols_markdown(summary.failed_symbols)) if named else "none",
            **summary.metadata(),
        },
    )


def _log_per_symbol(context: AssetExecutionContext, report: BarLoadReport) -> None:
    items = sorted(report.rows_per_symbol.items())
    for i in range(0, len(items), 20):
        chunk = " ".join(f"{symbol}:{rows}" for symbol, rows in items[i : i + 20])
        context.log.info(f"daily_bars rows per symbol: {chunk}")
    for symbol, reason in sorted(report.failed.items()):
        context.log.warning(f"daily_bars {symbol} failed, will retry next run: {reason}")
    if report.empty:
        context.log.warning(f"daily_bars: empty answers (retried next run): {', '.join(report.empty)}")
    if report.rows_quarantined:
        context.log.warning(f"daily_bars: {report.rows_quarantined} rows quarantined (see the quarantine table)")
    for closure in report.closures:
        context.log.warning(f"daily_bars: market closure recorded, not a trading day: {closure}")
    for day in report.reopened:
        context.log.warning(f"daily_bars: {day} was recorded closed but upstream has bars for it: reopened")
    if report.spot_day:
        context.log.info(
            f"daily_bars {report.spot_day}: {report.spot_symbols} symbols from the quote list "
            f"({report.spot_requests} requests, {report.spot_idle} without a trade); "
            f"{len(report.reconciled)} reconciled against history, "
            f"{report.reconcile_mismatches} rows differed"
        )
    context.log.info(
        f"daily_bars {report.start}..{report.end}: {report.rows_written} rows, "
        f"{report.symbols_updated} symbols updated, {report.symbols_skipped} already covered, "
        f"{len(report.failed)} failed, {report.requests} upstream requests"
    )


def _metadata(report: BarLoadReport, source: str, preview) -> dict:
    summary = DatasetReport.failures(
        sorted(report.failed.items()),
        rows_written=report.rows_written,
        rows_quarantined=report.rows_quarantined,
        symbols_updated=report.symbols_updated,
        symbols_skipped_covered=report.symbols_skipped,
    )
    return {
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "symbols_not_attempted": report.not_attempted,
        "circuit_breaker": report.circuit_open or "closed",
        "gate_seconds": round(report.gate_seconds, 2),
        "symbols_updated": report.symbols_updated,
        "symbols_skipped_covered": report.symbols_skipped,
        "symbols_failed": len(report.failed),
        "failed_symbols": MetadataValue.md(failed_symbols_markdown(summary.failed_symbols)),
        "empty_answers": len(report.empty),
        "market_closures": MetadataValue.md(_closures_md(report)),
        "spot_quotes": (
            f"{report.spot_day}: {report.spot_symbols} symbols in {report.spot_requests} requests, "
            f"{report.spot_idle} without a trade"
            if report.spot_day
            else "not used"
        ),
        "symbols_reconciled": len(report.reconciled),
        "trading_days_in_range": report.trading_days,
        "range": f"{report.start}..{report.end}",
        "duplicates_dropped": report.duplicates_dropped,
        "rows_outside_window": report.rows_outside_window,
        "seconds": round(report.seconds, 2),
        "source": source,
        "preview": MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "no rows written"),
        **summary.metadata(),
    }


def _closures_md(report) -> str:
    """The closures this run recorded (its answers were all empty on a session, a probe showed the
    source healthy) and the recorded ones it removed (an answer held a bar on the day)."""
    lines = [f"| recorded | {c.replace('|', '/')} |" for c in report.closures]
    lines += [f"| removed | {day}: an answer held a bar on the day |" for day in report.reopened]
    return "| closure | detail |\n|---|---|\n" + "\n".join(lines) if lines else "none"
