"""Reference assets: the trading calendar and the security universe."""

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from quantdb_pipeline.assets.checks import check_result, suite_check
from quantdb_pipeline.assets.outcome import DatasetFailed, load_check, settle_dataset
from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.quality.gate import GateFailed
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.selections import market_tags
from quantdb_pipeline.warehouse.writes import Lineage

POOL = "upstream_api"


class ReferenceConfig(Config):
    """`force: true` fetches again although this source day's lists were already fetched."""

    force: bool = False


CALENDAR_SUITE = "trading_calendar_suite"
SECURITIES_SUITE = "securities_suite"


@asset(
    group_name="reference",
    pool=POOL,
    kinds={"duckdb"},
    tags=market_tags("cn"),
    check_specs=[
        suite_check(
            CALENDAR_SUITE, "trading_calendar", "keys, weekdays, market code, 200..260 trading days per complete year"
        ),
        load_check("trading_calendar"),
    ],
)
def trading_calendar(
    context: AssetExecutionContext, config: ReferenceConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """SSE trading days (SZSE and BSE share them). Every date-driven step consults this table."""
    yield from settle_dataset(
        context, warehouse, "trading_calendar", _calendar(context, config, market, warehouse), [CALENDAR_SUITE]
    )


def _calendar(
    context: AssetExecutionContext, config: ReferenceConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    source = market.build()
    try:
        with warehouse.get_connection() as conn:
            loaded = load_trading_calendar(
                conn, source, Lineage.now(source.name, context.run.run_id), force=config.force
            )
    except GateFailed as failed:
        yield check_result(CALENDAR_SUITE, failed.outcome)
        raise DatasetFailed(str(failed)) from failed
    yield check_result(CALENDAR_SUITE, loaded.checks)
    fallback = getattr(source, "calendar_fallback", None)  # AkshareSource: sina's calendar failed
    if fallback:
        from quantdb_pipeline.run_log import root_cause

        context.log.warning(
            f"trading_calendar: using akshare's bundled calendar.json, sina's calendar is "
            f"unavailable: {root_cause(fallback).text()}"
        )
    calendar = loaded.frame
    today = source.today()
    past = calendar[calendar["trade_date"] <= today]
    yield MaterializeResult(
        metadata={
            "trading_days": len(calendar),
            "first_day": str(calendar["trade_date"].iloc[0]),
            "last_day": str(calendar["trade_date"].iloc[-1]),
            "last_trading_day_to_date": str(past["trade_date"].iloc[-1]) if len(past) else "",
            "fetched": "yes" if loaded.fetched else f"no: already fetched for {today} (config force: true refetches)",
            "source": source.name,
        }
    )


@asset(
    group_name="reference",
    pool=POOL,
    kinds={"duckdb"},
    tags=market_tags("cn"),
    check_specs=[
        suite_check(
            SECURITIES_SUITE,
            "securities",
            "symbol format and uniqueness, exchange and board values, names, listing dates",
        ),
        load_check("securities"),
    ],
)
def securities(
    context: AssetExecutionContext, config: ReferenceConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    """Listed and delisted A-shares from the SSE, SZSE and BSE lists, with board and listing dates."""
    yield from settle_dataset(
        context, warehouse, "securities", _securities(context, config, market, warehouse), [SECURITIES_SUITE]
    )


def _securities(
    context: AssetExecutionContext, config: ReferenceConfig, market: MarketSourceResource, warehouse: WarehouseResource
):
    source = market.build()
    with warehouse.get_connection() as conn:
        loaded = load_securities(conn, source, Lineage.now(source.name, context.run.run_id), force=config.force)
    yield check_result(SECURITIES_SUITE, loaded.checks)
    frame, counts = loaded.frame, loaded.counts
    by_board = (
        frame.assign(listed=frame["delist_date"].isna())
        .groupby(["exchange", "board"])["listed"]
        .agg(listed="sum", delisted=lambda s: (~s).sum())
        .reset_index()
    )
    context.log.info(
        f"securities: {counts['total']} known, {counts['new']} new, {counts['quarantined']} quarantined, "
        f"{counts['switched']} switched code, {counts['dropped']} dropped out of the lists"
        + (
            f" ({counts['drops_refused']} more missing: not deactivated, the list looks incomplete)"
            if counts["drops_refused"]
            else ""
        )
    )
    yield MaterializeResult(
        metadata={
            "securities": counts["total"],
            "new_securities": counts["new"],
            "quarantined": counts["quarantined"],
            "switched_codes": counts["switched"],
            "dropped_codes": counts["dropped"],
            "drops_refused": counts["drops_refused"],
            "st_names": int(frame["is_st"].sum()),
            "fetched": (
                "yes" if loaded.fetched else f"no: already fetched for {source.today()} (config force: true refetches)"
            ),
            "by_board": MetadataValue.md(by_board.to_markdown(index=False)),
            "source": source.name,
        }
    )
