"""Progress of long loads, for whoever is watching in this process.

Assets always log progress to the Dagster run log. An in-process caller (the CLI) can also
register a listener here to draw a progress bar; nothing is registered by default.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str, int, int, str, int], None]  # step, done, total, symbol, rows

_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    _listeners.remove(listener)


def report(step: str, done: int, total: int, symbol: str, rows: int) -> None:
    for listener in list(_listeners):
        listener(step, done, total, symbol, rows)
