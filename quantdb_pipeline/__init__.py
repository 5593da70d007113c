"""QuantDB Pipeline: a checked local DuckDB warehouse of Chinese market data.

Import `quantdb_pipeline.read` for queries; it never imports Dagster, akshare or
Great Expectations, so it starts fast in a notebook.
"""

__version__ = "0.1.0"
