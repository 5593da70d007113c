"""The published file opens in an older DuckDB, as bundled by BI tools (storage_compatibility_version)."""

import os
import subprocess

import pytest

from quantdb_pipeline.warehouse.publish import STORAGE_COMPATIBILITY

OLD_PYTHON = os.environ.get("QUANTDB_OLD_DUCKDB_PYTHON")
OLD_PYTHON = os.path.abspath(OLD_PYTHON) if OLD_PYTHON else None  # resolved before tests change directory


@pytest.mark.skipif(not OLD_PYTHON, reason="set QUANTDB_OLD_DUCKDB_PYTHON to a Python with duckdb 1.1 (make test does)")
def test_duckdb_1_1_reads_the_published_warehouse(pipeline):
    assert STORAGE_COMPATIBILITY == "v1.1.0"
    assert pipeline.run("2024-07-01", "2024-07-05", today="2024-08-30").success
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(duckdb.__version__, c.execute('SELECT count(*), max(trade_date) FROM daily_bars').fetchall()[0])")
    out = subprocess.run([OLD_PYTHON, "-c", code, str(pipeline.warehouse)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    version, rows = out.stdout.split(" ", 1)
    assert version.startswith("1.1.")
    expected = pipeline.query("SELECT count(*) AS n FROM daily_bars")["n"][0]
    assert rows.startswith(f"({expected}, datetime.date(2024, 7, 5))")
