"""Time partitions: one per calendar day in Shanghai time.

Non-trading days are partitions too (the calendar is data, not code): materializing one
writes nothing and calls nothing. `end_offset=1` makes today's partition available so
that the nightly run after the close can fill it.
"""

from dagster import DailyPartitionsDefinition

from quantdb_pipeline.settings import MARKET_TIMEZONE, PARTITIONS_START

daily_partitions = DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=MARKET_TIMEZONE, end_offset=1
)
