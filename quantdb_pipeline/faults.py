"""Crash and pause points for the reliability tests: `kill -9` (or a pause) at a named moment of a run.

`QUANTDB_CRASH_AT=<point>` makes the process SIGKILL itself when it reaches that point,
which lets tests prove that the published warehouse survives a crash there.
`QUANTDB_PAUSE_AT=<point>` makes it sleep there for `QUANTDB_PAUSE_SECONDS` (default 60),
which lets tests interrupt (Ctrl-C, SIGTERM) or SIGKILL a run at a known moment, e.g. while
it holds the `upstream_api` pool slot mid-fetch. Unset (the normal case), `crash_point` is
two dictionary look-ups and nothing else.
"""

from __future__ import annotations

import os
import signal
import time

CRASH_ENV = "QUANTDB_CRASH_AT"
PAUSE_ENV, PAUSE_SECONDS_ENV = "QUANTDB_PAUSE_AT", "QUANTDB_PAUSE_SECONDS"
POINTS = ("fetch", "write", "publish")


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(PAUSE_ENV) == name:
        time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV, "60")))
