"""Reference assets: the trading calendar and the security universe."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource
from quantdb_pipeline.warehouse.writes import Lineage

POOL = "upstream_api"


@asset(group_name="reference", pool=POOL, kinds={"duckdb"})
def trading_calendar(context: AssetExecutionContext, market: MarketSourceResource,
                     warehouse: WarehouseResource) -> MaterializeResult:
    """SSE trading days (SZSE and BSE share them). Every date-driven step consults this table."""
    source = market.build()
    with warehouse.get_connection() as conn:
        calendar = load_trading_calendar(conn, source, Lineage.now(source.name, context.run_id))
    today = source.today()
    past = calendar[calendar["trade_date"] <= today]
    return MaterializeResult(metadata={
        "trading_days": len(calendar),
        "first_day": str(calendar["trade_date"].iloc[0]),
        "last_day": str(calendar["trade_date"].iloc[-1]),
        "last_trading_day_to_date": str(past["trade_date"].iloc[-1]) if len(past) else "",
        "upstream_requests": sum(source.requests.values()),
        "source": source.name,
    })


@asset(group_name="reference", pool=POOL, kinds={"duckdb"})
def securities(context: AssetExecutionContext, market: MarketSourceResource,
               warehouse: WarehouseResource) -> MaterializeResult:
    """Listed and delisted A-shares from the SSE, SZSE and BSE lists, with board and listing dates."""
    source = market.build()
    with warehouse.get_connection() as conn:
        frame, counts = load_securities(conn, source, Lineage.now(source.name, context.run_id))
    by_board = (frame.assign(listed=frame["delist_date"].isna())
                .groupby(["exchange", "board"])["listed"].agg(listed="sum", delisted=lambda s: (~s).sum())
                .reset_index())
    context.log.info(f"securities: {counts['total']} known, {counts['new']} new")
    return MaterializeResult(metadata={
        "securities": counts["total"],
        "new_securities": counts["new"],
        "st_names": int(frame["is_st"].sum()),
        "upstream_requests": sum(source.requests.values()),
        "by_board": MetadataValue.md(by_board.to_markdown(index=False)),
        "source": source.name,
    })
