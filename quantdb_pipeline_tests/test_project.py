"""The project as a user meets it: definitions load, dagster finds them, the wheel is complete."""

import importlib
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from dagster import AssetKey, AssetsDefinition

import quantdb_pipeline
from quantdb_pipeline.assets import PUBLISH_MODULE, dataset_modules
from quantdb_pipeline.cli import main
from quantdb_pipeline.definitions import defs
from quantdb_pipeline.selections import (
    DATASETS,
    MARKET_TAG,
    MARKETS,
    PUBLISH,
    REFERENCE,
    for_run,
    market_tags,
    of_exchange,
    of_markets,
)
from quantdb_pipeline.warehouse.schema import migrations

REPO = Path(__file__).resolve().parents[1]


def test_definitions_hold_the_whole_pipeline():
    """Every asset the package's modules define is in the Definitions (found by the loader, not a
    list); every partitioned one backfills a range in one step; publish runs after every dataset."""
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    modules = [*dataset_modules(), importlib.import_module(PUBLISH_MODULE)]
    defined = {
        key
        for module in modules
        for value in vars(module).values()
        if isinstance(value, AssetsDefinition)
        for key in value.keys
    }
    assert keys == defined and len(keys) >= 14
    partitioned = [graph.get(k) for k in keys if graph.get(k).partitions_def is not None]
    assert len(partitioned) >= 4 and all(node.backfill_policy is not None for node in partitioned)
    publish = graph.get(AssetKey("published_warehouse"))
    assert set(publish.parent_keys) == keys - {publish.key}
    assert {j.name for j in defs.jobs} >= {"reference_job", "daily_bars_job", "profiles_job", "financials_job"}


def test_every_asset_has_a_group_and_every_dataset_a_market():
    """A new asset without its group or `quantdb/market` tag fails here: it would be in no job,
    no `--markets` run and not among publish's dependencies. The markets together select every
    dataset; an exchange's range job holds one partitions definition."""
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    nodes = [graph.get(k) for k in keys]
    assert all(node.group_name and node.group_name != "default" for node in nodes), [
        n.key.to_user_string() for n in nodes if not n.group_name or n.group_name == "default"
    ]
    untagged = {node.key.to_user_string() for node in nodes if node.tags.get(MARKET_TAG) not in MARKETS}
    assert untagged == {"published_warehouse"}
    assert PUBLISH.resolve(graph) == {AssetKey("published_warehouse")}
    per_market = [of_markets([market]).resolve(graph) for market in MARKETS]
    assert all(per_market) and set().union(*per_market) == DATASETS.resolve(graph) == keys - PUBLISH.resolve(graph)
    for exchange in set(MARKETS.values()):
        definitions = {
            id(graph.get(k).partitions_def)
            for k in of_exchange(exchange).resolve(graph)
            if graph.get(k).partitions_def is not None
        }
        assert len(definitions) == 1, exchange
    # the reference data (what a run of any market may add to it) is unpartitioned
    assert REFERENCE.resolve(graph) and all(graph.get(k).partitions_def is None for k in REFERENCE.resolve(graph))
    for market in MARKETS:
        run = for_run([market]).resolve(graph)
        assert (
            of_markets([market]).resolve(graph) <= run <= of_markets([market]).resolve(graph) | REFERENCE.resolve(graph)
        )
    with pytest.raises(ValueError, match="'us' is not a market: choose from cn, hk, index, fundamentals"):
        market_tags("us")


def test_version_is_the_projects_and_the_cli_prints_it(capsys):
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert quantdb_pipeline.__version__ == declared
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"quantdb-pipeline {declared}"


@pytest.mark.slow
def test_dagster_finds_the_code_location_from_the_repo_root_without_flags():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_wheel_carries_the_migrations(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(tmp_path.glob("quantdb_pipeline-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for _, name, _ in migrations():
        assert f"quantdb_pipeline/warehouse/migrations/{name}" in names
    assert not any(n.startswith("quantdb_pipeline_tests/") for n in names)
