"""`assets.report.DatasetReport`: what a dataset's materialization carries for the CLI's summary,
read back typed from either form the CLI meets (Dagster metadata values, or their raw values)."""

from __future__ import annotations

from quantdb_pipeline.assets.report import REPORT_KEY, DatasetReport, failed_symbols_markdown


def test_a_report_reads_back_equal_from_metadata_values_and_from_raw_values():
    report = DatasetReport.failures(
        [("600000", "quality: rows quarantined for ohlc_order"), ("000001", "ConnectionError: a | b")],
        rows_written=1234,
        rows_quarantined=3,
        symbols_updated=2,
        symbols_skipped_covered=0,
    ).settled("partial", "1 of 3 periods failed")
    metadata = report.metadata()
    assert list(metadata) == [REPORT_KEY]
    assert DatasetReport.from_metadata(metadata) == report  # in the step: MetadataValue.json
    raw = {key: value.value for key, value in metadata.items()}  # `outcome.run_metadata`: raw values
    assert raw[REPORT_KEY]["failed_symbols"] == [
        ["600000", "quality: rows quarantined for ohlc_order"],
        ["000001", "ConnectionError: a | b"],
    ]
    back = DatasetReport.from_metadata(raw)
    assert back == report
    assert (back.status, back.reason, back.symbols_failed, back.rows_written) == (
        "partial",
        "1 of 3 periods failed",
        2,
        1234,
    )
    # a figure the dataset does not report stays None (the summary shows "-" or 0), not 0
    assert back.new_ex_dates is None and back.symbols_changed is None


def test_metadata_without_a_report_reads_as_none_and_unknown_keys_are_ignored():
    assert DatasetReport.from_metadata({"rows_written": 5, "failed_symbols": "none"}) is None
    newer = {REPORT_KEY: {"status": "failed", "reason": "circuit breaker", "rows_written": 0, "added_later": 7}}
    assert DatasetReport.from_metadata(newer) == DatasetReport(
        status="failed", reason="circuit breaker", rows_written=0
    )


def test_failed_symbols_table_is_the_one_the_ui_and_the_cli_show():
    assert failed_symbols_markdown([]) == "none"
    assert failed_symbols_markdown([("600000", "x|y"), ("000001", "empty")]) == (
        "| symbol | reason |\n|---|---|\n| 600000 | x/y |\n| 000001 | empty |"
    )
