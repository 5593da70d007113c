"""Warehouse access: schema migrations and transactional, idempotent writes to DuckDB."""

from quantdb_pipeline.warehouse.schema import connect, migrate, schema_version

__all__ = ["connect", "migrate", "schema_version"]
