# Two entry points for a fresh clone: `make demo` and `make test`. Both set up .venv first.
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

.PHONY: setup demo test benchmark bench-setup dev clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
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

## Run the test suite (offline).
test: setup $(OLD_STAMP)
	QUANTDB_OLD_DUCKDB_PYTHON=$(CURDIR)/$(OLD_DUCKDB)/bin/python $(BIN)/python -m pytest

## Measure load throughput and read latency; rewrites benchmarks/REPORT.md.
benchmark: setup bench-setup
	$(BIN)/python benchmarks/run_benchmarks.py

## Start the Dagster UI on http://127.0.0.1:3000 with the instance of dagster.yaml.
dev: setup
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

clean:
	rm -rf $(VENV) $(OLD_DUCKDB) $(QDB_VENV) .dagster warehouse/*.duckdb warehouse/*.duckdb.wal warehouse/*.duckdb.wal.orphaned-* warehouse/.*.publishing-*
