"""The CLI run's log file, and the one-line root cause of a failure for the terminal.

A run with no network used to fill a terminal with hundreds of lines (every retry, every
symbol's failure, tracebacks); the summary cut the cause off. The CLI now writes everything to
a log file (`RunLog`): Python logging of every library (retries, per-symbol failures, with
tracebacks), Python warnings, and each Dagster run's event log with the full error chain of
every failed step. The terminal gets the summary, where each failed dataset or step is one
line naming its root cause (`root_cause`): the exception type, its message's first line, the
host asked (a requests/urllib3 error carries the URL), and the endpoint, then the log's path.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Log files kept in the folder; older ones are removed when a run opens a new one.
KEEP_LOGS = 20
#: A folder beside the warehouse file: the logs belong to the runs that wrote that warehouse.
LOG_DIR = "logs"

# "ConnectionError: message" (the LAST such name in a chain is the innermost cause: our wrappers
# say "RetriesExhausted: endpoint(what): gave up after N attempts: ConnectionError: ...")
_ERROR = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Exhausted|Timeout|Refused))(?::\s|$)")
_HOST = (re.compile(r"host='([^']+)'"), re.compile(r"https?://([A-Za-z0-9.-]+)"))
_ENDPOINT = re.compile(r"\b([a-z][a-z0-9_]+)(?:\([^()]*\))?: gave up after (\d+) attempts?")
_CAUSED_BY = re.compile(r"\(Caused by (\w+)\(['\"]?(?:<[^>]*>[:,]\s*)?['\"]?(.*)")
MESSAGE_CHARS = 140


@dataclass(frozen=True)
class Cause:
    """The innermost error named in a failure text. `kind`: exception class ("ConnectionError"), or
    "" when the text names none (a rule, a circuit breaker); `host`: the URL's host or ""."""

    kind: str
    message: str
    host: str
    endpoint: str
    attempts: str = ""

    def text(self) -> str:
        # a plain message ("could not resolve host X ...") names the host itself
        host = "" if self.host and self.host in self.message else self.host
        attempts = self.attempts and f"{self.attempts} attempt{'' if self.attempts == '1' else 's'}"
        where = ", ".join(part for part in (host and f"host {host}", self.endpoint, attempts) if part)
        head = f"{self.kind} ({where})" if self.kind and where else self.kind or (f"({where})" if where else "")
        return f"{head}: {self.message}" if head else self.message


def root_cause(text: str) -> Cause:
    """The root cause in `text`, a failure reason or warning as the steps word it.

    >>> root_cause("RetriesExhausted: stock_hk_hist(00700): gave up after 5 attempts: ConnectionError: "
    ...            "HTTPSConnectionPool(host='33.push2his.eastmoney.com', port=443): Max retries exceeded "
    ...            "(Caused by NameResolutionError(\\"<urllib3.connection.HTTPSConnection>: Failed to resolve\\"))").text()
    'ConnectionError (host 33.push2his.eastmoney.com, stock_hk_hist, 5 attempts): NameResolutionError: Failed to resolve'

    """
    flat = " ".join(text.split())
    matches = list(_ERROR.finditer(flat))
    host = next((m.group(1) for pattern in _HOST for m in [pattern.search(flat)] if m), "")
    found = _ENDPOINT.search(flat)
    endpoint, attempts = (found.group(1), found.group(2)) if found else ("", "")
    if not matches:
        return Cause("", shorten(flat), host, endpoint, attempts)
    last = matches[-1]
    plain = _plain_words(flat, host)
    if plain:  # the network's failures in a person's words; the exception class is the outermost one asked
        return Cause(
            matches[0].group(1)
            if matches[0].group(1) != "RetriesExhausted" or len(matches) < 2
            else matches[1].group(1),
            plain,
            host,
            endpoint,
            attempts,
        )
    message = flat[last.end() :]
    caused = _CAUSED_BY.search(message)
    if caused:  # requests' "HTTPSConnectionPool(...): Max retries exceeded ... (Caused by X(<conn>: why))"
        why = caused.group(2)
        ends = [why.find("', "), max(why.rfind("')"), why.rfind('")'))]
        why = why[: min(e for e in ends if e >= 0)] if any(e >= 0 for e in ends) else why
        message = why if caused.group(1) == last.group(1) else f"{caused.group(1)}: {why}"
    # responses' and requests' messages go on with the request ("Request: - GET https://...")
    message = re.split(r"\s(?:Request:|Available matches:)", message)[0]
    while message.endswith(")") and message.count(")") > message.count("("):
        message = message[:-1]  # the close of an enclosing "(symbol: reason)"
    return Cause(last.group(1), shorten(message), host, endpoint, attempts)


#: (pattern in a failure text, its plain words with {host}): the network failures a run without
#: network, a firewall or a slow upstream give, as urllib3 1.x/2.x and requests word them. Checked
#: in order; a proxy's failure keeps its own words (they name the proxy, not the host).
_PLAIN = (
    (
        re.compile(
            r"NameResolutionError|Failed to resolve|Name or service not known|name resolution|"
            r"getaddrinfo failed|nodename nor servname"
        ),
        "could not resolve host {host} (no network or DNS)",
    ),
    (re.compile(r"Errno 111\]|ConnectionRefusedError|WinError 10061"), "host {host} refused the connection"),
    (re.compile(r"ConnectTimeout|Connection to \S+ timed out"), "timed out connecting to host {host}"),
    (re.compile(r"ReadTimeout|Read timed out"), "host {host} did not answer in time (read timeout)"),
    (
        re.compile(r"RemoteDisconnected|Remote end closed connection"),
        "host {host} closed the connection without answering",
    ),
    (re.compile(r"Connection reset by peer|ConnectionResetError", re.I), "host {host} reset the connection"),
)


def _plain_words(flat: str, host: str) -> str:
    """`_PLAIN`'s words for `flat` when it names a network failure and its host, else ""."""
    if not host or re.search(r"ProxyError|Unable to connect to proxy", flat):
        return ""
    return next((words.format(host=host) for pattern, words in _PLAIN if pattern.search(flat)), "")


def shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    """`text` in at most `limit` characters, cut at a word boundary (never mid-word) with "…"."""
    text = text.strip().rstrip(".:")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:(") + "…"


def _preamble(said: str, limit: int) -> str:
    """The step's own words before the cause, short: its first clause ("circuit breaker: stopped
    after 8 consecutive periods failed (last: 2024-06-30)", not what follows the ";"), cut at a
    word boundary; the cause after it is kept whole."""
    first = said.split("; ")[0] if len(said) > limit else said
    return shorten(first, limit)


def failure_line(name: str, reason: str, details: Sequence[str] = ()) -> str:
    """ "name: what the step said: root cause", one line: the step's own words up to the nested
    error ("every symbol failed for 2024-07-02..2024-07-19"), then `root_cause`. When `reason`
    names no error (a circuit breaker's "stopped after 8 consecutive periods failed"), the first
    of `details` (the run's warnings about `name`) that does gives the cause."""
    cause = root_cause(reason)
    said = " ".join(reason.split())
    if not cause.kind:
        found = next((c for c in map(root_cause, details) if c.kind), None)
        return f"{name}: {_preamble(said, 80) if found else shorten(said, MESSAGE_CHARS)}" + (
            f": {found.text()}" if found else ""
        )
    # the words before the first error name or "(symbol: ...)"; none when the reason is the error itself
    first = _ERROR.search(said)
    context = re.split(r" \(", said[: first.start()] if first else said)[0].strip().rstrip(":").strip()
    return f"{name}: " + (f"{_preamble(context, 80)}: " if context else "") + cause.text()


def _ours_or_warning(record: logging.LogRecord) -> bool:
    """The pipeline's INFO lines (they carry the tracebacks of isolated failures) and everyone's
    warnings; not the INFO chatter of libraries (alembic's plugins, ...)."""
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in ("quantdb_pipeline", "akshare")


class RunLog:
    """A log file for one CLI run, `<warehouse dir>/logs/quantdb-pipeline-<UTC time>.log`.

    While open, every Python log record (INFO and up, with tracebacks) and every Python warning
    goes to the file and, only when `verbose`, to stderr too: without it the terminal shows what
    the CLI prints itself. `add_run_events` appends a Dagster run's event log. Keeps the newest
    `KEEP_LOGS` files of the folder."""

    def __init__(self, warehouse: Path, verbose: bool = False):
        folder = Path(warehouse).expanduser().absolute().parent / LOG_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        self.path = folder / f"quantdb-pipeline-{stamp}.log"
        for old in sorted(folder.glob("quantdb-pipeline-*.log"))[: -(KEEP_LOGS - 1) or None]:
            old.unlink(missing_ok=True)
        self.verbose = verbose
        self._handlers: list[logging.Handler] = []

    def __enter__(self) -> RunLog:
        root = logging.getLogger()
        file = logging.FileHandler(self.path, encoding="utf-8")
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        file.setLevel(logging.INFO)
        file.addFilter(_ours_or_warning)
        self._handlers = [file]
        if self.verbose:
            terminal = logging.StreamHandler(sys.stderr)
            terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            terminal.addFilter(_ours_or_warning)
            self._handlers.append(terminal)
        self._level = root.level
        root.setLevel(min(root.level or logging.WARNING, logging.INFO))
        for handler in self._handlers:
            root.addHandler(handler)
        logging.captureWarnings(True)
        return self

    def __exit__(self, *exc) -> None:
        root = logging.getLogger()
        logging.captureWarnings(False)
        for handler in self._handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(self._level)

    def add_run_events(self, instance, run_id: str) -> None:
        """Append the run's event log: each entry's message, and the full error chain (with stack
        traces) of every failed step, as the UI's run page would show them."""
        lines = [f"===== Dagster run {run_id} ====="]
        for entry in instance.all_logs(run_id):
            failure = entry.dagster_event is not None and entry.dagster_event.is_step_failure
            if (
                entry.level < logging.INFO
                and not failure
                and not (
                    entry.dagster_event and (entry.dagster_event.is_step_start or entry.dagster_event.is_step_success)
                )
            ):
                continue  # Dagster's per-partition bookkeeping: thousands of lines for a range
            when = dt.datetime.fromtimestamp(entry.timestamp, dt.timezone.utc).strftime("%H:%M:%S")
            level = logging.getLevelName(entry.level)
            lines.append(f"{when} {level} {entry.step_key or '-'}: {entry.user_message or entry.message}")
            event = entry.dagster_event
            if event is not None and event.is_step_failure and event.step_failure_data.error is not None:
                lines.append(event.step_failure_data.error.to_string())
        with self.path.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
