"""Environment variables, their defaults and the checks of their values, shared by the
pipeline, the CLI and `read`.

Every default of a `QUANTDB_*` variable is written here once, as a constant; the typed
settings object that the Dagster resources and the CLI read (`env_settings.Settings`, one
field per variable) takes its field defaults from these constants and checks each value with
the `parse_*` functions below, which the CLI's options also use, so that a value is refused
with the same words wherever it comes from. Kept free of heavy imports (no pydantic): `read`
imports this module, and `import quantdb_pipeline.read` stays under a tenth of a second.
"""

from __future__ import annotations

import datetime as dt
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
CHUNK_SYMBOLS_ENV = "QUANTDB_CHUNK_SYMBOLS"
CHUNK_ROWS_ENV = "QUANTDB_CHUNK_ROWS"
READ_CACHE_ENV = "QUANTDB_READ_CACHE_MB"
FINANCIALS_WATCHLIST_ENV = "QUANTDB_FINANCIALS_WATCHLIST"
FINANCIAL_YEARS_ENV = "QUANTDB_FINANCIAL_YEARS"

#: The project's warehouse of real (akshare) data, relative to the working directory.
DEFAULT_WAREHOUSE = Path("warehouse") / "quantdb.duckdb"
#: The sample market's own warehouse (`make demo`, `--source sample`): simulated prices never
#: share a file with real ones by default (see `warehouse.source_identity`).
SAMPLE_WAREHOUSE = Path("warehouse") / "sample.duckdb"
DEFAULT_SOURCE = "sample"
#: The market sources a run can read: the offline simulated market, or the real vendors.
SOURCES = ("sample", "akshare")
#: Symbols in the sample market.
DEFAULT_SAMPLE_SIZE = 64
#: The sample market's smallest size: it needs that many symbols to hold its special cases
#: (`SampleMarket`); checked with the size, so that one message gives the real minimum.
SAMPLE_MIN_SIZE = 10
#: akshare pacing, evenly spaced requests per second: eastmoney bans clients that burst.
DEFAULT_REQUESTS_PER_SECOND = 2.0
#: akshare: retries of a request that failed in transit or with a 5xx (a CLI option and a
#: resource field, no environment variable).
DEFAULT_MAX_RETRIES = 4
#: The batch rule: share of the fetched symbols each trading day must have rows for.
DEFAULT_MIN_DAILY_COVERAGE = 0.8
#: Years of report periods a first financial load fetches from the whole-market tables.
DEFAULT_FINANCIAL_YEARS = 10
#: Trading days back from a run's last day in which every run looks for holes (trading days a
#: listed symbol lacks: an empty answer, a refused quote list, a quarantined row) and fetches them.
DEFAULT_REVISIT_DAYS = 20
#: MiB of result frames `read` keeps per process (see `quantdb_pipeline.result_cache`).
DEFAULT_READ_CACHE_MB = 256.0


# -- checks of values --------------------------------------------------------------------------
# Each takes the text of an environment variable or a CLI option (stripped) and returns its
# value, or raises ValueError saying what is wrong. The first ones say it about the value alone
# ("'x' is not ..."): the CLI prefixes the option (argparse) or `$VARIABLE='x': ` (see
# `env_settings`); the others name their variable themselves, as they have no option.


def parse_source(text: str) -> str:
    """ "sample" or "akshare", any case."""
    value = text.strip().lower()
    if value not in SOURCES:
        raise ValueError(f"choose from {', '.join(SOURCES)}")
    return value


def parse_share(text: str) -> float:
    """A share of symbols in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise ValueError(f"{text!r} is not a share between 0 (exclusive) and 1, e.g. 0.8")
    return value


def parse_trading_days(text: str) -> int:
    """A count of trading days, 0 or more."""
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number of trading days (0 or more)")
    return int(text)


def parse_sample_size(text: str) -> int:
    """Symbols in the sample market: a whole number, `SAMPLE_MIN_SIZE` or more."""
    if not text.strip().isdigit() or int(text) < SAMPLE_MIN_SIZE:
        raise ValueError(
            f"{text!r} is not a whole number of {SAMPLE_MIN_SIZE} or more "
            "(the sample market's special cases need that many symbols)"
        )
    return int(text)


def parse_rate(text: str) -> float:
    """Requests per second: a number above 0 (0 would never send a request)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"{text!r} is not a number of requests per second above 0, e.g. 2")
    return value


def parse_date(text: str) -> dt.date:
    """YYYY-MM-DD or YYYYMMDD."""
    try:
        if len(text) == 8 and text.isdigit():
            return dt.datetime.strptime(text, "%Y%m%d").date()
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def parse_financial_years(text: str) -> int:
    """$QUANTDB_FINANCIAL_YEARS: a positive whole number of years."""
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"${FINANCIAL_YEARS_ENV}={text!r}: give a whole number of years, e.g. 10")
    return int(text)


def parse_positive_integer(text: str, variable: str) -> int:
    """A positive whole number for `variable` (the chunk limits)."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"${variable} must be a positive integer, got {text!r}")
    return int(text)


def parse_read_cache_mb(text: str) -> float:
    """$QUANTDB_READ_CACHE_MB: MiB, decimals allowed, a number >= 0 (0: off)."""
    try:
        mib = float(text)
    except ValueError:
        mib = -1.0
    if not 0 <= mib < float("inf"):
        raise ValueError(f"{READ_CACHE_ENV}={text!r}: give the MiB of read results to keep, a number >= 0 (0: off)")
    return mib


def revisit_days(environ: dict[str, str] | None = None) -> int:
    """$QUANTDB_REVISIT_DAYS, else `DEFAULT_REVISIT_DAYS`. Raises ValueError naming the variable
    for a value that is not a number of trading days (0 or more)."""
    value = (os.environ if environ is None else environ).get(REVISIT_DAYS_ENV, "").strip()
    if not value:
        return DEFAULT_REVISIT_DAYS
    try:
        return parse_trading_days(value)
    except ValueError as error:
        raise ValueError(f"${REVISIT_DAYS_ENV}={value!r}: {error}") from None


#: A per-symbol load (bars, HK, indices, factors, fundamentals) checks and writes its symbols in
#: chunks, each chunk (rows, coverage, outcomes) in one transaction, so that a killed load loses
#: at most one chunk and its rerun resumes from the stored coverage, and so that memory holds
#: one chunk, not the whole range. A chunk closes after `DEFAULT_CHUNK_SYMBOLS` symbols (under a
#: minute of paced akshare requests at the default rate: the most a kill costs) or at the
#: symbol that brings it to `DEFAULT_CHUNK_ROWS` rows, whichever comes first. The row bound is
#: what keeps memory flat: a chunk's bars pass through normalization, the gate's derived frame
#: and Great Expectations, about 0.7 KB per row at the peak (measured: 200,000-row chunks took a
#: 10-year backfill 100 MiB above a 3-year one), and a year of bars is ~245 rows per symbol, so
#: 50,000 rows is what 100 symbols x 2 years hold: a backfill of 3 years or of 30 has chunks of
#: the same size. Each chunk costs a transaction and a gate run (~0.2 s), so they are not smaller.
DEFAULT_CHUNK_SYMBOLS = 100
DEFAULT_CHUNK_ROWS = 50_000


def chunk_limits(environ: dict[str, str] | None = None) -> tuple[int, int]:
    """(symbols, rows) bounding a load's chunk: $QUANTDB_CHUNK_SYMBOLS and $QUANTDB_CHUNK_ROWS, else
    the defaults above. Raises ValueError naming the variable for a value that is not a positive integer."""
    env = os.environ if environ is None else environ
    limits = []
    for name, default in ((CHUNK_SYMBOLS_ENV, DEFAULT_CHUNK_SYMBOLS), (CHUNK_ROWS_ENV, DEFAULT_CHUNK_ROWS)):
        value = env.get(name, "").strip()
        limits.append(parse_positive_integer(value, name) if value else default)
    return limits[0], limits[1]


def read_cache_bytes(environ: dict[str, str] | None = None) -> int:
    """$QUANTDB_READ_CACHE_MB (MiB, decimals allowed; 0 disables the cache) in bytes, else
    `DEFAULT_READ_CACHE_MB`. Raises ValueError naming the variable for a value that is not a
    number >= 0."""
    value = (os.environ if environ is None else environ).get(READ_CACHE_ENV, "").strip()
    return int((parse_read_cache_mb(value) if value else DEFAULT_READ_CACHE_MB) * 2**20)


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


def default_warehouse(source: str | None = None) -> Path:
    """The project default a run of `source` writes to (relative to the working directory):
    `SAMPLE_WAREHOUSE` for "sample", `DEFAULT_WAREHOUSE` for "akshare" (or any other name)."""
    return SAMPLE_WAREHOUSE if source == "sample" else DEFAULT_WAREHOUSE


def warehouse_path(
    explicit: str | os.PathLike | None = None, source: str | None = None, environ: dict[str, str] | None = None
) -> Path:
    """The file a WRITER (a CLI run, the Dagster resources, the schedules and sensors that plan
    for them) uses: an explicit path, else $QUANTDB_WAREHOUSE, else the default of `source`
    (default: $QUANTDB_SOURCE, else "sample"; see `default_warehouse`). Relative paths stay
    relative to the working directory.

    Readers (`read`, `quantdb-pipeline status`) resolve theirs with
    `warehouse_location.find_warehouse`, which also looks at the user config file a run
    records its published warehouse in."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    from_env = env.get(WAREHOUSE_ENV, "").strip()  # blank is unset, as in `env_settings.Settings`
    if from_env:
        return Path(from_env).expanduser()
    return default_warehouse((source or env.get(SOURCE_ENV, "")).strip().lower() or DEFAULT_SOURCE)
