"""The published file opens in an older DuckDB, as bundled by BI tools (storage_compatibility_version)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from quantdb_pipeline.warehouse.publish import MINIMUM_DUCKDB, STORAGE_COMPATIBILITY

OLD_PYTHON = os.environ.get("QUANTDB_OLD_DUCKDB_PYTHON")
OLD_PYTHON = os.path.abspath(OLD_PYTHON) if OLD_PYTHON else None  # resolved before tests change directory


@pytest.mark.slow
@pytest.mark.skipif(not OLD_PYTHON, reason="set QUANTDB_OLD_DUCKDB_PYTHON to a Python with duckdb 1.1 (make test does)")
def test_duckdb_1_1_reads_the_published_warehouse(pipeline):
    assert pipeline.run("2024-07-01", "2024-07-05", today="2024-08-30").success
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(duckdb.__version__, c.execute('SELECT count(*), max(trade_date) FROM daily_bars').fetchall()[0])"
    )
    out = subprocess.run([OLD_PYTHON, "-c", code, str(pipeline.warehouse)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    version, rows = out.stdout.split(" ", 1)
    assert version.startswith(f"{MINIMUM_DUCKDB}.")  # the documented minimum, not a newer one
    expected = pipeline.query("SELECT count(*) AS n FROM daily_bars")["n"][0]
    assert rows.startswith(f"({expected}, datetime.date(2024, 7, 5))")


def test_the_readme_and_the_makefile_name_the_minimum_duckdb_the_file_is_written_for():
    repo = Path(__file__).resolve().parents[1]
    assert STORAGE_COMPATIBILITY == f"v{MINIMUM_DUCKDB}.0"
    (pin,) = re.findall(r'"duckdb==([0-9.]+)"', (repo / "Makefile").read_text())
    assert pin.startswith(f"{MINIMUM_DUCKDB}.")  # the compatibility test runs the documented minimum
    readme = (repo / "README.md").read_text()
    assert f"### Minimum DuckDB version: {MINIMUM_DUCKDB}" in readme
    assert f"with DuckDB {pin})" in readme
    # what users of an older driver (DBeaver's bundled DuckDB 1.0) see, verbatim
    assert "Serialization Error: Failed to deserialize: expected end of object, but found field id: 103" in readme
