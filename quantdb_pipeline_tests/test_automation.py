"""Schedules, sensors, alerts and status: evaluated with Dagster's own test contexts against a
real published warehouse and a real instance, the webhook against a local HTTP server."""

import datetime as dt
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from dagster import (
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
)

from quantdb_pipeline import read
from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.schedules import financials_schedule, nightly_bars_schedule, nightly_hk_bars_schedule
from quantdb_pipeline.sensors import ALERTS_FILE, WEBHOOK_ENV, new_listings_sensor, run_failure_alert
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests import faults
from quantdb_pipeline_tests.faults import published_sample_warehouse

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = "2024-10-11"


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A published warehouse with the calendar, the universe and a week of bars for two symbols."""
    path = tmp_path / "warehouse" / "quantdb.duckdb"
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(path))
    return published_sample_warehouse(
        path, SampleMarket(today=TODAY), dt.date(2024, 9, 23), dt.date(2024, 9, 30), symbols=["600000", "000001"]
    )


def tick(schedule_def, day: str, hour: int = 17):
    at = dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)
    return schedule_def(build_schedule_context(scheduled_execution_time=at))


def test_nightly_schedule_runs_on_a_trading_day_from_the_quote_list(published):
    request = tick(nightly_bars_schedule, "2024-09-30")
    assert isinstance(request, RunRequest) and request.partition_key == "2024-09-30"
    config = request.run_config["ops"]["daily_bars"]["config"]
    assert config["spot"] is True and config["reconcile_symbols"] == 20


def test_the_weekly_profile_refresh_runs_on_saturday_never_on_a_trading_night():
    from quantdb_pipeline.schedules import nightly_profiles_schedule, weekly_profiles_schedule

    night = tick(nightly_profiles_schedule, "2024-09-30", hour=18)
    assert night.run_config["ops"]["security_profiles"]["config"] == {"weekly_refresh": False}
    assert weekly_profiles_schedule.cron_schedule == "0 10 * * 6"
    saturday = tick(weekly_profiles_schedule, "2024-10-05", hour=10)
    assert isinstance(saturday, RunRequest) and not saturday.run_config  # the asset's default: refresh when due


@pytest.mark.parametrize(
    "day, words", [("2024-10-05", "Saturday"), ("2024-10-01", "exchange holiday")], ids=["weekend", "national_day"]
)
def test_nightly_schedule_skips_weekends_and_holidays_saying_why(published, day, words):
    skipped = tick(nightly_bars_schedule, day)
    assert isinstance(skipped, SkipReason) and words in skipped.skip_message and day in skipped.skip_message


def test_a_holiday_announced_later_is_skipped_because_the_calendar_is_data(published):
    assert isinstance(tick(nightly_bars_schedule, "2024-09-27"), RunRequest)
    conn = open_working(published)
    conn.execute("DELETE FROM trading_calendar WHERE market = 'CN' AND trade_date = '2024-09-27'")  # a new closure
    conn.close()
    publish(published)
    skipped = tick(nightly_bars_schedule, "2024-09-27")
    assert isinstance(skipped, SkipReason) and "not a trading day" in skipped.skip_message


def test_nightly_schedule_skips_beyond_the_calendar_and_without_a_warehouse(published, monkeypatch, tmp_path):
    assert "calendar in the warehouse ends at 2026-12-31" in tick(nightly_bars_schedule, "2027-01-04").skip_message
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(tmp_path / "none.duckdb"))
    assert "no warehouse yet" in tick(nightly_bars_schedule, "2024-09-30").skip_message


def test_the_hk_schedule_follows_hkex_sessions_and_requests_hk_partitions(published):
    from quantdb_pipeline.jobs import hk_daily_bars_job
    from quantdb_pipeline.loaders.markets import load_hk_calendar

    assert (
        "HKEX trading calendar in the warehouse ends at nowhere"
        in tick(nightly_hk_bars_schedule, "2024-10-02").skip_message
    )
    conn = open_working(published)
    load_hk_calendar(conn, SampleMarket(today=TODAY), Lineage.now("sample", "hk-calendar"))
    conn.close()
    publish(published)
    request = tick(nightly_hk_bars_schedule, "2024-10-02")  # HKEX trades, the SSE is closed (National Day)
    assert isinstance(request, RunRequest) and request.partition_key == "2024-10-02"
    assert hk_daily_bars_job.partitions_def.has_partition_key(request.partition_key)
    assert isinstance(tick(nightly_bars_schedule, "2024-10-02"), SkipReason)
    skipped = tick(nightly_hk_bars_schedule, "2024-10-01")  # HKEX closed, National Day
    assert isinstance(skipped, SkipReason) and "not a trading day of the HKEX calendar" in skipped.skip_message


def test_financials_schedule_runs_only_inside_disclosure_windows(published):
    assert isinstance(tick(financials_schedule, "2024-12-20", 20), SkipReason)
    request = tick(financials_schedule, "2025-04-10", 20)
    assert isinstance(request, RunRequest)
    assert "2024-12-31 due by 2025-04-30" in request.tags["quantdb/open_reports"]


@pytest.mark.slow
def test_new_listings_get_their_history_and_the_sensor_then_rests(published):
    request = new_listings_sensor(build_sensor_context())
    assert isinstance(request, RunRequest) and request.partition_key == "2024-09-30"
    listed = read.securities(as_of="2024-09-30", warehouse=published)["symbol"]
    assert request.tags["quantdb/new_listings"].startswith("000002, 000003")
    assert len(listed) - 2 == len(request.run_key.split("-", 4)[-1].split(","))
    conn = open_working(published)
    market = SampleMarket(today=TODAY)
    load_daily_bars(conn, market, dt.date(2024, 9, 30), dt.date(2024, 9, 30), Lineage.now("sample", "listings"))
    conn.close()
    publish(published)
    assert isinstance(new_listings_sensor(build_sensor_context()), SkipReason)


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = HTTPServer(("127.0.0.1", 0), Hook)
    Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", Hook.received
    server.shutdown()


@pytest.mark.slow
def test_a_failed_run_is_recorded_logged_and_posted_to_the_webhook(pipeline, monkeypatch, webhook, caplog):
    from quantdb_pipeline.assets import daily_bars

    url, received = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(pipeline.warehouse))
    result = pipeline.run("2024-09-30", "2024-09-30", today="2024-09-30", assets=[daily_bars])  # no calendar yet
    assert not result.success
    run = pipeline.instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=failure, dagster_instance=pipeline.instance, dagster_run=run
    ).for_run_failure()
    run_failure_alert(context)
    assert len(received) == 1
    content_type, payload = received[0]
    assert content_type == "application/json" and payload["run_id"] == result.run_id
    recorded = (pipeline.warehouse.parent / ALERTS_FILE).read_text().splitlines()
    assert json.loads(recorded[-1])["run_id"] == result.run_id
    # a crash names its step and its own error, not Dagster's "Error occurred while executing op" wrapper
    assert payload["error"] == (
        "step daily_bars failed: quantdb_pipeline.loaders.bars.CalendarMissing: "
        "no trading calendar in the warehouse: materialize trading_calendar first"
    )
    assert payload["failed_datasets"] == {} and payload["published"] is False
    assert any("ALERT run" in r.message and result.run_id in r.message for r in caplog.records)


def test_a_dead_webhook_does_not_hide_the_failure(tmp_path, caplog):
    from quantdb_pipeline.sensors import alert

    alert(
        {"run_id": "r1", "job": "daily_bars_job", "error": "boom"}, "http://127.0.0.1:9/alerts", tmp_path / ALERTS_FILE
    )
    assert (tmp_path / ALERTS_FILE).read_text().count("r1") == 1
    assert any("alert webhook" in r.message for r in caplog.records)


@pytest.mark.slow
def test_status_lists_tables_gaps_quarantine_and_retries(published):
    conn = open_working(published)
    market = faults.FaultyMarket(today=TODAY, symbol="600000", fault=faults.connection_error)
    load_daily_bars(
        conn,
        market,
        dt.date(2024, 10, 8),
        dt.date(2024, 10, 8),
        Lineage.now("sample", "status"),
        symbols=["600000", "000001"],
    )
    conn.close()
    publish(published)
    report = read.status(warehouse=published)
    tables = report["tables"].set_index("table")
    assert tables.loc["daily_bars", "latest_date"] == pd.Timestamp("2024-10-08")
    assert tables.loc["daily_bars", "rows"] == 2 * 6 + 1
    behind = report["gaps"][report["gaps"]["kind"] == "symbol behind"]["symbol"].tolist()
    assert "600000" in behind and "000001" not in behind
    retries = report["retries"]
    assert retries[["dataset", "symbol", "status"]].values.tolist() == [["daily_bars", "600000", "failed"]]
    assert "ConnectionError" in retries["error"].iloc[0]
    printed = subprocess.run(
        [sys.executable, "-m", "quantdb_pipeline.cli", "status", "--warehouse", str(published)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    assert "symbols waiting for a retry:" in printed.stdout and "600000" in printed.stdout
