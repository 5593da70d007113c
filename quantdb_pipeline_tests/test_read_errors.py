"""What a new user of `read` trips over, on the demo warehouse (the session's `demo_warehouse`):
the README's names importable with `*`, one error for an HK code where only A-shares are kept,
`columns=` on index_bars, int symbols, `adjust` in any case, ISO date-time strings, no library
warning reaching the reader, and errors that name the warehouse file, a recorded code switch,
a delisting and a listing date."""

from __future__ import annotations

import ast
import datetime as dt
import re
import shutil
import warnings

import duckdb
import pandas as pd
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline_tests.conftest import DEMO_TODAY, REPO

pytestmark = pytest.mark.slow  # on the session's demo warehouse (the whole sample market through the CLI)


@pytest.fixture(scope="module")
def w(demo_warehouse):
    read.clear_cache()
    return demo_warehouse


def _readme_read_names() -> set[str]:
    """Every name the README imports from quantdb_pipeline.read in its Python blocks, and every
    function its feature table lists for the read API."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    names = set()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module == "quantdb_pipeline.read":
                names |= {alias.name for alias in node.names}
    (row,) = [line for line in text.splitlines() if line.startswith("| Read API |")]
    names |= set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", row)))  # not the arguments in parentheses
    return names


def test_every_read_function_the_readme_names_is_exported_by_star_import(w):
    names = _readme_read_names()
    assert {"name_history", "profile", "financials", "daily_bars", "panel", "connect"} <= names
    assert names <= set(read.__all__), (
        f"named in the README, missing from read.__all__: {sorted(names - set(read.__all__))}"
    )
    namespace: dict = {}
    exec("from quantdb_pipeline.read import *", namespace)
    history = namespace["name_history"]("000002", warehouse=w)
    assert history["name"].tolist() == read.name_history("000002", warehouse=w)["name"].tolist() and len(history) >= 2


@pytest.mark.parametrize(
    "call, hint",
    [
        (lambda w: read.financials("00700", warehouse=w), "financials cover A-shares only"),
        (lambda w: read.financials(["600000", "0700.HK"], warehouse=w), "financials cover A-shares only"),
        (lambda w: read.corporate_actions("00700", warehouse=w), "corporate actions cover A-shares"),
        (lambda w: read.adjustment_factors("00700", warehouse=w), "HK factors are in hk_adjustment_factors"),
        (lambda w: read.profile("00700", warehouse=w), "profiles are kept for A-shares only"),
        (lambda w: read.profile("hk00700", as_of="2024-01-02", warehouse=w), "profiles are kept for A-shares only"),
        (lambda w: read.name_history("0700.HK", warehouse=w), "name histories are kept for A-shares only"),
    ],
)
def test_an_hk_code_where_only_a_shares_are_kept_is_one_clear_error(w, call, hint):
    with pytest.raises(ValueError, match=rf"^00700: not A-share symbol\(s\); {hint}") as raised:
        call(w)
    assert "six-digit" not in str(raised.value)


def test_index_bars_takes_columns_as_daily_bars_does(w):
    full = read.index_bars("000300", "2024-03-04", "2024-03-08", warehouse=w)
    close = read.index_bars("000300", "2024-03-04", "2024-03-08", columns="close", warehouse=w)
    assert list(close.columns) == ["symbol", "trade_date", "close"] and len(close) == 5
    assert close["close"].tolist() == full["close"].tolist()
    two = read.index_bars(["000300", "399006"], "2024-03-04", "2024-03-08", ["volume", "open"], warehouse=w)
    assert list(two.columns) == ["symbol", "trade_date", "volume", "open"] and len(two) == 10
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['turnover_rate'\]"):
        read.index_bars("000300", columns="turnover_rate", warehouse=w)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda w: read.daily_bars(600000, warehouse=w), r"^symbols=600000 is of type int, not str: .*give '600000'"),
        (lambda w: read.daily_bars(["600000", 1], warehouse=w), r"^symbols=1 is of type int, not str: .*give '000001'"),
        (lambda w: read.panel("close", [1], warehouse=w), r"^symbols=1 is of type int.*leading zeros"),
        (lambda w: read.financials(600000, warehouse=w), r"^symbols=600000 is of type int"),
        (lambda w: read.profile(2, warehouse=w), r"^symbol=2 is of type int, not str: .*give '000002'"),
        (lambda w: read.index_bars(300, warehouse=w), r"^symbols=300 is of type int, not str: .*give '000300'"),
    ],
)
def test_an_int_symbol_is_a_type_error_saying_symbols_are_strings(w, call, message):
    with pytest.raises(TypeError, match=message):
        call(w)


def test_adjust_is_case_insensitive(w):
    expected = read.daily_bars("600002", adjust="qfq", warehouse=w)
    for spelling in ("QFQ", "Qfq", " qfq "):
        assert read.daily_bars("600002", adjust=spelling, warehouse=w).equals(expected), spelling
    assert read.daily_bars("600002", adjust="HFQ", warehouse=w).equals(
        read.daily_bars("600002", adjust="hfq", warehouse=w)
    )
    assert read.panel("close", ["600002"], adjust="QFQ", warehouse=w).equals(
        read.panel("close", ["600002"], adjust="qfq", warehouse=w)
    )
    assert not expected["close"].equals(read.daily_bars("600002", warehouse=w)["close"])  # it did adjust
    with pytest.raises(ValueError, match=r"adjust='forward': use None"):
        read.daily_bars("600002", adjust="forward", warehouse=w)


@pytest.mark.parametrize(
    "start, end",
    [
        ("2024-03-04T00:00:00", "2024-03-08T00:00:00"),
        ("2024-03-04 00:00", "2024-03-08 15:00:00"),
        ("2024-03-04T09:30:00+08:00", "2024-03-08T23:59:59.999999"),
    ],
)
def test_an_iso_date_time_string_counts_as_its_date(w, start, end):
    expected = read.daily_bars("600000", "2024-03-04", "2024-03-08", warehouse=w)
    assert len(expected) == 5 and read.daily_bars("600000", start, end, warehouse=w).equals(expected)
    assert len(read.trading_days(start, end, warehouse=w)) == 5
    assert read.securities(as_of=start, warehouse=w).equals(read.securities(as_of="2024-03-04", warehouse=w))


def test_no_library_warning_reaches_the_reader(w):
    calls = {
        "daily_bars": lambda: read.daily_bars(
            ["600000", "0700.HK"],
            "2026-01-05",
            "2026-01-09",
            columns=["close", "ingested_at"],
            adjust="qfq",
            warehouse=w,
        ),
        "index_bars": lambda: read.index_bars("000300", "2026-01-05", "2026-01-09", warehouse=w),
        "panel": lambda: read.panel(
            "close", ["600000", "000001"], "2026-01-05", "2026-01-09", adjust="hfq", warehouse=w
        ),
        "securities": lambda: read.securities(as_of="2024-06-03", warehouse=w),
        "profile": lambda: read.profile("000002", warehouse=w),
        "name_history": lambda: read.name_history("000002", warehouse=w),
        "financials": lambda: read.financials("600000", warehouse=w),
        "corporate_actions": lambda: read.corporate_actions(start="2026-01-01", warehouse=w),
        "adjustment_factors": lambda: read.adjustment_factors("600002", warehouse=w),
        "hk_adjustment_factors": lambda: read.hk_adjustment_factors("00700", warehouse=w),
        "market_closures": lambda: read.market_closures(warehouse=w),  # empty, with a TIMESTAMPTZ column
        "trading_days": lambda: read.trading_days("2026-01-05", "2026-01-09", warehouse=w),
        "indices": lambda: read.indices(warehouse=w),
        "hk_securities": lambda: read.hk_securities(warehouse=w),
    }
    read.clear_cache()
    sizes = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning (pandas, numpy, duckdb) fails the call
        for name, call in calls.items():
            sizes[name] = len(call())
    assert sizes["daily_bars"] == 10 and sizes["market_closures"] == 0 and sizes["trading_days"] == 5
    instant = read.daily_bars("600000", "2026-01-05", "2026-01-09", columns="ingested_at", warehouse=w)["ingested_at"]
    assert instant.dtype.unit == "ns" and str(instant.dtype.tz) in ("UTC", "Etc/UTC")  # converted, still UTC


def test_unknown_symbol_and_no_profile_errors_name_the_warehouse_file(w):
    path = str(w.resolve())
    with pytest.raises(read.UnknownSymbolError, match=re.escape(f"not in the securities table of {path}")):
        read.daily_bars("603999", warehouse=w)
    with pytest.raises(read.UnknownSymbolError, match=re.escape(path)):
        read.profile("603999", warehouse=w)
    assert "399999" not in set(read.indices(warehouse=w)["symbol"])
    with pytest.raises(read.UnknownSymbolError, match=re.escape(f"not in the indices table of {path}")):
        read.index_bars("399999", warehouse=w)
    with pytest.raises(read.NoProfileError, match=re.escape(path)):
        read.profile("000002", as_of="2010-01-01", warehouse=w)


def test_an_old_code_the_warehouse_recorded_as_switched_names_its_new_code(w, tmp_path):
    # the demo's one run starts after the switch: its BSE list shows only 920xxx codes and names no
    # previous code (as akshare's does not), so the warehouse never saw 830001 and cannot say more
    with pytest.raises(read.UnknownSymbolError) as raised:
        read.profile("830001", warehouse=w)
    assert "is now" not in str(raised.value)
    # A warehouse that recorded the switch without a securities row for the old code, as when the
    # BSE list names the previous code (listing_status rule 1): the other reads point to the new one.
    copy = tmp_path / "switched.duckdb"
    shutil.copy(w, copy)
    with duckdb.connect(str(copy)) as conn:
        conn.execute(
            "INSERT INTO symbol_changes (old_symbol, new_symbol, change_date, matched_by, name, list_date, "
            "source, run_id, ingested_at) SELECT '830001', symbol, DATE '2025-10-09', 'exchange_list', name, "
            "list_date, 'sample', 'test', now() FROM securities WHERE symbol = '920001'"
        )
    for call in (
        lambda: read.profile("830001", warehouse=copy),
        lambda: read.financials("830001", warehouse=copy),
        lambda: read.name_history("830001", warehouse=copy),
    ):
        with pytest.raises(
            read.UnknownSymbolError, match=re.escape("830001 is now 920001 (since 2025-10-09): use '920001'")
        ):
            call()
    bars = read.daily_bars("830001", "2026-01-05", "2026-01-09", warehouse=copy)  # joined history, no error
    assert (
        bars["close"].tolist() == read.daily_bars("920001", "2026-01-05", "2026-01-09", warehouse=w)["close"].tolist()
    )
    read.close()


def test_profile_before_listing_or_after_delisting_says_so(w):
    universe = SampleMarket(today=DEMO_TODAY).universe().set_index("code")
    delisted = universe.loc["600001"]
    assert str(delisted["delist_date"]) == "2025-03-17"
    with pytest.raises(
        read.NoProfileError, match=r"^no profile of 600001 on 2025-06-01: it was delisted on 2025-03-17 "
    ):
        read.profile("600001", as_of="2025-06-01", warehouse=w)
    with pytest.raises(read.NoProfileError, match=r"^no profile of 600001: it was delisted on 2025-03-17 "):
        read.profile("600001", warehouse=w)
    assert str(universe.loc["000002", "list_date"]) == "2011-06-01"
    with pytest.raises(
        read.NoProfileError,
        match=r"^no profile of 000002 on 2010-01-01: it was not listed yet "
        r"\(listed on 2011-06-01;",
    ):
        read.profile("000002", as_of=dt.date(2010, 1, 1), warehouse=w)
    assert read.profile("000002", as_of=pd.Timestamp(DEMO_TODAY), warehouse=w)["symbol"] == "000002"
