import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.read.connection import _cursor
from quantdb_pipeline.sources.sample import SUSPENDED_SYMBOL, SampleMarket
from quantdb_pipeline.warehouse import connect
from quantdb_pipeline.warehouse.writes import Lineage


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("read") / "quantdb.duckdb"
    market = SampleMarket(today="2024-08-30")
    lineage = Lineage.now("sample", "test-run")
    with connect(path) as conn:
        load_trading_calendar(conn, market, lineage)
        load_securities(conn, market, lineage)
        load_daily_bars(conn, market, dt.date(2024, 5, 20), dt.date(2024, 8, 30), lineage)
    return path


@pytest.mark.parametrize("form", ["600000", "sh600000", "600000.SH", "SH600000"])
def test_every_symbol_form_reads_the_same_rows(warehouse, form):
    bars = read.daily_bars(form, start="2024-06-03", end="2024-06-07", warehouse=warehouse)
    assert bars["symbol"].unique().tolist() == ["600000"]
    assert bars["trade_date"].dt.date.tolist() == [dt.date(2024, 6, d) for d in (3, 4, 5, 6, 7)]


@pytest.mark.parametrize(
    "start, end",
    [
        ("2024-06-03", "2024-06-07"),
        ("20240603", "20240607"),
        (dt.date(2024, 6, 3), dt.date(2024, 6, 7)),
        (pd.Timestamp("2024-06-03"), dt.datetime(2024, 6, 7, 15, 0)),
    ],
)
def test_date_forms(warehouse, start, end):
    bars = read.daily_bars("000001", start=start, end=end, warehouse=warehouse)
    assert len(bars) == 5


def test_sorted_by_symbol_then_date_with_the_default_columns(warehouse):
    bars = read.daily_bars(["600000", "000001.SZ"], start="2024-06-01", end="2024-06-30", warehouse=warehouse)
    assert list(bars.columns) == [
        "symbol",
        "trade_date",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "amount",
        "pct_change",
        "turnover_rate",
    ]
    assert bars[["symbol", "trade_date"]].equals(bars.sort_values(["symbol", "trade_date"])[["symbol", "trade_date"]])
    assert bars["symbol"].iloc[0] == "000001"


def test_matches_the_source_after_unit_conversion(warehouse):
    raw = SampleMarket(today="2024-08-30").a_share_daily_raw("300002", dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    bars = read.daily_bars("300002", "2024-07-01", "2024-07-31", columns=["close", "volume"], warehouse=warehouse)
    assert bars["close"].tolist() == raw["收盘"].tolist()
    assert bars["volume"].tolist() == (raw["成交量"] * 100).tolist()


def test_columns_can_be_chosen_including_lineage(warehouse):
    bars = read.daily_bars("600000", "2024-06-03", "2024-06-03", columns=["close", "run_id"], warehouse=warehouse)
    assert list(bars.columns) == ["symbol", "trade_date", "close", "run_id"] and bars["run_id"][0] == "test-run"


def test_open_ended_ranges_and_a_suspension_without_rows(warehouse):
    everything = read.daily_bars(SUSPENDED_SYMBOL, warehouse=warehouse)
    assert everything["trade_date"].min().date() == dt.date(2024, 5, 20)
    june = read.daily_bars(SUSPENDED_SYMBOL, "2024-06-03", "2024-07-12", warehouse=warehouse)
    assert june.empty and list(june.columns)[:2] == ["symbol", "trade_date"]


def test_trading_days_and_securities(warehouse):
    days = read.trading_days("2024-09-27", "2024-10-09", warehouse=warehouse)
    assert list(days.date) == [dt.date(2024, 9, 27), dt.date(2024, 9, 30), dt.date(2024, 10, 8), dt.date(2024, 10, 9)]
    universe = read.securities(warehouse=warehouse)
    assert {"symbol", "exchange", "board", "name", "list_date", "delist_date"} <= set(universe.columns)
    assert len(universe) >= 60


def test_warehouse_from_the_environment(warehouse, monkeypatch):
    monkeypatch.setenv("QUANTDB_WAREHOUSE", str(warehouse))
    assert len(read.daily_bars("600000", "2024-06-03", "2024-06-07")) == 5


def test_missing_warehouse_says_how_to_create_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no project default here either: then it says how to create one
    with pytest.raises(read.WarehouseNotFoundError, match="quantdb-pipeline run"):
        read.daily_bars("600000", warehouse=tmp_path / "nope.duckdb")
    assert not (tmp_path / "nope.duckdb").exists()  # reading never creates a file


def test_unknown_symbol(warehouse):
    with pytest.raises(read.UnknownSymbolError, match="600999"):
        read.daily_bars(["600000", "600999"], warehouse=warehouse)


@pytest.mark.parametrize("bad", ["60000", "600000'; DROP TABLE daily_bars; --", "sh000001"])
def test_malformed_symbols_are_refused_and_never_reach_sql(warehouse, bad):
    with pytest.raises(read.UnknownSymbolError):
        read.daily_bars(bad, warehouse=warehouse)
    assert len(read.daily_bars("600000", warehouse=warehouse)) > 0


def test_start_after_end(warehouse):
    with pytest.raises(ValueError, match="start 2024-07-01 is after end 2024-06-01"):
        read.daily_bars("600000", start="2024-07-01", end="2024-06-01", warehouse=warehouse)


@pytest.mark.parametrize("bad", ["2024-13-01", "yesterday", 20240101])
def test_bad_dates(warehouse, bad):
    with pytest.raises(ValueError, match="is not a date"):
        read.daily_bars("600000", start=bad, warehouse=warehouse)


def test_unknown_column(warehouse):
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['close; DROP'\]"):
        read.daily_bars("600000", columns=["close; DROP"], warehouse=warehouse)


def test_connections_are_read_only(warehouse):
    with read.connect(warehouse) as conn:
        with pytest.raises(Exception, match="read-only"):
            conn.execute("DELETE FROM daily_bars")


def test_read_imports_neither_dagster_nor_akshare_nor_great_expectations():
    code = (
        "import sys, quantdb_pipeline.read; "
        "print(sorted(m for m in ('dagster', 'akshare', 'great_expectations') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_pandas_and_duckdb_are_imported_on_first_use_not_at_import(warehouse):
    code = (
        "import sys, quantdb_pipeline.read as read; before = [m for m in ('pandas', 'duckdb') if m in sys.modules]; "
        f"n = len(read.daily_bars('600000', '2024-06-03', '2024-06-07', warehouse={str(warehouse)!r})); "
        "print(before, n)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] 5"


def test_close_releases_the_file_for_a_writer_in_the_same_process(warehouse):
    import duckdb

    read.daily_bars("600000", "2024-06-03", "2024-06-07", warehouse=warehouse)
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(warehouse)).close()  # the cached read-only attachment holds the file
    read.close()
    duckdb.connect(str(warehouse)).close()
    assert len(read.daily_bars("600000", "2024-06-03", "2024-06-07", warehouse=warehouse)) == 5  # reopens


def _publish_edited_copy(published, tmp_path, sql: list[str]) -> None:
    """A new snapshot as the pipeline makes one: edit a copy, then rename it over the published file."""
    import os
    import shutil

    import duckdb

    work = tmp_path / "work.duckdb"
    shutil.copyfile(published, work)
    with duckdb.connect(str(work)) as conn:
        for statement in sql:
            conn.execute(statement)
    os.replace(work, published)


def test_every_thread_reads_a_new_snapshot_and_its_symbol_changes(warehouse, tmp_path):
    import shutil
    import threading

    published = tmp_path / "quantdb.duckdb"
    shutil.copyfile(warehouse, published)

    def read_in_thread() -> pd.DataFrame:
        out = {}
        worker = threading.Thread(
            target=lambda: out.update(bars=read.daily_bars("600000", "2024-06-03", "2024-06-07", warehouse=published))
        )
        worker.start()
        worker.join()
        return out["bars"]

    before_main = read.daily_bars("600000", "2024-06-03", "2024-06-07", warehouse=published)
    before_thread = read_in_thread()
    assert "symbol_changes" not in before_main.attrs
    _publish_edited_copy(
        published,
        tmp_path,
        [
            "UPDATE daily_bars SET close = 123.45 WHERE symbol = '600000' AND trade_date = DATE '2024-06-04'",
            "INSERT INTO symbol_changes VALUES ('600000', '600001', DATE '2024-06-06', 'test', 'renamed', NULL, "
            "'test', 'test-run', now())",
        ],
    )
    after_main = read.daily_bars("600000", "2024-06-03", "2024-06-04", warehouse=published)
    after_thread = read_in_thread()
    assert before_main.loc[before_main["trade_date"] == "2024-06-04", "close"].item() != 123.45
    assert after_main.loc[after_main["trade_date"] == "2024-06-04", "close"].item() == 123.45
    # the change is read from the new snapshot: from its change date on, the new code's bars
    assert after_main.attrs["symbol_changes"][["old_symbol", "new_symbol"]].values.tolist() == [["600000", "600001"]]
    joined = after_thread.set_index("trade_date")["close"]
    own = read.daily_bars("600001", "2024-06-06", "2024-06-07", warehouse=published).set_index("trade_date")["close"]
    assert joined.loc["2024-06-06":].tolist() == own.tolist()
    assert joined.loc["2024-06-04"] == 123.45
    assert before_thread["close"].tolist() == before_main["close"].tolist()


def test_a_read_inside_another_read_of_the_same_thread_leaves_its_result_alone(warehouse, monkeypatch):
    monkeypatch.setenv("QUANTDB_READ_CACHE_MB", "0")  # the query path, not the result cache
    expected = read.daily_bars("600000", "2024-06-03", "2024-06-07", warehouse=warehouse)
    with _cursor(warehouse) as outer:
        pending = outer.execute("SELECT trade_date FROM daily_bars WHERE symbol = '000001' ORDER BY trade_date")
        inner = read.daily_bars("600000", "2024-06-03", "2024-06-07", warehouse=warehouse)
        days = [day for (day,) in pending.fetchall()]
    assert inner.equals(expected)
    assert len(days) > 60 and days == sorted(days)


def test_threads_reading_at_once_each_get_their_own_rows(warehouse, monkeypatch):
    monkeypatch.setenv("QUANTDB_READ_CACHE_MB", "0")  # every thread queries (test_read_cache covers the cache)
    from concurrent.futures import ThreadPoolExecutor

    symbols = ["600000", "000001", "600002", "600003"] * 10
    expected = {s: read.daily_bars(s, "2024-06-03", "2024-07-31", warehouse=warehouse) for s in set(symbols)}
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: read.daily_bars(s, "2024-06-03", "2024-07-31", warehouse=warehouse), symbols))
    for symbol, bars in zip(symbols, results):
        assert bars.equals(expected[symbol]), symbol
        assert set(bars["symbol"]) == {symbol}
