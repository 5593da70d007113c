"""A foreign session holding the pipeline's working file (`quantdb.work.duckdb`) read-write, e.g.
DBeaver or the duckdb CLI pointed at it by mistake, with the published file free: the CLI does not
start a run whose every step would wait for the lock, fail and print a traceback; it says in one
line which program and PID hold the file, exits 1 and records no run. Real processes: a Python
holding the file with `duckdb.connect`, the CLI as a subprocess.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef
import pytest

pytestmark = pytest.mark.slow  # the CLI in a subprocess against a locked file

REPO = Path(__file__).resolve().parents[1]
HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(120)"


def test_a_foreign_session_on_the_working_file_stops_the_cli_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dagster.yaml's paths are relative to the directory it is opened from
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    (tmp_path / "warehouse").mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "warehouse" / "sample.work.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANTDB_", "DAGSTER_HOME"))}
        for start in (["--start", "2024-07-01"], []):  # with and without --start (as cron runs it)
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "quantdb_pipeline.cli",
                    "run",
                    "--no-progress",
                    *start,
                    "--sample-today",
                    "2024-07-31",
                    "--markets",
                    "cn",
                    "--sample-size",
                    "10",
                ],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=240,
                env={**env, "PYTHONPATH": str(REPO)},
            )
            assert out.returncode == 1, out.stderr
            last = out.stderr.strip().splitlines()[-1]
            assert last.startswith("quantdb-pipeline: ") and "the working file" in last
            assert f"(PID {holder.pid})" in last
            assert "Traceback" not in out.stderr and "Stack Trace" not in out.stderr
            assert len(out.stderr.strip().splitlines()) <= 2  # "Loading ..." and the reason
    finally:
        holder.kill()
        holder.wait()
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path / ".dagster"), config_dir=str(tmp_path))) as inst:
        assert inst.get_runs() == []  # nothing started, nothing left "Not started"
