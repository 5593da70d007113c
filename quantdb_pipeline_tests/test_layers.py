"""The layering rules, the canonical schema against the migrations, and the statutory deadline
in SQL against `market_rules`. Imports are read with `ast` (nothing is imported to check them),
function-level imports included: a lazy import is still a dependency."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import duckdb
import pytest

from quantdb_pipeline import market_rules, schema
from quantdb_pipeline.warehouse.schema import migrate

PACKAGE = Path(__file__).resolve().parents[1] / "quantdb_pipeline"
#: Modules any layer may import; they import nothing from the project but each other.
LEAF_MODULES = {"quantdb_pipeline.schema", "quantdb_pipeline.market_rules", "quantdb_pipeline.symbols"}
#: What the leaf modules must not import: they load without the pipeline's heavy dependencies.
HEAVY = ("dagster", "akshare", "great_expectations", "duckdb")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, absolute: "from quantdb_pipeline import schema" gives
    quantdb_pipeline.schema, "from quantdb_pipeline.schema import X" quantdb_pipeline.schema."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            # "from package import submodule" imports the submodule
            found.update(
                f"{base}.{alias.name}"
                for alias in node.names
                if (PACKAGE.parent / Path(*base.split("."), alias.name)).with_suffix(".py").exists()
                or (PACKAGE.parent / Path(*base.split("."), alias.name, "__init__.py")).exists()
            )
    return found


def _modules_under(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _offending(paths: list[Path], forbidden: str) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(m for m in imports_of(path) if m == forbidden or m.startswith(forbidden + "."))
        if bad:
            found[_module_name(path)] = bad
    return found


def test_the_import_reader_sees_module_level_lazy_and_submodule_imports():
    """The rules below are only as good as this reader: it must see what the code imports."""
    writes = imports_of(PACKAGE / "warehouse" / "writes.py")
    assert {"quantdb_pipeline.schema", "quantdb_pipeline.warehouse.schema", "duckdb"} <= writes
    assert "quantdb_pipeline.read" in imports_of(PACKAGE / "warehouse" / "source_identity.py")  # inside a function
    assert "quantdb_pipeline.schema" in imports_of(
        PACKAGE / "loaders" / "bars.py"
    )  # from quantdb_pipeline import schema
    assert "quantdb_pipeline.sources.normalize" in imports_of(
        PACKAGE / "loaders" / "bars.py"
    )  # from ...sources import normalize


def test_the_warehouse_does_not_import_the_sources():
    """Column lists come from `schema`, not from `sources.normalize`."""
    assert _offending(_modules_under("warehouse"), "quantdb_pipeline.sources") == {}


def test_the_quality_gate_does_not_import_the_warehouse():
    """The quarantine's columns come from `schema`, not from `warehouse.writes`."""
    assert _offending(_modules_under("quality"), "quantdb_pipeline.warehouse") == {}


@pytest.mark.parametrize("module", sorted(LEAF_MODULES))
def test_schema_and_market_rules_are_leaves(module):
    path = PACKAGE / (module.split(".", 1)[1].replace(".", "/") + ".py")
    imported = imports_of(path)
    project = {m for m in imported if m == "quantdb_pipeline" or m.startswith("quantdb_pipeline.")}
    assert project <= LEAF_MODULES - {module}, f"{module} imports {sorted(project - LEAF_MODULES)}"
    assert not [m for m in imported if m.split(".")[0] in HEAVY]


@pytest.fixture(scope="module")
def warehouse():
    conn = duckdb.connect()
    migrate(conn)
    yield conn
    conn.close()


def test_every_canonical_column_is_a_column_of_its_table(warehouse):
    missing = {}
    for table, columns in schema.TABLE_COLUMNS.items():
        stored = {
            row[0]
            for row in warehouse.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
            ).fetchall()
        }
        assert stored, f"no table {table}"
        if set(columns) - stored:
            missing[table] = sorted(set(columns) - stored)
    assert missing == {}


#: Every kind of period across leap and common years, and a date that is no quarter end (the
#: view and the function both give it the annual report's deadline).
PERIODS = [
    dt.date(year, month, day)
    for year in (2019, 2020, 2023, 2024, 2025)
    for month, day in market_rules.REPORT_PERIOD_ENDS
] + [dt.date(2024, 1, 31), dt.date(2024, 11, 30)]


def test_the_report_announcements_view_estimates_the_statutory_deadline_of_market_rules(warehouse):
    """The view (a migration: it cannot import Python) spells the deadlines again in SQL."""
    now = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    warehouse.executemany(
        "INSERT INTO financial_indicators (symbol, report_date, section, indicator, metric, value, notice_date, "
        "source, run_id, ingested_at) VALUES ('600000', ?, '业绩报表', 'EPS', 'eps', 1.0, NULL, 'test', 'r', ?)",
        [[period, now] for period in PERIODS],
    )
    rows = warehouse.execute(
        "SELECT report_date, available_from, available_from_estimated "
        "FROM report_announcements WHERE symbol = '600000' ORDER BY report_date"
    ).fetchall()
    assert [r[0] for r in rows] == sorted(PERIODS)
    assert all(r[2] for r in rows)
    sql = {r[0]: r[1] for r in rows}
    python = {p: market_rules.statutory_deadline(p) for p in PERIODS}
    assert sql == python
    # one spot check against the regulation itself, not only Python against SQL
    assert sql[dt.date(2024, 12, 31)] == dt.date(2025, 4, 30) and sql[dt.date(2024, 6, 30)] == dt.date(2024, 8, 31)
