"""QuantDB Pipeline: a checked local DuckDB warehouse of Chinese market data.

Import `quantdb_pipeline.read` for queries; it never imports Dagster, akshare or
Great Expectations, so it starts fast in a notebook.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`__version__`, looked up on first use: `importlib.metadata` costs ~40 ms to import, as much
    as the rest of `import quantdb_pipeline.read`, which every notebook pays."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        # One source of truth: the version in pyproject.toml, as installed (`pip install -e .` included).
        return version("quantdb-pipeline")
    except PackageNotFoundError:  # a checkout imported without being installed (PYTHONPATH=.)
        return "0+unknown"
