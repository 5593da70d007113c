"""Where readers find the warehouse, from any working directory, and the user config file that
remembers which one they read.

Readers (`quantdb_pipeline.read`, `quantdb-pipeline status`) look, in this order:

1. the `warehouse=` argument (`--warehouse` on the CLI),
2. `$QUANTDB_WAREHOUSE`,
3. the user config file (`config_file()`), which `quantdb-pipeline run` writes on its first
   publish (and moves only as `cli._record_for_readers` says): the warehouse's absolute path,
4. the project defaults, relative to the working directory: `warehouse/quantdb.duckdb` (real
   data), then `warehouse/sample.duckdb` (the sample market, `make demo`).

An argument or `$QUANTDB_WAREHOUSE` naming a missing file is an error (reading another file
than the one asked for would be worse); a config entry or default naming a missing file is
skipped. When nothing is found, `WarehouseNotFoundError` lists every place tried with its
absolute path, and only suggests building a new warehouse when none exists in any of them.

Writers keep an explicit path (`settings.warehouse_path`: argument, `$QUANTDB_WAREHOUSE`,
else the default of their source); the CLI then records what it published here.

Kept free of heavy imports: `read` imports this module. platformdirs (a Dagster dependency) is
used when installed, for the platform's config folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from quantdb_pipeline import settings

APP_NAME = "quantdb-pipeline"
CONFIG_NAME = "config.toml"


class WarehouseNotFoundError(FileNotFoundError):
    """No warehouse file where the reader looked. `places`: each `Place` tried, in order."""

    def __init__(self, message: str, places: list[Place] | None = None):
        super().__init__(message)
        self.places = places or []


class Place(NamedTuple):
    """One place a reader looks for the warehouse. `path`: absolute, or None when the place
    names no file (`note` says why: "not set", "no config file", ...). `binding`: an explicit
    choice (argument, environment) that is used even when its file is missing."""

    label: str
    path: Path | None
    note: str = ""
    binding: bool = False

    def describe(self) -> str:
        if self.path is None:
            return f"{self.label}: {self.note}"
        state = "found" if self.path.exists() else "no such file"
        return f"{self.label}: {self.path} ({state}{'; ' + self.note if self.note else ''})"


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The user config file: `$XDG_CONFIG_HOME/quantdb-pipeline/config.toml` when
    $XDG_CONFIG_HOME is set (an absolute path, as the XDG spec requires), else platformdirs'
    `user_config_dir("quantdb-pipeline")` (Linux: ~/.config/quantdb-pipeline; macOS:
    ~/Library/Application Support/quantdb-pipeline), else ~/.config/quantdb-pipeline."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_NAME / CONFIG_NAME
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".config" / APP_NAME / CONFIG_NAME
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_NAME


#: config file -> ((mtime_ns, size), parsed): `read` resolves on every call; one stat, no parse.
_parsed: dict[Path, tuple[tuple[int, int], dict]] = {}


def read_config(environ: Mapping[str, str] | None = None) -> dict:
    """The user config file's contents ({} when there is none). Raises ValueError naming the
    file when it is not valid TOML."""
    import tomllib

    path = config_file(environ)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    signature = (stat.st_mtime_ns, stat.st_size)
    cached = _parsed.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1]
    try:
        parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    _parsed[path] = (signature, parsed)
    return parsed


def record_published(warehouse: str | os.PathLike, source: str, environ: Mapping[str, str] | None = None) -> Path:
    """Record `warehouse` (made absolute) as the readers' warehouse, and its source, in
    the user config file; returns the file. Replaces the file atomically. Raises OSError when
    the config folder cannot be written."""
    import datetime as dt
    import json

    path = config_file(environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON string escapes are valid TOML basic-string escapes
    text = (
        "# Written by `quantdb-pipeline run` after each publish. `quantdb_pipeline.read` and\n"
        "# `quantdb-pipeline status` open this warehouse when neither warehouse= / --warehouse\n"
        f"# nor ${settings.WAREHOUSE_ENV} names one.\n"
        "[warehouse]\n"
        f"path = {json.dumps(os.path.abspath(warehouse))}\n"
        f"source = {json.dumps(source)}\n"
        f"published_at = {json.dumps(dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'))}\n"
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def _places(
    explicit: str | os.PathLike | None, environ: Mapping[str, str] | None, explicit_label: str
) -> Iterator[Place]:
    """The places of the module docstring, in order, each computed only when asked for."""
    env = os.environ if environ is None else environ

    def absolute(path: str | os.PathLike) -> Path:
        return Path(os.path.abspath(Path(path).expanduser()))

    if explicit:
        yield Place(explicit_label, absolute(explicit), binding=True)
    else:
        yield Place(explicit_label, None, "not given")
    from_env = env.get(settings.WAREHOUSE_ENV, "")
    if from_env:
        yield Place(f"${settings.WAREHOUSE_ENV}", absolute(from_env), binding=True)
    else:
        yield Place(f"${settings.WAREHOUSE_ENV}", None, "not set")
    config = config_file(env)
    label = f"user config {config}"
    try:
        recorded = read_config(env).get("warehouse", {}).get("path")
    except ValueError as error:
        yield Place(label, None, f"unreadable ({error})")
    else:
        if recorded:
            yield Place(
                f"{label}, entry warehouse.path",
                absolute(recorded),
                "recorded by the last `quantdb-pipeline run` that published",
            )
        else:
            yield Place(
                label,
                None,
                "no entry warehouse.path"
                if config.exists()
                else "no such file (a `quantdb-pipeline run` writes it when it publishes)",
            )
    cwd = os.getcwd()
    yield Place(
        f"project default for real data (relative to the working directory {cwd})", absolute(settings.DEFAULT_WAREHOUSE)
    )
    yield Place("project default for the sample market", absolute(settings.SAMPLE_WAREHOUSE))


def find_warehouse(
    explicit: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    explicit_label: str = "warehouse= argument",
) -> Path:
    """The absolute path of the published warehouse a reader opens (see the module docstring).

    Raises `WarehouseNotFoundError` listing every place tried when the explicit choice's file
    is missing or no place holds one."""
    for place in _places(explicit, environ, explicit_label):
        if place.path is None:
            continue
        if place.path.exists():
            return place.path
        if place.binding:
            break
    raise not_found(explicit, environ, explicit_label)


def not_found(
    explicit: str | os.PathLike | None = None,
    environ: Mapping[str, str] | None = None,
    explicit_label: str = "warehouse= argument",
) -> WarehouseNotFoundError:
    """The error for a reader that found no warehouse: every place tried, then what to do.

    Suggests building a warehouse only when none of the places holds one; names the existing
    one otherwise, and says so when the config entry points to a file that is gone."""
    env = os.environ if environ is None else environ
    places = list(_places(explicit, env, explicit_label))
    lines = ["no warehouse found; places tried, in order:"]
    lines += [f"  {number}. {place.describe()}" for number, place in enumerate(places, 1)]
    existing = [place for place in places if place.path is not None and place.path.exists()]
    missing_entry = [
        place
        for place in places
        if place.path is not None and "entry warehouse.path" in place.label and not place.path.exists()
    ]
    if existing:
        found = existing[0].path
        lines.append(
            f'a warehouse exists at {found} ({existing[0].label}): pass warehouse="{found}" '
            f"(CLI: --warehouse {found}) or set {settings.WAREHOUSE_ENV}={found}"
            + (f", or unset {settings.WAREHOUSE_ENV}" if env.get(settings.WAREHOUSE_ENV) else "")
        )
    elif missing_entry:
        lines.append(
            f"the user config's warehouse.path points to {missing_entry[0].path}, which no longer exists "
            f"(moved or deleted?): set {settings.WAREHOUSE_ENV} to where it is now; only if it is gone, "
            "`quantdb-pipeline run` builds a new one (and records it there)"
        )
    else:
        lines.append(
            "no warehouse exists in any of these places yet: build one with `quantdb-pipeline run` "
            f"(`make demo` for the sample market) in the project folder, or point {settings.WAREHOUSE_ENV} "
            "/ warehouse= at an existing file"
        )
    return WarehouseNotFoundError("\n".join(lines), places)
