"""The read-result cache: repeated bar reads of one published snapshot are served from memory."""

import datetime as dt
import os
import shutil
import warnings

import duckdb
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.settings import READ_CACHE_ENV, read_cache_bytes
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline_tests.faults import published_sample_warehouse

RANGE = ("2024-06-03", "2024-07-31")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("read_cache") / "quantdb.duckdb"
    return published_sample_warehouse(
        path, SampleMarket(today="2024-08-30"), dt.date(2024, 5, 20), dt.date(2024, 8, 30)
    )


@pytest.fixture
def published(source, tmp_path, monkeypatch):
    """A private copy of the warehouse (tests publish over it) and an empty cache with the default budget."""
    monkeypatch.delenv(READ_CACHE_ENV, raising=False)
    path = tmp_path / "quantdb.duckdb"
    shutil.copyfile(source, path)
    read.clear_cache()
    yield path
    read.clear_cache()
    read.close()


def _publish(published, sql: list[str]) -> None:
    """A new snapshot as the pipeline makes one: edit a copy, then rename it over the published file."""
    work = published.with_name("work.duckdb")
    shutil.copyfile(published, work)
    with duckdb.connect(str(work)) as conn:
        for statement in sql:
            conn.execute(statement)
    os.replace(work, published)


def test_a_repeated_read_is_served_from_the_cache_with_equal_rows(published):
    first = read.daily_bars("600000", *RANGE, warehouse=published)
    assert read.cache_info()["misses"] == 1 and read.cache_info()["hits"] == 0
    # other spellings of the same request are the same entry
    second = read.daily_bars("600000.SH", "20240603", dt.date(2024, 7, 31), warehouse=published)
    third = read.daily_bars(["sh600000"], *RANGE, columns=["symbol", *read.BAR_FIELDS[:8]], warehouse=published)
    info = read.cache_info()
    assert (info["hits"], info["misses"], info["entries"]) == (2, 1, 1)
    assert info["bytes"] == first.memory_usage(deep=False).sum() > 0
    assert len(first) == 42 and second.equals(first) and third.equals(first)
    assert second is not first and third is not second
    # a different request is a different entry
    qfq = read.daily_bars("600000", *RANGE, adjust="qfq", warehouse=published)
    assert read.cache_info()["entries"] == 2 and len(qfq) == len(first)


def test_mutating_a_returned_frame_never_changes_a_later_result(published):
    expected = read.daily_bars(["600000", "000001"], *RANGE, warehouse=published)
    original_close = expected["close"].tolist()
    mine = read.daily_bars(["600000", "000001"], *RANGE, warehouse=published)
    mine.loc[0, "close"] = -1.0
    mine["volume"] *= 0
    mine.drop(columns=["open"], inplace=True)
    mine.sort_values("close", ascending=False, inplace=True)
    mine.attrs["mine"] = True
    again = read.daily_bars(["600000", "000001"], *RANGE, warehouse=published)
    assert read.cache_info()["hits"] == 2
    assert again.equals(expected) and again["close"].tolist() == original_close
    assert "open" in again.columns and (again["volume"] > 0).all() and "mine" not in again.attrs
    # the same for a panel and for index bars
    wide = read.panel("close", ["600000", "000001"], *RANGE, warehouse=published)
    wide.iloc[:, 0] = 0.0
    assert (read.panel("close", ["600000", "000001"], *RANGE, warehouse=published).iloc[:, 0] > 0).all()


def test_a_new_snapshot_drops_the_old_results(published):
    before = read.daily_bars("600000", *RANGE, warehouse=published)
    read.panel("close", ["600000"], *RANGE, warehouse=published)
    assert read.cache_info()["entries"] == 2
    _publish(
        published, ["UPDATE daily_bars SET close = 123.45 WHERE symbol = '600000' AND trade_date = DATE '2024-06-04'"]
    )
    after = read.daily_bars("600000", *RANGE, warehouse=published)
    day = after["trade_date"] == "2024-06-04"
    assert before.loc[day, "close"].item() != 123.45 and after.loc[day, "close"].item() == 123.45
    info = read.cache_info()
    assert info["entries"] == 1 and info["hits"] == 0  # the old snapshot's two entries are gone
    assert read.panel("close", ["600000"], *RANGE, warehouse=published).loc["2024-06-04", "600000"] == 123.45


def test_the_byte_budget_evicts_least_recently_used_results(published, monkeypatch):
    one = read.daily_bars("600000", *RANGE, warehouse=published).memory_usage(deep=False).sum()
    budget_mib = 2.5 * one / 2**20  # room for two frames of this size, not three
    monkeypatch.setenv(READ_CACHE_ENV, f"{budget_mib:.9f}")
    read.clear_cache()
    symbols = ["600000", "000001", "600002", "600003", "600000"]
    for symbol in symbols:
        read.daily_bars(symbol, *RANGE, warehouse=published)
        info = read.cache_info()
        assert 0 < info["bytes"] <= info["budget"] == int(budget_mib * 2**20)
        assert info["entries"] <= 2
    info = read.cache_info()
    assert info["misses"] == 5 and info["evictions"] == 3  # 600000 was evicted before it came back
    read.daily_bars("600000", *RANGE, warehouse=published)
    read.daily_bars("600003", *RANGE, warehouse=published)
    assert read.cache_info()["hits"] == 2  # the two most recent stay


def test_a_zero_budget_keeps_nothing_and_still_reads_each_snapshot(published, monkeypatch):
    monkeypatch.setenv(READ_CACHE_ENV, "0")
    first = read.daily_bars("600000", *RANGE, warehouse=published)
    second = read.daily_bars("600000", *RANGE, warehouse=published)
    assert second.equals(first)
    assert read.cache_info() == {"hits": 0, "misses": 0, "evictions": 0, "entries": 0, "bytes": 0, "budget": 0}
    _publish(published, ["UPDATE daily_bars SET close = 7.5 WHERE symbol = '600000'"])
    assert set(read.daily_bars("600000", *RANGE, warehouse=published)["close"]) == {7.5}


def test_a_cached_result_warns_as_the_first_call_did(published):
    _publish(
        published,
        ["INSERT INTO adjustment_gaps VALUES ('600000', DATE '2024-07-01', 'test evidence', 'test reason', now())"],
    )
    for _ in range(2):
        with pytest.warns(read.AdjustmentGapWarning, match="600000 2024-07-01") as caught:
            bars = read.daily_bars("600000", *RANGE, adjust="qfq", warehouse=published)
        assert caught[0].filename == __file__  # points at the caller, on a hit too
        assert bars["adjustment_gap"].sum() == (bars["trade_date"] < "2024-07-01").sum() > 0
    assert read.cache_info()["hits"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read.daily_bars("600000", *RANGE, warehouse=published)  # unadjusted: no warning


def test_threads_share_the_cache_and_each_get_their_own_rows(published):
    from concurrent.futures import ThreadPoolExecutor

    symbols = ["600000", "000001", "600002", "600003"] * 10
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda s: read.daily_bars(s, *RANGE, warehouse=published), symbols))
    for symbol, bars in zip(symbols, results):
        assert set(bars["symbol"]) == {symbol} and len(bars) > 30
        assert bars.equals(results[symbols.index(symbol)])
    info = read.cache_info()
    # threads asking for a symbol at the same moment may each miss it once (a loaded machine makes
    # that likely), never more: a thread's own miss stores the result its next call finds
    assert info["entries"] == 4 and info["hits"] + info["misses"] == 40 and 4 <= info["misses"] <= 4 * 4


@pytest.mark.parametrize("bad", ["-1", "lots", "nan"])
def test_a_bad_budget_names_the_variable(bad):
    with pytest.raises(ValueError, match=READ_CACHE_ENV):
        read_cache_bytes({READ_CACHE_ENV: bad})
    assert read_cache_bytes({}) == 256 * 2**20 and read_cache_bytes({READ_CACHE_ENV: "0.5"}) == 2**19
