"""Each asset check result points at the batch its run just wrote: Dagster links it to that run's
materialization, and its metadata names the run and the date range it checked (not the previous
run's, which is what a check result yielded before its asset's materialization pointed at)."""

from dagster import AssetKey
import pytest

from quantdb_pipeline.assets import daily_bars, securities, trading_calendar

pytestmark = pytest.mark.slow  # two range runs through Dagster

ASSETS = [trading_calendar, securities, daily_bars]
SUITES = {"daily_bars_rows_suite", "daily_bars_batch_suite", "load_complete"}


def bar_checks(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == AssetKey("daily_bars")}


def test_the_second_runs_check_results_name_its_own_range_run_and_materialization(pipeline):
    first = pipeline.run("2024-08-05", "2024-08-07", today="2024-08-30", assets=ASSETS, sample_size=10)
    second = pipeline.run("2024-08-08", "2024-08-09", today="2024-08-30", assets=ASSETS, sample_size=10)
    assert first.success and second.success
    for result, days in ((first, "2024-08-05..2024-08-07"), (second, "2024-08-08..2024-08-09")):
        checks = bar_checks(result)
        assert set(checks) == SUITES
        for name, check in checks.items():
            metadata = {k: v.value for k, v in check.metadata.items()}
            assert metadata["run_id"] == result.run_id, name
            assert metadata["date_range"] == days, name
            # what the UI shows the check against: this run's materialization, not the one before
            assert check.target_materialization_data.run_id == result.run_id, name
        rows_checked = checks["daily_bars_rows_suite"].metadata["rows_checked"].value
        written = pipeline.query(
            "SELECT min(trade_date) AS first, max(trade_date) AS last, count(*) AS n FROM daily_bars WHERE run_id = ?",
            [result.run_id],
        ).iloc[0]
        assert rows_checked == written["n"] > 0  # the rows this run wrote (nothing quarantined here)
        assert f"{written['first']:%Y-%m-%d}..{written['last']:%Y-%m-%d}" == days
    # the stored check history: the latest evaluation of each check is the second run's
    latest = pipeline.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [c.asset_check_key for c in bar_checks(second).values()]
    )
    assert {record.run_id for record in latest.values()} == {second.run_id}
