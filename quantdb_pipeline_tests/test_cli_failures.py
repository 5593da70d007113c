"""What `quantdb-pipeline run` shows when upstream cannot be reached, and while it runs.

The offline run uses the real akshare functions with `responses` active and no URL registered:
every HTTP request fails with `requests.ConnectionError`, as without a network."""

import io
import re
from pathlib import Path

import pytest
import responses

from quantdb_pipeline.cli import EXIT_PARTIAL, main
from quantdb_pipeline.progress import Display
from quantdb_pipeline.run_log import failure_line

OFFLINE = [
    "run",
    "--source",
    "akshare",
    "--max-retries",
    "0",
    "--requests-per-second",
    "1000",
    "--markets",
    "hk,index",
    "--hk-symbols",
    "00700",
    "--indices",
    "000300",
    "--start",
    "2024-07-01",
    "--end",
    "2024-07-05",
    "--warehouse",
    "warehouse/offline.duckdb",
]
#: The datasets the offline run cannot load, with the host each one asks (akshare's own URLs).
FAILED = {
    "hk_securities": "push2.eastmoney.com",
    "hk_daily_bars": "push2his.eastmoney.com",
    "index_daily_bars": "push2his.eastmoney.com",
}


@pytest.mark.slow
def test_an_offline_run_fails_in_one_screen_with_each_root_cause_and_the_log_file(workdir, capsys):
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        assert main(OFFLINE) == EXIT_PARTIAL  # the calendars are published; three datasets failed
    out, err = capsys.readouterr()
    progress = [line for line in err.splitlines() if re.match(r"\[\d+ s\] ", line)]
    screen = out.splitlines() + [line for line in err.splitlines() if line not in progress]
    assert len(screen) < 25, "\n".join(screen)
    assert "Traceback" not in out + err and "step None" not in out + err
    assert "Error occurred while executing op" not in out + err
    for dataset, host in FAILED.items():
        lines = [line for line in screen if line.strip().startswith(f"{dataset}:")]
        assert len(lines) == 1, (dataset, screen)
        assert re.search(rf"ConnectionError \(host (\d+\.)?{re.escape(host)}, ", lines[0]), lines[0]
        assert len(lines[0]) < 260
    # every step that ran has its own progress lines: started, then done or FAILED
    for step in ("hk_securities", "hk_daily_bars", "index_daily_bars", "published_warehouse"):
        assert any(line.endswith(f"] {step}: started") for line in progress), (step, progress)
    # a dataset that failed softly (the step succeeded, the load did not) is never shown "done"
    assert any("] hk_daily_bars: FAILED (kept last good rows), 1/1 symbols in " in line for line in progress), progress
    assert any("] hk_securities: FAILED (kept last good rows) in " in line for line in progress), progress
    assert not any(re.search(r"\] (hk_securities|hk_daily_bars|index_daily_bars): done", line) for line in progress)
    assert any("] published_warehouse: FAILED in " in line for line in progress), progress

    named = re.search(r"details \(every warning, retry and stack trace\): (\S+\.log)$", err, re.M)
    assert named, err
    log = Path(named.group(1))
    assert log.parent == workdir / "warehouse" / "logs"
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "requests.exceptions.ConnectionError" in text
    assert "stock_hk_hist(00700): gave up after 1 attempt: " in text  # the per-symbol failure, in full
    # Dagster's own record of the failed step, with its stack (the UI's run page shows the same)
    assert 'ERROR published_warehouse: Execution of step "published_warehouse" failed.' in text
    assert "in published_warehouse" in text


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_terminal_shows_a_live_line_from_the_start_and_one_line_per_step_with_its_own_counts():
    clock, screen = Clock(), io.StringIO()
    display = Display(screen, tty=True, clock=clock)
    clock.now = 1.0
    display.tick()
    assert screen.getvalue().endswith("starting the run  (total 1 s)")  # before any step reports
    display.step_started("hk_securities")
    clock.now = 4.0
    display.tick()
    assert screen.getvalue().endswith("hk_securities  3 s  (total 4 s)")  # a step without counts
    display.step_finished("hk_securities", ok=True)
    display.step_started("hk_daily_bars")
    for done in range(1, 9):
        display.report("hk_daily_bars", done, 8, f"0070{done}", 100 + done)
    clock.now = 9.0
    display.tick()
    assert screen.getvalue().endswith("hk_daily_bars  8/8 symbols  00708: 108 rows  5 s  (total 9 s)")
    display.step_finished("hk_daily_bars", ok=True)
    display.step_started("corporate_actions")
    display.report("corporate_actions", 5, 17, "2023-09-30", 0)
    clock.now = 10.5
    display.step_finished("corporate_actions", ok=False)
    # steps that succeeded while their dataset failed softly (`dataset_status` of the materialization)
    display.step_started("securities")
    display.step_finished("securities", ok=True, seconds=0.7, dataset_status="failed")
    display.step_started("financial_statements")
    display.report("financial_statements", 5, 5, "2024-06-30", 0)
    display.step_finished(
        "financial_statements", ok=True, seconds=2.0, dataset_status="partial", note="1 of 5 periods failed"
    )
    display.close()
    assert [line.split() for line in display.finished] == [
        ["✓", "hk_securities", "3.0", "s"],
        ["✓", "hk_daily_bars", "8/8", "symbols", "5.0", "s"],
        ["✗", "corporate_actions", "5/17", "periods", "1.5", "s", "FAILED"],
        ["✗", "securities", "0.7", "s", "failed", "(kept", "last", "good", "rows)"],
        ["!", "financial_statements", "5/5", "periods", "2.0", "s", "partial:", "1", "of", "5", "periods", "failed"],
    ]
    # the live line is redrawn in place (carriage returns), each finished step is a line of its own
    assert screen.getvalue().count("\n") == 5 and "\r" in screen.getvalue()


def test_without_a_terminal_progress_is_plain_lines_not_redraws():
    clock, log = Clock(), io.StringIO()
    display = Display(log, tty=False, clock=clock, plain_every_seconds=10)
    display.step_started("daily_bars")
    for second in range(1, 26):
        clock.now = float(second)
        display.report("daily_bars", second, 64, "000001", 700)
        display.tick()
    display.step_finished("daily_bars", ok=True)
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines() == [
        "[0 s] daily_bars: started",
        "[10 s] daily_bars: 10/64 symbols, 10 s so far",
        "[20 s] daily_bars: 20/64 symbols, 20 s so far",
        "[25 s] daily_bars: done, 25/64 symbols in 25.0 s",
    ]


@pytest.mark.parametrize(
    "reason, line",
    [
        # requests' words without DNS (urllib3 2.x), through our retry wrapper, inside a per-symbol reason
        (
            "every symbol failed for 2024-07-02..2024-07-05 (00700: RetriesExhausted: stock_hk_hist(00700): gave up "
            "after 5 attempts: ConnectionError: HTTPSConnectionPool(host='33.push2his.eastmoney.com', port=443): Max "
            'retries exceeded with url: /api/qt/stock/kline/get?secid=116.00700 (Caused by NameResolutionError("<urllib3'
            ".connection.HTTPSConnection object at 0x7f2c>: Failed to resolve '33.push2his.eastmoney.com' ([Errno -3] "
            'Temporary failure in name resolution)")))',
            "hk_daily_bars: every symbol failed for 2024-07-02..2024-07-05: ConnectionError (stock_hk_hist, 5 attempts): "
            "could not resolve host 33.push2his.eastmoney.com (no network or DNS)",
        ),
        # urllib3 2.x's NameResolutionError without the connection object's repr, one attempt: singular
        (
            "RetriesExhausted: stock_fhps_em(20240630): gave up after 1 attempt: ConnectionError: HTTPSConnectionPool(host="
            "'datacenter-web.eastmoney.com', port=443): Max retries exceeded with url: /api/data/v1/get?sortColumns=PLAN (Ca"
            "used by NameResolutionError(\"HTTPSConnection(host='datacenter-web.eastmoney.com', port=443): Failed to resolve"
            " 'datacenter-web.eastmoney.com' ([Errno -3] Temporary failure in name resolution)\"))",
            "hk_daily_bars: ConnectionError (stock_fhps_em, 1 attempt): could not resolve host datacenter-web.eastmoney.com "
            "(no network or DNS)",
        ),
        (
            "RetriesExhausted: stock_info_sh_name_code(): gave up after 5 attempts: ConnectionError: HTTPSConnectionPool("
            "host='query.sse.com.cn', port=443): Max retries exceeded with url: /a (Caused by NewConnectionError('<urllib3."
            "connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection "
            "refused'))",
            "hk_daily_bars: ConnectionError (stock_info_sh_name_code, 5 attempts): host query.sse.com.cn refused the "
            "connection",
        ),
        # an unreachable proxy
        (
            "RetriesExhausted: stock_hk_main_board_spot_em(): gave up after 1 attempts: ProxyError: HTTPSConnectionPool("
            "host='81.push2.eastmoney.com', port=443): Max retries exceeded with url: /api/qt/clist/get (Caused by "
            "ProxyError('Unable to connect to proxy', NewConnectionError(\"HTTPSConnection(host='127.0.0.1', port=9): "
            'Failed to establish a new connection: [Errno 111] Connection refused")))',
            "hk_daily_bars: ProxyError (host 81.push2.eastmoney.com, stock_hk_main_board_spot_em, 1 attempt): Unable to "
            "connect to proxy",
        ),
        (
            "ConnectTimeout: HTTPSConnectionPool(host='query.sse.com.cn', port=443): Max retries exceeded with url: /a "
            "(Caused by ConnectTimeoutError(<urllib3.connection.HTTPSConnection object at 0x7f>, 'Connection to "
            "query.sse.com.cn timed out. (connect timeout=15)'))",
            "hk_daily_bars: ConnectTimeout: timed out connecting to host query.sse.com.cn",
        ),
        # no error named: a rule's own words stay as they are
        (
            "quality gate refused the batch: daily_universe_coverage",
            "hk_daily_bars: quality gate refused the batch: daily_universe_coverage",
        ),
    ],
)
def test_a_failure_line_names_the_root_cause_host_and_endpoint(reason, line):
    assert failure_line("hk_daily_bars", reason) == line


def test_a_failure_without_an_error_takes_its_cause_from_the_steps_warnings():
    reason = (
        "circuit breaker: stopped after 8 consecutive periods failed (last: 2024-06-30); 9 periods not "
        "attempted, to be retried by the next run"
    )
    warning = (
        "corporate_actions 2022-09-30 failed, will retry next run: RetriesExhausted: stock_fhps_em(20220930):"
        " gave up after 5 attempts: ConnectionError: ('Connection aborted.', RemoteDisconnected('Remote end "
        "closed connection without response'))\nRequest: GET https://datacenter-web.eastmoney.com/api/data/v1/get"
    )
    # the step's own words are shortened to their first clause, whole words; the cause is kept whole
    assert failure_line("corporate_actions", reason, ["corporate_actions 2022-06-30: no rows", warning]) == (
        "corporate_actions: circuit breaker: stopped after 8 consecutive periods failed (last: 2024-06-30): "
        "ConnectionError (stock_fhps_em, 5 attempts): host datacenter-web.eastmoney.com closed the connection "
        "without answering"
    )


def test_a_long_message_is_cut_at_a_word_boundary():
    from quantdb_pipeline.run_log import shorten

    text = "every symbol failed for 2024-07-02..2024-07-05 while upstream answered nothing at all " * 3
    cut = shorten(text, 80)
    assert len(cut) <= 80 and cut.endswith("…") and text[len(cut) - 1] == " "


OFFLINE_CN = [
    "run",
    "--source",
    "akshare",
    "--max-retries",
    "0",
    "--requests-per-second",
    "1000",
    "--symbols",
    "600000,000001,300750",
    "--start",
    "2024-07-01",
    "--end",
    "2024-07-05",
    "--warehouse",
    "warehouse/offline-cn.duckdb",
    "--no-progress",
]


@pytest.mark.slow
def test_an_offline_a_share_run_reports_every_failed_dataset_and_the_named_symbols_it_could_not_load(workdir, capsys):
    from quantdb_pipeline import read
    from quantdb_pipeline.cli import EXIT_NOT_PUBLISHED

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        code = main(OFFLINE_CN)
    out, err = capsys.readouterr()
    assert code in (EXIT_PARTIAL, EXIT_NOT_PUBLISHED), out + err
    lines = out.splitlines()
    failed = lines[lines.index(next(row for row in lines if row.startswith("failed datasets"))) + 1 :]
    named = {line.strip().split(":")[0]: line.strip() for line in failed if line.startswith("  ")}
    # securities failed: no universe, so no bar was requested for the named symbols. Never "ok".
    assert "securities" in named, out
    assert (
        "skipped: universe unavailable (securities failed); no bars requested for 600000, 000001, 300750"
        in named["daily_bars"]
    ), out
    assert re.search(r"^  symbols failed +3$", out, re.M), out
    # the factors of the same symbols were not requested either: failed for the same reason, never ✓
    assert (
        "skipped: universe unavailable (securities failed); no factors requested for 600000, 000001, "
        "300750" in named["adjustment_factors"]
    ), out
    # every dividend period failed: a failed dataset, and none counted as fetched
    # (here the circuit breaker stops it first: akshare's today leaves more than 8 periods to ask)
    assert named["corporate_actions"].startswith("corporate_actions: circuit breaker: "), out
    assert re.search(r"^  dividend periods fetched / new ex-dates +0 / 0$", out, re.M), out
    # sina's calendar failed: the bundled one was used, said once among the summary's warnings
    fallback = [line for line in lines if "bundled calendar.json" in line]
    assert len(fallback) == 1 and fallback[0].startswith(
        "  trading_calendar: using akshare's bundled calendar.json, sina's calendar is unavailable: ConnectionError"
    ), out
    path = workdir / "warehouse" / "offline-cn.duckdb"
    with read.connect(path) as conn:
        recorded = dict(conn.execute("SELECT dataset, status FROM dataset_status").fetchall())
    assert recorded["corporate_actions"] == recorded["daily_bars"] == recorded["adjustment_factors"] == "failed", (
        recorded
    )

    # `status` on that warehouse: one screen width per row, not the errors' full URLs
    assert main(["status", "--warehouse", str(path)]) == 0
    shown = capsys.readouterr().out
    lines = shown.splitlines()
    waiting = lines[lines.index("symbols waiting for a retry:") + 1]
    assert waiting.split()[:3] == ["dataset", "symbol", "/"], waiting  # periods are listed there too
    assert "corporate_actions  2024-" in shown or "corporate_actions  2025-" in shown, shown
    stale = lines[lines.index(next(row for row in lines if row.startswith("stale datasets"))) + 1 :]
    assert stale[0].split()[:2] == ["dataset", "reason"], stale
    assert "daily_bars" in shown and "no bars requested for 600000, 000001, 300750" in shown
    assert max(map(len, lines)) < 260, max(lines, key=len)
    assert "https://" not in shown
