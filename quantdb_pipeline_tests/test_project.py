"""The project as a user meets it: definitions load, dagster finds them, the wheel is complete."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import quantdb_pipeline
from quantdb_pipeline.cli import main
from quantdb_pipeline.definitions import defs
from quantdb_pipeline.warehouse.schema import migrations

REPO = Path(__file__).resolve().parents[1]


def test_definitions_hold_the_whole_pipeline():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"trading_calendar", "securities", "corporate_actions", "daily_bars", "adjustment_factors",
                    "hk_trading_calendar", "hk_adjustment_factors",
                    "hk_securities", "hk_daily_bars", "index_daily_bars", "security_profiles",
                    "financial_statements", "financial_indicators", "published_warehouse"}
    for name in ("corporate_actions", "daily_bars", "hk_daily_bars", "index_daily_bars"):
        bars = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == name))
        assert bars.partitions_def is not None and bars.backfill_policy is not None
    publish = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "published_warehouse"))
    assert {k.to_user_string() for k in publish.parent_keys} == keys - {"published_warehouse"}
    assert {j.name for j in defs.jobs} >= {"reference_job", "daily_bars_job", "profiles_job", "financials_job"}


def test_version_is_the_projects_and_the_cli_prints_it(capsys):
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert quantdb_pipeline.__version__ == declared
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"quantdb-pipeline {declared}"


@pytest.mark.slow
def test_dagster_finds_the_code_location_from_the_repo_root_without_flags():
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_wheel_carries_the_migrations(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("quantdb_pipeline-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for _, name, _ in migrations():
        assert f"quantdb_pipeline/warehouse/migrations/{name}" in names
    assert not any(n.startswith("quantdb_pipeline_tests/") for n in names)
