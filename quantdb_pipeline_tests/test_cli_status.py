"""`quantdb-pipeline status`: what is waiting is what failed, cells fit a screen, and a reader
closing the pipe early (`| head -3`) costs no traceback."""

import subprocess
import sys

import pytest

from quantdb_pipeline.cli import CELL_CHARS, cell_text, main

pytestmark = pytest.mark.slow  # the CLI in subprocesses, on the session's demo warehouse


def test_the_demo_warehouse_has_nothing_waiting_for_a_retry(demo_warehouse, capsys):
    # sina listing no former name is the final answer, not a failure to retry
    assert main(["status", "--warehouse", str(demo_warehouse)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[lines.index("symbols waiting for a retry:") + 1] == "  none", out
    assert "former_names" not in out


def test_a_long_cell_is_cut_at_a_word_boundary():
    error = (
        "RetriesExhausted: stock_fhps_em(20240630): gave up after 1 attempt: ConnectionError: Connection "
        "refused by Responses - the call doesn't match any registered mock. Request: - GET "
        "https://datacenter-web.eastmoney.com/api/data/v1/get?sortColumns=PLAN_NOTICE_DATE&sortTypes=-1"
    )
    cut = cell_text(error)
    assert len(cut) <= CELL_CHARS and cut.endswith("…")
    assert error.startswith(cut[:-1]) and error[len(cut) - 1] == " "  # whole words only
    assert cell_text("short  text\nhere") == "short text here" and cell_text(None) == "-"


def test_a_reader_closing_the_pipe_early_costs_no_traceback(demo_warehouse):
    child = subprocess.Popen(
        [sys.executable, "-m", "quantdb_pipeline.cli", "status", "--warehouse", str(demo_warehouse)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    child.stdout.close()  # as `| head -3` does once it has its lines: every write after fails (EPIPE)
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
