"""Hong Kong stocks and CN indices: their own calendars, lists, bars and quality rules."""

import datetime as dt
from typing import Any

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quantdb_pipeline.assets.checks import check_result, suite_check
from quantdb_pipeline.assets.outcome import DatasetFailed, load_check, settle_dataset
from quantdb_pipeline.assets.reference import POOL, ReferenceConfig, trading_calendar
from quantdb_pipeline.assets.report import DatasetReport, failed_symbols_markdown
from quantdb_pipeline.loaders.hk_factors import (
    REFRESH_AFTER_DAYS,
    REFRESH_PER_RUN,
    SIGNAL_PER_RUN,
    load_hk_adjustment_factors,
)
from quantdb_pipeline.loaders.hk_spot import DEFAULT_HK_RECONCILE_SYMBOLS
from quantdb_pipeline.loaders.markets import (
    HK,
    INDEX,
    Market,
    MarketLoadReport,
    load_hk_calendar,
    load_hk_securities,
    load_market_bars,
    register_indices,
)
from quantdb_pipeline.loaders.spot import SpotRejected
from quantdb_pipeline.partitions import hk_partitions, sse_partitions
from quantdb_pipeline.quality.gate import GateFailed
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.selections import market_tags
from quantdb_pipeline.warehouse.writes import Lineage

HK_CALENDAR_SUITE = "hk_trading_calendar_suite"
HK_BARS_SUITE = "hk_daily_bars_suite"
HK_FACTORS_SUITE = "hk_adjustment_factors_suite"
INDEX_BARS_SUITE = "index_daily_bars_suite"
_ROW_RULES = (
    "keys, trading day of the market's own calendar, not in future, positive prices, OHLC order, "
    "non-negative volume and amount"
)


@asset(
    group_name="hong_kong",
    pool=POOL,
    kinds={"duckdb"},
    tags=market_tags("hk"),
    check_specs=[
        suite_check(
            HK_CALENDAR_SUITE, "hk_trading_calendar", "keys, weekdays, 200..260 trading days per complete year"
        ),
        load_check("hk_trading_calendar"),
    ],
)
def hk_trading_calendar(context: AssetExecutionContext, market: MarketSourceResource, warehouse: WarehouseResource):
    """HKEX trading days (market 'HK' in trading_calendar), from the `exchange_calendars` library."""
    yield from settle_dataset(
        context, warehouse, "hk_trading_calendar", _hk_calendar(context, market, warehouse), [HK_CALENDAR_SUITE]
    )


def _hk_calendar(context: AssetExecutionContext, market: MarketSourceResource, warehouse: WarehouseResource):
    source = market.build()
    try:
        with warehouse.get_connection() as conn:
            checks = load_hk_calendar(conn, source, Lineage.now(source.name, context.run.run_id))
            first, last, days = conn.execute(
                "SELECT min(trade_date), max(trade_date), count(*) FROM trading_calendar WHERE market = 'HK'"
            ).fetchall()[0]
    except GateFailed as failed:
        yield check_result(HK_CALENDAR_SUITE, failed.outcome)
        raise DatasetFailed(str(failed)) from failed
    yield check_result(HK_CALENDAR_SUITE, checks)
    yield MaterializeResult(
        metadata={
            "trading_days": days,
            "first_day": str(first),
            "last_day": str(last),
            "calendar": "exchange_calendars XHKG",
        }
    )


@asset(
    group_name="hong_kong",
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[load_check("hk_securities")],
    tags=market_tags("hk"),
)
def hk_securities(
    context: AssetExecutionContext, config: ReferenceConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """The HKEX main board list (five-digit codes, names, trading currency), fetched once a day."""
    yield from settle_dataset(context, warehouse, "hk_securities", _hk_securities(context, config, market, warehouse))


def _hk_securities(
    context: AssetExecutionContext, config: ReferenceConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    source = market.build()
    with warehouse.get_connection() as conn:
        counts = load_hk_securities(conn, source, Lineage.now(source.name, context.run.run_id), force=config.force)
    fetched = counts["listed"] is not None
    yield MaterializeResult(
        metadata={
            **({"listed_now": counts["listed"]} if fetched else {}),
            "hk_securities": counts["total"],
            "source": source.name,
            "fetched": "yes" if fetched else f"no: already fetched for {source.today()} (config force: true refetches)",
        }
    )


class HkBarsConfig(Config):
    """`spot`: take today's HK bars from the main-board quote list (about 26 requests, shared with
    `hk_securities`, instead of one per symbol) when only today is missing, and reconcile
    `reconcile_symbols` symbols' earlier quote-list bars against `stock_hk_hist` (one request each)."""

    spot: bool = True
    reconcile_symbols: int = DEFAULT_HK_RECONCILE_SYMBOLS


def _load(
    context: AssetExecutionContext,
    market_config: MarketSourceResource,
    warehouse: WarehouseResource,
    market: Market,
    suite: str,
    symbols,
    config: HkBarsConfig | None = None,
):
    key_range = context.partition_key_range
    start, end = dt.date.fromisoformat(key_range.start), dt.date.fromisoformat(key_range.end)
    source = market_config.build()

    def on_progress(done: int, total: int, symbol: str, rows: int) -> None:
        market_config.progress.report(market.table, done, total, symbol, rows)
        if done == total or done % 50 == 0:
            context.log.info(f"{market.table}: {done}/{total} symbols fetched (last {symbol}: {rows} rows)")

    try:
        with warehouse.get_connection() as conn:
            if market is INDEX:
                register_indices(conn, symbols)
            report = load_market_bars(
                conn,
                source,
                market,
                start,
                end,
                Lineage.now(source.name, context.run.run_id),
                symbols=symbols,
                progress=on_progress,
                breaker_threshold=market_config.breaker_threshold,
                revisit_days=market_config.revisit_days,
                use_spot=config is not None and config.spot,
                reconcile_symbols=config.reconcile_symbols if config else 0,
            )
    except SpotRejected as refused:
        raise DatasetFailed(
            str(refused), {"rows_written": 0, "source": source.name, **DatasetReport(rows_written=0).metadata()}
        ) from refused
    _log(context, market, report)
    yield check_result(suite, report.checks)
    metadata = _metadata(report, source.name)
    if report.circuit_open:
        raise DatasetFailed(f"circuit breaker: {report.circuit_open}", metadata)
    if report.failed and not report.rows_per_symbol and not report.symbols_skipped:
        symbol, reason = sorted(report.failed.items())[0]
        raise DatasetFailed(f"every symbol failed for {start}..{end} ({symbol}: {reason})", metadata)
    yield MaterializeResult(metadata=metadata)


@asset(
    group_name="hong_kong",
    partitions_def=hk_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    tags=market_tags("hk"),
    deps=[hk_trading_calendar, hk_securities],
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        suite_check(
            HK_BARS_SUITE,
            "hk_daily_bars",
            f"{_ROW_RULES} (an opening-auction open outside [low, high] only warns), "
            "amount/volume within [low, high] or up to the open; no price limit (HK has none)",
        ),
        load_check("hk_daily_bars"),
    ],
)
def hk_daily_bars(
    context: AssetExecutionContext, config: HkBarsConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """Unadjusted HKEX daily bars (HKD, volume in shares) on HKEX's own calendar.

    Nightly, the day comes from the main-board quote list `hk_securities` fetched (its 昨收 must
    equal the stored previous close for most symbols, else nothing is written and the load
    fails); rows from it are stamped `<source>/spot` and a rotating sample is reconciled
    against `stock_hk_hist` the next nights (metadata `spot_quotes`, `reconciliation`).
    Ranges, new symbols, holes and symbols the list lacks use `stock_hk_hist`."""
    yield from settle_dataset(
        context,
        warehouse,
        "hk_daily_bars",
        _load(context, market, warehouse, HK, HK_BARS_SUITE, market.hk_symbol_list(), config),
        [HK_BARS_SUITE],
    )


class HkFactorConfig(Config):
    """`refresh: true` refetches every HK symbol's factors, not only the missing, failed or due ones."""

    refresh: bool = False


@asset(
    group_name="hong_kong",
    deps=[hk_daily_bars],
    pool=POOL,
    kinds={"duckdb"},
    tags=market_tags("hk"),
    check_specs=[
        suite_check(
            HK_FACTORS_SUITE,
            "hk_adjustment_factors",
            "keys, positive factors, no future ex-dates (quarantined); cash not negative, "
            "each qfq step matches the hfq step at the last stored close (warnings)",
        ),
        load_check("hk_adjustment_factors"),
    ],
)
def hk_adjustment_factors(
    context: AssetExecutionContext, config: HkFactorConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """sina's HK factors per symbol (affine hfq: price x hfq_factor + hfq_cash; qfq: price x qfq_factor),
    for HK qfq/hfq prices computed on read exactly as akshare's `stock_hk_daily` computes them.

    Fetched for HK symbols with bars never fetched or whose last attempt failed; again when the
    night's HK quote list shows a 昨收 other than the stored close (an ex-date signal, at most 10
    symbols a run); and once their last fetch is 30 days old (at most 5 symbols a run), the
    fallback should the signal miss a dividend. Two upstream requests per symbol.
    """
    yield from settle_dataset(
        context, warehouse, "hk_adjustment_factors", _hk_factors(context, config, market, warehouse), [HK_FACTORS_SUITE]
    )


def _hk_factors(
    context: AssetExecutionContext, config: HkFactorConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    source = market.build()

    def on_progress(done: int, total: int, symbol: str, rows: int) -> None:
        market.progress.report("hk_adjustment_factors", done, total, symbol, rows)
        if done == total or done % 100 == 0:
            context.log.info(f"hk_adjustment_factors: {done}/{total} symbols fetched (last {symbol}: {rows} rows)")

    with warehouse.get_connection() as conn:
        report = load_hk_adjustment_factors(
            conn,
            source,
            Lineage.now(source.name, context.run.run_id),
            symbols=market.hk_symbol_list(),
            refresh=config.refresh,
            progress=on_progress,
            breaker_threshold=market.breaker_threshold,
        )
    for symbol, change in sorted(report.changed.items()):
        context.log.info(f"hk_adjustment_factors {symbol}: {change} (qfq history of {symbol} changes)")
    for symbol, reason in sorted(report.failed.items()):
        context.log.warning(f"hk_adjustment_factors {symbol} failed, will retry next run: {reason}")
    yield check_result(HK_FACTORS_SUITE, report.checks)
    reasons: dict[str, int] = {}
    for reason in report.needed.values():
        key = (
            "due by age"
            if reason.startswith("due")
            else "ex-date signal (昨收)"
            if reason.startswith("ex-date signal")
            else reason
        )
        reasons[key] = reasons.get(key, 0) + 1
    metadata: dict[str, Any] = {
        "symbols_fetched": len(report.needed),
        "symbols_updated": report.symbols_updated,
        "symbols_failed": len(report.failed),
        "rows_written": report.rows_written,
        "rows_quarantined": report.rows_quarantined,
        "why_fetched": MetadataValue.md(
            "| reason | symbols |\n|---|---:|\n" + "\n".join(f"| {r} | {n} |" for r, n in sorted(reasons.items()))
            if reasons
            else "no HK symbol needed factors"
        ),
        "changed": MetadataValue.md(
            "| symbol | change |\n|---|---|\n" + "\n".join(f"| {s} | {c} |" for s, c in sorted(report.changed.items()))
            if report.changed
            else "none"
        ),
        "refetch_cadence": (
            f"on an ex-date signal, at most {SIGNAL_PER_RUN} symbols a run; every "
            f"{REFRESH_AFTER_DAYS} days, at most {REFRESH_PER_RUN} symbols a run"
        ),
        "seconds": round(report.seconds, 2),
        "source": source.name,
        **DatasetReport.failures(
            sorted(report.failed.items()),
            rows_written=report.rows_written,
            rows_quarantined=report.rows_quarantined,
            symbols_updated=report.symbols_updated,
            symbols_fetched=len(report.needed),
            symbols_changed=len(report.changed),
        ).metadata(),
    }
    if report.circuit_open:
        raise DatasetFailed(f"circuit breaker: {report.circuit_open}", metadata)
    yield MaterializeResult(metadata=metadata)


@asset(
    group_name="indices",
    partitions_def=sse_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    tags=market_tags("index"),
    deps=[trading_calendar],
    pool=POOL,
    kinds={"duckdb"},
    check_specs=[
        suite_check(
            INDEX_BARS_SUITE,
            "index_daily_bars",
            f"{_ROW_RULES}; no price limit, turnover rate or vwap rule for indices",
        ),
        load_check("index_daily_bars"),
    ],
)
def index_daily_bars(context: AssetExecutionContext, market: MarketSourceResource, warehouse: WarehouseResource):
    """Daily levels of the major CN indices (SSE Composite, CSI 300, ChiNext, ...) on the SSE calendar."""
    yield from settle_dataset(
        context,
        warehouse,
        "index_daily_bars",
        _load(context, market, warehouse, INDEX, INDEX_BARS_SUITE, market.index_list()),
        [INDEX_BARS_SUITE],
    )


def _log(context: AssetExecutionContext, market: Market, report: MarketLoadReport) -> None:
    items = sorted(report.rows_per_symbol.items())
    for i in range(0, len(items), 20):
        context.log.info(f"{market.table} rows per symbol: " + " ".join(f"{s}:{n}" for s, n in items[i : i + 20]))
    for symbol, reason in sorted(report.failed.items()):
        context.log.warning(f"{market.table} {symbol} failed, will retry next run: {reason}")
    for closure in report.closures:
        context.log.warning(f"{market.table}: market closure recorded, not a trading day: {closure}")
    for day in report.reopened:
        context.log.warning(f"{market.table}: {day} was recorded closed but upstream has bars for it: reopened")
    context.log.info(
        f"{market.table} {report.start}..{report.end}: {report.rows_written} rows, "
        f"{report.symbols_updated} symbols updated, {report.symbols_skipped} up to date, "
        f"{len(report.failed)} failed, {report.requests} upstream requests"
    )


def _metadata(report: MarketLoadReport, source: str) -> dict:
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
        "symbols_updated": report.symbols_updated,
        "symbols_skipped_up_to_date": report.symbols_skipped,
        "symbols_failed": len(report.failed),
        "failed_symbols": MetadataValue.md(failed_symbols_markdown(summary.failed_symbols)),
        "empty_answers": len(report.empty),
        "market_closures": MetadataValue.md(_closures_md(report)),
        **(
            {
                "spot_quotes": (
                    f"{report.spot_day}: {report.spot_symbols} symbols in {report.spot_requests} requests "
                    f"(0: the list hk_securities fetched), {report.spot_idle} without a trade"
                    if report.spot_day
                    else "not used"
                ),
                "symbols_reconciled": len(report.reconciled),
                "reconciliation": (
                    f"{report.reconcile_mismatches} rows differ ({_failed_rules(report.reconciliation)}) "
                    f"in {', '.join(report.reconciled)}"
                    if report.reconcile_mismatches
                    else f"agrees in {', '.join(report.reconciled)}"
                    if report.reconciled
                    else "none"
                ),
            }
            if report.market == HK.name
            else {}
        ),
        "range": f"{report.start}..{report.end}",
        "seconds": round(report.seconds, 2),
        "source": source,
        **summary.metadata(),
    }


def _failed_rules(outcome) -> str:
    return ", ".join(sorted({o.rule for o in outcome.failed})) if outcome is not None else ""


def _closures_md(report) -> str:
    """The closures this run recorded (its answers were all empty on a session, a probe showed the
    source healthy) and the recorded ones it removed (an answer held a bar on the day)."""
    lines = [f"| recorded | {c.replace('|', '/')} |" for c in report.closures]
    lines += [f"| removed | {day}: an answer held a bar on the day |" for day in report.reopened]
    return "| closure | detail |\n|---|---|\n" + "\n".join(lines) if lines else "none"
