"""A dataset's recorded outcome matches what its load got: a load where every request failed
is a failed dataset (never `ok` with nothing fetched), one where some failed is partial.

Faults: the sample market with its dividend endpoint (`stock_fhps_em`, one report period a call)
refusing every period, or one, as `AkshareSource` does once its retries are spent."""

import datetime as dt

import duckdb
import pytest

from quantdb_pipeline.assets import corporate_actions
from quantdb_pipeline.resources import MarketSourceResource
from quantdb_pipeline.sources.pacing import RetriesExhausted
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline.warehouse.publish import working_path

pytestmark = pytest.mark.slow  # range runs with failing periods through Dagster

TODAY = "2024-08-30"
FAILING_PERIOD = "2024-06-30"


class DividendsDown(SampleMarket):
    def __init__(self, *args, failing: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.failing = failing

    def dividends_raw(self, period: dt.date):
        if self.failing == "all" or period.isoformat() == self.failing:
            raise RetriesExhausted(
                f"stock_fhps_em({period:%Y%m%d}): gave up after 1 attempt: ConnectionError: connection reset by peer"
            )
        return super().dividends_raw(period)


class DividendsDownResource(MarketSourceResource):
    failing: str = "all"  # "all", or the one report period (YYYY-MM-DD) that fails

    def build(self):
        return DividendsDown(today=self.sample_today or None, size=self.sample_size, failing=self.failing)


def load(pipeline, failing: str) -> dict:
    """corporate_actions alone (no other step, no publish: its outcome is all this asks), on the
    working file; its materialization's metadata."""
    from dagster import materialize

    from quantdb_pipeline.assets.outcome import run_metadata

    market = DividendsDownResource(
        kind="sample", sample_today=TODAY, failing=failing, breaker_threshold=100, sample_size=10
    )
    result = materialize(
        [corporate_actions],
        partition_key=TODAY,
        instance=pipeline.instance,
        resources=pipeline.resources(TODAY, market),
    )
    return run_metadata(result)["corporate_actions"]


def test_every_period_failing_is_a_failed_dataset_and_some_failing_a_partial_one(pipeline):
    meta = load(pipeline, "all")
    assert meta["dataset_status"] == "failed"
    assert meta["failure_reason"].startswith("every period failed (")
    assert meta["periods_fetched"] == 0 and meta["periods_needed"] == meta["periods_failed"] > 0
    with duckdb.connect(str(working_path(pipeline.warehouse)), read_only=True) as conn:
        assert conn.execute("SELECT status FROM dataset_status WHERE dataset = 'corporate_actions'").fetchall() == [
            ("failed",)
        ]

    meta = load(pipeline, FAILING_PERIOD)
    assert meta["dataset_status"] == "partial"
    assert meta["partial_reason"] == f"1 of {meta['periods_needed']} periods failed, retried by the next run"
    assert meta["periods_fetched"] == meta["periods_needed"] - 1
