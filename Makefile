# Two entry points for a fresh clone: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test benchmark dev clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

## Load the offline sample market into warehouse/quantdb.duckdb through Dagster, then summarize.
demo: setup
	$(BIN)/quantdb-pipeline run --source sample

## Run the test suite (offline).
test: setup
	$(BIN)/python -m pytest

## Measure load throughput and read latency; rewrites benchmarks/REPORT.md.
benchmark: setup
	$(BIN)/python benchmarks/run_benchmarks.py

## Start the Dagster UI on http://127.0.0.1:3000 with the instance of dagster.yaml.
dev: setup
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

clean:
	rm -rf $(VENV) .dagster warehouse/*.duckdb warehouse/*.duckdb.wal
