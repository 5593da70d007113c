"""Environment variables and defaults shared by the pipeline, the CLI and `read`.

Kept free of heavy imports: `read` imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path

WAREHOUSE_ENV = "QUANTDB_WAREHOUSE"
SOURCE_ENV = "QUANTDB_SOURCE"
SYMBOLS_ENV = "QUANTDB_SYMBOLS"
HK_SYMBOLS_ENV = "QUANTDB_HK_SYMBOLS"
INDICES_ENV = "QUANTDB_INDICES"
SAMPLE_TODAY_ENV = "QUANTDB_SAMPLE_TODAY"
SAMPLE_SYMBOLS_ENV = "QUANTDB_SAMPLE_SIZE"
RATE_ENV = "QUANTDB_REQUESTS_PER_SECOND"
MIN_COVERAGE_ENV = "QUANTDB_MIN_DAILY_COVERAGE"
REVISIT_DAYS_ENV = "QUANTDB_REVISIT_DAYS"
READ_CACHE_ENV = "QUANTDB_READ_CACHE_MB"

DEFAULT_WAREHOUSE = Path("warehouse") / "quantdb.duckdb"
DEFAULT_SOURCE = "sample"
#: Trading days back from a run's last day in which every run looks for holes (trading days a
#: listed symbol lacks: an empty answer, a refused quote list, a quarantined row) and fetches them.
DEFAULT_REVISIT_DAYS = 20
#: MiB of result frames `read` keeps per process (see `quantdb_pipeline.result_cache`).
DEFAULT_READ_CACHE_MB = 256.0


def revisit_days(environ: dict[str, str] | None = None) -> int:
    """$QUANTDB_REVISIT_DAYS, else `DEFAULT_REVISIT_DAYS`."""
    value = (os.environ if environ is None else environ).get(REVISIT_DAYS_ENV, "")
    return int(value) if value.strip() else DEFAULT_REVISIT_DAYS


def read_cache_bytes(environ: dict[str, str] | None = None) -> int:
    """$QUANTDB_READ_CACHE_MB (MiB, decimals allowed; 0 disables the cache) in bytes, else
    `DEFAULT_READ_CACHE_MB`. Raises ValueError naming the variable for a value that is not a
    number >= 0."""
    value = (os.environ if environ is None else environ).get(READ_CACHE_ENV, "").strip()
    if not value:
        return int(DEFAULT_READ_CACHE_MB * 2**20)
    try:
        mib = float(value)
    except ValueError:
        mib = -1.0
    if not mib >= 0:
        raise ValueError(f"{READ_CACHE_ENV}={value!r}: give the MiB of read results to keep, a number >= 0 (0: off)")
    return int(mib * 2**20)

#: The CN indices loaded by default: six-digit code -> English name.
DEFAULT_INDICES = {
    "000001": "SSE Composite",
    "399001": "SZSE Component",
    "399006": "ChiNext Index",
    "000300": "CSI 300",
    "000905": "CSI 500",
    "000852": "CSI 1000",
    "000016": "SSE 50",
    "000688": "STAR 50",
}

#: First day of the `daily_bars` partitions shown in the Dagster UI: the first SSE session.
PARTITIONS_START = "1990-12-19"
#: Market time zone: trading dates and schedules are in Shanghai time.
MARKET_TIMEZONE = "Asia/Shanghai"


def warehouse_path(explicit: str | os.PathLike | None = None) -> Path:
    """The warehouse file: an explicit path, else $QUANTDB_WAREHOUSE, else the default."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(WAREHOUSE_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return DEFAULT_WAREHOUSE
