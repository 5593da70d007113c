"""Shared fixtures: a real Dagster instance from the repo's dagster.yaml, a temporary
DuckDB warehouse, and the sample market with a chosen "today"."""

from __future__ import annotations

import datetime as dt
import shutil
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from quantdb_pipeline.assets import (
    adjustment_factors,
    corporate_actions,
    daily_bars,
    published_warehouse,
    securities,
    trading_calendar,
)
from quantdb_pipeline.range_runs import materialize_range
from quantdb_pipeline.resources import MarketSourceResource, WarehouseResource

REPO = Path(__file__).resolve().parents[1]


#: Environment variables a test's working directory must not inherit from the developer's shell.
ISOLATED_ENV = (
    "QUANTDB_WAREHOUSE",
    "QUANTDB_SOURCE",
    "QUANTDB_SYMBOLS",
    "QUANTDB_SAMPLE_TODAY",
    "QUANTDB_SAMPLE_SIZE",
    "DAGSTER_HOME",
)


@pytest.fixture(scope="session", autouse=True)
def _user_config_of_the_session(tmp_path_factory):
    """$XDG_CONFIG_HOME in a temporary folder for the whole session, before any module fixture
    runs the CLI: a run records the warehouse it published in the user config file
    (`warehouse_location`), and no test may write, or read, the developer's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg_config")))
        yield


@pytest.fixture(autouse=True)
def user_config_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh, empty $XDG_CONFIG_HOME per test (what one test's run records never guides
    another test's reads); the user config file is `<it>/quantdb-pipeline/config.toml`."""
    home = tmp_path_factory.mktemp("xdg_config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A fresh directory holding a copy of dagster.yaml, as if the repo root; the cwd."""
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.chdir(tmp_path)
    for name in ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def instance(workdir):
    """The instance that dagster.yaml configures (sqlite storage under .dagster/)."""
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(workdir / ".dagster"), config_dir=str(workdir))) as inst:
        yield inst


@pytest.fixture
def warehouse(workdir) -> Path:
    return workdir / "warehouse" / "test.duckdb"


class Pipeline:
    """Materializes the real assets against a temporary warehouse and the sample market."""

    def __init__(self, instance: DagsterInstance, warehouse: Path):
        self.instance = instance
        self.warehouse = warehouse

    def resources(self, today: str, market: MarketSourceResource | None = None, **market_config):
        market = market or MarketSourceResource(kind="sample", sample_today=today, **market_config)
        return {"market": market, "warehouse": WarehouseResource(database=str(self.warehouse))}

    def run(self, start: str, end: str, today: str, assets=None, market=None, ops: dict | None = None, **market_config):
        """As the CLI runs a range (`range_runs.materialize_range`): snapped to each market's
        trading days, HK assets in a run of their own, one publish at the end. A `RangeResult`,
        or None when the range holds no trading day (no run, nothing written or fetched)."""
        # every run ends by publishing, as the jobs and the CLI do; tests read the published file
        assets = assets or [trading_calendar, securities, corporate_actions, daily_bars, adjustment_factors]
        return materialize_range(
            assets,
            published_warehouse,
            d(start),
            d(end),
            resources=self.resources(today, market, **market_config),
            instance=self.instance,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}, **({"ops": ops} if ops else {})},
        )

    def bars_metadata(self, result) -> dict:
        return self.metadata(result, "daily_bars")

    def metadata(self, result, asset: str) -> dict:
        """The asset's materialization metadata with its run's details (tables, texts; see
        `outcome.slim_for_partitions`)."""
        from quantdb_pipeline.assets.outcome import run_metadata

        found = run_metadata(result)
        if asset in found:
            return found[asset]
        raise AssertionError(f"{asset} did not materialize: {failure_messages(result)}")

    def query(self, sql: str, params=None) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            return conn.execute(sql, params or []).df()


@pytest.fixture
def pipeline(instance, warehouse) -> Pipeline:
    return Pipeline(instance, warehouse)


@contextmanager
def module_pipeline(directory: Path):
    """A `Pipeline` in `directory` set up as `workdir`, `instance` and `pipeline` set one up per
    test, for a module-scoped fixture that builds one warehouse its tests only read: the cwd and
    the environment are restored when the context exits."""
    shutil.copy(REPO / "dagster.yaml", directory / "dagster.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        for name in ISOLATED_ENV:
            patch.delenv(name, raising=False)
        with DagsterInstance.from_ref(
            InstanceRef.from_dir(str(directory / ".dagster"), config_dir=str(directory))
        ) as inst:
            yield Pipeline(inst, directory / "warehouse" / "test.duckdb")


#: The "today" of the demo warehouse below (`make demo` takes the real date; pinned for the tests).
DEMO_TODAY = "2026-11-30"


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> Path:
    """A warehouse built as `make demo` builds it (`quantdb-pipeline run --source sample`: the
    default 64 A-shares, 8 HK stocks, 8 indices, fundamentals, three years), in process, in a
    directory of its own holding a copy of dagster.yaml, with the sample's today pinned to
    `DEMO_TODAY`. Built once per session (about 30 s): read-only for its users."""
    from quantdb_pipeline.cli import EXIT_OK, main

    root = tmp_path_factory.mktemp("demo")
    shutil.copy(REPO / "dagster.yaml", root / "dagster.yaml")
    path = root / "warehouse" / "quantdb.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name in (
            "QUANTDB_WAREHOUSE",
            "QUANTDB_SOURCE",
            "QUANTDB_SYMBOLS",
            "QUANTDB_SAMPLE_TODAY",
            "QUANTDB_SAMPLE_SIZE",
            "DAGSTER_HOME",
        ):
            patch.delenv(name, raising=False)
        code = main(
            ["run", "--source", "sample", "--sample-today", DEMO_TODAY, "--warehouse", str(path), "--no-progress"]
        )
    assert code == EXIT_OK, f"the demo run exited {code}"
    return path


def failure_messages(result) -> list[str]:
    """Every message in the error chains of a run's failed steps (Dagster wraps the cause)."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error is not None:
                messages.append(error.message)
                error = error.cause
    return messages


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
