"""QuantDB Pipeline: a checked local DuckDB warehouse of Chinese market data.

Import `quantdb_pipeline.read` for queries; it never imports Dagster, akshare or
Great Expectations, so it starts fast in a notebook.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # One source of truth: the version in pyproject.toml, as installed (`pip install -e .` included).
    __version__ = version("quantdb-pipeline")
except PackageNotFoundError:  # a checkout imported without being installed (PYTHONPATH=.)
    __version__ = "0+unknown"
