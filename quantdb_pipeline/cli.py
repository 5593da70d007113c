"""`quantdb-pipeline`: run the pipeline through Dagster from a terminal.

Runs are recorded in the Dagster instance of `dagster.yaml` (the same one `dagster dev`
shows), so a run started here appears in the UI's run history.

Options are parsed with argparse; an option left off the command line takes its value from
the same typed settings object the Dagster resources read (`env_settings.Settings`, the
`QUANTDB_*` variables), given the options that were set, so the CLI and `dagster dev` agree on
every default and refuse a bad value with the same words. argparse and not click or typer (with
their `envvar=`): the settings object already does what `envvar=` would, and argparse keeps this
module's one-line usage errors (`_Parser`), option types and help as they are.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from quantdb_pipeline import settings

#: `run`: 0 everything loaded and published; 1 nothing published (the published file is as it
#: was: every dataset failed, or a step crashed); 2 published, but some of it is incomplete: a
#: dataset failed and keeps its last good rows (reported stale), one loaded only in part (its
#: `dataset_status` metadata is `partial`), or some symbols failed (each
#: retried by the next run); 64 bad arguments, or a run refused for mixing sources (nothing
#: started); 130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM (the shell's 128 + signal; the run
#: is recorded FAILED or CANCELED, its pool slot freed; the published file is the last complete
#: snapshot, as publishing is one rename).
#: `status`: 0, or 1 when there is no warehouse.
EXIT_OK, EXIT_NOT_PUBLISHED, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2, 64
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
EXIT_RUN_FAILED, EXIT_SYMBOLS_FAILED = EXIT_NOT_PUBLISHED, EXIT_PARTIAL  # their former names
EXIT_CODES = (
    "exit codes: 0 everything loaded and published; 2 published, but a dataset failed (it keeps its "
    "last good rows and is reported stale), loaded only in part, or some symbols failed, all retried by "
    "the next run; "
    "1 nothing published (every dataset failed, or a step crashed); 64 bad arguments, or a warehouse "
    "recorded as holding the other source without --allow-mixed-sources (nothing started); "
    "130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM (the run is recorded FAILED or CANCELED; "
    "the published file is the last complete snapshot)"
)


class _Parser(argparse.ArgumentParser):
    """Bad arguments exit with `EXIT_USAGE`, not argparse's 2, which here means a partial publish,
    in one line: `quantdb-pipeline run: error: <what> (see quantdb-pipeline run --help)`, not
    argparse's usage block before it (the line naming the mistake would scroll out of sight)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Cli(_Parser):
    """The top-level parser; `run_parser` is its `run` subcommand's parser, which `_env_defaults`
    reports the run's bad options as."""

    run_parser: _Parser


def _option(parse):
    """An argparse type of a `settings.parse_*` check: its ValueError's words, verbatim."""

    def option_type(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    option_type.__name__ = parse.__name__
    return option_type


_share = _option(settings.parse_share)  # a share of symbols in (0, 1]
_days = _option(settings.parse_trading_days)  # a count of trading days, 0 or more


def _count(text: str) -> int:
    """A whole number, 0 or more (symbols, rows, retries)."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)")
    return int(text)


#: The sample market's smallest size (`settings.SAMPLE_MIN_SIZE`).
SAMPLE_MIN_SIZE = settings.SAMPLE_MIN_SIZE
_sample_size = _option(settings.parse_sample_size)  # symbols in the sample market, SAMPLE_MIN_SIZE or more
_rate = _option(settings.parse_rate)  # requests per second, above 0 (0 would never send a request)
_date = _option(settings.parse_date)  # YYYY-MM-DD or YYYYMMDD

#: `run`'s options whose default is a setting (`env_settings.Settings`, field = dest). Read after
#: parsing, so that a bad value there is a usage error (64) naming the variable, not a traceback
#: or a step failing later; the symbol lists' variables are read the same way (`_list_error`).
OPTION_SETTINGS = ("source", "sample_today", "sample_size", "requests_per_second", "min_daily_coverage", "revisit_days")


def _env_defaults(parser: argparse.ArgumentParser, run: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the options left unset from the settings (`env_settings.load`, given the options set);
    a bad value of an option's variable exits 64 naming it. Sets `args.settings` (the run's
    settings, options included) and `args.settings_problems` (field -> message of the bad values
    not reported here: `_run` reports $QUANTDB_FINANCIAL_YEARS and $QUANTDB_CHUNK_* where it first
    needs them, as one `quantdb-pipeline: <problem>` line; `read`'s own cache size is not the run's)."""
    from quantdb_pipeline.env_settings import load_leniently

    given = {
        dest: getattr(args, dest)
        for dest in (*OPTION_SETTINGS, "symbols", "hk_symbols", "indices")
        if getattr(args, dest, None) is not None
    }
    values, problems = load_leniently(**given)
    for field in (*OPTION_SETTINGS, "symbols", "hk_symbols", "indices", "financials_watchlist"):
        if field in problems:
            run.error(problems[field])
    for dest in OPTION_SETTINGS:
        setattr(args, dest, getattr(values, dest))
    args.settings, args.settings_problems = values, problems


def _parser() -> _Cli:
    parser = _Cli(prog="quantdb-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="load calendars, securities, bars and adjustment factors for a date range",
        description="Materialize the pipeline's assets (A-shares, Hong Kong, indices) for [start, end] "
        "snapped to trading days, in one Dagster run per market's partitions (HK bars, by HKEX "
        "sessions, first; then the rest, by SSE sessions), publish once what passed its checks, "
        "then print a summary. A range without a trading day starts no run.",
        epilog=EXIT_CODES,
    )
    run.add_argument(
        "--source",
        type=str.lower,
        choices=["sample", "akshare"],
        help="market data source, any case (default: $QUANTDB_SOURCE or sample)",
    )
    # None when not given on the command line: naming symbols there limits the markets loaded
    # (see `_markets`); the environment's lists restrict the universe without doing so
    run.add_argument(
        "--symbols",
        help="comma-separated A-share symbols, e.g. 000001,600000; without --markets, loads only cn "
        "(default: $QUANTDB_SYMBOLS, else the whole universe)",
    )
    run.add_argument(
        "--markets",
        help="comma-separated parts to load, any case: cn (A-share bars and factors), hk, index, fundamentals "
        "(A-share profiles and financial reports) (default: the markets named by --symbols (cn), "
        "--hk-symbols (hk) and --indices (index), else all four)",
    )
    run.add_argument(
        "--hk-symbols",
        help="comma-separated HK symbols, e.g. 00700,0005.HK; without --markets, loads only hk "
        "(default: $QUANTDB_HK_SYMBOLS, else the HK main board)",
    )
    run.add_argument(
        "--indices",
        help="comma-separated CN index codes, from the known ones: "
        + ", ".join(f"{code} {name}" for code, name in settings.DEFAULT_INDICES.items())
        + "; without --markets, loads only index (default: $QUANTDB_INDICES, else all of them)",
    )
    run.add_argument(
        "--start",
        type=_date,
        help="first date (default: the first day the warehouse lacks, after a symbol's coverage "
        "ends or in the --revisit-days window, or three years before --end on an empty "
        "warehouse)",
    )
    run.add_argument("--end", type=_date, help="last date (default: the last day with final bars)")
    run.add_argument(
        "--warehouse",
        help="DuckDB file to write (default: $QUANTDB_WAREHOUSE, else warehouse/sample.duckdb for "
        "--source sample and warehouse/quantdb.duckdb for akshare); recorded in the user config "
        "file after it is published, for readers",
    )
    run.add_argument(
        "--allow-mixed-sources",
        action="store_true",
        help="write into a warehouse that holds the other source's data (refused otherwise, exit 64): "
        "days the other source already covers keep its rows",
    )
    run.add_argument(
        "--sample-today",
        type=_date,
        help="the sample market's 'today' (YYYY-MM-DD), to replay it day by day "
        "(default: $QUANTDB_SAMPLE_TODAY or today)",
    )
    run.add_argument(
        "--sample-size",
        type=_sample_size,
        help="number of symbols in the sample market "
        f"(default: ${settings.SAMPLE_SYMBOLS_ENV} or {settings.DEFAULT_SAMPLE_SIZE})",
    )
    run.add_argument(
        "--requests-per-second",
        type=_rate,
        help=f"akshare pacing (default: ${settings.RATE_ENV} or {settings.DEFAULT_REQUESTS_PER_SECOND:g})",
    )
    run.add_argument(
        "--max-retries",
        type=_count,
        default=settings.DEFAULT_MAX_RETRIES,
        help="akshare: retries of a request that failed in transit or with a 5xx, with backoff "
        f"(default {settings.DEFAULT_MAX_RETRIES}; 0 fails fast, e.g. to check a setup without "
        "network)",
    )
    run.add_argument(
        "--min-daily-coverage",
        type=_share,
        help="quality gate: share of symbols each trading day must have rows for "
        f"(default: ${settings.MIN_COVERAGE_ENV} or {settings.DEFAULT_MIN_DAILY_COVERAGE:g})",
    )
    run.add_argument(
        "--revisit-days",
        type=_days,
        help="trading days back from --end in which every day a symbol lacks is fetched again "
        f"(default: ${settings.REVISIT_DAYS_ENV} or {settings.DEFAULT_REVISIT_DAYS}; 0: off)",
    )
    run.add_argument(
        "--refresh-factors",
        action="store_true",
        help="refetch every symbol's adjustment factors (A-share and HK), not only the stale or due ones",
    )
    run.add_argument("--no-progress", action="store_true", help="do not show the steps' progress")
    run.add_argument(
        "--verbose",
        action="store_true",
        help="also show every log line (retries, per-symbol failures, stack traces) on stderr; "
        "without it they go only to the run's log file beside the warehouse (logs/)",
    )
    show = commands.add_parser(
        "status",
        help="what the published warehouse holds and what is waiting",
        description="Tables with rows and latest dates, coverage gaps against the "
        "trading calendar, missing days per symbol, quarantined rows, "
        "symbols waiting for a retry (the same as read.status()).",
    )
    show.add_argument(
        "--warehouse",
        help="DuckDB file (default: $QUANTDB_WAREHOUSE, else the warehouse recorded for readers "
        "(user config file), else warehouse/quantdb.duckdb or warehouse/sample.duckdb)",
    )
    show.add_argument("--limit", type=_count, default=20, help="rows shown per section (default 20)")
    parser.run_parser = run  # for `_env_defaults`
    prune = commands.add_parser(
        "prune",
        help="delete old runs from the Dagster instance (.dagster/) and reclaim their space",
        description="Delete the runs that ended more than --keep-days days ago (keeping the --keep-runs newest "
        "and any unfinished run): their records, events, check results, compute logs and sqlite "
        "shards, then compact the event index. The warehouse is not touched. Dagster has no run "
        "retention setting; run this from cron (e.g. weekly) to keep .dagster/ bounded.",
    )
    prune.add_argument(
        "--keep-days", type=_count, default=90, help="keep runs that ended within this many days (default 90)"
    )
    prune.add_argument(
        "--keep-runs", type=_count, default=20, help="keep this many newest runs whatever their age (default 20)"
    )
    prune.add_argument("--dry-run", action="store_true", help="only list the runs that would be deleted")
    return parser


def _version() -> str:
    from quantdb_pipeline import __version__

    return __version__


def _instance(configured_compute_logs: bool = False):
    """The instance `dagster dev` would use from this directory ($DAGSTER_HOME, else ./dagster.yaml),
    with one change unless `configured_compute_logs` (`prune`, which deletes the captured logs of
    UI runs): steps' stdout and stderr are not captured (`NoOpComputeLogManager`).

    Why: the configured `LocalComputeLogManager` mirrors a step's output to the terminal through
    child processes (`tail -F` and a Python `watch_orphans.py` watcher per stream) that share the
    CLI's process group. A terminal's Ctrl-C signals the whole foreground group, so the watchers
    died printing `KeyboardInterrupt` tracebacks next to the CLI's one line. Without capture no
    such child exists, and a step's output (the progress bar, warnings) goes straight to the
    terminal. The trade-off: the UI shows a CLI run's structured event log (steps, materializations,
    checks, failures) but no captured stdout/stderr for it; runs launched from the UI or a schedule
    use the configured manager and keep theirs. Same storage, so the run is in the UI's history.
    """
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes import ConfigurableClassData

    home = os.path.expanduser(os.environ.get("DAGSTER_HOME", ""))
    if home and not (os.path.isabs(home) and os.path.isdir(home)):
        return DagsterInstance.get()  # raises Dagster's own error naming the bad $DAGSTER_HOME
    if home:
        ref = InstanceRef.from_dir(home)
    else:
        cwd = Path.cwd()
        ref = InstanceRef.from_dir(str(cwd / ".dagster"), config_dir=str(cwd))
    if configured_compute_logs:
        return DagsterInstance.from_ref(ref)
    no_capture = ConfigurableClassData("dagster._core.storage.noop_compute_log_manager", "NoOpComputeLogManager", "{}")
    return DagsterInstance.from_ref(ref._replace(compute_logs_data=no_capture))


class _ClosedPipeQuiet:
    """Standard output that a reader closing the pipe (`quantdb-pipeline status | head -3`) does
    not turn into a `BrokenPipeError` traceback: from then on the output goes to /dev/null and
    the command ends as it would have (a run still finishes, records and exits with its code)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._divert()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._divert()

    def _divert(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # the buffered rest, and Python's flush at exit, go nowhere
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    """Every usage error (an unknown option or choice, a bad date or number, here or in the
    environment variable standing for an option) exits `EXIT_USAGE` with one line naming it.
    A reader that closes standard output early costs no traceback (`_ClosedPipeQuiet`)."""
    try:
        sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): nothing to guard
        return _main(argv)
    stdout = sys.stdout
    sys.stdout = _ClosedPipeQuiet(stdout)
    try:
        return _main(argv)
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


def _main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        _env_defaults(parser, parser.run_parser, args)
        wrong = _list_error(args)
        if wrong:  # before the "loading cn only" line and the seconds of importing Dagster
            prog = parser.run_parser.prog
            print(f"{prog}: error: {wrong} (see {prog} --help)", file=sys.stderr)
            return EXIT_USAGE
        return run(args)
    if args.command == "status":
        return status(args)
    if args.command == "prune":
        return prune(args)
    return EXIT_USAGE


def prune(args: argparse.Namespace) -> int:
    """Delete old runs from the instance `dagster dev` uses here (`instance_retention.prune_runs`)."""
    from quantdb_pipeline.instance_retention import prune_runs

    with _instance(configured_compute_logs=True) as instance:
        report = prune_runs(instance, args.keep_days, args.keep_runs, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {len(report.deleted)} run(s), kept {report.kept}"
        + (f"; {report.bytes_freed / 1e6:.1f} MB freed" if report.bytes_freed is not None else "")
    )
    for run_id in report.deleted:
        print(f"  {run_id}  {report.described[run_id]}")
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    """Print `quantdb_pipeline.status.status()` (`read.status()`): tables, coverage gaps, quarantine, retries."""
    from quantdb_pipeline import read
    from quantdb_pipeline.status import status as warehouse_status
    from quantdb_pipeline.warehouse.source_identity import describe
    from quantdb_pipeline.warehouse_location import find_warehouse

    try:
        revisit_days = settings.revisit_days()
    except ValueError as error:
        prog = "quantdb-pipeline status"
        print(f"{prog}: error: {error} (see {prog} --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        path = find_warehouse(args.warehouse, explicit_label="--warehouse")
        report = warehouse_status(warehouse=path, revisit_days=revisit_days)
    except (read.WarehouseNotFoundError, read.WarehouseBusyError) as error:
        print(f"quantdb-pipeline: {error}", file=sys.stderr)
        return EXIT_NOT_PUBLISHED
    print(f"warehouse: {path} (source: {describe(path)})\n")
    titles = {
        "tables": "tables",
        "gaps": "coverage gaps against the trading calendar",
        "holes": "missing trading days per symbol (revisited: the next run fetches them by itself)",
        "quarantine": "quarantined rows",
        "retries": "symbols waiting for a retry",
        "stale": "stale datasets: their last load failed, they hold their last good rows",
        "unreconciled": "quote-list bars not yet reconciled with the history endpoint",
        "adjustment": "ex-dates with a derived factor (upstream has not published it) or no factor at all",
        "closures": "market closures the library calendar does not know (not trading days)",
    }
    # what a column holds where its name says less: ingest_state keys dividend and report periods
    # by the same column as symbols
    headers = {("retries", "symbol"): "symbol / period"}
    for key, title in titles.items():
        frame = report[key]
        print(f"{title}:")
        if frame.empty:
            print("  none")
        else:
            shown = frame.head(args.limit)
            names = [headers.get((key, column), column) for column in shown.columns]
            print("\n".join("  " + line for line in text_table(names, shown.itertuples(index=False))))
            if len(frame) > len(shown):
                print(f"  ... {len(frame) - len(shown)} more")
        print()
    return EXIT_OK


#: The widest cell `status` prints; a longer one (an error with its URL) is cut at a word boundary.
CELL_CHARS = 100


def cell_text(value, limit: int = CELL_CHARS) -> str:
    """`value` as one line of at most `limit` characters, cut at a word boundary with "…"; "-" for
    a missing value, a timestamp to the second (UTC as stored)."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if isinstance(value, pd.Timestamp):
        value = value.strftime("%Y-%m-%d" if value == value.normalize() else "%Y-%m-%d %H:%M:%S")
    text = " ".join(str(value).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:(") + "…"


def text_table(columns: list[str], rows) -> list[str]:
    """Left-aligned columns, each as wide as its widest (`cell_text`) cell: a table a terminal
    shows without wrapping, whatever one long reason holds (pandas pads every row to it)."""
    cells = [[cell_text(value) for value in row] for row in rows]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]
    return ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in [columns, *cells]]


def run(args: argparse.Namespace) -> int:
    """Run the pipeline (`_run`); Ctrl-C or SIGTERM at any moment ends it with one line and 130/143.

    Whatever the moment (importing, waiting for a slot, before Dagster starts the run, mid-step),
    the runs this process created are left FAILED (Dagster's own verdict on an interrupted run) or
    CANCELED (not started yet), never NOT_STARTED or STARTED, and their pool slots are freed.
    """
    from quantdb_pipeline.interrupts import Interrupts

    with Interrupts(on_stuck=_stop_now) as interrupts:
        code: int | None = None  # None: interrupted, and `received` is set
        try:
            code = _run(args, interrupts)
        except KeyboardInterrupt:
            interrupts.note_exception()
        if code is not None and interrupts.received is None:
            return code
        return _stopped(interrupts)


def _stopped(interrupts) -> int:
    """Clean up after SIGINT/SIGTERM, print the one line, return 130 or 143."""
    interrupts.ignore_further()  # a second Ctrl-C must not break the clean-up
    closed = _close_own_runs(interrupts.instance)
    name, exit_code = (
        ("SIGTERM", EXIT_TERMINATED) if interrupts.received == signal.SIGTERM else ("Ctrl-C", EXIT_INTERRUPTED)
    )
    # while stderr is still muted: the alert's log line would be a second line; the one line says where it is
    alerted, _ = _alert_failed_runs(
        interrupts.instance,
        [entry.split()[0] for entry in closed],
        interrupts.warehouse,
        cause=f"stopped by {name} ({signal.Signals(interrupts.received).name})",
    )
    interrupts.restore_stderr()
    from quantdb_pipeline import progress

    progress.close_displays()
    if sys.stderr.isatty():  # the live progress line (its clearing was muted with stderr): erase it
        sys.stderr.write("\r\033[K")
    published = interrupts.warehouse
    print(
        f"quantdb-pipeline: stopped by {name}"
        + (f"; run {', '.join(closed)}" if closed else "; no run was started")
        + (
            "; nothing was published yet"
            if published is not None and not Path(published).exists()
            else "; the published warehouse is unchanged or a complete snapshot"
        )
        + (f"; details: {interrupts.log_path}" if interrupts.log_path else "")
        + (f"; alert recorded in {alerted}" if alerted else ""),
        file=sys.stderr,
    )
    return exit_code


def _alert_failed_runs(
    instance, run_ids: list[str], warehouse: Path | None, cause: str | None = None
) -> tuple[Path | None, list[str]]:
    """Alert each of `run_ids` that failed or was canceled (`sensors.alert_run`: alerts file beside
    `warehouse`, webhook; once per run). (The alerts file, the run ids alerted), or (None, []).

    A cron job's failure must alert whether or not a daemon runs `run_failure_alert`; a failing
    alert channel never changes the run's exit code. No ALERT log line on stderr, which holds
    the run's one-screen failure lines: the caller prints where the alert went."""
    if instance is None or not run_ids:
        return None, []
    from quantdb_pipeline.sensors import alert_run, alerts_file

    record_to = alerts_file(warehouse)
    alerted = []
    for run_id in run_ids:
        try:
            if alert_run(instance, run_id, "cli", record_to, cause, log_line=False) is not None:
                alerted.append(run_id)
        except Exception as error:  # noqa: BLE001 - say so, keep the run's own outcome
            print(f"quantdb-pipeline: could not record the alert of run {run_id}: {error}", file=sys.stderr)
    return (record_to if alerted else None), alerted


def _stop_now(interrupts) -> None:
    """From the watcher thread, when Dagster did not act on the signal (it waits for a pool slot
    without looking at interrupts): clean up as `_stopped` does and leave at once."""
    code = _stopped(interrupts)
    sys.stderr.flush()
    os._exit(code)


def _close_own_runs(instance) -> list[str]:
    """Cancel the unfinished runs of this process and free its pool slots; "<run id> <STATUS>" each."""
    import socket

    if instance is None:  # interrupted before the instance was opened: no run exists
        return []
    from dagster import RunsFilter

    from quantdb_pipeline.run_recovery import HOST_TAG, LAUNCHED_BY, PID_TAG

    mine = instance.get_runs(
        RunsFilter(tags={LAUNCHED_BY: "cli", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
    )
    for run in mine:
        if not run.is_finished:
            instance.report_run_canceled(run, "stopped by the user (Ctrl-C or SIGTERM) before it finished")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [f"{run.run_id} {instance.get_run_by_id(run.run_id).status.value}" for run in mine]


def _working_file_lock(warehouse: Path) -> str | None:
    """Why the run cannot write its working file now, or None.

    Checked once no live run holds the slot or the queue (`_wait_for_holders`): what still holds
    the working file read-write then is no pipeline run but a foreign session (a BI tool or the
    duckdb CLI pointed at `quantdb.work.duckdb`), and every step would wait for its lock, fail
    and print a traceback. Says the program and PID holding it, in one line.
    """
    from quantdb_pipeline.read.connection import _open
    from quantdb_pipeline.read.errors import WarehouseBusyError
    from quantdb_pipeline.warehouse.publish import working_path

    working = working_path(warehouse)
    if not working.exists():
        return None
    try:
        _open(working).close()
    except WarehouseBusyError as error:
        return (
            f"the working file {working} is held open read-write by {error.holder or 'another process'}, "
            "which is no pipeline run; the pipeline writes only that file: close that session "
            f"(open the published {warehouse.name} read-only instead) and run again"
        )
    return None


def _wait_for_holders(instance) -> None:
    """Wait, in this process's own loop (Ctrl-C stops it), while a live run holds the pool slot or
    the queue, saying which run; dead and ended holders are recovered on each pass."""
    from quantdb_pipeline import run_recovery

    said: set[str] = set()
    while True:
        for run_id in run_recovery.recover_dead_runs(instance):
            print(f"marked run {run_id} failed: its process died; its pool slot is free again", file=sys.stderr)
        for run_id in run_recovery.free_slots_of_ended_runs(instance):
            print(f"freed the pool slot run {run_id} held after it ended", file=sys.stderr)
        waiting = run_recovery.holders(instance)
        if not waiting:
            return
        for holder in waiting:
            if holder.run_id not in said:
                print(f"waiting: {holder.describe()}; Ctrl-C stops waiting", file=sys.stderr)
                said.add(holder.run_id)
        time.sleep(1.0)


def _run(args: argparse.Namespace, interrupts) -> int:
    import socket
    import warnings

    import dagster

    # BackfillPolicy is marked beta; the CLI's users need not see that on every run.
    warnings.filterwarnings("ignore", category=dagster.BetaWarning)

    from quantdb_pipeline import progress, range_runs, selections
    from quantdb_pipeline.assets import select, upstream_requests
    from quantdb_pipeline.assets.publish import published_warehouse
    from quantdb_pipeline.read import WarehouseBusyError
    from quantdb_pipeline.resources import WarehouseResource
    from quantdb_pipeline.run_recovery import HOST_TAG, LAUNCHED_BY, PID_TAG
    from quantdb_pipeline.symbols import SymbolError

    warehouse = args.settings.warehouse_path(args.warehouse)
    markets, implied = _markets(args)
    if not markets or markets - set(selections.MARKETS):
        print(
            f"quantdb-pipeline: --markets {args.markets!r}: choose from {', '.join(selections.MARKETS)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if implied:
        print(f"quantdb-pipeline: loading {implied}; pass --markets to load more", file=sys.stderr)
    # the markets' datasets and the reference data they read (indices: the SSE calendar)
    assets = select(selections.for_run(markets))
    if "financial_years" in args.settings_problems:
        print(f"quantdb-pipeline: {args.settings_problems['financial_years']}", file=sys.stderr)
        return EXIT_USAGE
    market = _market_resource(args)
    try:
        market.symbol_list(), market.hk_symbol_list(), market.index_list(), market.financials_watchlist_list()
        source = market.build()
        for chunk in ("chunk_symbols", "chunk_rows"):  # a usage error now, not a failed step later
            if chunk in args.settings_problems:
                raise ValueError(args.settings_problems[chunk])
    except (SymbolError, ValueError) as error:
        print(f"quantdb-pipeline: {error}", file=sys.stderr)
        return EXIT_USAGE
    today = source.today()
    if args.start and args.end and args.start > args.end:
        print(f"quantdb-pipeline: --start {args.start} is after --end {args.end}", file=sys.stderr)
        return EXIT_USAGE
    if args.start and args.start > today:
        print(
            f"quantdb-pipeline: no trading day in {args.start}..{args.end or args.start} has final bars yet "
            f"(the source's last final day is {today}): nothing to load, no run started",
            file=sys.stderr,
        )
        return EXIT_OK
    if args.end and args.end > today:
        # Dagster would record the partitions after `today` as materialized although no bars exist yet
        print(
            f"quantdb-pipeline: --end {args.end} is after the source's last final day {today}: the range ends there",
            file=sys.stderr,
        )
    end = min(args.end or today, today)
    mixing = _mixing_refusal(warehouse, args.source, args.allow_mixed_sources)
    if mixing:  # a usage error: the command names the wrong file or lacks the flag; nothing started
        print(f"quantdb-pipeline: {mixing}", file=sys.stderr)
        return EXIT_USAGE
    try:
        start = args.start or _default_start(warehouse, end, market.symbol_list(), args.revisit_days)
    except WarehouseBusyError as error:  # nothing started, nothing published: say who holds the lock
        print(f"quantdb-pipeline: cannot decide the start (pass --start to run anyway): {error}", file=sys.stderr)
        return EXIT_NOT_PUBLISHED
    first_partition = dt.date.fromisoformat(settings.PARTITIONS_START)
    if start > end:
        print(f"quantdb-pipeline: --start {start} is after --end {end}", file=sys.stderr)
        return EXIT_USAGE
    if start < first_partition:
        print(f"quantdb-pipeline: --start {start} is before the first partition {first_partition}", file=sys.stderr)
        return EXIT_USAGE

    # one run per market's partitions, each range snapped to that market's trading days
    runs, skipped = range_runs.plan([*dict.fromkeys(assets)], published_warehouse, start, end)
    if not runs:  # a Dagster run would record the NEXT trading day as materialized
        print(f"quantdb-pipeline: no trading day in {start}..{end}: nothing to load, no run started", file=sys.stderr)
        return EXIT_OK
    print(f"Loading {args.source} market {start}..{end} into {warehouse}", file=sys.stderr)
    for line in skipped:
        print(f"quantdb-pipeline: {line}", file=sys.stderr)
    from quantdb_pipeline.run_log import RunLog, shorten

    run_tags = {LAUNCHED_BY: "cli", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    display = None if args.no_progress else progress.Display(None, tty=sys.stderr.isatty())
    began = time.perf_counter()
    # the live line starts now: opening the instance and starting the first run take seconds
    watcher = progress.StepWatcher(None, run_tags, display) if display else None
    with (
        RunLog(warehouse, verbose=args.verbose) as log,
        watcher or contextlib.nullcontext(),
        market.progress.listening(display and display.report),
        _instance() as instance,
    ):
        interrupts.instance = instance
        if watcher is not None:
            watcher.instance = instance
        _wait_for_holders(instance)
        interrupts.warehouse = warehouse  # where `_stopped` records the alert of an interrupted run
        interrupts.log_path = log.path  # named in `_stopped`'s one line
        locked = _working_file_lock(warehouse)
        if locked:  # every step would wait for the lock, fail, and print its traceback
            print(f"quantdb-pipeline: not started: {locked}", file=sys.stderr)
            return EXIT_NOT_PUBLISHED
        result = range_runs.materialize_range(
            [*dict.fromkeys(assets)],
            published_warehouse,
            start,
            end,
            # only a range ending on the source's today may use the quote list (see QUOTE_LIST_CHECKS)
            may_use_quote_list=end == today,
            resources={
                "market": market,
                "warehouse": WarehouseResource(
                    database=str(warehouse), source=args.source, allow_mixed_sources=args.allow_mixed_sources
                ),
            },
            instance=instance,
            tags=run_tags,
            # Dagster's console repeats a failure with its stack trace at every level it passes;
            # the summary below says what failed in one line each, the log file has the traces.
            run_config={
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
                "ops": {
                    "adjustment_factors": {"config": {"refresh": args.refresh_factors}},
                    "hk_adjustment_factors": {"config": {"refresh": args.refresh_factors}},
                },
            },
            stop=lambda: interrupts.received is not None,
        )
        assert result is not None  # it plans the same runs as `range_runs.plan` above, which found some
        if watcher is not None:
            watcher.stop()  # draws the last step's line while the instance is open
        for run_id in result.run_ids:
            log.add_run_events(instance, run_id)
        # an interrupted run is alerted by `_stopped`, which closes it first
        alerted: Path | None = None
        alerted_runs: list[str] = []
        if interrupts.received is None:
            alerted, alerted_runs = _alert_failed_runs(instance, result.run_ids, warehouse)
        warnings_logged = [line for run_id in result.run_ids for line in run_warnings(instance, run_id)]
        warnings_logged = list(dict.fromkeys(warnings_logged))
        warnings_whole = [line for run_id in result.run_ids for line in run_warnings(instance, run_id, False)]
        # the same tally as the publishing run's tag and published_warehouse's metadata
        requests = upstream_requests.requests_by_asset(instance, result.run_ids)
    elapsed = time.perf_counter() - began
    if interrupts.received is not None:  # Dagster caught the signal mid-run and failed the run
        return EXIT_INTERRUPTED
    metadata = _metadata_by_asset(result)
    failed = failed_datasets(metadata)
    print(_summary(warehouse, start, end, metadata, elapsed, result, requests, warnings_whole))
    if "published_warehouse" in metadata:
        _record_for_readers(warehouse, args.source, complete=exit_code(result, metadata) == EXIT_OK)
    if alerted:
        print(f"ALERT run {', '.join(alerted_runs)} failed: recorded in {alerted}")
    # the failed datasets' own warnings (each symbol or period that failed) are summed up above
    warnings_left = [line for line in warnings_logged if line.split(" ")[0] not in failed]
    if warnings_left:
        shown = warnings_left[:WARNINGS_SHOWN]
        print(f"warnings ({len(warnings_left)}):")
        print("\n".join(f"  {shorten(line, 160)}" for line in shown))
        if len(warnings_left) > len(shown):
            print(f"  ... {len(warnings_left) - len(shown)} more in the log file")
    for step, message in step_failures(result):
        if step == "published_warehouse" and not failed:  # a crashed publish: the summary has no line for it
            print(f"step {step} failed: {message.strip().splitlines()[0] if message else ''}", file=sys.stderr)
    code = exit_code(result, metadata)
    if code != EXIT_OK or args.verbose:
        print(f"quantdb-pipeline: details (every warning, retry and stack trace): {log.path}", file=sys.stderr)
    return code


def _markets(args: argparse.Namespace) -> tuple[set[str], str]:
    """(markets to load, "" or what limited them) from --markets, else from the lists named on
    the command line (--symbols: cn, --hk-symbols: hk, --indices: index), else all four. Fills
    the lists not given from the environment. A run loads only what its command names:
    `--symbols 600000` must not also fetch the HK main board and every index."""
    named = {
        flag: market
        for flag, market in (("--symbols", "cn"), ("--hk-symbols", "hk"), ("--indices", "index"))
        if getattr(args, flag[2:].replace("-", "_")) is not None
    }
    args.symbols = ",".join(args.settings.symbols) if args.symbols is None else args.symbols
    args.hk_symbols = ",".join(args.settings.hk_symbols) if args.hk_symbols is None else args.hk_symbols
    args.indices = ",".join(args.settings.indices) if args.indices is None else args.indices
    if args.markets is not None:
        return {m.strip().lower() for m in args.markets.split(",") if m.strip()}, ""
    if named:
        markets = sorted(set(named.values()), key=["cn", "hk", "index"].index)
        return set(markets), f"{','.join(markets)} only (named by {', '.join(named)})"
    return {"cn", "hk", "index", "fundamentals"}, ""


def _list_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the symbol lists (--symbols, --hk-symbols, --indices, else their
    environment variables), in one line naming the symbol and the rule, or None. Needs only
    `quantdb_pipeline.symbols`, so a mistyped symbol is said at once; `args` is not changed."""
    from quantdb_pipeline.symbols import SymbolError, normalize_hk_symbol, normalize_index_symbol, normalize_symbols

    def given(dest: str, variable: str) -> tuple[str, str]:
        value = getattr(args, dest)
        flag = "--" + dest.replace("_", "-")
        return (value, flag) if value is not None else (",".join(getattr(args.settings, dest)), f"${variable}")

    flag = ""
    try:
        text, flag = given("symbols", settings.SYMBOLS_ENV)
        if text.strip():
            normalize_symbols(text)
        text, flag = given("hk_symbols", settings.HK_SYMBOLS_ENV)
        for item in (s for s in text.split(",") if s.strip()):
            normalize_hk_symbol(item)
        text, flag = given("indices", settings.INDICES_ENV)
        codes = [normalize_index_symbol(s) for s in text.split(",") if s.strip()]
    except SymbolError as error:
        return f"{flag}: {error}"
    unknown = [code for code in dict.fromkeys(codes) if code not in settings.DEFAULT_INDICES]
    if unknown:
        known = ", ".join(f"{code} ({name})" for code, name in settings.DEFAULT_INDICES.items())
        return f"{flag}: unknown index {', '.join(unknown)}: the known indices are {known}"
    return None


def _market_resource(args: argparse.Namespace):
    """The run's `MarketSourceResource`: its settings (`args.settings`, the options included), the
    lists as `_markets` resolved them, and the CLI-only --max-retries."""
    from quantdb_pipeline.resources import MarketSourceResource

    return MarketSourceResource.from_settings(
        args.settings,
        symbols=args.symbols,
        hk_symbols=args.hk_symbols,
        indices=args.indices,
        max_retries=args.max_retries,
    )


def _mixing_refusal(warehouse: Path, source: str, allow_mixed: bool) -> str | None:
    """Why a run of `source` may not write `warehouse` (`source_identity.refusal`), or None.
    Read from the working file, else the published one; a new warehouse, or one whose files are
    locked (the steps check again when they open it), passes."""
    import duckdb

    from quantdb_pipeline import read
    from quantdb_pipeline.warehouse.planning import planning_connection
    from quantdb_pipeline.warehouse.source_identity import recorded_sources, refusal

    if allow_mixed:
        return None
    try:
        with planning_connection(warehouse) as conn:
            recorded = recorded_sources(conn)
    except (read.WarehouseNotFoundError, read.WarehouseBusyError, duckdb.Error):
        return None
    return refusal(warehouse, recorded, source, "--allow-mixed-sources")


def _record_for_readers(warehouse: Path, source: str, complete: bool) -> None:
    """Record the published warehouse in the user config file, so that `read` finds it from any
    working directory; a config folder that cannot be written costs a warning, not the run.

    A run repoints readers only when nothing else is recorded: no entry yet (the first publish),
    the recorded file is gone, it is this file already, or a complete (`complete`: exit 0)
    akshare run follows the sample (moving from the demo to real data). A scratch run into another
    file, or a failed real run after the demo, must not silently change what every notebook
    reads: it leaves the entry and prints how to read its own file instead.
    """
    from quantdb_pipeline.warehouse_location import read_config, record_published

    path = os.path.abspath(warehouse)
    try:
        entry = read_config().get("warehouse", {})
    except ValueError:  # a damaged file is replaced below
        entry = {}
    before = entry.get("path")
    to_real_data = entry.get("source") == "sample" and source == "akshare" and complete
    if before and before != path and os.path.exists(before) and not to_real_data:
        print(
            f"readers still open {before} (the user config file's entry); to read this warehouse pass "
            f"warehouse={path!r} or set ${settings.WAREHOUSE_ENV}={path}"
        )
        return
    try:
        config = record_published(warehouse, source)
    except OSError as error:
        print(
            f"quantdb-pipeline: could not record the warehouse for readers ({error}); they find it through "
            f"${settings.WAREHOUSE_ENV}={path}",
            file=sys.stderr,
        )
        return
    if before == path:  # said when it changed; a nightly run stays quiet
        return
    print(
        f"readers (quantdb_pipeline.read, status) now open {path} from any folder "
        f"(recorded in {config}; ${settings.WAREHOUSE_ENV} overrides it)"
    )


#: Warnings printed after the summary; the rest are in the run's event log (the UI's Runs page).
WARNINGS_SHOWN = 10


def run_warnings(instance, run_id: str, first_lines: bool = True) -> list[str]:
    """The first line of each warning or error the run's steps logged (`context.log.warning`, a
    moved-aside WAL, a symbol that failed), in order, without repeats; not Dagster's own events
    (step failures are reported from the steps' failure events instead). `first_lines=False`:
    the whole messages (a failure's request URL may follow the first line)."""
    import logging

    lines: list[str] = []
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is not None or entry.level < logging.WARNING or not entry.user_message:
            continue
        line = entry.user_message.strip()
        line = line.splitlines()[0] if first_lines else line
        if line not in lines:
            lines.append(line)
    return lines


def exit_code(result, metadata: dict[str, dict]) -> int:
    """`EXIT_OK`, `EXIT_PARTIAL` or `EXIT_NOT_PUBLISHED` for a finished run (see `EXIT_CODES`)."""
    if "published_warehouse" not in metadata:
        return EXIT_NOT_PUBLISHED
    if not result.success or failed_datasets(metadata) or partial_datasets(metadata):
        return EXIT_PARTIAL
    reports = dataset_reports(metadata)
    if any(reports[a].symbols_failed for a in ("daily_bars", "hk_daily_bars", "index_daily_bars") if a in reports):
        return EXIT_PARTIAL
    return EXIT_OK


def dataset_reports(metadata: dict[str, dict]):
    """dataset -> its typed `assets.report.DatasetReport`, for each dataset that materialized in
    the run (the CLI reads its figures and outcome there, not from the UI's metadata texts)."""
    from quantdb_pipeline.assets.report import DatasetReport

    found = {asset: DatasetReport.from_metadata(values) for asset, values in sorted(metadata.items())}
    return {asset: report for asset, report in found.items() if report is not None}


def failed_datasets(metadata: dict[str, dict]) -> dict[str, str]:
    """dataset -> reason, for the datasets whose load failed in this run (they keep their last good rows)."""
    return {
        asset: report.reason or "" for asset, report in dataset_reports(metadata).items() if report.status == "failed"
    }


def partial_datasets(metadata: dict[str, dict]) -> dict[str, str]:
    """dataset -> what part failed, for the datasets that loaded only in part (status `partial`,
    e.g. some dividend periods failed: the rest is stored, the failed part retried)."""
    return {
        asset: report.reason or "" for asset, report in dataset_reports(metadata).items() if report.status == "partial"
    }


def step_failures(result) -> list[tuple[str, str]]:
    """(step, message) per failed step, in the step's own words (see `outcome.step_failure_message`)."""
    from quantdb_pipeline.assets.outcome import step_failure_message

    return [(event.step_key, step_failure_message(event)) for event in result.all_events if event.is_step_failure]


def _default_start(
    warehouse: Path, end: dt.date, symbols: list[str] | None, revisit_days: int = settings.DEFAULT_REVISIT_DAYS
) -> dt.date:
    """The first day the warehouse lacks (see `loaders.bars.resume_date`: after a symbol's
    coverage ends, or a hole in the trailing window); on an empty warehouse, three years
    before `end`.

    The loader fetches those days whatever the start; starting there makes the run's range
    (and the partitions Dagster records) show them; the range is then snapped to trading days
    (`range_runs`). Keeps the nightly run small: Dagster records every trading-day partition of a
    range (about 730 for three years, 5,300 from 2005; a few milliseconds each, see `event_log`),
    even when nothing is fetched.

    Read from the working file (see `warehouse.planning`), so a BI tool holding the published
    file read-write does not stop the run. Raises `read.WarehouseBusyError` (naming the
    holders) when every warehouse file is locked.
    """
    import duckdb

    from quantdb_pipeline import read
    from quantdb_pipeline.loaders.bars import CalendarMissing, resume_date
    from quantdb_pipeline.warehouse.planning import planning_connection

    three_years = end - dt.timedelta(days=3 * 365 + 1)
    try:
        with planning_connection(warehouse) as conn:
            resume = resume_date(conn, end, symbols, revisit_days)
    except (read.WarehouseNotFoundError, CalendarMissing, duckdb.Error):
        return three_years
    return three_years if resume is None else min(resume, end)


def _metadata_by_asset(result) -> dict[str, dict]:
    """The metadata of each asset's materialization with its run's details (`outcome.run_metadata`)."""
    from quantdb_pipeline.assets.outcome import run_metadata

    return run_metadata(result)


#: Summary rows that belong to one dataset: shown only when the command ran it.
SUMMARY_ROW_DATASET = {
    **dict.fromkeys(
        (
            "bar rows written",
            "symbols updated",
            "symbols already covered",
            "symbols failed",
            "upstream requests (bars)",
        ),
        "daily_bars",
    ),
    "HK bar rows written": "hk_daily_bars",
    "index bar rows written": "index_daily_bars",
    "profiles fetched / new versions": "security_profiles",
    "financial periods / watchlist symbols": "financial_statements",
    "dividend periods fetched / new ex-dates": "corporate_actions",
    "factors fetched / changed": "adjustment_factors",
    "factors derived / ex-dates not covered": "adjustment_factors",
}


def _summary(
    warehouse: Path,
    start,
    end,
    metadata: dict,
    elapsed: float,
    result,
    requests: dict,
    warnings_logged: Sequence[str] = (),
) -> str:
    """The run's summary; `requests`: asset -> Counter(endpoint -> upstream requests) of its runs
    (`upstream_requests.requests_by_asset`, the tally behind the run tag), shown as a table of the
    datasets that made any. Each failed dataset or crashed step is one line with its root cause
    (`run_log.failure_line`; `warnings_logged`, the runs' warnings, give it when the step's own
    reason names none); quality checks that only repeat a failed dataset are left out."""
    from quantdb_pipeline.run_log import failure_line
    from quantdb_pipeline import read
    from quantdb_pipeline.assets import upstream_requests
    from quantdb_pipeline.assets.outcome import LOAD_CHECK
    from quantdb_pipeline.assets.report import DatasetReport, failed_symbols_markdown

    reports = dataset_reports(metadata)
    bars, factors, actions, hk, indices, profiles, statements = (
        reports.get(dataset, DatasetReport())
        for dataset in (
            "daily_bars",
            "adjustment_factors",
            "corporate_actions",
            "hk_daily_bars",
            "index_daily_bars",
            "security_profiles",
            "financial_statements",
        )
    )
    failed = failed_datasets(metadata)
    published = "published_warehouse" in metadata
    outcome = (
        "succeeded"
        if result.success
        else f"published; {len(failed)} dataset(s) FAILED"
        if published and failed
        else "published; a step FAILED"
        if published
        else "FAILED: nothing published"
    )
    # one run per market's partitions (HK first); the last one publishes
    ids = result.run_ids
    lines = [f"run {ids[0]} {outcome}" if len(ids) == 1 else f"runs {', '.join(ids)} {outcome}"]
    ranges = {run.market: f"{run.start}..{run.end}" for run in result.runs}
    shown = ranges["CN"] if "CN" in ranges else ranges["HK"]  # every run is CN or HK; there is one at least
    rows = [
        ("date range", shown + "".join(f" (HK {r})" for m, r in ranges.items() if m == "HK" and r != shown)),
        ("bar rows written", _or(bars.rows_written, 0)),
        ("symbols updated", _or(bars.symbols_updated, 0)),
        ("symbols already covered", _or(bars.symbols_skipped_covered, 0)),
        ("symbols failed", _or(bars.symbols_failed, 0)),
        ("rows quarantined (all tables)", sum(report.rows_quarantined for report in reports.values())),
        ("upstream requests (bars)", sum(requests.get("daily_bars", {}).values())),
        ("HK bar rows written", _or(hk.rows_written, "-")),
        ("index bar rows written", _or(indices.rows_written, "-")),
        ("profiles fetched / new versions", f"{_or(profiles.symbols_due, '-')} / {_or(profiles.new_versions, 0)}"),
        (
            "financial periods / watchlist symbols",
            f"{_or(statements.periods_fetched, '-')} / {_or(statements.symbols_due, '-')}",
        ),
        (
            "dividend periods fetched / new ex-dates",
            f"{_or(actions.periods_fetched, '-')} / {_or(actions.new_ex_dates, '-')}",
        ),
        (
            "factors fetched / changed",
            f"{_or(factors.symbols_fetched, 0)} symbols / {_or(factors.symbols_changed, 0)} symbols",
        ),
        (
            "factors derived / ex-dates not covered",
            f"{_or(factors.derived_factors, 0)} / {_or(factors.adjustment_gaps, 0)}",
        ),
        ("upstream requests (all)", upstream_requests.total(requests)),
        ("elapsed", f"{elapsed:.1f} s"),
    ]
    # the rows of datasets this command did not run (`--markets hk`: no A-share rows) would only say "-"
    ran = {*metadata, *(step for step, _ in step_failures(result) if step)}
    rows = [
        (name, value)
        for name, value in rows
        if SUMMARY_ROW_DATASET.get(name, "") in ran | {""}
        and not (name == "rows quarantined (all tables)" and value == 0)
    ]  # said when there are some
    try:
        with read.connect(warehouse) as conn:
            total, symbols, first, last = conn.execute(
                "SELECT count(*), count(DISTINCT symbol), min(trade_date), max(trade_date) FROM daily_bars"
            ).fetchall()[0]
        rows.append(("warehouse", str(warehouse)))
        if total:  # A-share bars; an HK- or index-only warehouse has none to describe
            rows += [
                ("bar rows in warehouse", total),
                ("symbols in warehouse", symbols),
                ("bars cover", f"{first}..{last}"),
            ]
    except (read.WarehouseNotFoundError, read.WarehouseBusyError) as error:
        rows.append(("warehouse", str(error)))
    width = max(len(name) for name, _ in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    asked = {asset: counts for asset, counts in requests.items() if sum(counts.values())}
    if asked:
        lines.append("upstream requests by dataset (HTTP requests; sample: what upstream would take):")
        lines += upstream_requests.text_table(asked)
    checks = result.get_asset_check_evaluations()
    if checks:
        # a line per passing check ("every rule passed", "the load completed") is noise: counted.
        # A failed dataset's load check, and its suites not evaluated, repeat its own line below.
        failing = [
            check
            for check in checks
            if not check.passed
            and not (
                check.asset_key.to_user_string() in failed
                and (check.check_name == LOAD_CHECK or (check.description or "").startswith("not evaluated"))
            )
        ]
        passed = sum(1 for check in checks if check.passed and check.check_name != LOAD_CHECK)
        lines.append(f"quality checks: {passed} passed" + (f", {len(failing)} FAILED:" if failing else ""))
        for check in failing:
            detail = " ".join((check.description or "").split())
            lines.append(f"  {check.check_name:<28} FAILED ({check.severity.value.lower()})  {detail[:140]}")
    if bars.failed_symbols:
        lines += ["failed symbols (retried by the next run):", failed_symbols_markdown(bars.failed_symbols)]
    if failed:
        lines.append("failed datasets (each keeps its last good rows, reported stale; retried by the next run):")
        for dataset, reason in failed.items():
            about = [line for line in warnings_logged if line.split(" ")[0] == dataset]
            lines.append("  " + failure_line(dataset, reason, about))
    partial = partial_datasets(metadata)
    if partial:
        lines.append("partly loaded datasets (the failed part is retried by the next run):")
        for dataset, reason in partial.items():
            about = [line for line in warnings_logged if line.split(" ")[0] == dataset]
            lines.append("  " + failure_line(dataset, reason, about))
    crashed = [
        (step, message)
        for step, message in step_failures(result)
        if step != "published_warehouse" and step not in failed
    ]
    for step, message in crashed:
        # a failure outside any step (a resource that could not start) has no step key
        lines.append(failure_line(f"step {step} failed" if step else "the run failed", message or "unknown error"))
    return "\n".join(lines)


def _or(figure, default):
    """A report's figure, or `default` ("-" or 0, as the summary row shows it) when not reported."""
    return default if figure is None else figure


if __name__ == "__main__":
    sys.exit(main())
