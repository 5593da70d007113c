"""Ctrl-C and SIGTERM for the CLI: notice them wherever they land, silence the noise they cause.

Why not a plain `except KeyboardInterrupt`: while Dagster executes a run it replaces the
SIGINT and SIGTERM handlers with its own (`capture_interrupts`), fails the run with
"Execution was interrupted unexpectedly", logs tracebacks and returns normally, so the
caller never sees the signal. `Interrupts` learns of every SIGINT/SIGTERM through
`signal.set_wakeup_fd`, which the interpreter writes to whatever Python handler is installed;
a watcher thread reads the signal number, records it in `received`, and from then on drops
what is written to `sys.stderr` (Dagster's error logs and tracebacks, the progress bar) until
`restore_stderr`, so an interrupt ends in the one line the CLI prints. (Muting fd 2 instead does
not hold: Dagster's compute-log capture puts its own saved fd 2 back when the step ends.)
Outside Dagster's execution, SIGINT and SIGTERM both raise `KeyboardInterrupt` (SIGTERM would
otherwise kill the process on the spot and leave its run STARTED).

Dagster's in-process executor waits for a pool slot in a loop that never looks at the
interrupt it captured (and spins at full CPU); the CLI waits in its own loop first, but a
holder can appear between that check and Dagster's claim. So after a signal the watcher gives
the main thread `grace_seconds` to finish; if it has not, it calls `on_stuck(self)` from the
watcher thread, which is expected to clean up and `os._exit`.

Use only from the main thread (elsewhere it does nothing); the caller decides the exit code.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time

WATCHED = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Context manager; `received` is None, or the first of SIGINT/SIGTERM that arrived (an int).

    `instance`, `warehouse` and `log_path` are slots for the caller's Dagster instance, warehouse
    path and log file, so clean-up can reach them (close the runs, record their alert beside the
    warehouse, name the log).
    """

    def __init__(self, on_stuck=None, grace_seconds: float = 15.0) -> None:
        self.received: int | None = None
        self._on_stuck, self._grace = on_stuck, grace_seconds
        self.instance = None
        self.warehouse = None
        self.log_path = None
        self._active = False
        self._lock = threading.Lock()
        self._muted = self._restored = False

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is not threading.main_thread():
            return self
        self._active = True
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._stderr = sys.stderr
        sys.stderr = _Gate(self._stderr, self)
        self._old_wakeup = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._old_handlers = {signo: signal.getsignal(signo) for signo in WATCHED}
        for signo in WATCHED:
            signal.signal(signo, self._handler)
        self._watcher = threading.Thread(target=self._watch, name="quantdb-interrupts", daemon=True)
        self._watcher.start()
        return self

    def _handler(self, signo: int, _frame) -> None:
        self._record(signo)
        with self._lock:
            self._muted = not self._restored
        raise KeyboardInterrupt

    def _record(self, signo: int) -> None:
        if self.received is None and signo in WATCHED:
            self.received = signo

    def _watch(self) -> None:
        deadline = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([self._read], [], [], timeout)
                data = os.read(self._read, 64) if ready else None
            except OSError:
                return
            if data is None:  # the grace period is over and the main thread is still busy
                if self._on_stuck is not None and not self._restored:
                    self._on_stuck(self)
                return
            if not data:
                return
            for signo in data:
                self._record(signo)
            if self.received is not None:
                with self._lock:
                    self._muted = not self._restored
                if deadline is None:
                    deadline = time.monotonic() + self._grace

    def note_exception(self) -> None:
        """A `KeyboardInterrupt` reached the caller: make sure it is recorded."""
        self._record(signal.SIGINT)

    def ignore_further(self) -> None:
        """Ignore SIGINT and SIGTERM from now on (the clean-up after the first one must finish)."""
        if self._active and threading.current_thread() is threading.main_thread():
            for signo in WATCHED:
                signal.signal(signo, signal.SIG_IGN)

    def restore_stderr(self) -> None:
        """Give fd 2 back (idempotent); nothing mutes it again."""
        if not self._active:
            return
        with self._lock:
            self._restored, self._muted = True, False

    def __exit__(self, *exc) -> None:
        if not self._active:
            return
        self.restore_stderr()
        signal.set_wakeup_fd(self._old_wakeup)
        for signo, handler in self._old_handlers.items():
            signal.signal(signo, handler if handler is not None else signal.SIG_DFL)
        os.close(self._write)
        self._watcher.join(timeout=2)
        os.close(self._read)
        sys.stderr = self._stderr
        self._active = False


class _Gate:
    """`sys.stderr` while `Interrupts` is active: passes writes through until an interrupt mutes it."""

    def __init__(self, stream, owner: Interrupts) -> None:
        self._stream, self._owner = stream, owner

    def write(self, text: str) -> int:
        return len(text) if self._owner._muted else self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
