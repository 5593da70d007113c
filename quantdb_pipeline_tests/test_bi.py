"""What BI tools and notebooks use beyond daily_bars: the SQL views, panels, and the qdb-compatible
get_stock_data, on a sample warehouse that has seen a dividend."""

import datetime as dt
import re

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.compat import get_stock_data
from quantdb_pipeline.sources.sample import DIVIDEND_DATE, DIVIDEND_SYMBOL, SampleMarket
from quantdb_pipeline.warehouse import schema
from quantdb_pipeline.warehouse.comments import COLUMN_COMMENTS, TABLE_COMMENTS
from quantdb_pipeline_tests.conftest import module_pipeline

SYMBOLS = f"{DIVIDEND_SYMBOL},600000,000001,000004"
TODAY = "2026-07-20"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """One published warehouse for the module: its tests only read it."""
    with module_pipeline(tmp_path_factory.mktemp("bi")) as pipeline:
        assert pipeline.run("2026-06-01", TODAY, today=TODAY, symbols=SYMBOLS).success
        yield pipeline.warehouse


def test_the_bars_adjusted_view_agrees_with_read(warehouse):
    with read.connect(warehouse) as conn:
        view = conn.execute(
            "SELECT trade_date, close, close_qfq, close_hfq FROM bars_adjusted WHERE symbol = ? ORDER BY trade_date",
            [DIVIDEND_SYMBOL],
        ).df()
        comment = conn.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'bars_adjusted'").fetchall()
    for adjust, column in (("qfq", "close_qfq"), ("hfq", "close_hfq"), (None, "close")):
        expected = read.daily_bars(DIVIDEND_SYMBOL, adjust=adjust, warehouse=warehouse)["close"]
        np.testing.assert_allclose(view[column], expected, rtol=1e-12)
    assert "forward-adjusted" in comment[0][0]
    before = view[view["trade_date"].dt.date < DIVIDEND_DATE]
    assert (before["close_qfq"] < before["close"]).all()


#: Where a comment may quote upstream's Chinese: "upstream: 收盘" (up to the next ";" or ")").
UPSTREAM_QUOTE = re.compile(r"upstream: [^;)]*")
CJK = re.compile(r"[\u3400-\u9fff]")


def test_every_column_of_every_table_and_view_has_an_english_comment(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as conn:  # the published file, as a BI tool opens it
        columns = conn.execute("""
            SELECT c.table_name, c.column_name, c.data_type, c.comment, v.view_name IS NOT NULL AS is_view
            FROM duckdb_columns() c
            LEFT JOIN duckdb_views() v ON v.database_name = c.database_name AND v.schema_name = c.schema_name
                                      AND v.view_name = c.table_name
            WHERE c.database_name = current_database() AND c.schema_name = 'main' AND NOT c.internal
            ORDER BY ALL""").fetchall()
    missing = [f"{table}.{column}" for table, column, _, comment, _ in columns if not (comment or "").strip()]
    assert not missing, f"{len(missing)} of {len(columns)} columns have no comment: {', '.join(missing)}"
    views = {table for table, *_, is_view in columns if is_view}
    assert {"bars_adjusted", "key_financials", "latest_profiles", "report_announcements", "trading_sessions"} <= views
    not_english = [f"{t}.{c}" for t, c, _, comment, _ in columns if CJK.search(UPSTREAM_QUOTE.sub("", comment))]
    assert not not_english, f"Chinese outside an 'upstream: ...' quote in: {', '.join(not_english)}"
    undated = [
        f"{t}.{c}"
        for t, c, kind, comment, _ in columns
        if kind == "DATE" and not re.search(r"Asia/Shanghai|Asia/Hong_Kong|calendar date", comment)
    ]
    assert not undated, f"DATE columns whose comment does not say whose day it is: {', '.join(undated)}"
    not_utc = [
        f"{t}.{c}" for t, c, kind, comment, _ in columns if kind.startswith("TIMESTAMP") and "UTC" not in comment
    ]
    assert not not_utc, f"timestamps whose comment does not say UTC: {', '.join(not_utc)}"
    units = dict(((t, c), comment) for t, c, _, comment, _ in columns)
    assert "CNY" in units[("daily_bars", "close")] and "HKD" in units[("hk_daily_bars", "close")]
    assert "shares" in units[("daily_bars", "volume")] and "percent" in units[("key_financials", "roe")]
    known = {(table, column) for table, entries in COLUMN_COMMENTS.items() for column in entries}
    assert known <= set(units), f"comments for columns that do not exist: {sorted(known - set(units))}"


def test_every_table_and_view_has_a_table_comment(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as conn:  # the published file, as a BI tool opens it
        relations = conn.execute("""
            SELECT table_name, comment FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
            UNION ALL
            SELECT view_name, comment FROM duckdb_views()
            WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
            ORDER BY ALL""").fetchall()
    names = {name for name, _ in relations}
    assert {
        "bar_coverage",
        "ingest_state",
        "pipeline_settings",
        "schema_migrations",
        "bars_adjusted",
        "trading_sessions",
    } <= names
    missing = [name for name, comment in relations if not (comment or "").strip()]
    assert not missing, f"{len(missing)} of {len(relations)} tables and views have no comment: {', '.join(missing)}"
    stored = dict(relations)
    assert stored == {name: TABLE_COMMENTS[name] for name in names}, (
        "a stored table comment differs from TABLE_COMMENTS"
    )
    assert set(TABLE_COMMENTS) <= names, f"comments for tables that do not exist: {sorted(set(TABLE_COMMENTS) - names)}"


def test_a_recreated_view_gets_its_table_comment_back():
    conn = schema.prepare(duckdb.connect())
    (sql,) = conn.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'trading_sessions'").fetchone()
    conn.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))  # as a later migration would
    comment = "SELECT comment FROM duckdb_views() WHERE view_name = 'trading_sessions'"
    assert conn.execute(comment).fetchall() == [(None,)]  # DuckDB drops a re-created view's comment
    schema.migrate(conn)
    assert conn.execute(comment).fetchall() == [(TABLE_COMMENTS["trading_sessions"],)]


def test_column_comments_come_back_after_a_view_is_recreated():
    conn = schema.prepare(duckdb.connect())
    (sql,) = conn.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'trading_sessions'").fetchone()
    conn.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))  # as a later migration would
    comment = (
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'trading_sessions' AND column_name = 'trade_date'"
    )
    assert conn.execute(comment).fetchall() == [(None,)]  # DuckDB drops a re-created view's column comments
    schema.migrate(conn)
    assert conn.execute(comment).fetchall() == [(COLUMN_COMMENTS["trading_sessions"]["trade_date"],)]


def test_latest_profiles_view_has_every_security(warehouse):
    with read.connect(warehouse) as conn:
        rows = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE symbol = '000002' AND is_st) FROM latest_profiles"
        ).fetchall()[0]
    assert rows[0] == len(read.securities(include_delisted=True, warehouse=warehouse)) and rows[1] == 1


def test_panel_is_dates_by_symbols_with_gaps_as_missing(warehouse):
    closes = read.panel("close", start="2026-06-01", end=TODAY, warehouse=warehouse)
    assert sorted(closes.columns) == sorted(SYMBOLS.split(","))
    assert list(closes.index) == sorted(closes.index)
    assert len(closes) == len(read.trading_days("2026-06-01", TODAY, warehouse=warehouse))
    day = pd.Timestamp("2026-06-15")
    one = read.daily_bars("600000", day, day, warehouse=warehouse)
    assert closes.loc[day, "600000"] == one["close"].iloc[0]
    qfq = read.panel("close", [DIVIDEND_SYMBOL], adjust="qfq", warehouse=warehouse)
    assert (
        qfq[DIVIDEND_SYMBOL].tolist()
        == read.daily_bars(DIVIDEND_SYMBOL, adjust="qfq", warehouse=warehouse)["close"].tolist()
    )
    table = read.panel("volume", ["600000", "000001"], output="arrow", warehouse=warehouse)
    assert isinstance(table, pa.Table) and table.column_names == ["trade_date", "000001", "600000"]
    with pytest.raises(ValueError, match="unknown field"):
        read.panel("close; DROP TABLE daily_bars", warehouse=warehouse)
    with pytest.raises(ValueError, match="output="):
        read.panel("close", output="excel", warehouse=warehouse)


def test_panel_equals_a_pivot_of_daily_bars_for_every_field_and_adjustment(warehouse):
    codes = SYMBOLS.split(",")
    for field, adjust in (("close", None), ("volume", None), ("open", "hfq"), ("close", "qfq")):
        long = read.daily_bars(codes, "2026-06-01", TODAY, columns=[field], adjust=adjust, warehouse=warehouse)
        expected = long.pivot(index="trade_date", columns="symbol", values=field).astype("float64")
        expected.columns.name = None
        got = read.panel(field, codes, "2026-06-01", TODAY, adjust=adjust, warehouse=warehouse)
        pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_freq=False)
        assert list(got.columns) == sorted(codes)
    with pytest.raises(read.UnknownSymbolError, match="688999"):
        read.panel("close", ["600000", "688999"], warehouse=warehouse)
    with pytest.raises(ValueError, match="A-shares only"):
        read.panel("close", ["600000", "00700"], warehouse=warehouse)


def test_get_stock_data_answers_like_qdb_and_akshare(warehouse):
    frame = get_stock_data("600000", start_date="20260701", end_date="20260710", warehouse=warehouse)
    raw = SampleMarket(today=TODAY).a_share_daily_raw("600000", dt.date(2026, 7, 1), dt.date(2026, 7, 10))
    assert list(frame.columns) == list(raw.columns)  # akshare's stock_zh_a_hist layout
    pd.testing.assert_frame_equal(frame, raw.reset_index(drop=True), check_dtype=False, atol=0.011)
    last3 = get_stock_data(DIVIDEND_SYMBOL, days=3, warehouse=warehouse)
    assert last3["日期"].tolist() == list(read.trading_days("2026-07-16", TODAY, warehouse=warehouse).date)
    qfq = get_stock_data(DIVIDEND_SYMBOL, end_date="20260714", days=2, adjust="qfq", warehouse=warehouse)
    assert qfq["收盘"].iloc[-1] == pytest.approx(45.96)  # 60.60 before the 07-15 dividend, in qfq terms
    with pytest.raises(ValueError, match="adjust="):
        get_stock_data("600000", adjust="forward", warehouse=warehouse)
