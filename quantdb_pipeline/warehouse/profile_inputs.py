"""What profiles are built from, stored between the steps that fetch it and the step that uses it.

- `quote_list_snapshot`: the last whole-market quote list (name, price, market values), written
  by whichever step fetched the list, so the profile step never asks for it a second time;
- `exchange_shares`: share counts from the SZSE and BSE lists, written with each securities load;
- `industry_assignments`: each symbol's eastmoney industry board, replaced weekly as a whole;
- `security_names`: dated names from SZSE's name-change records, replaced as a whole;
- `former_names`: sina's undated former names, replaced per symbol asked.

Each write replaces what it covers in one transaction (see `writes`).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from quantdb_pipeline.schema import QUOTE_SNAPSHOT_COLUMNS
from quantdb_pipeline.warehouse.writes import Lineage, _lineage_params, _record_outcomes, staged, transaction


def _replace_all(conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, columns: list[str],
                 lineage: Lineage, observed_on: dt.date | None) -> int:
    """Replace every row of `table` with `frame[columns]` (+ observed_on if given), stamped."""
    extra = ["observed_on"] if observed_on is not None else []
    rows = frame[columns].drop_duplicates(columns[:1] if table != "security_names" else ["symbol", "valid_from"])
    values = ", ".join(columns) + (", ?" if extra else "")
    with staged(conn, staged_inputs=rows), transaction(conn):
        conn.execute(f"DELETE FROM {table}")
        conn.execute(f"INSERT INTO {table} ({', '.join(columns + extra)}, source, run_id, ingested_at) "
                     f"SELECT {values}, ?, ?, ? FROM staged_inputs",
                     ([observed_on] if extra else []) + _lineage_params(lineage))
    return len(frame)


def store_quote_list(conn: duckdb.DuckDBPyConnection, quotes: pd.DataFrame, day: dt.date, lineage: Lineage) -> int:
    """Replace the snapshot with `quotes` (`normalize.quote_list_profiles` rows) taken for `day`."""
    return _replace_all(conn, "quote_list_snapshot", quotes, QUOTE_SNAPSHOT_COLUMNS, lineage, day)


def quote_list_snapshot(conn: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, pd.DataFrame]:
    """(the day the stored snapshot was taken for or None, its rows)."""
    frame = conn.execute(f"SELECT {', '.join(QUOTE_SNAPSHOT_COLUMNS)}, observed_on FROM quote_list_snapshot "
                         "ORDER BY symbol").df()
    day = frame["observed_on"].max() if len(frame) else None
    return (day.date() if day is not None else None), frame.drop(columns="observed_on")


def store_exchange_shares(conn: duckdb.DuckDBPyConnection, shares: pd.DataFrame, day: dt.date,
                          lineage: Lineage) -> int:
    """Replace the stored exchange share counts with `shares` (symbol, total_shares, float_shares)."""
    if shares.empty:
        return 0  # a list without share columns says nothing about shares: keep what is stored
    return _replace_all(conn, "exchange_shares", shares, ["symbol", "total_shares", "float_shares"], lineage, day)


def replace_industries(conn: duckdb.DuckDBPyConnection, members: pd.DataFrame, day: dt.date, lineage: Lineage,
                       boards: list[str] | None = None, outcomes: pd.DataFrame | None = None,
                       dataset: str = "industry_boards") -> int:
    """Replace the industry assignments with `members` (symbol, industry, board_code; a symbol on
    two boards keeps the first): all of them (`boards` None), or those of the boards in `boards`
    and of the symbols in `members`. `outcomes` (symbol = board code, status, error) go to
    ingest_state under `dataset`."""
    members = members[["symbol", "industry", "board_code"]].drop_duplicates("symbol", keep="first")
    with staged(conn, staged_members=members,
                staged_boards=pd.DataFrame({"board_code": pd.Series(boards or [], dtype="string")}),
                **({"staged_outcomes": outcomes[["symbol", "status", "error"]]} if outcomes is not None else {})), \
            transaction(conn):
        if boards is None:
            conn.execute("DELETE FROM industry_assignments")
        else:
            conn.execute("DELETE FROM industry_assignments WHERE board_code IN (SELECT board_code FROM staged_boards) "
                         "OR symbol IN (SELECT symbol FROM staged_members)")
        conn.execute("INSERT INTO industry_assignments (symbol, industry, board_code, observed_on, source, run_id, "
                     "ingested_at) SELECT symbol, industry, board_code, ?, ?, ?, ? FROM staged_members",
                     [day, *_lineage_params(lineage)])
        if outcomes is not None:
            _record_outcomes(conn, dataset, lineage, day)
    return len(members)


def replace_name_periods(conn: duckdb.DuckDBPyConnection, periods: pd.DataFrame, lineage: Lineage) -> int:
    """Replace the dated names with `periods` (`normalize.sz_name_periods` rows)."""
    return _replace_all(conn, "security_names", periods, ["symbol", "valid_from", "valid_to", "name", "is_st"],
                        lineage, None)


def replace_former_names(conn: duckdb.DuckDBPyConnection, names: pd.DataFrame, asked: list[str],
                         outcomes: pd.DataFrame, lineage: Lineage, today: dt.date, dataset: str) -> int:
    """Replace the former names of each symbol in `asked` with its rows in `names`; record
    `outcomes` (symbol, status, error) under `dataset` in ingest_state (as_of = the day asked)."""
    with staged(conn, staged_names=names[["symbol", "position", "name", "is_st"]],
                staged_asked=pd.DataFrame({"symbol": pd.Series(asked, dtype="string")}),
                staged_outcomes=outcomes[["symbol", "status", "error"]].drop_duplicates("symbol", keep="last")), \
            transaction(conn):
        conn.execute("DELETE FROM former_names WHERE symbol IN (SELECT symbol FROM staged_asked)")
        conn.execute("INSERT INTO former_names (symbol, position, name, is_st, source, run_id, ingested_at) "
                     "SELECT symbol, position, name, is_st, ?, ?, ? FROM staged_names", _lineage_params(lineage))
        _record_outcomes(conn, dataset, lineage, today)
    return len(names)


def record_failures(conn: duckdb.DuckDBPyConnection, dataset: str, symbols: list[str], reason: str,
                    lineage: Lineage, today: dt.date) -> None:
    """Record `symbols` failed under `dataset` in ingest_state (nothing else is written)."""
    with staged(conn, staged_outcomes=pd.DataFrame({"symbol": pd.Series(symbols, dtype="string"), "status": "failed",
                                                    "error": pd.Series([reason] * len(symbols), dtype="string")})), \
            transaction(conn):
        _record_outcomes(conn, dataset, lineage, today)
