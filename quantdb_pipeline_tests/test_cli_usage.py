"""`quantdb-pipeline` usage errors: each exits 64 (EX_USAGE), never argparse's 2, which the
README reserves for a partial publish, and says in one line what was wrong."""

import re
from pathlib import Path

import pytest

from quantdb_pipeline.cli import EXIT_CODES, EXIT_USAGE, main

README = Path(__file__).resolve().parents[1] / "README.md"
#: Valid arguments that stop before any run (start after end): what comes before them was accepted.
STOPS = [
    "--sample-today",
    "2024-08-30",
    "--start",
    "2024-08-05",
    "--end",
    "2024-08-01",
    "--warehouse",
    "warehouse/usage.duckdb",
]


def exit_code(argv: list[str]) -> int:
    """What the process would exit with: `main`'s return value or its `SystemExit` code."""
    try:
        return main(argv)
    except SystemExit as stopped:
        return stopped.code


@pytest.mark.parametrize(
    "argv, env, says",
    [
        (["run", "--start", "2024-13-01"], {}, "argument --start: '2024-13-01' is not a date (YYYY-MM-DD)"),
        (["run", "--end", "yesterday"], {}, "argument --end: 'yesterday' is not a date"),
        (["run", "--sample-today", "2024-02-30"], {}, "argument --sample-today: '2024-02-30' is not a date"),
        (["run", "--source", "bloomberg"], {}, "argument --source: invalid choice: 'bloomberg'"),
        (["run", "--bogus"], {}, "unrecognized arguments: --bogus"),
        (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
        ([], {}, "the following arguments are required: command"),
        (["run", "--sample-size", "many"], {}, "argument --sample-size: 'many' is not a whole number"),
        (
            ["run", "--requests-per-second", "0"],
            {},
            "argument --requests-per-second: '0' is not a number of requests per second above 0",
        ),
        (["run", "--max-retries", "-1"], {}, "argument --max-retries: '-1' is not a whole number"),
        (["run", "--revisit-days", "-3"], {}, "argument --revisit-days: '-3' is not a number of trading days"),
        # one message giving the real minimum, not "a whole number" and then "needs at least 10"
        (["run", "--sample-size", "5"], {}, "argument --sample-size: '5' is not a whole number of 10 or more"),
        (["status", "--limit", "ten"], {}, "argument --limit: 'ten' is not a whole number"),
        # an environment variable standing for an option: named, not a traceback
        (["run"], {"QUANTDB_SAMPLE_SIZE": "x"}, "$QUANTDB_SAMPLE_SIZE='x': 'x' is not a whole number"),
        (["run"], {"QUANTDB_SOURCE": "bloomberg"}, "$QUANTDB_SOURCE='bloomberg': choose from sample, akshare"),
        (["run"], {"QUANTDB_REQUESTS_PER_SECOND": "fast"}, "$QUANTDB_REQUESTS_PER_SECOND='fast': 'fast' is not"),
        (
            ["run"],
            {"QUANTDB_SAMPLE_TODAY": "2024-13-01"},
            "$QUANTDB_SAMPLE_TODAY='2024-13-01': '2024-13-01' is not a date",
        ),
        # a list variable that is not a list: refused, not loaded as an empty watchlist
        (["run"], {"QUANTDB_FINANCIALS_WATCHLIST": '["000001"'}, "$QUANTDB_FINANCIALS_WATCHLIST="),
        (
            ["status"],
            {"QUANTDB_REVISIT_DAYS": "abc"},
            "$QUANTDB_REVISIT_DAYS='abc': 'abc' is not a number of trading days",
        ),
        # checked once parsed, before any run is recorded
        (["run", *STOPS], {}, "--start 2024-08-05 is after --end 2024-08-01"),
        (
            ["run", "--markets", "cn,crypto", *STOPS],
            {},
            "--markets 'cn,crypto': choose from cn, hk, index, fundamentals",
        ),
        (["run", "--symbols", "60000A", *STOPS], {}, "--symbols: unrecognised symbol '60000A'"),
        (["run", "--symbols", "12345", *STOPS], {}, "--symbols: unrecognised symbol '12345'"),
        (["run", "--symbols", "sh000001", *STOPS], {}, "'sh000001' is an index code on SH, not a stock"),
        (["run", "--hk-symbols", "TENCENT", *STOPS], {}, "--hk-symbols: unrecognised Hong Kong symbol 'TENCENT'"),
        (
            ["run", "--indices", "000999", *STOPS],
            {},
            "unknown index 000999: the known indices are 000001 (SSE Composite), 399001 (SZSE Component)",
        ),
        (["run", "--indices", "000300,000999.SH", *STOPS], {}, "unknown index 000999:"),
        (
            ["run", "--indices", "sz000300", *STOPS],
            {},
            "index symbol 'sz000300' names exchange SZ, but index 000300 is published on SH",
        ),
    ],
)
def test_every_usage_error_exits_64_naming_what_is_wrong(argv, env, says, workdir, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert exit_code(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert says in err
    # one line, the README's promise: no usage block before it, no "loading cn only" line
    assert len(err.splitlines()) == 1, err
    if not err.startswith("quantdb-pipeline: "):  # argparse's own, and the symbol lists'
        assert re.fullmatch(
            r"quantdb-pipeline( run| status)?: error: .+ \(see quantdb-pipeline( run| status)? "
            r"--help\)\n",
            err,
        ), err
    assert "Traceback" not in err
    assert not (workdir / ".dagster").exists()  # no run was recorded


def test_choices_are_case_insensitive(workdir, capsys):
    # `Sample` and `CN` are understood; the run then stops on the dates, the first thing checked after them
    assert exit_code(["run", "--source", "Sample", "--markets", "CN,Index", *STOPS]) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == "quantdb-pipeline: --start 2024-08-05 is after --end 2024-08-01"


def test_the_readme_and_the_help_give_the_same_exit_codes():
    table = dict(re.findall(r"^\| (\d+(?:, \d+)?) \| (.+) \|$", README.read_text(encoding="utf-8"), re.M))
    assert set(table) == {"0", "2", "1", "64", "130, 143"}
    assert table["64"].startswith("bad arguments")
    for code in ("0", "1", "2", "64", "130", "143"):
        assert f" {code} " in EXIT_CODES.replace(",", " ")
