"""One dataset's failure does not hold back the others: what passed its gate is published, the
failed dataset keeps its last good rows and is reported stale (read.status, the run's metadata,
the failure alert, the CLI's summary and exit code), and a later good run clears it.

Faults are whole endpoints down on the sample market (`faults.EndpointDown`): every call raises
`RetriesExhausted`, as `AkshareSource` does when upstream keeps failing through every retry.
"""

import datetime as dt
import json
import logging

import duckdb
import pytest
from dagster import build_run_status_sensor_context

from quantdb_pipeline import read
from quantdb_pipeline.assets import (
    adjustment_factors,
    corporate_actions,
    daily_bars,
    hk_daily_bars,
    hk_securities,
    hk_trading_calendar,
    index_daily_bars,
    securities,
    security_profiles,
    trading_calendar,
)
from quantdb_pipeline.cli import EXIT_NOT_PUBLISHED, EXIT_OK, EXIT_PARTIAL, main
from quantdb_pipeline.run_log import failure_line
from quantdb_pipeline.sensors import ALERTS_FILE, run_failure_alert
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline_tests import faults
from quantdb_pipeline_tests.conftest import failure_messages
from quantdb_pipeline_tests.test_cli import summary_value

pytestmark = pytest.mark.slow  # range runs with failing datasets through Dagster

ASSETS = [
    trading_calendar,
    securities,
    corporate_actions,
    daily_bars,
    adjustment_factors,
    hk_trading_calendar,
    hk_securities,
    hk_daily_bars,
    index_daily_bars,
    security_profiles,
]
BASE = ("2024-08-01", "2024-08-23")
NIGHT = ("2024-08-26", "2024-08-30")
SYMBOL, DAY = "600000", dt.date(2024, 8, 30)


def published(path, sql, params=()):
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def checks(result) -> dict:
    return {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}


def alert_warnings(pipeline, run_id: str, dataset: str) -> list[str]:
    """The warnings the run logged about `dataset` (what the alert takes a root cause from when
    the failure reason names none)."""
    return [
        entry.user_message
        for entry in pipeline.instance.all_logs(run_id)
        if entry.dagster_event is None
        and entry.level >= logging.WARNING
        and entry.user_message.split(" ")[0] == dataset
    ]


def alert_for(pipeline, result, monkeypatch) -> dict:
    """What run_failure_alert records for `result`'s run (the sensor evaluated as Dagster would)."""
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(pipeline.warehouse))
    monkeypatch.delenv("QUANTDB_ALERT_WEBHOOK_URL", raising=False)
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=failure,
        dagster_instance=pipeline.instance,
        dagster_run=pipeline.instance.get_run_by_id(result.run_id),
    ).for_run_failure()
    run_failure_alert(context)
    return json.loads((pipeline.warehouse.parent / ALERTS_FILE).read_text().splitlines()[-1])


@pytest.mark.parametrize(
    "endpoint, dataset, table, words",
    [
        ("hk_daily_raw", "hk_daily_bars", "hk_daily_bars", "circuit breaker: stopped after 3 consecutive"),
        ("a_share_spot_raw", "security_profiles", "security_profiles", "quote list unavailable"),
    ],
    ids=["hk_breaker", "fundamentals_endpoint_down"],
)
def test_a_failed_dataset_keeps_its_rows_is_stale_and_the_rest_is_published(
    pipeline, monkeypatch, endpoint, dataset, table, words
):
    good = pipeline.run(*BASE, today=BASE[1], assets=ASSETS, breaker_threshold=3)
    assert good.success, failure_messages(good)
    before = published(pipeline.warehouse, f"SELECT * FROM {table} ORDER BY ALL")
    assert before

    down = faults.EndpointDownResource(kind="sample", sample_today=NIGHT[1], down=endpoint, breaker_threshold=3)
    night = pipeline.run(*NIGHT, today=NIGHT[1], assets=ASSETS, market=down)

    assert not night.success  # the run is marked failed, so the failure alert fires ...
    assert pipeline.metadata(night, "published_warehouse")["datasets_failed"] == 1  # ... after publishing
    # the A-share bars of that night are in the published file, with upstream's values
    close = SampleMarket(today=NIGHT[1]).a_share_daily_raw(SYMBOL, DAY, DAY)["收盘"].iloc[0]
    assert published(
        pipeline.warehouse, "SELECT close FROM daily_bars WHERE symbol = ? AND trade_date = ?", [SYMBOL, DAY]
    ) == [(close,)]
    # the failed dataset holds exactly its last good rows
    assert published(pipeline.warehouse, f"SELECT * FROM {table} ORDER BY ALL") == before
    assert (
        published(
            pipeline.warehouse, "SELECT count(*) FROM ingest_state WHERE dataset = ? AND status = 'failed'", [dataset]
        )[0][0]
        >= 3
    )
    # the run's metadata and checks name it
    meta = pipeline.metadata(night, dataset)
    assert meta["dataset_status"] == "failed" and words in meta["failure_reason"]
    assert pipeline.metadata(night, "daily_bars").get("dataset_status") is None
    load = checks(night)[(dataset, "load_complete")]
    assert not load.passed and load.severity.value == "ERROR" and words in load.description
    assert checks(night)[("daily_bars", "load_complete")].passed
    # status() reports it stale, since the last good load, with the reason
    stale = read.status(warehouse=pipeline.warehouse)["stale"]
    assert stale["dataset"].tolist() == [dataset]
    row = stale.iloc[0]
    # HK assets run in a run of their own before the publishing one (`range_runs`)
    assert words in row["reason"] and row["failed_run_id"] in night.run_ids and row["last_good_run_id"] in good.run_ids
    # the step failure and the alert name it on one line each, never Dagster's wrapper text
    lines = [m for m in failure_messages(night) if dataset in m][0].splitlines()
    assert lines[0].startswith("dagster._core.definitions.events.Failure: published; 1 dataset(s) failed")
    assert [line for line in lines if line.startswith(f"{dataset}: ")][0] == f"{dataset}: {row['reason']}"
    alert = alert_for(pipeline, night, monkeypatch)
    assert alert["run_id"] == night.run_id and alert["failed_datasets"] == {dataset: row["reason"]}
    # the CLI summary's line (`failure_line`: the step's words, the root cause in plain words); the
    # whole reason stays in failed_datasets
    assert alert["error"] == failure_line(dataset, row["reason"], alert_warnings(pipeline, night.run_id, dataset))
    assert alert["error"].startswith(f"{dataset}: ") and "\n" not in alert["error"]
    assert alert["published"] is True
    assert alert["tags"]["quantdb/failed_datasets"] == dataset

    healed = pipeline.run(*NIGHT, today=NIGHT[1], assets=ASSETS, breaker_threshold=3)
    assert healed.success, failure_messages(healed)
    assert read.status(warehouse=pipeline.warehouse)["stale"].empty
    [(status, last_good_run_id)] = published(
        pipeline.warehouse, "SELECT status, last_good_run_id FROM dataset_status WHERE dataset = ?", [dataset]
    )
    assert status == "ok" and last_good_run_id in healed.run_ids
    waiting = "SELECT count(*) FROM ingest_state WHERE dataset = ? AND status = 'failed'"
    assert published(pipeline.warehouse, waiting, [dataset]) == [(0,)]  # every symbol refetched


ARGS = [
    "run",
    "--source",
    "sample",
    "--sample-today",
    "2024-07-19",
    "--start",
    "2024-07-01",
    "--end",
    "2024-07-19",
    "--warehouse",
    "warehouse/cli.duckdb",
    "--no-progress",
]


def test_cli_exits_2_naming_the_failed_dataset_and_a_later_good_run_exits_0(workdir, capsys, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(faults.SampleMarket, "hk_daily_raw", faults.refuse("stock_hk_hist"))
        assert main(ARGS) == EXIT_PARTIAL
    out, err = capsys.readouterr()
    assert out.splitlines()[0].endswith("published; 1 dataset(s) FAILED")
    failed = [line.strip() for line in out.splitlines() if line.startswith("  hk_daily_bars: ")]
    assert len(failed) == 1
    # 2024-07-01 is an HKEX holiday (HKSAR Establishment Day): the HK run starts on 07-02
    assert failed[0].startswith("hk_daily_bars: every symbol failed for 2024-07-02..2024-07-19")
    # then the root cause, once: the exception, the endpoint and its attempts (details in the log file)
    assert failed[0].endswith(": ConnectionError (stock_hk_hist, 5 attempts): connection reset by peer"), failed[0]
    assert "Error occurred while executing op" not in out + err and "step None" not in out + err
    assert int(summary_value(out, "bar rows written")) > 0
    close = SampleMarket(today="2024-07-19").a_share_daily_raw(SYMBOL, dt.date(2024, 7, 19), dt.date(2024, 7, 19))
    assert published(
        "warehouse/cli.duckdb",
        "SELECT close FROM daily_bars WHERE symbol = ? AND trade_date = ?",
        [SYMBOL, dt.date(2024, 7, 19)],
    ) == [(close["收盘"].iloc[0],)]
    assert published("warehouse/cli.duckdb", "SELECT count(*) FROM hk_daily_bars") == [(0,)]
    assert read.status(warehouse="warehouse/cli.duckdb")["stale"]["dataset"].tolist() == ["hk_daily_bars"]

    assert main(ARGS) == EXIT_OK
    out = capsys.readouterr().out
    assert "succeeded" in out.splitlines()[0] and "failed datasets" not in out
    assert read.status(warehouse="warehouse/cli.duckdb")["stale"].empty
    assert published("warehouse/cli.duckdb", "SELECT count(*) FROM hk_daily_bars")[0][0] > 0


def test_cli_exits_1_when_no_dataset_could_be_loaded_and_publishes_nothing(workdir, capsys, monkeypatch):
    index_only = ARGS + ["--markets", "index"]
    assert main(index_only) == EXIT_OK
    capsys.readouterr()
    snapshot = (workdir / "warehouse" / "cli.duckdb").read_bytes()
    later = [a if a != "2024-07-19" else "2024-07-26" for a in index_only]  # a new day refetches the calendar
    with monkeypatch.context() as patch:
        patch.setattr(faults.SampleMarket, "trading_calendar_raw", faults.refuse("tool_trade_date_hist_sina"))
        patch.setattr(faults.SampleMarket, "index_daily_raw", faults.refuse("stock_zh_index_daily_em"))
        assert main(later) == EXIT_NOT_PUBLISHED
    out, err = capsys.readouterr()
    assert out.splitlines()[0].endswith("FAILED: nothing published")
    failed = sorted(
        line.strip().split(":")[0]
        for line in out.splitlines()
        if line.startswith(("  index_daily_bars: ", "  trading_calendar: "))
    )
    assert failed == ["index_daily_bars", "trading_calendar"]
    assert (
        "  trading_calendar: ConnectionError (tool_trade_date_hist_sina, 5 attempts): connection reset by peer\n" in out
    )
    assert "Error occurred while executing op" not in out + err and "step None" not in out + err
    assert (workdir / "warehouse" / "cli.duckdb").read_bytes() == snapshot  # readers keep the last snapshot
