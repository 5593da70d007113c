"""The canonical datasets: their column names, in order, and their pandas dtypes.

One home for the shape every layer agrees on: `sources.normalize` builds frames of these
dtypes from upstream's, the quality gate (`quality/`) judges them and builds quarantine rows,
the loaders stage them and `warehouse.writes` inserts them by these column lists. The SQL
tables themselves are created by the migrations (`warehouse/migrations/*.sql`);
`quantdb_pipeline_tests/test_layers.py` checks that every column named here exists in its
table. Not to be confused with `quantdb_pipeline.warehouse.schema`, which holds the warehouse
connection helpers and applies those SQL migrations.

Dtypes: "string" is pandas' nullable string, "date32[pyarrow]" an Arrow date (no time, no
zone), "Int64" a nullable integer, "float64" NaN for unknown. Units are the warehouse's (see
the column comments in `warehouse/comments.py`): prices in the market's currency per share,
volume in shares, amounts in currency, percent as 5.0 for +5%.

A leaf module: it imports nothing from the project (no Dagster, akshare, Great Expectations or
DuckDB either), so that any layer may import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a frame is built: `read` takes its field names from here without pandas
    import pandas as pd

# -- bars ----------------------------------------------------------------------------------

#: The price columns every bar table has, in this order.
OHLC_COLUMNS = ("open", "high", "low", "close")

#: `daily_bars` (A-shares, CNY): prev_close is upstream's previous close (close - 涨跌额), NaN
#: where unknown; reference_price the exchange's reference price where upstream gives one (the
#: quote list's 昨收), else NaN.
BAR_DTYPES = {
    "symbol": "string",
    "trade_date": "date32[pyarrow]",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "Int64",
    "amount": "float64",
    "pct_change": "float64",
    "turnover_rate": "float64",
    "prev_close": "float64",
    "reference_price": "float64",
}
BAR_COLUMNS = list(BAR_DTYPES)

#: `hk_daily_bars` (HKD): the A-share columns without reference_price, plus the currency.
HK_BAR_DTYPES = {**{k: v for k, v in BAR_DTYPES.items() if k != "reference_price"}, "currency": "string"}
HK_BAR_COLUMNS = list(HK_BAR_DTYPES)
#: `index_daily_bars`: points, volume in shares, amount in CNY; no turnover or previous close.
INDEX_BAR_DTYPES = {
    k: BAR_DTYPES[k] for k in ("symbol", "trade_date", "open", "high", "low", "close", "volume", "amount")
}
INDEX_BAR_COLUMNS = list(INDEX_BAR_DTYPES)

# -- securities and quotes -----------------------------------------------------------------

#: `securities`: the A-share universe. exchange SH/SZ/BJ, board main/chinext/star/bse (`symbols`).
SECURITY_DTYPES = {
    "symbol": "string",
    "exchange": "string",
    "board": "string",
    "name": "string",
    "is_st": "bool",
    "list_date": "date32[pyarrow]",
    "delist_date": "date32[pyarrow]",
}
SECURITY_COLUMNS = list(SECURITY_DTYPES)
#: `hk_securities`.
HK_SECURITY_DTYPES = {"symbol": "string", "name": "string", "currency": "string"}
#: `hk_quote_list` rows before as_of and lineage: the HK main board list with the day's quote.
HK_QUOTE_DTYPES = {
    "symbol": "string",
    "name": "string",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "reference_price": "float64",
    "volume": "Int64",
    "amount": "float64",
    "pct_change": "float64",
}

# -- adjustment factors and corporate actions ----------------------------------------------

#: `adjustment_factors`: upstream's hfq factor per ex-date.
FACTOR_DTYPES = {"symbol": "string", "ex_date": "date32[pyarrow]", "hfq_factor": "float64"}
FACTOR_COLUMNS = list(FACTOR_DTYPES)
#: `hk_adjustment_factors`: sina's hfq factor and cash, and its qfq factor, per ex-date.
HK_FACTOR_DTYPES = {
    "symbol": "string",
    "ex_date": "date32[pyarrow]",
    "hfq_factor": "float64",
    "hfq_cash": "float64",
    "qfq_factor": "float64",
}
HK_FACTOR_COLUMNS = list(HK_FACTOR_DTYPES)
#: `corporate_actions`: one distribution plan; amounts per share.
CORPORATE_ACTION_DTYPES = {
    "symbol": "string",
    "report_period": "date32[pyarrow]",
    "plan_announced_on": "date32[pyarrow]",
    "record_date": "date32[pyarrow]",
    "ex_date": "date32[pyarrow]",
    "pay_date": "date32[pyarrow]",
    "cash_per_share": "float64",
    "bonus_shares_per_share": "float64",
    "transfer_shares_per_share": "float64",
    "rights_shares_per_share": "float64",
    "rights_price": "float64",
    "plan_progress": "string",
    "announced_on": "date32[pyarrow]",
}
CORPORATE_ACTION_COLUMNS = list(CORPORATE_ACTION_DTYPES)

# -- profiles and their inputs ---------------------------------------------------------------

#: A profile as normalized from one source (before `shares_source`).
PROFILE_DTYPES = {
    "symbol": "string",
    "name": "string",
    "is_st": "bool",
    "industry": "string",
    "total_shares": "float64",
    "float_shares": "float64",
    "list_date": "date32[pyarrow]",
    "total_market_cap": "float64",
    "float_market_cap": "float64",
}
#: What `security_profiles` stores of a profile (besides its validity and lineage).
PROFILE_COLUMNS = [
    "symbol",
    "name",
    "is_st",
    "industry",
    "total_shares",
    "float_shares",
    "list_date",
    "total_market_cap",
    "float_market_cap",
    "shares_source",
]
#: A change of any of these starts a new profile version; market values are refreshed in place.
PROFILE_VERSIONED = ["name", "is_st", "industry", "total_shares", "float_shares", "list_date"]
#: Profile fields of the A-share quote list (`stock_zh_a_spot_em`).
QUOTE_PROFILE_DTYPES = {
    "symbol": "string",
    "name": "string",
    "is_st": "bool",
    "price": "float64",
    "total_market_cap": "float64",
    "float_market_cap": "float64",
}
#: `quote_list_snapshot`'s columns (besides observed_on and lineage).
QUOTE_SNAPSHOT_COLUMNS = ["symbol", "name", "price", "total_market_cap", "float_market_cap"]
#: `exchange_shares`: share counts from the SZSE and BSE lists.
SHARE_DTYPES = {"symbol": "string", "total_shares": "float64", "float_shares": "float64"}
#: `security_names`: dated names.
NAME_PERIOD_DTYPES = {
    "symbol": "string",
    "valid_from": "date32[pyarrow]",
    "valid_to": "date32[pyarrow]",
    "name": "string",
    "is_st": "bool",
}
#: `former_names`: every name a symbol carried, oldest first (position 1), without dates.
FORMER_NAME_DTYPES = {"symbol": "string", "position": "int32", "name": "string", "is_st": "bool"}

# -- financial reports -----------------------------------------------------------------------

#: `financial_indicators` rows as normalized (the whole-market path adds notice_date).
INDICATOR_DTYPES = {
    "symbol": "string",
    "report_date": "date32[pyarrow]",
    "section": "string",
    "indicator": "string",
    "metric": "string",
    "value": "float64",
}
#: `financial_statements`.
STATEMENT_DTYPES = {
    "symbol": "string",
    "statement": "string",
    "report_date": "date32[pyarrow]",
    "item": "string",
    "value": "float64",
    "notice_date": "date32[pyarrow]",
    "currency": "string",
}

# -- quarantine ------------------------------------------------------------------------------

#: `quarantine`: a row the gate kept out. trade_date is the row's date column (a bar's trade
#: date, a report's period, a factor's ex-date); row_values the row as JSON.
QUARANTINE_DTYPES = {
    "table_name": "string",
    "row_key": "string",
    "symbol": "string",
    "trade_date": "date32[pyarrow]",
    "rules": "string",
    "row_values": "string",
}
QUARANTINE_COLUMNS = list(QUARANTINE_DTYPES)

#: The warehouse table each frame shape above is written to (its columns exist there).
TABLE_COLUMNS: dict[str, list[str]] = {
    "daily_bars": BAR_COLUMNS,
    "hk_daily_bars": HK_BAR_COLUMNS,
    "index_daily_bars": INDEX_BAR_COLUMNS,
    "securities": SECURITY_COLUMNS,
    "hk_securities": list(HK_SECURITY_DTYPES),
    "hk_quote_list": list(HK_QUOTE_DTYPES),
    "adjustment_factors": FACTOR_COLUMNS,
    "hk_adjustment_factors": HK_FACTOR_COLUMNS,
    "corporate_actions": CORPORATE_ACTION_COLUMNS,
    "security_profiles": PROFILE_COLUMNS,
    "quote_list_snapshot": QUOTE_SNAPSHOT_COLUMNS,
    "exchange_shares": list(SHARE_DTYPES),
    "security_names": list(NAME_PERIOD_DTYPES),
    "former_names": list(FORMER_NAME_DTYPES),
    "financial_indicators": [*INDICATOR_DTYPES, "notice_date"],
    "financial_statements": list(STATEMENT_DTYPES),
    "quarantine": QUARANTINE_COLUMNS,
}


def empty_frame(dtypes: dict) -> pd.DataFrame:
    """No rows, the columns of `dtypes` in order, each of its dtype."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def empty_bars() -> pd.DataFrame:
    return empty_frame(BAR_DTYPES)


def empty_factors() -> pd.DataFrame:
    return empty_frame(FACTOR_DTYPES)


def empty_corporate_actions() -> pd.DataFrame:
    return empty_frame(CORPORATE_ACTION_DTYPES)


def empty_quarantine() -> pd.DataFrame:
    return empty_frame(QUARANTINE_DTYPES)
