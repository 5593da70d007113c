"""Crash points for the reliability tests: `kill -9` at a named moment of a run.

`QUANTDB_CRASH_AT=<point>` makes the process SIGKILL itself when it reaches that point,
which lets tests prove that the published warehouse survives a crash there. Unset (the
normal case), `crash_point` is a dictionary look-up and nothing else.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "QUANTDB_CRASH_AT"
POINTS = ("fetch", "write", "publish")


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
