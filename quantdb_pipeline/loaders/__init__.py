"""Loading logic, free of Dagster: what to fetch, fetching it, and writing it.

The assets in `quantdb_pipeline.assets` are thin wrappers around these functions, which
keeps the Dagster layer readable and lets the CLI, tests and benchmarks share one path.
"""
