"""The README's Python examples run as written on a warehouse built as `make demo` builds it.

Every ```python block of README.md is executed, in order, in one namespace (a later block may
use what an earlier one defined), with the demo's directory as the working directory and
QUANTDB_WAREHOUSE pointing at its file. A block that cannot run offline (it needs the network,
e.g. calls akshare) is marked by the line `<!-- no-test: REASON -->` right before its fence,
and only such a block is skipped.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from quantdb_pipeline import read

pytestmark = pytest.mark.slow  # on the session's demo warehouse (the whole sample market through the CLI)

README = Path(__file__).resolve().parents[1] / "README.md"
#: A ```python fence, with the line before it (a no-test marker or not).
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)^```", re.S | re.M)
_NO_TEST = re.compile(r"^\s*<!--\s*no-test:\s*(?P<reason>.+?)\s*-->\s*$")


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line number of the fence, code, the no-test reason or None) of each ```python block."""
    blocks = []
    for found in _BLOCK.finditer(text):
        marker = _NO_TEST.match(found["before"])
        line = text.count("\n", 0, found.start("code"))
        blocks.append((line, found["code"], marker["reason"] if marker else None))
    return blocks


def test_the_marker_skips_only_the_block_it_precedes():
    text = (
        "intro\n```python\nx = 1\n```\n\n<!-- no-test: needs network -->\n```python\nimport akshare\n```\n"
        "```bash\nmake demo\n```\nafter\n```python\ny = x + 1\n```\n"
    )
    assert [(code, reason) for _, code, reason in python_blocks(text)] == [
        ("x = 1\n", None),
        ("import akshare\n", "needs network"),
        ("y = x + 1\n", None),
    ]


def test_every_python_block_of_the_readme_runs_on_the_demo_warehouse(demo_warehouse, monkeypatch, capsys):
    monkeypatch.chdir(demo_warehouse.parent.parent)
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(demo_warehouse))
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    runnable = [(line, code) for line, code, reason in blocks if reason is None]
    assert len(runnable) >= 5, "the README's Python examples were not found"
    namespace: dict = {"__name__": "readme"}
    read.clear_cache()
    for line, code in runnable:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # examples may warn (stale HK factors): they must not fail
            try:
                exec(compile(code, f"README.md, block at line {line}", "exec"), namespace)
            except Exception as error:
                pytest.fail(f"README.md's Python block at line {line} failed: {type(error).__name__}: {error}")
    capsys.readouterr()  # the examples print tables
    # the examples' names are bound to what the README says they hold
    assert list(namespace["days"].date.astype(str)) == ["2024-09-27", "2024-09-30", "2024-10-08", "2024-10-09"]
    assert set(namespace["bars"]["symbol"]) == {"600000", "000001"}
    assert len(namespace["feb"]) == 2 * len(read.trading_days("2024-02-01", "2024-02-29")) == 30
