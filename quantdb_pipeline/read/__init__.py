"""Read-only queries on the warehouse, for notebooks, research code and BI glue.

    from quantdb_pipeline.read import daily_bars, trading_days, securities, connect

    bars = daily_bars(["600000", "000001.SZ"], start="2024-01-02", end="20240329")

Imports duckdb and pandas only (never Dagster, akshare or Great Expectations), so that it
starts fast. The warehouse file comes from the `warehouse=` argument, else the
`QUANTDB_WAREHOUSE` environment variable, else the user config file that `quantdb-pipeline run`
writes when it publishes, else `warehouse/quantdb.duckdb` or `warehouse/sample.duckdb` in the
working directory (`warehouse_location.find_warehouse`; the error lists every place tried): the
published snapshot, which the pipeline replaces atomically and never writes in place. Connections
are read-only and cached until a new snapshot appears; every user value is bound as a
query parameter.

Bar reads (`daily_bars`, including Hong Kong symbols, `index_bars`, `panel`) keep their
results in memory per snapshot, so a notebook never needs its own cache: a repeated call
with the same (normalized) arguments returns a copy of the kept frame (mutating it never
changes a later result) and pays no query. The kept results are dropped when a new snapshot
is published. They are bounded by `QUANTDB_READ_CACHE_MB` (MiB of column buffers, as
`DataFrame.memory_usage(deep=False)` counts them; default 256; 0 disables), least recently
used evicted first; `cache_info()` shows hits, misses and bytes, `clear_cache()` empties it.

Dates, one convention throughout: every date or time this module returns is pandas'
`datetime64[ns]` (a column of that dtype, `datetime64[ns, UTC]` for instants such as
`ingested_at`; `trading_days` a `DatetimeIndex`; `panel` is indexed by one), so that
`bars.trade_date.isin(trading_days())` matches and `panel(...).loc[day]` finds a day taken
from `trading_days()`. Days are the exchange's (Asia/Shanghai, or Hong Kong for HK data),
at midnight, without a time zone. Every date argument (`start`, `end`, `as_of`) accepts
"2024-01-02", "20240102", an ISO date-time string ("2024-01-02T00:00:00"), `datetime.date`,
`datetime.datetime`, `pd.Timestamp` or `np.datetime64` (a time of day is dropped, the date as
written counts); anything else raises a ValueError naming the argument and the value (`_date`,
the one parser). Market arguments ("CN", "HK") and `adjust` ("qfq", "hfq") are
case-insensitive; an unknown one is a ValueError listing the valid ones. Symbols are strings
(an int such as 600000 is a TypeError: 1 cannot say 000001).

The package's modules each hold one idea: `connection` (the connection cache), `args` and
`symbol_args` (argument parsing), `bars`, `panel`, `indices`, `adjustment` (factors and
corporate actions), `calendars`, `point_in_time` (securities, profiles, names, financials),
`cache` (the result cache), `frames` (the date convention), `gaps` and `errors`. Import the
public names from here; `status`, the pipeline's bookkeeping view, lives in
`quantdb_pipeline.status` and is re-exported here for notebooks.
"""

from quantdb_pipeline.read.adjustment import adjustment_factors, corporate_actions, hk_adjustment_factors
from quantdb_pipeline.read.args import ADJUSTMENTS, MARKETS
from quantdb_pipeline.read.bars import BAR_FIELDS, daily_bars
from quantdb_pipeline.read.cache import cache_info, clear_cache
from quantdb_pipeline.read.calendars import market_closures, trading_days
from quantdb_pipeline.read.connection import connect
from quantdb_pipeline.read.errors import (
    AdjustmentGapWarning,
    IndexSymbolError,
    NoProfileError,
    StaleFactorsWarning,
    UnknownSymbolError,
    WarehouseBusyError,
)
from quantdb_pipeline.read.index_reads import INDEX_BAR_FIELDS, index_bars, indices
from quantdb_pipeline.read.panels import panel
from quantdb_pipeline.read.point_in_time import (
    FINANCIAL_METRICS,
    financials,
    hk_securities,
    name_history,
    profile,
    securities,
)
from quantdb_pipeline.status import status
from quantdb_pipeline.warehouse_location import WarehouseNotFoundError

# Public too, and left out of `import *` as they always were: `close()` (for a process that must
# write a file it has read), `lock_holder` and the field tuples of `panel`, `profile` and
# `corporate_actions`.
from quantdb_pipeline.read.adjustment import CORPORATE_ACTION_FIELDS  # noqa: F401
from quantdb_pipeline.read.connection import close  # noqa: F401
from quantdb_pipeline.read.errors import lock_holder  # noqa: F401
from quantdb_pipeline.read.panels import PANEL_FIELDS, PANEL_OUTPUTS  # noqa: F401
from quantdb_pipeline.read.point_in_time import PROFILE_FIELDS  # noqa: F401

__all__ = [
    "ADJUSTMENTS",
    "AdjustmentGapWarning",
    "StaleFactorsWarning",
    "BAR_FIELDS",
    "INDEX_BAR_FIELDS",
    "IndexSymbolError",
    "MARKETS",
    "UnknownSymbolError",
    "WarehouseNotFoundError",
    "WarehouseBusyError",
    "adjustment_factors",
    "cache_info",
    "clear_cache",
    "corporate_actions",
    "FINANCIAL_METRICS",
    "NoProfileError",
    "connect",
    "financials",
    "panel",
    "profile",
    "name_history",
    "daily_bars",
    "hk_adjustment_factors",
    "hk_securities",
    "index_bars",
    "indices",
    "market_closures",
    "securities",
    "status",
    "trading_days",
]
