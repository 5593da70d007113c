"""The one settings object (`env_settings.Settings`): how it reads the `QUANTDB_*` variables,
what it says about a bad one, and that the Dagster resources, the CLI and the README take their
defaults and values from it. Also: the market resource owns the limiter and the progress feed
that every step of a process shares, across the copies Dagster makes of it for each run."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import dagster
import pytest

from quantdb_pipeline import cli, settings
from quantdb_pipeline.env_settings import Settings, SettingsError, field_default, load
from quantdb_pipeline.resources import MarketSourceResource, resources_from_env

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def clean_env(monkeypatch):
    """No QUANTDB_* variable inherited from the developer's shell."""
    for name in [name for name in os.environ if name.upper().startswith("QUANTDB_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_every_field_is_a_quantdb_variable_with_the_constant_default():
    assert [Settings.variable(field) for field in Settings.model_fields] == [
        "QUANTDB_SOURCE",
        "QUANTDB_SAMPLE_TODAY",
        "QUANTDB_SAMPLE_SIZE",
        "QUANTDB_REQUESTS_PER_SECOND",
        "QUANTDB_MIN_DAILY_COVERAGE",
        "QUANTDB_REVISIT_DAYS",
        "QUANTDB_SYMBOLS",
        "QUANTDB_HK_SYMBOLS",
        "QUANTDB_INDICES",
        "QUANTDB_FINANCIALS_WATCHLIST",
        "QUANTDB_FINANCIAL_YEARS",
        "QUANTDB_CHUNK_SYMBOLS",
        "QUANTDB_CHUNK_ROWS",
        "QUANTDB_READ_CACHE_MB",
        "QUANTDB_WAREHOUSE",
    ]
    # the names other modules use are the same variables
    assert {
        settings.SOURCE_ENV,
        settings.SYMBOLS_ENV,
        settings.HK_SYMBOLS_ENV,
        settings.INDICES_ENV,
        settings.SAMPLE_TODAY_ENV,
        settings.SAMPLE_SYMBOLS_ENV,
        settings.RATE_ENV,
        settings.MIN_COVERAGE_ENV,
        settings.REVISIT_DAYS_ENV,
        settings.CHUNK_SYMBOLS_ENV,
        settings.CHUNK_ROWS_ENV,
        settings.READ_CACHE_ENV,
        settings.FINANCIALS_WATCHLIST_ENV,
        settings.FINANCIAL_YEARS_ENV,
        settings.WAREHOUSE_ENV,
    } == {Settings.variable(field) for field in Settings.model_fields}
    defaults = load({})
    assert (
        defaults.source,
        defaults.sample_size,
        defaults.requests_per_second,
        defaults.min_daily_coverage,
        defaults.revisit_days,
        defaults.financial_years,
        defaults.chunk_symbols,
        defaults.chunk_rows,
        defaults.read_cache_mb,
    ) == ("sample", 64, 2.0, 0.8, 20, 10, 100, 50_000, 256.0)
    assert (defaults.symbols, defaults.sample_today, defaults.warehouse) == ([], None, None)


def test_values_are_read_typed_from_the_environment():
    values = load(
        {
            "QUANTDB_SOURCE": " Akshare ",
            "QUANTDB_SAMPLE_TODAY": "20240105",
            "QUANTDB_SAMPLE_SIZE": "30",
            "QUANTDB_REQUESTS_PER_SECOND": "0.5",
            "QUANTDB_MIN_DAILY_COVERAGE": "1",
            "QUANTDB_REVISIT_DAYS": "0",
            "QUANTDB_FINANCIAL_YEARS": "3",
            "QUANTDB_CHUNK_ROWS": "7",
            "QUANTDB_READ_CACHE_MB": "0.5",
            "QUANTDB_WAREHOUSE": "/data/w.duckdb",
            "QUANTDB_CHUNK_SYMBOLS": "9",
            "quantdb_sample_size": "x",  # names are upper case, as every other reader of them expects
        }
    )
    assert values.source == "akshare"
    assert values.sample_today == dt.date(2024, 1, 5)
    assert (
        values.sample_size,
        values.requests_per_second,
        values.min_daily_coverage,
        values.revisit_days,
        values.financial_years,
        values.chunk_symbols,
        values.chunk_rows,
        values.read_cache_mb,
    ) == (30, 0.5, 1.0, 0, 3, 9, 7, 0.5)
    assert values.warehouse_path() == Path("/data/w.duckdb")
    assert load({"QUANTDB_SOURCE": "akshare"}).warehouse_path() == Path("warehouse/quantdb.duckdb")
    assert load({}).warehouse_path() == Path("warehouse/sample.duckdb")
    # blank is unset
    assert load({"QUANTDB_SAMPLE_SIZE": "  ", "QUANTDB_SOURCE": ""}).sample_size == 64


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"QUANTDB_SOURCE": "Sample"}, "warehouse/sample.duckdb"),
        ({"QUANTDB_SOURCE": " sample "}, "warehouse/sample.duckdb"),
        ({"QUANTDB_SOURCE": "AKSHARE"}, "warehouse/quantdb.duckdb"),
        ({"QUANTDB_WAREHOUSE": " "}, "warehouse/sample.duckdb"),
        ({"quantdb_source": "akshare"}, "warehouse/sample.duckdb"),
    ],
)
def test_the_schedules_and_sensors_find_the_warehouse_the_resources_write(environ, expected):
    """The schedules, sensors and alert file resolve the warehouse with `settings.warehouse_path`
    on the raw environment; the resources with `Settings`: both read a variable the same way."""
    assert resources_from_env(environ)["warehouse"].database == expected
    assert settings.warehouse_path(environ=environ) == Path(expected)


@pytest.mark.parametrize(
    "text, items",
    [
        ("600000,000001", ["600000", "000001"]),
        (" 600000 , ,000001,", ["600000", "000001"]),  # the comma syntax the variables always had
        ('["600000", "000001"]', ["600000", "000001"]),  # or a JSON list
        ("[600000]", ["600000"]),
        ("", []),
    ],
)
def test_lists_are_comma_separated_or_json(text, items):
    values = load(
        {
            "QUANTDB_SYMBOLS": text,
            "QUANTDB_HK_SYMBOLS": text,
            "QUANTDB_INDICES": text,
            "QUANTDB_FINANCIALS_WATCHLIST": text,
        }
    )
    assert values.symbols == values.hk_symbols == values.indices == values.financials_watchlist == items


@pytest.mark.parametrize(
    "env, says",
    [
        ({"QUANTDB_SOURCE": "bloomberg"}, "$QUANTDB_SOURCE='bloomberg': choose from sample, akshare"),
        (
            {"QUANTDB_SAMPLE_TODAY": "2024-13-01"},
            "$QUANTDB_SAMPLE_TODAY='2024-13-01': '2024-13-01' is not a date (YYYY-MM-DD)",
        ),
        ({"QUANTDB_SAMPLE_SIZE": "5"}, "$QUANTDB_SAMPLE_SIZE='5': '5' is not a whole number of 10 or more"),
        (
            {"QUANTDB_REQUESTS_PER_SECOND": "0"},
            "$QUANTDB_REQUESTS_PER_SECOND='0': '0' is not a number of requests per second above 0",
        ),
        ({"QUANTDB_MIN_DAILY_COVERAGE": "1.5"}, "$QUANTDB_MIN_DAILY_COVERAGE='1.5': '1.5' is not a share"),
        ({"QUANTDB_REVISIT_DAYS": "-3"}, "$QUANTDB_REVISIT_DAYS='-3': '-3' is not a number of trading days"),
        ({"QUANTDB_FINANCIAL_YEARS": "two"}, "$QUANTDB_FINANCIAL_YEARS='two': give a whole number of years"),
        ({"QUANTDB_CHUNK_SYMBOLS": "abc"}, "$QUANTDB_CHUNK_SYMBOLS must be a positive integer, got 'abc'"),
        ({"QUANTDB_CHUNK_ROWS": "0"}, "$QUANTDB_CHUNK_ROWS must be a positive integer, got '0'"),
        ({"QUANTDB_READ_CACHE_MB": "-1"}, "QUANTDB_READ_CACHE_MB='-1': give the MiB of read results to keep"),
        (
            {"QUANTDB_SYMBOLS": '["600000"'},
            "$QUANTDB_SYMBOLS='[\"600000\"': give comma-separated items (a,b) or a JSON list",
        ),
        ({"QUANTDB_INDICES": '{"a": 1}'}, None),  # not a list: read as one comma-separated item
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(env, says, clean_env):
    if says is None:
        assert load(env).indices == ['{"a": 1}']
        return
    with pytest.raises(SettingsError) as refused:
        load(env)
    assert str(refused.value).startswith(says), str(refused.value)
    # the same from the process environment, through the Dagster resources' loader
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(SettingsError, match=re.escape(says)):
        resources_from_env()


def test_every_bad_value_is_listed_in_field_order_and_a_given_value_is_not_read_from_the_environment():
    with pytest.raises(SettingsError) as refused:
        load({"QUANTDB_CHUNK_ROWS": "x", "QUANTDB_SAMPLE_SIZE": "x", "QUANTDB_SOURCE": "x"})
    assert list(refused.value.problems) == ["source", "sample_size", "chunk_rows"]
    assert str(refused.value) == refused.value.problems["source"]
    # a command line's option wins: its variable's bad value is neither used nor refused
    assert load({"QUANTDB_SAMPLE_SIZE": "x"}, sample_size=12).sample_size == 12


def test_the_resources_defaults_are_the_settings_defaults():
    fields = MarketSourceResource.model_fields
    assert fields["kind"].default == field_default("source") == "sample"
    for name in ("requests_per_second", "sample_size", "min_daily_coverage", "revisit_days", "financial_years"):
        assert fields[name].default == field_default(name), name
    for name in ("symbols", "hk_symbols", "indices", "financials_watchlist"):
        assert fields[name].default == "" and field_default(name) == [], name
    assert fields["max_retries"].default == settings.DEFAULT_MAX_RETRIES
    # and an empty environment gives the resource its defaults
    from_env = resources_from_env({})["market"]
    assert {name: getattr(from_env, name) for name in fields} == {name: field.default for name, field in fields.items()}


#: A full environment of values that are none of the defaults.
ENVIRONMENT = {
    "QUANTDB_SOURCE": "Akshare",
    "QUANTDB_SYMBOLS": "600000, 000001",
    "QUANTDB_HK_SYMBOLS": '["00700", "0005.HK"]',
    "QUANTDB_INDICES": "000300",
    "QUANTDB_REQUESTS_PER_SECOND": "0.75",
    "QUANTDB_SAMPLE_TODAY": "2024-08-30",
    "QUANTDB_SAMPLE_SIZE": "20",
    "QUANTDB_MIN_DAILY_COVERAGE": "0.6",
    "QUANTDB_REVISIT_DAYS": "5",
    "QUANTDB_FINANCIALS_WATCHLIST": "600000",
    "QUANTDB_FINANCIAL_YEARS": "2",
    "QUANTDB_WAREHOUSE": "w/x.duckdb",
}


def test_the_cli_and_the_dagster_resources_read_the_same_environment_alike(clean_env):
    for name, value in ENVIRONMENT.items():
        clean_env.setenv(name, value)
    parser = cli._parser()
    args = parser.parse_args(["run"])
    cli._env_defaults(parser, parser.run_parser, args)
    cli._markets(args)
    from_cli = cli._market_resource(args)
    resources = resources_from_env()
    from_env = resources["market"]
    fields = list(MarketSourceResource.model_fields)
    assert {f: getattr(from_cli, f) for f in fields} == {f: getattr(from_env, f) for f in fields}
    assert (
        from_env.kind,
        from_env.symbols,
        from_env.hk_symbols,
        from_env.requests_per_second,
        from_env.sample_today,
        from_env.sample_size,
        from_env.financial_years,
    ) == ("akshare", "600000,000001", "00700,0005.HK", 0.75, "2024-08-30", 20, 2)
    assert args.settings.warehouse_path(args.warehouse) == Path(resources["warehouse"].database) == Path("w/x.duckdb")
    # an option on the command line wins over its variable in the CLI only
    args = parser.parse_args(["run", "--requests-per-second", "3", "--symbols", "600001"])
    cli._env_defaults(parser, parser.run_parser, args)
    cli._markets(args)
    assert (cli._market_resource(args).requests_per_second, cli._market_resource(args).symbols) == (3.0, "600001")


def test_a_json_list_in_the_environment_reaches_the_clis_symbol_check(clean_env, capsys):
    clean_env.setenv("QUANTDB_SYMBOLS", '["600000", "60000A"]')
    assert cli.main(["run"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("quantdb-pipeline run: error: $QUANTDB_SYMBOLS: unrecognised symbol '60000A'"), err
    assert len(err.splitlines()) == 1


def test_the_readmes_configuration_table_names_every_setting_with_its_default():
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Configuration") :]
    table = table[: table.index("\n\n", table.index("| environment variable"))]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(QUANTDB_\w+)` \|.*\| ([^|]+) \|$", table, re.M)}
    assert set(rows) == {Settings.variable(field) for field in Settings.model_fields}
    for field, info in Settings.model_fields.items():
        if isinstance(info.default, (int, float)) and not isinstance(info.default, bool):
            assert rows[Settings.variable(field)].strip().replace(",", "") == f"{info.default:g}", field


def _steps_seen(resource: MarketSourceResource, runs: int = 2) -> list[tuple]:
    seen = []

    @dagster.asset
    def first(market: MarketSourceResource):
        seen.append((market.limiter, market.progress, market.build()._limiter))
        market.progress.report("first", 1, 2, "600000", 5)

    @dagster.asset(deps=[first])
    def second(market: MarketSourceResource):
        seen.append((market.limiter, market.progress, market.build()._limiter))

    for _ in range(runs):
        assert dagster.materialize([first, second], resources={"market": resource}).success
    return seen


def test_every_step_of_every_run_shares_the_resources_limiter_and_progress_feed():
    market = MarketSourceResource(kind="akshare", requests_per_second=2.0)
    heard = []
    with market.progress.listening(lambda *counts: heard.append(counts)):
        seen = _steps_seen(market)
    assert len(seen) == 4  # two steps, two runs: each a copy Dagster made of `market`
    assert all(limiter is market.limiter and built is market.limiter for limiter, _, built in seen)
    assert all(feed is market.progress for _, feed, _ in seen)
    assert heard == [("first", 1, 2, "600000", 5)] * 2  # the CLI's display hears every run's steps
    market.progress.report("first", 2, 2, "600001", 1)
    assert len(heard) == 2  # not after it stopped listening
    # another resource object owns its own; a run configured with another rate gets that rate's
    other = MarketSourceResource(kind="akshare", requests_per_second=2.0)
    assert other.limiter is not market.limiter and other.progress is not market.progress
    # a run whose config sets another rate (Dagster's copy of `market` with it) gets that rate's limiter
    faster = market._with_updated_values({"requests_per_second": 5.0})
    assert faster.limiter.interval == pytest.approx(0.2) and market.limiter.interval == pytest.approx(0.5)
    assert market._with_updated_values({"requests_per_second": 5.0}).limiter is faster.limiter
