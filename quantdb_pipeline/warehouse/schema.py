"""Versioned SQL migrations, shipped as package data and applied idempotently.

Each `migrations/NNNN_name.sql` runs once, inside a transaction together with its row in
`schema_migrations`, so a crash mid-migration leaves the previous version intact. The columns
and dtypes of the frames written into these tables are `quantdb_pipeline.schema`'s.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import duckdb

from quantdb_pipeline.warehouse import comments

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every bundled migration, in order."""
    found = []
    for entry in files("quantdb_pipeline.warehouse").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


def scalar(conn: duckdb.DuckDBPyConnection, query: str, params: list | None = None):
    """The first value of a query's result, or None.

    Reads the result to its end: duckdb 2.0 refuses further work on a connection whose
    last result was only partly fetched (as `fetchone()` leaves it).
    """
    rows = conn.execute(query, params or []).fetchall()
    return rows[0][0] if rows else None


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    exists = scalar(conn, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")
    if not exists:
        return 0
    return scalar(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations")


def migrate(conn: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration newer than the database's version, then the column comments
    (`comments.apply`: a view re-created by a migration loses its column comments); return the
    new version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    current = schema_version(conn)
    for version, name, sql in migrations():
        if version <= current:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        current = version
    comments.apply(conn)
    return current


def prepare(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Session settings every writer uses (UTC timestamps), and the latest schema."""
    conn.execute("SET TimeZone = 'UTC'")
    migrate(conn)
    return conn


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file for writing (creating its folder and file) and bring it up to date."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return prepare(duckdb.connect(str(path)))
