"""One per-item fetch loop for every loader: failures, empty answers, the circuit breaker, progress.

Every loader that asks upstream once per symbol (or per report period) runs its requests
through `fetch_each`, so the rules below hold for all of them:

- A fetch that raises is isolated to its item: the item is recorded in `failed` with the
  reason (`"<ExceptionType>: <message>"`) and the loader records it as failed, so the next
  run asks again. Only `RetriesExhausted` (the pacing layer gave up after its retries: what
  a ban or an outage looks like) counts toward the breaker; any other error (a changed
  column, a malformed answer) is about that item and resets the streak.
- An empty answer (a frame with no rows) is recorded in `empty`. Whether it counts toward
  the breaker is the caller's declared rule, `empty_is_suspicious`, not an accident of each
  loop:
    * True for bar endpoints (eastmoney's klines for A-shares, HK and indices): a window
      that holds trading days cannot be empty for a listed symbol, and eastmoney answers
      throttled requests with empty frames, so a run of empties is what a ban looks like;
    * False where empty is an ordinary answer: adjustment factors (sina answers a symbol
      that never paid a dividend or split with an empty factor list; for HK, a script with
      no corporate action), dividend periods (eastmoney's table has no rows for a quarter
      with no plans yet) and fundamentals (a new listing has no reports). There an empty
      answer resets the streak like any other answer.
- `breaker_threshold` consecutive suspicious items (see above) open the breaker: the loop
  stops, `circuit_open` says why, the items after it are `not_attempted` (the next run asks
  for them), and what was fetched is returned for the loader to check and write. As before,
  a streak that ends with the list does not open the breaker (nothing is left to spare);
  see `judge_streak` for what is checked then.
- `judge_streak`, when given, is asked before the breaker opens (and when every item so far
  was suspicious): with the streak's (item, answer-or-exception) pairs and the answers so
  far (item, frame) it may show that the
  empties have an innocent cause (a market closure the calendar does not know: see
  `loaders.closures`) by returning a predicate `excused(item, answer) -> bool`. The streak
  then resets, and every later empty answer the predicate excuses is recorded in `closed`
  (not in `empty`, not suspicious). Returning None means no innocent cause: the breaker opens.
- `progress(done, total, name, rows)` is called after every item; `crash_at_half` names the
  `faults.crash_point` reached before the middle item (the reliability tests kill the
  process there).

Chunks: `fetch_chunks` yields what was fetched a chunk at a time (at most `max_items`
items or, past the item that reaches it, `max_rows` rows; see `settings.chunk_limits`) so
that a loader checks and writes each chunk in its own transaction and never holds more
than one chunk: a kill loses at most the chunk in hand, and memory does not grow with the
range. A chunk is closed only where no suspicious streak is open, so `judge_streak` can
still excuse the whole streak (a streak is at most `breaker_threshold` items, so a chunk
exceeds `max_items` by at most that many answers, all empty or failed). After the consumer
asks for the chunk following the one that brought the items done to `MOST` of the total
(that is, once it has written it), `faults.crash_point("most_written:<dataset>")` is
reached: the resume tests kill the process there. `fetch_each` is the same loop in one
piece, for callers that need every answer at once.

Returned shapes: see `Fetched`. Request counts stay with the loaders (`source.requests`),
which also count requests made outside this loop (quote lists, probes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar

import pandas as pd

from quantdb_pipeline.faults import crash_point
from quantdb_pipeline.sources.pacing import RetriesExhausted

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Hashable)
ProgressCallback = Callable[[int, int, str, int], None]  # done, total, name, rows
#: An answer: the frame upstream returned (after the caller's normalization), or the error raised.
Answer: TypeAlias = "pd.DataFrame | Exception"
Excuse = Callable[[T, pd.DataFrame], bool]
#: Share of a load's items after whose chunk is written the `most_written:<dataset>` crash point is reached.
MOST = 0.8


@dataclass
class Fetched(Generic[T]):
    """What `fetch_each` got, in request order.

    `answers` holds every item that answered (empty answers included), `failed` maps an item
    to its reason, `empty` lists the items that answered empty and were not excused,
    `closed` those excused by `judge_streak`, `not_attempted` the items skipped after the
    breaker opened, `circuit_open` the breaker's reason (None while closed).
    """

    answers: list[tuple[T, pd.DataFrame]] = field(default_factory=list)
    failed: dict[T, str] = field(default_factory=dict)
    empty: list[T] = field(default_factory=list)
    closed: list[T] = field(default_factory=list)
    not_attempted: list[T] = field(default_factory=list)
    circuit_open: str | None = None

    @property
    def rows(self) -> int:
        return sum(len(frame) for _, frame in self.answers)

    def attempted(self) -> list[T]:
        """The chunk's items that were asked, in request order (answered or failed)."""
        answered = [item for item, _ in self.answers]
        seen = set(answered)
        return answered + [item for item in self.failed if item not in seen]

    def extend(self, other: Fetched[T]) -> None:
        self.answers += other.answers
        self.failed.update(other.failed)
        self.empty += other.empty
        self.closed += other.closed
        self.not_attempted += other.not_attempted
        self.circuit_open = other.circuit_open or self.circuit_open


def fetch_each(items: Sequence[T], fetch: Callable[[T], pd.DataFrame], **options) -> Fetched[T]:
    """Call `fetch(item)` for each item under the rules of this module, all in one `Fetched`.

    Takes the options of `fetch_chunks` except the chunk bounds.
    """
    result: Fetched[T] = Fetched()
    for chunk in fetch_chunks(items, fetch, max_items=len(items) or 1, max_rows=None, **options):
        result.extend(chunk)
    return result


def fetch_chunks(
    items: Sequence[T],
    fetch: Callable[[T], pd.DataFrame],
    *,
    dataset: str,
    empty_is_suspicious: bool,
    max_items: int,
    max_rows: int | None,
    breaker_threshold: int = 8,
    name: Callable[[T], str] = str,
    describe: Callable[[T], str] | None = None,
    noun: str = "symbols",
    progress: ProgressCallback | None = None,
    crash_at_half: str | None = None,
    judge_streak: Callable[[Sequence[tuple[T, Answer]], Sequence[tuple[T, pd.DataFrame]]], Excuse | None] | None = None,
) -> Iterator[Fetched[T]]:
    """Call `fetch(item)` for each item under the rules of this module, yielding a `Fetched` per chunk.

    `name(item)` names the item in progress calls and the breaker's reason (a symbol, a
    period); `describe(item)` in the warning logged for a failure (default: `name`).
    `max_items` / `max_rows` bound a chunk (see the module docstring; `max_rows=None`: no row
    bound). The last chunk carries `not_attempted` and `circuit_open`; every chunk, even an
    empty one, is yielded after the breaker opens so the caller sees why. `judge_streak` is
    given the answers of the chunk in hand (earlier chunks are the caller's to remember).
    """
    chunk: Fetched[T] = Fetched()
    describe = describe or name
    streak: list[tuple[T, Answer]] = []
    excuses: list[Excuse] = []
    total = len(items)
    chunk_rows = 0
    crashed = False
    for i, item in enumerate(items, start=1):
        if crash_at_half and i == total // 2 + 1:
            crash_point(crash_at_half)
        answer: Answer
        try:
            answer = fetch(item)
        except Exception as error:  # noqa: BLE001 - isolated to the item, reported, retried next run
            answer = error
            chunk.failed[item] = f"{type(error).__name__}: {error}"
            log.warning("%s %s failed: %s", dataset, describe(item), chunk.failed[item])
            # the traceback, for a log file (the CLI's); INFO stays off a terminal without handlers
            log.info("%s %s: where it failed", dataset, describe(item), exc_info=error)
            suspicious = isinstance(error, RetriesExhausted)
            rows = 0
        else:
            chunk.answers.append((item, answer))
            rows = len(answer)
            suspicious = False
            if answer.empty:
                if any(excuse(item, answer) for excuse in excuses):
                    chunk.closed.append(item)
                else:
                    chunk.empty.append(item)
                    suspicious = empty_is_suspicious
        chunk_rows += rows
        streak = streak + [(item, answer)] if suspicious else []
        if progress:
            progress(i, total, name(item), rows)
        if len(streak) >= breaker_threshold and (i < total or len(streak) == i):
            excuse = judge_streak(streak, chunk.answers) if judge_streak else None
            if excuse is not None:
                excuses.append(excuse)
                for excused, _ in streak:
                    if excused in chunk.empty:
                        chunk.empty.remove(excused)
                        chunk.closed.append(excused)
                streak = []
            elif i < total:
                chunk.not_attempted = list(items[i:])
                what = "failed or answered empty" if empty_is_suspicious else "failed"
                chunk.circuit_open = (
                    f"stopped after {len(streak)} consecutive {noun} {what} (last: {name(item)}); "
                    f"{len(chunk.not_attempted)} {noun} not attempted, to be retried by the next run"
                )
                log.error("%s circuit breaker: %s", dataset, chunk.circuit_open)
                break
        full = len(chunk.answers) + len(chunk.failed) >= max_items or (max_rows is not None and chunk_rows >= max_rows)
        if full and not streak and i < total:
            yield chunk
            chunk, chunk_rows = Fetched(), 0
            if not crashed and i >= MOST * total:
                crashed = True
                crash_point(f"most_written:{dataset}")
    yield chunk
