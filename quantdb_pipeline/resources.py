"""Dagster resources: the market data source and the warehouse, configured from the environment.

Environment variables (read when the definitions load):

- `QUANTDB_SOURCE`: `sample` (default, offline) or `akshare` (the real vendors);
- `QUANTDB_SYMBOLS`: comma-separated symbols restricting the universe that bars are loaded for;
- `QUANTDB_HK_SYMBOLS`: the same for Hong Kong (default: the whole HK main board list);
- `QUANTDB_INDICES`: the CN indices to load (default: the eight of `DEFAULT_INDICES`);
- `QUANTDB_WAREHOUSE`: the DuckDB file (default `warehouse/sample.duckdb` for the sample source,
  `warehouse/quantdb.duckdb` for akshare: the CLI's defaults, see `settings.warehouse_path`);
- `QUANTDB_REQUESTS_PER_SECOND`: pacing of akshare requests (default 2);
- `QUANTDB_SAMPLE_TODAY`, `QUANTDB_SAMPLE_SIZE`: the sample market's "today" and number of symbols;
- `QUANTDB_MIN_DAILY_COVERAGE`: the batch rule's minimum share of symbols per trading day (0.8);
- `QUANTDB_REVISIT_DAYS`: trading days back from a run's last day in which missing days are
  fetched again (20);
- `QUANTDB_FINANCIALS_WATCHLIST`: comma-separated symbols whose financial statements are
  fetched per symbol with every item (eastmoney F10) and whose indicators come from sina;
  everyone else's come from eastmoney's whole-market report tables (default: none);
- `QUANTDB_FINANCIAL_YEARS`: years of report periods a first load fetches from the
  whole-market tables (10).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from quantdb_pipeline import settings
from quantdb_pipeline.sources import MarketSource
from quantdb_pipeline.symbols import SymbolError, normalize_hk_symbol, normalize_index_symbol, normalize_symbols
from quantdb_pipeline.warehouse.publish import Published, open_working, publish, remove_stale_temporaries
from quantdb_pipeline.warehouse.schema import prepare
from quantdb_pipeline.warehouse.source_identity import claim


class MarketSourceResource(ConfigurableResource):
    """Which market data source the assets read from, and how politely."""

    kind: str = Field(default="sample", description="sample (offline simulated market) or akshare")
    symbols: str = Field(default="", description="Comma-separated symbols; empty means the whole universe")
    hk_symbols: str = Field(default="", description="Comma-separated HK symbols; empty means the HK main board")
    indices: str = Field(default="", description="Comma-separated CN index codes; empty means DEFAULT_INDICES")
    requests_per_second: float = Field(default=2.0, description="akshare pacing; eastmoney bans bursts")
    timeout_seconds: float = Field(default=15.0)
    max_retries: int = Field(default=4)
    sample_today: str = Field(default="", description="The sample market's 'today' (YYYY-MM-DD); empty = today")
    sample_size: int = Field(default=64, description="Number of symbols in the sample market")
    min_daily_coverage: float = Field(
        default=0.8, description="Batch rule: share of the fetched symbols each trading day must have rows for")
    breaker_threshold: int = Field(
        default=8, description="Consecutive failed or empty symbols that stop a run (ban protection)")
    revisit_days: int = Field(
        default=settings.DEFAULT_REVISIT_DAYS,
        description="Trading days back from the run's last day in which every day a symbol lacks (an empty "
                    "answer, a refused quote list, a quarantined row) is fetched again; 0 turns it off")

    financials_watchlist: str = Field(
        default="", description="Comma-separated symbols whose financials are fetched per symbol (every "
                                "statement item, sina's indicators); the rest come from the whole-market tables")
    financial_years: int = Field(default=10, description="Years of report periods a first financial load fetches")

    def build(self) -> MarketSource:
        if self.kind == "sample":
            from quantdb_pipeline.sources.sample_market import SampleMarket

            return SampleMarket(today=self.sample_today or None, size=self.sample_size)
        if self.kind == "akshare":
            from quantdb_pipeline.sources.akshare_source import AkshareSource

            return AkshareSource(requests_per_second=self.requests_per_second,
                                 timeout_seconds=self.timeout_seconds, max_retries=self.max_retries)
        raise ValueError(f"unknown source {self.kind!r}: use 'sample' or 'akshare'")

    def symbol_list(self) -> list[str] | None:
        return normalize_symbols(self.symbols) if self.symbols.strip() else None

    def financials_watchlist_list(self) -> list[str]:
        return normalize_symbols(self.financials_watchlist) if self.financials_watchlist.strip() else []

    def hk_symbol_list(self) -> list[str] | None:
        items = [s for s in self.hk_symbols.split(",") if s.strip()]
        return list(dict.fromkeys(normalize_hk_symbol(s) for s in items)) or None

    def index_list(self) -> list[str]:
        """The six-digit codes of `indices`, each one of `DEFAULT_INDICES` (the indices the pipeline
        knows by name and the sample market simulates); raises `SymbolError` naming an unknown code
        and the known ones: a code upstream does not have would load nothing and still succeed."""
        from quantdb_pipeline.settings import DEFAULT_INDICES

        items = [s for s in self.indices.split(",") if s.strip()]
        codes = list(dict.fromkeys(normalize_index_symbol(s) for s in items)) or list(DEFAULT_INDICES)
        unknown = [code for code in codes if code not in DEFAULT_INDICES]
        if unknown:
            known = ", ".join(f"{code} ({name})" for code, name in DEFAULT_INDICES.items())
            raise SymbolError(f"unknown index {', '.join(unknown)}: the known indices are {known} "
                              "(settings.DEFAULT_INDICES)")
        return codes


class WarehouseResource(DuckDBResource):
    """The warehouse. `database` is the published file that readers open; assets write to the
    working file beside it (see `warehouse.publish`) and call `publish()` once their data passed
    its checks. Every connection is brought up to the latest schema first. At the start of every
    run (CLI, UI, schedule) temporary publish copies left by dead processes are removed, so a copy
    cut short by a full volume cannot keep the next run from publishing."""

    source: str = Field(
        default="", description="The market source whose data runs write (sample or akshare): recorded in the "
                                "warehouse on its first write, and a warehouse recorded as holding another "
                                "source is refused (see warehouse.source_identity). Empty: not checked")
    allow_mixed_sources: bool = Field(
        default=False, description="Write into a warehouse that holds another source's data anyway (the "
                                   "CLI's --allow-mixed-sources); recorded as mixed")

    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        run = getattr(context, "run", None)  # `context.run_id` is deprecated
        self._run_id = run.run_id if run is not None else None
        for stale in remove_stale_temporaries(self.database):
            if context.log is not None:
                context.log.warning(f"removed {stale}: a temporary publish copy left by a process that died")

    @contextmanager
    def get_connection(self):
        conn = open_working(self.database)
        try:
            prepare(conn)
            if self.source:  # before any write: refuses a warehouse of another source (MixedSourcesError)
                claim(conn, self.database, self.source, self._run_id, self.allow_mixed_sources,
                      flag="allow_mixed_sources: true in the warehouse resource's config (CLI: --allow-mixed-sources)")
            yield conn
        finally:
            conn.close()

    def publish(self) -> Published:
        return publish(self.database)


def resources_from_env(environ: dict[str, str] | None = None) -> dict[str, ConfigurableResource]:
    env = os.environ if environ is None else environ
    kind = env.get(settings.SOURCE_ENV, settings.DEFAULT_SOURCE)
    return {
        "market": MarketSourceResource(
            kind=kind,
            symbols=env.get(settings.SYMBOLS_ENV, ""),
            hk_symbols=env.get(settings.HK_SYMBOLS_ENV, ""),
            indices=env.get(settings.INDICES_ENV, ""),
            requests_per_second=float(env.get(settings.RATE_ENV, "2")),
            sample_today=env.get(settings.SAMPLE_TODAY_ENV, ""),
            sample_size=int(env.get(settings.SAMPLE_SYMBOLS_ENV, "64")),
            min_daily_coverage=float(env.get(settings.MIN_COVERAGE_ENV, "0.8")),
            revisit_days=settings.revisit_days(env),
            financials_watchlist=env.get(settings.FINANCIALS_WATCHLIST_ENV, ""),
            financial_years=int(env.get(settings.FINANCIAL_YEARS_ENV, "") or 10),
        ),
        # the CLI's default for the same source: `dagster dev` with the sample writes warehouse/sample.duckdb
        "warehouse": WarehouseResource(database=str(settings.warehouse_path(environ=env)), source=kind),
    }
