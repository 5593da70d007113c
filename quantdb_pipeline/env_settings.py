"""The pipeline's settings, one typed object read from the `QUANTDB_*` environment variables.

`Settings` has one field per variable (`QUANTDB_` + the field's name in capitals): the Dagster
resources (`resources.resources_from_env`, and the launchpad defaults of their fields) and the
CLI (`cli._env_defaults`: the defaults of its options) read it, so a default is written once
(a constant of `quantdb_pipeline.settings`, this object's field default) and a value is checked
once, with the same words everywhere.

    >>> load({"QUANTDB_SYMBOLS": "600000, 000001", "QUANTDB_REQUESTS_PER_SECOND": "0.5"})
    Settings(source='sample', symbols=['600000', '000001'], ..., requests_per_second=0.5, ...)

Lists (`symbols`, `hk_symbols`, `indices`, `financials_watchlist`) are written comma-separated
(`600000,000001`, spaces and empty items ignored) or as a JSON list (`["600000", "000001"]`);
their items are kept as written: each list's symbol rules are checked where it is used (the
CLI's `_list_error`, the resource's `symbol_list()`), as before. An empty or blank variable
is the same as an unset one.

A bad value raises `SettingsError` (a ValueError) whose message names the variable, the value
and the rule, e.g. `$QUANTDB_SAMPLE_SIZE='x': 'x' is not a whole number of 10 or more (...)`;
`SettingsError.problems` has every bad variable's message.

Its own module because pydantic-settings costs ~0.2 s to import and `read` (which imports
`quantdb_pipeline.settings`) must stay fast to import: readers never load this.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from quantdb_pipeline import settings as names

#: The sources a run can read (`quantdb_pipeline.settings.SOURCES`, as a type).
Source = Literal["sample", "akshare"]

PREFIX = "QUANTDB_"


class SettingsError(ValueError):
    """Bad `QUANTDB_*` values. `str()` is the first one's message (in field order);
    `problems` maps each bad field's name to its message, which names the variable."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(next(iter(problems.values())))
        self.problems = problems


class Settings(BaseSettings):
    """Every `QUANTDB_*` setting of a run, typed. Field order is the order in which bad values
    are reported (`SettingsError`): the CLI's options first, as the CLI checked them."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, case_sensitive=False, extra="ignore", validate_default=False)

    # the constant is a plain `str`; it is one of `names.SOURCES`
    source: Source = cast(Source, names.DEFAULT_SOURCE)
    sample_today: dt.date | None = None  # None: today
    sample_size: int = names.DEFAULT_SAMPLE_SIZE
    requests_per_second: float = names.DEFAULT_REQUESTS_PER_SECOND
    min_daily_coverage: float = names.DEFAULT_MIN_DAILY_COVERAGE
    revisit_days: int = names.DEFAULT_REVISIT_DAYS
    symbols: Annotated[list[str], NoDecode] = []  # empty: the whole universe
    hk_symbols: Annotated[list[str], NoDecode] = []  # empty: the HK main board
    indices: Annotated[list[str], NoDecode] = []  # empty: every one of settings.DEFAULT_INDICES
    financials_watchlist: Annotated[list[str], NoDecode] = []
    financial_years: int = names.DEFAULT_FINANCIAL_YEARS
    chunk_symbols: int = names.DEFAULT_CHUNK_SYMBOLS
    chunk_rows: int = names.DEFAULT_CHUNK_ROWS
    read_cache_mb: float = names.DEFAULT_READ_CACHE_MB
    warehouse: Path | None = None  # None: by source, see `warehouse_path`

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of `field`: "requests_per_second" -> "QUANTDB_REQUESTS_PER_SECOND"."""
        return PREFIX + field.upper()

    @field_validator("*", mode="before")
    @classmethod
    def _check(cls, value: Any, info: ValidationInfo) -> Any:
        """Text (from the environment, or given so) goes through the field's check; a typed
        value (the CLI's parsed options) is taken as it is. Blank text is the default."""
        field = info.field_name
        assert field is not None  # set for a field's validator ("*": every field's)
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return cls.model_fields[field].default
            if field in _LISTS:
                return _items(text, cls.variable(field))
            if field not in _CHECKS:
                return text
            check, prefixed = _CHECKS[field]
            try:
                return check(text)
            except ValueError as error:
                raise ValueError(f"${cls.variable(field)}={text!r}: {error}" if prefixed else str(error)) from None
        return value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # the arguments given, then the environment (`load`'s mapping, else os.environ); no .env files
        return init_settings, _Environment(settings_cls)

    def warehouse_path(self, explicit: str | os.PathLike | None = None) -> Path:
        """The file a writer uses: `explicit`, else $QUANTDB_WAREHOUSE, else the default of
        `source` (see `quantdb_pipeline.settings.warehouse_path`)."""
        return names.warehouse_path(explicit or self.warehouse, source=self.source, environ={})


#: field -> (check of its text, whether the message is prefixed with `$VARIABLE='text': `)
_CHECKS: dict[str, tuple[Callable[[str], Any], bool]] = {
    "source": (names.parse_source, True),
    "sample_today": (names.parse_date, True),
    "sample_size": (names.parse_sample_size, True),
    "requests_per_second": (names.parse_rate, True),
    "min_daily_coverage": (names.parse_share, True),
    "revisit_days": (names.parse_trading_days, True),
    "financial_years": (names.parse_financial_years, False),
    "chunk_symbols": (lambda text: names.parse_positive_integer(text, names.CHUNK_SYMBOLS_ENV), False),
    "chunk_rows": (lambda text: names.parse_positive_integer(text, names.CHUNK_ROWS_ENV), False),
    "read_cache_mb": (names.parse_read_cache_mb, False),
}
_LISTS = ("symbols", "hk_symbols", "indices", "financials_watchlist")


def _items(text: str, variable: str) -> list[str]:
    """`a, b,,c` -> ["a", "b", "c"]; a JSON list `["a", "b"]` -> ["a", "b"]."""
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, (str, int)) for item in items):
            raise ValueError(
                f'${variable}={text!r}: give comma-separated items (a,b) or a JSON list of strings (["a", "b"])'
            )
        return [str(item).strip() for item in items if str(item).strip()]
    return [item.strip() for item in text.split(",") if item.strip()]


#: The mapping `load` reads instead of os.environ (None: os.environ).
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("quantdb_settings_environ", default=None)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over `load`'s mapping (else os.environ)."""

    def _load_env_vars(self):
        from pydantic_settings.sources.utils import parse_env_vars

        environ = _environ.get()
        # only the upper-case names, as every other reader of them (settings.warehouse_path, the
        # schedules, `read`) and a POSIX shell see them; pydantic-settings would match any case
        environ = {
            name: value for name, value in (os.environ if environ is None else environ).items() if name.isupper()
        }
        return parse_env_vars(
            environ,
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


def load(environ: Mapping[str, str] | None = None, **given: Any) -> Settings:
    """The settings of `environ` (default: os.environ); `given` fields win over the environment
    (whose values for them are then not read, nor checked). Raises `SettingsError`."""
    token = _environ.set(environ)
    try:
        return Settings(**given)
    except ValidationError as error:
        raise SettingsError(_problems(error)) from None
    finally:
        _environ.reset(token)


def load_leniently(environ: Mapping[str, str] | None = None, **given: Any) -> tuple[Settings, dict[str, str]]:
    """(settings, problems): as `load`, but each bad value is left at its default and named in
    `problems` (field -> message), for a caller that reports some problems later than others
    (the CLI: an option's variable at once, the rest where the value is first needed)."""
    try:
        return load(environ, **given), {}
    except SettingsError as error:
        defaults = {field: Settings.model_fields[field].default for field in error.problems}
        return load(environ, **{**given, **defaults}), error.problems


def _problems(error: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, ValueError):
            message = str(cause)
        else:  # a type pydantic refused itself (a given value of the wrong type)
            message = f"${Settings.variable(field)}: {item['msg']}"
        problems.setdefault(field, message)
    order = list(Settings.model_fields)
    return dict(sorted(problems.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def field_default(field: str) -> Any:
    """The default of `Settings.<field>` (the Dagster resources' field defaults come from here)."""
    return Settings.model_fields[field].default
