"""Pacing and retries for calls to rate-limited, ban-happy vendors.

eastmoney bans clients that burst; a throttled or banned client sees connection resets,
timeouts, 5xx pages or a captcha HTML page where JSON was expected. `RateLimiter` spaces
requests evenly; `call_with_retries` retries transient failures with exponential backoff
and full jitter, and re-raises anything else at once.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")
log = logging.getLogger(__name__)


class RateLimiter:
    """Allows at most `per_second` calls per second, evenly spaced, across threads."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if per_second <= 0:
            raise ValueError("requests per second must be positive")
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            self._sleep(delay)


class RateLimiters:
    """One `RateLimiter` per rate, for the object that owns a process's spacing of requests:
    the market resource (`MarketSourceResource.limiter`). Every asset step builds its own source,
    and all of them must share one spacing of requests to the vendors."""

    def __init__(self) -> None:
        self._by_rate: dict[float, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, per_second: float) -> RateLimiter:
        with self._lock:
            if per_second not in self._by_rate:
                self._by_rate[per_second] = RateLimiter(per_second)
            return self._by_rate[per_second]


class UnreadableAnswer(RuntimeError):
    """An answer that is not the format asked for (an error or captcha page): retried."""


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying: network faults, 5xx, and a non-JSON (captcha) page."""
    if isinstance(error, UnreadableAnswer):
        return True
    if isinstance(error, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return True
    if isinstance(error, requests.HTTPError):
        response = error.response
        return response is None or response.status_code >= 500 or response.status_code == 429
    # A captcha or error page where JSON was expected surfaces as a JSON decode error.
    return isinstance(error, (json.JSONDecodeError, requests.exceptions.JSONDecodeError))


class RetriesExhausted(RuntimeError):
    """A transient failure that persisted through every retry."""


def call_with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    max_retries: int,
    base_delay: float,
    max_delay: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call `fn`; on a transient error wait `uniform(0, min(max_delay, base * 2**attempt))` and retry."""
    rng = rng or random.Random()
    for attempt in range(max_retries + 1):
        try:
            return fn()
        except Exception as error:  # noqa: BLE001 - classified just below
            if not is_transient(error):
                raise
            if attempt == max_retries:
                raise RetriesExhausted(
                    f"{what}: gave up after {max_retries + 1} attempt{'s' if max_retries else ''}: "
                    f"{type(error).__name__}: {error}"
                ) from error
            delay = rng.uniform(0, min(max_delay, base_delay * 2**attempt))
            log.warning(
                "%s: %s: %s; retry %d/%d in %.1fs", what, type(error).__name__, error, attempt + 1, max_retries, delay
            )
            sleep(delay)
    raise AssertionError("unreachable")
