"""Dagster assets, one module per domain."""

from quantdb_pipeline.assets.bars import daily_bars
from quantdb_pipeline.assets.reference import securities, trading_calendar

__all__ = ["daily_bars", "securities", "trading_calendar"]
