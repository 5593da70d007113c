"""`writes.staged`: frames are views for the block only, whether the block returns or raises."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from quantdb_pipeline.warehouse.writes import staged, upsert_rows


def _visible(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    try:
        conn.execute(f"SELECT count(*) FROM {name}").fetchall()
    except duckdb.CatalogException:
        return False
    return True


def test_views_exist_inside_the_block_and_are_gone_after_it():
    conn = duckdb.connect()
    prices = pd.DataFrame({"symbol": ["600000", "000001"], "close": [10.5, float("nan")]})
    days = pa.table({"trade_date": pa.array([dt.date(2024, 7, 1)], pa.date32())})
    with staged(conn, staged_prices=prices, staged_days=days) as same:
        assert same is conn
        # pandas frames are staged as Arrow: NaN is NULL, as the writes have always stored it
        assert conn.execute("SELECT symbol, close FROM staged_prices ORDER BY symbol").fetchall() == [
            ("000001", None),
            ("600000", 10.5),
        ]
        assert conn.execute("SELECT trade_date FROM staged_days").fetchall() == [(dt.date(2024, 7, 1),)]
    assert not _visible(conn, "staged_prices") and not _visible(conn, "staged_days")


def test_views_are_gone_after_an_exception_in_the_block():
    conn = duckdb.connect()
    with (
        pytest.raises(ZeroDivisionError),
        staged(conn, staged_a=pd.DataFrame({"x": [1]}), staged_b=pd.DataFrame({"y": [2]})),
    ):
        assert conn.execute("SELECT x + (SELECT y FROM staged_b) FROM staged_a").fetchall() == [(3,)]
        raise ZeroDivisionError("inside the block")
    assert not _visible(conn, "staged_a") and not _visible(conn, "staged_b")


def test_a_write_that_fails_leaves_no_view_behind_and_stores_nothing():
    conn = duckdb.connect()
    conn.execute("CREATE TABLE indices (code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL)")
    conn.execute("INSERT INTO indices VALUES ('000300', 'CSI 300')")
    # a NULL name breaks NOT NULL inside the transaction: rolled back, and the staged rows unregistered
    with pytest.raises(duckdb.ConstraintException):
        upsert_rows(conn, "indices", pd.DataFrame({"code": ["000300", "000905"], "name": ["renamed", None]}), "code")
    assert not _visible(conn, "staged_rows")
    assert conn.execute("SELECT * FROM indices").fetchall() == [("000300", "CSI 300")]
    assert upsert_rows(conn, "indices", pd.DataFrame({"code": ["000905"], "name": ["CSI 500"]}), "code") == 2
    assert not _visible(conn, "staged_rows")
