"""Progress of long loads, for whoever is watching in this process.

Assets always log progress to the Dagster run log. An in-process caller (the CLI) can also
listen to the steps' counts on the `Feed` of the market resource it runs with
(`MarketSourceResource.progress`) to draw a progress bar; nobody listens by default.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import threading
from collections.abc import Callable

Listener = Callable[[str, int, int, str, int], None]  # step, done, total, symbol, rows


class Feed:
    """The steps' counts, passed to the listeners registered on it. Owned by the market resource
    (`MarketSourceResource.progress`, shared with the copies Dagster makes of it for each run), so
    the steps of the runs a caller starts with that resource report to that caller's listeners."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.remove(listener)

    @contextlib.contextmanager
    def listening(self, listener: Listener | None):
        """`add_listener` for the duration of a `with` block (nothing for None)."""
        if listener is None:
            yield
            return
        self.add_listener(listener)
        try:
            yield
        finally:
            self.remove_listener(listener)

    def report(self, step: str, done: int, total: int, symbol: str, rows: int) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(step, done, total, symbol, rows)


class Display:
    """What a person watching `quantdb-pipeline run` sees while it runs: one line per step.

    Fed by `step_started`/`step_finished` (the CLI's `StepWatcher`, from the run's Dagster events)
    and by `report` (the steps' own counts, via `Feed.add_listener`). On a terminal (`tty=True`) a live
    line is redrawn `ticks_per_second` times a second from the start: spinner, the running step,
    its counts (`5/17 periods`, the item and rows last loaded), its elapsed time and the run's; a
    finished step leaves one line `✓ step  counts  seconds` (`✗` when it failed). Elsewhere (CI,
    a pipe, a log file) no redraws: plain lines, one when a step starts, one every
    `plain_every_seconds` while it runs, one when it ends, each with the elapsed time.
    Thread-safe: steps report from the run's thread, the ticker draws from its own. `stream`
    None: the `sys.stderr` of the moment of each write.
    """

    SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, stream, tty: bool, clock=None, plain_every_seconds: float = 10.0):
        import time

        self.stream, self.tty = stream, tty
        self._clock = clock or time.monotonic
        self._began = self._clock()
        self._lock = threading.Lock()
        self._step: str | None = None
        self._step_began = self._began
        self._counts: dict[str, tuple[int, int, str, int]] = {}  # step -> done, total, item, rows
        self._ticks = 0
        self._plain_every = plain_every_seconds
        self._last_plain = self._began
        self._live_width = 0
        self._closed = False
        self.finished: list[str] = []  # the lines left by finished steps, in order
        _open_displays.append(self)

    # -- events ---------------------------------------------------------------------------------

    def step_started(self, step: str) -> None:
        with self._lock:
            self._step, self._step_began = step, self._clock()
            self._last_plain = self._step_began
            if not self.tty:
                self._write(f"[{self._since(self._began)}] {step}: started\n")

    def report(self, step: str, done: int, total: int, item: str, rows: int) -> None:
        with self._lock:
            self._counts[step] = (done, total, item, rows)

    def step_finished(
        self, step: str, ok: bool, seconds: float | None = None, dataset_status: str | None = None, note: str = ""
    ) -> None:
        """`seconds`: the step's duration as Dagster recorded it (else from `step_started`).

        `ok`: the Dagster step succeeded. A dataset step succeeds even when its load failed
        (it fails softly, see `assets.outcome`); `dataset_status` is then its materialization's
        `failed` or `partial`, and the line says so: `✗ securities  0.7 s  failed (kept last good
        rows)`, `! corporate_actions  5/17 periods  1.5 s  partial: <note>`, never a ✓."""
        with self._lock:
            if seconds is None:
                seconds = self._clock() - (self._step_began if step == self._step else self._clock())
            counts = self._count_text(step)
            if not ok:
                mark, verdict, plain = "✗", "FAILED", "FAILED"
            elif dataset_status == "failed":
                mark, verdict, plain = "✗", "failed (kept last good rows)", "FAILED (kept last good rows)"
            elif dataset_status == "partial":
                mark, verdict, plain = "!", "partial", "PARTIAL"
            else:
                mark, verdict, plain = "✓", "", "done"
            if verdict and note:
                verdict, plain = f"{verdict}: {note}", f"{plain}: {note}"
            line = f"{mark} {step:<24} {counts:<22} {seconds:6.1f} s" + (f"  {verdict}" if verdict else "")
            self.finished.append(line)
            if self.tty:
                self._clear()
                self._write(line + "\n")
            else:
                self._write(
                    f"[{self._since(self._began)}] {step}: {plain}"
                    f"{', ' + counts if counts else ''} in {seconds:.1f} s\n"
                )
            if step == self._step:
                self._step = None

    def tick(self) -> None:
        """Redraw the live line (terminal) or, every `plain_every_seconds`, print a plain one."""
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            step = self._step
            if self.tty:
                self._ticks += 1
                spin = self.SPINNER[self._ticks % len(self.SPINNER)]
                what = f"{step}  {self._count_text(step, item=True)}".rstrip() if step else "starting the run"
                since = f"  {self._since(self._step_began)}" if step else ""
                self._clear()
                text = f"{spin} {what}{since}  (total {self._since(self._began)})"
                text = text[: max(20, shutil.get_terminal_size().columns - 1)]  # a wrapped line would not redraw
                self._live_width = len(text)
                self._write(text)
            elif step and now - self._last_plain >= self._plain_every:
                self._last_plain = now
                counts = self._count_text(step)
                self._write(
                    f"[{self._since(self._began)}] {step}: {counts or 'running'}, "
                    f"{now - self._step_began:.0f} s so far\n"
                )

    def close(self) -> None:
        """Clear the live line; nothing is drawn after (a Ctrl-C's line must not share it)."""
        with self._lock:
            self._closed = True
            if self.tty:
                self._clear()
            if self in _open_displays:
                _open_displays.remove(self)

    # -- rendering --------------------------------------------------------------------------------

    def _count_text(self, step: str | None, item: bool = False) -> str:
        if step not in self._counts:
            return ""
        done, total, last, rows = self._counts[step]
        # the per-period loads (dividends, whole-market financial reports) report a date as the item
        unit = "periods" if re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", last or "") else "symbols"
        text = f"{done}/{total} {unit}"
        return f"{text}  {last}: {rows} rows" if item and last else text

    def _since(self, then: float) -> str:
        seconds = int(self._clock() - then)
        return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"

    def _clear(self) -> None:
        if self._live_width:
            self._write("\r" + " " * self._live_width + "\r")
            self._live_width = 0

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr  # None: whatever stderr is now (the CLI swaps it on Ctrl-C)
        stream.write(text)
        stream.flush()


_open_displays: list[Display] = []


def dataset_outcome(metadata: dict) -> tuple[str, str] | None:
    """("failed" | "partial", note) from the metadata of a dataset's `load_complete` check
    (`assets.outcome`: `dataset_status`; `partial_reason` says what part failed), or None when
    it loaded."""

    def raw(key: str):
        value = metadata.get(key)
        return getattr(value, "value", value)

    status = raw("dataset_status")
    if status == "failed":
        return "failed", ""
    if status == "partial":
        return "partial", str(raw("partial_reason") or "")
    return None


def close_displays() -> None:
    """Close every open `Display` (the CLI, before it prints why it stopped)."""
    for display in list(_open_displays):
        display.close()


class StepWatcher:
    """Feeds a `Display` the steps of this process's runs as Dagster records them, and ticks it.

    The runs are found by `tags` (the CLI's launched-by, pid and host tags), so each run of a
    range (HK, then the rest) is followed without knowing its id in advance; a thread polls the
    instance's event log (STEP_START, STEP_SUCCESS, STEP_FAILURE) every `poll_seconds` (polls take the run's thread time: the demo's elapsed was 25.5 s with
    one poll a second, 24.3 s without progress, 29.9 s with two a second) and ticks
    the display every `tick_seconds`. A failing poll (the storage busy) is skipped: drawing
    never stops a run. Use as a context manager; leaving it polls once more, so the last step's
    line is drawn before the summary. `instance` may be set after entering (None until then)."""

    def __init__(
        self, instance, tags: dict[str, str], display: Display, tick_seconds: float = 0.25, poll_seconds: float = 1.0
    ):
        self.instance, self.tags, self.display = instance, tags, display
        self.tick_seconds, self.poll_seconds = tick_seconds, poll_seconds
        self._cursors: dict[str, str | None] = {}
        self._done: set[str] = set()  # runs seen finished and read to their end: not asked again
        self._began: dict[str, float] = {}  # step -> its STEP_START's timestamp
        self._outcomes: dict[str, tuple[str, str]] = {}  # step -> (failed | partial, note) of its dataset
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="quantdb-progress", daemon=True)

    def __enter__(self) -> StepWatcher:
        self.display.tick()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop ticking, poll once more, clear the live line; again: nothing."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._poll_quietly()
        self.display.close()

    def _loop(self) -> None:
        import time

        last_poll = 0.0
        while not self._stop.wait(self.tick_seconds):
            if time.monotonic() - last_poll >= self.poll_seconds:
                self._poll_quietly()
                last_poll = time.monotonic()
            self.display.tick()

    def _poll_quietly(self) -> None:
        try:
            self._poll()
        except Exception:  # noqa: BLE001 - a busy storage or a closing instance: try again next tick
            pass

    def _poll(self) -> None:
        from dagster import DagsterEventType, RunsFilter

        if self.instance is None:  # not opened yet: the live line says "starting the run"
            return
        from quantdb_pipeline.assets.outcome import LOAD_CHECK

        # a dataset's own outcome is its `load_complete` check's `dataset_status`: one event per step,
        # where a range run's materializations are one per partition (thousands to read each poll)
        kinds = {
            DagsterEventType.STEP_START,
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.ASSET_CHECK_EVALUATION,
        }
        for run in reversed(self.instance.get_runs(RunsFilter(tags=self.tags))):  # oldest first
            if run.run_id in self._done:
                continue
            if run.is_finished:
                self._done.add(run.run_id)  # after this last read
            connection = self.instance.get_records_for_run(
                run.run_id, cursor=self._cursors.get(run.run_id), of_type=kinds
            )
            for record in connection.records:
                event = record.event_log_entry.dagster_event
                if event is None or not event.step_key:
                    continue
                at = record.event_log_entry.timestamp  # a poll may see a step's start and end at once
                if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                    # comes before its STEP_SUCCESS: a soft failure succeeds the step but not the dataset
                    check = event.event_specific_data
                    outcome = dataset_outcome(check.metadata) if check.check_name == LOAD_CHECK else None
                    if outcome is not None:
                        self._outcomes[event.step_key] = outcome
                elif event.event_type == DagsterEventType.STEP_START:
                    self._began[event.step_key] = at
                    self._outcomes.pop(event.step_key, None)
                    self.display.step_started(event.step_key)
                else:
                    status, note = self._outcomes.get(event.step_key, (None, ""))
                    self.display.step_finished(
                        event.step_key,
                        event.event_type == DagsterEventType.STEP_SUCCESS,
                        seconds=at - self._began.get(event.step_key, at),
                        dataset_status=status,
                        note=note,
                    )
            if connection.records:
                self._cursors[run.run_id] = connection.cursor
