"""Counting upstream requests where they happen: every HTTP request `requests` sends.

An akshare function is not one request: the quote list pages 100 rows a request, the
data-center tables ask for page 1 twice, the per-symbol statements ask for a list of report
dates and then 5 reports a request, sina's HK factors download the whole history first, and
akshare retries some requests itself. Counting akshare calls (or guessing their pages from
the rows that came back) therefore under- or overstates what the vendors saw. This module
counts at the HTTP level instead:

- `install()` wraps `requests.Session.send` once per process. Every request of `requests`
  goes through it (`requests.get` builds a session; each redirect is sent through it
  again). `responses`, which the tests use to fake upstreams, patches
  `HTTPAdapter.send`, one level below: a faked request passes this wrapper exactly once,
  as a real one does, so the count equals what an HTTP fake records.
- `counting(counter, endpoint)` labels the requests made while it is active: each adds 1
  to `counter[endpoint]` (the source's `requests`, endpoint -> HTTP requests). The label is
  a context variable; a thread started inside the call (which does not inherit context
  variables) is attributed to the process's one active call. akshare 1.19.5 starts no
  threads on the paths we call (its only pool, `utils.multi_decrypt`, is unused and
  process-based), so this is a safety net; with two calls active at once on different
  threads, such a request cannot be attributed and is counted apart, as "ambiguous". A
  thread that already ran when the call began (a library's analytics thread) is not the
  call's: its requests are counted apart like any request outside a call.
- A request made outside any labelled call (library telemetry, a version check, a test's
  own request) is no upstream request of the pipeline: it is counted apart, by host, in
  `unlabelled()`, and never in a source's count.

Counts are HTTP attempts: a request that failed with a connection error or a timeout was
still sent to (or at) the vendor and counts, as does each retry.

The same hook paces: a call labelled with a `pace` function (the source's rate limiter)
waits for it before each of its requests, so the pages of a data-center table, which akshare
sends back to back, are spaced like separate calls.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

#: The label of requests made on threads that cannot be attributed (see the module docstring).
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, eq=False)
class _Label:
    counter: Counter
    endpoint: str
    threads_before: frozenset  # idents of the threads alive when the call began
    pace: Callable[[], None] | None = None  # waits for the source's rate limiter before each request


_label: ContextVar[_Label | None] = ContextVar("quantdb_upstream_label", default=None)
_lock = threading.Lock()
_active: list[_Label] = []  # labelled calls in progress, any thread, oldest first
_unlabelled: Counter = Counter()  # host -> requests made outside any labelled call
_WRAPPED = "_quantdb_counts_requests"


def install() -> None:
    """Wrap `requests.Session.send` so that every request is counted (idempotent)."""
    with _lock:
        send = requests.Session.send
        if getattr(send, _WRAPPED, False):
            return

        def counted_send(session, request, **kwargs):
            label = _count(request)
            if label is not None and label.pace is not None:
                label.pace()
            return send(session, request, **kwargs)

        setattr(counted_send, _WRAPPED, True)
        counted_send.__wrapped__ = send  # type: ignore[attr-defined]  # functools.wraps' attribute, set by hand
        counted_send.__doc__ = send.__doc__
        requests.Session.send = counted_send  # type: ignore[method-assign,assignment]  # the patch is the point


def _count(request) -> _Label | None:
    """Count `request` under its call's label, which is returned (None: counted apart)."""
    label = _label.get()
    with _lock:
        if label is None and _active and threading.get_ident() not in _active[0].threads_before:
            # a thread without our context, started after the call began: the call made it
            if len(_active) > 1:
                _unlabelled[AMBIGUOUS] += 1
                return None
            label = _active[0]
        if label is None:
            _unlabelled[urlsplit(getattr(request, "url", "") or "").netloc or "unknown"] += 1
            return None
        label.counter[label.endpoint] += 1
        return label


@contextmanager
def counting(counter: Counter, endpoint: str, pace: Callable[[], None] | None = None) -> Iterator[None]:
    """Count every HTTP request made inside the block as one of `counter[endpoint]`, calling
    `pace` (a rate limiter's wait) before each: every page of a paged answer and every retry
    akshare makes by itself is spaced like a call of its own, not sent in a burst."""
    install()
    label = _Label(counter, endpoint, frozenset(t.ident for t in threading.enumerate()), pace)
    token = _label.set(label)
    with _lock:
        _active.append(label)
    try:
        yield
    finally:
        with _lock:
            _active.remove(label)
        _label.reset(token)


_step_sources: ContextVar[list | None] = ContextVar("quantdb_step_sources", default=None)


def note_source(source) -> None:
    """Called by each source as it is built: inside an asset step it joins the step's sources
    (`collecting_sources`), whose requests the step reports; elsewhere nothing happens. (So a
    source that delegates to another one built in the same step must not count the delegated
    requests itself: both are the step's.)"""
    sources = _step_sources.get()
    if sources is not None:
        sources.append(source)


@contextmanager
def collecting_sources(sources: list) -> Iterator[None]:
    """Append every source built inside the block to `sources`. Set and reset around each
    advance of an asset body (no `yield` in between, so always in one context), so that
    whatever builds the source, the step reports its requests (`assets.outcome.settle_dataset`)."""
    token = _step_sources.set(sources)
    try:
        yield
    finally:
        _step_sources.reset(token)


def requests_of(sources: list) -> Counter:
    """endpoint -> HTTP requests (akshare) or simulated requests (sample) of `sources`."""
    total: Counter = Counter()
    for source in sources:
        total.update(source.requests)
    return total


def unlabelled() -> Counter:
    """Requests this process made outside any labelled call, by host (a copy); not upstream
    requests of the pipeline, kept apart so that they never inflate a dataset's count."""
    with _lock:
        return Counter(_unlabelled)
