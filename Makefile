# Two entry points for a fresh clone: `make demo` and `make test`. Both set up .venv first.
# .venv gets the versions of constraints.txt (`make lock` regenerates it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# DuckDB 1.1 in a venv of its own: the tests check that it opens the published warehouse.
OLD_DUCKDB := .venv-duckdb11
OLD_STAMP := $(OLD_DUCKDB)/.installed
# QuantDB 2.2.12 in a venv of its own (it pins its own dependencies): the benchmark's comparison.
QDB_VENV := .venv-quantdb
QDB_STAMP := $(QDB_VENV)/.installed

.PHONY: setup demo test test-fast lint lock benchmark bench-setup dev clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,lint]"
	touch $(STAMP)

$(OLD_STAMP):
	$(PYTHON) -m venv $(OLD_DUCKDB)
	$(OLD_DUCKDB)/bin/python -m pip install --quiet "duckdb==1.1.3"
	touch $(OLD_STAMP)

$(QDB_STAMP):
	$(PYTHON) -m venv $(QDB_VENV)
	$(QDB_VENV)/bin/python -m pip install --quiet "quantdb==2.2.12"
	touch $(QDB_STAMP)

setup: $(STAMP)

## QuantDB 2.2.12 in .venv-quantdb, for the benchmark's side-by-side read (never touches the network there).
bench-setup: $(QDB_STAMP)

## Load the offline sample market into warehouse/sample.duckdb (the sample's own file; akshare runs write
## warehouse/quantdb.duckdb) through Dagster, then summarize; readers find it from any folder afterwards.
demo: setup
	$(BIN)/quantdb-pipeline run --source sample

## Lint, format check and type check, then the whole test suite (offline): what CI runs.
test: lint $(OLD_STAMP)
	QUANTDB_OLD_DUCKDB_PYTHON=$(CURDIR)/$(OLD_DUCKDB)/bin/python $(BIN)/python -m pytest

## The tests not marked slow (no subprocess runs of the CLI, UI or crash tests): a few minutes.
test-fast: setup $(OLD_STAMP)
	QUANTDB_OLD_DUCKDB_PYTHON=$(CURDIR)/$(OLD_DUCKDB)/bin/python $(BIN)/python -m pytest -m "not slow"

## ruff (lint and format check) and mypy, as configured in pyproject.toml; fails on any finding.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Regenerate constraints.txt: a fresh venv from pyproject.toml's dependencies and the test and
## lint extras at their newest allowed versions, frozen (without the project itself).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet ".[test,lint]"
	{ echo "# Versions .venv is installed with (make setup); regenerate with make lock, on Python $$(.venv-lock/bin/python -c 'import platform; print(platform.python_version())')."; \
	  .venv-lock/bin/python -m pip freeze --exclude quantdb-pipeline; } > constraints.txt
	rm -rf .venv-lock

## Measure load throughput and read latency; rewrites benchmarks/REPORT.md.
benchmark: setup bench-setup
	$(BIN)/python benchmarks/run_benchmarks.py

## Start the Dagster UI on http://127.0.0.1:3000 with the instance of dagster.yaml.
dev: setup
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

clean:
	rm -rf $(VENV) $(OLD_DUCKDB) $(QDB_VENV) .venv-lock .dagster warehouse/*.duckdb warehouse/*.duckdb.wal warehouse/*.duckdb.wal.orphaned-* warehouse/.*.publishing-*
