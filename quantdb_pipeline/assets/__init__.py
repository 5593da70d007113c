"""Dagster assets, one module per domain."""

from quantdb_pipeline.assets.bars import daily_bars
from quantdb_pipeline.assets.corporate_actions import corporate_actions
from quantdb_pipeline.assets.factors import adjustment_factors
from quantdb_pipeline.assets.fundamentals import financial_indicators, financial_statements, security_profiles
from quantdb_pipeline.assets.markets import (
    hk_adjustment_factors,
    hk_daily_bars,
    hk_securities,
    hk_trading_calendar,
    index_daily_bars,
)
from quantdb_pipeline.assets.publish import published_warehouse
from quantdb_pipeline.assets.reference import securities, trading_calendar

__all__ = [
    "adjustment_factors",
    "corporate_actions",
    "daily_bars",
    "financial_indicators",
    "financial_statements",
    "hk_adjustment_factors",
    "hk_daily_bars",
    "hk_securities",
    "hk_trading_calendar",
    "index_daily_bars",
    "published_warehouse",
    "securities",
    "security_profiles",
    "trading_calendar",
]
