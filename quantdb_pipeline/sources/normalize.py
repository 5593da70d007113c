"""Raw, akshare-shaped frames -> canonical frames. The one place upstream names live.

Every source (the real akshare one and the offline sample market) returns frames in
akshare's own shape: Chinese column names, akshare's units and dtypes. This module maps
them to the canonical English snake_case frames that the warehouse stores, with explicit
dtypes and units. A raw frame that lacks an expected column, or carries a column of an
unexpected type, raises `SourceSchemaError` naming the source, the symbol and the column,
so that a change of shape upstream fails loudly instead of loading garbage.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from quantdb_pipeline import schema
from quantdb_pipeline.market_rules import is_st_name
from quantdb_pipeline.schema import (  # noqa: F401 - the canonical shapes, re-exported for the sources' callers
    BAR_COLUMNS,
    BAR_DTYPES,
    CORPORATE_ACTION_COLUMNS,
    CORPORATE_ACTION_DTYPES,
    FACTOR_DTYPES,
    FORMER_NAME_DTYPES,
    HK_BAR_DTYPES,
    HK_FACTOR_DTYPES,
    HK_QUOTE_DTYPES,
    HK_SECURITY_DTYPES,
    INDEX_BAR_DTYPES,
    INDICATOR_DTYPES,
    NAME_PERIOD_DTYPES,
    PROFILE_DTYPES,
    QUOTE_PROFILE_DTYPES,
    SECURITY_COLUMNS,
    SECURITY_DTYPES,
    SHARE_DTYPES,
    STATEMENT_DTYPES,
    empty_bars,
    empty_corporate_actions,
    empty_factors,
    empty_frame,
)
from quantdb_pipeline.sources.base import REPORT_TABLES
from quantdb_pipeline.symbols import board_of, exchange_of

#: eastmoney reports A-share 成交量 in lots of 100 shares; the warehouse stores shares.
SHARES_PER_LOT = 100

#: `stock_zh_a_hist` columns -> canonical `daily_bars` columns.
A_SHARE_BAR_COLUMNS = {
    "日期": "trade_date",
    "开盘": "open",
    "最高": "high",
    "最低": "low",
    "收盘": "close",
    "成交量": "volume",  # lots of 100 shares
    "成交额": "amount",  # CNY
    "涨跌幅": "pct_change",  # percent
    "换手率": "turnover_rate",  # percent
}
#: 涨跌额, the change against the previous close: prev_close = close - change. eastmoney's
#: history klines measure it close-to-close, also on ex-dates (recorded: 000001 on 2024-06-14,
#: 10.80 -> 10.18, 涨跌额 -0.62 after a 0.719 cash dividend), so it never shows an ex-date.
A_SHARE_CHANGE_COLUMN = "涨跌额"

#: `stock_zh_a_spot_em` columns -> canonical `daily_bars` columns. After the close the quote
#: list is the day's bar of every symbol: 最新价 is the close, 昨收 the exchange's reference
#: previous close (the ex-rights price on an ex-date; 涨跌额 and 涨跌幅 are measured from it),
#: 成交量 in lots of 100 shares. The frame has no date column.
A_SHARE_SPOT_COLUMNS = {
    "代码": "symbol",
    "今开": "open",
    "最高": "high",
    "最低": "low",
    "最新价": "close",
    "成交量": "volume",  # lots of 100 shares
    "成交额": "amount",  # CNY
    "涨跌幅": "pct_change",  # percent
    "换手率": "turnover_rate",  # percent
    "昨收": "reference_price",
}

#: sina's hfq factors (`stock_zh_a_daily(adjust="hfq-factor")`, already renamed by akshare).
FACTOR_COLUMNS = {"date": "ex_date", "hfq_factor": "hfq_factor"}
#: sina's HK factor scripts (`stock_hk_daily(adjust="hfq-factor"/"qfq-factor")`), named by akshare
#: by position: hfq price = price x hfq_factor + cash (HKD); qfq price = price x qfq_factor.
HK_HFQ_FACTOR_COLUMNS = {"date": "ex_date", "hfq_factor": "hfq_factor", "cash": "hfq_cash"}
HK_QFQ_FACTOR_COLUMNS = {"date": "ex_date", "qfq_factor": "qfq_factor"}
A_SHARE_BAR_SYMBOL_COLUMN = "股票代码"

#: Exchange list frames (`stock_info_sh_name_code`, `stock_info_sz_name_code`,
#: `stock_info_bj_name_code`) -> code, name, list date.
SH_LIST_COLUMNS = {"证券代码": "symbol", "证券简称": "name", "上市日期": "list_date"}
SZ_LIST_COLUMNS = {"A股代码": "symbol", "A股简称": "name", "A股上市日期": "list_date"}
BJ_LIST_COLUMNS = {"证券代码": "symbol", "证券简称": "name", "上市日期": "list_date"}
#: A BSE list column naming a code's previous code, should the list carry one. akshare 1.19.5's
#: `stock_info_bj_name_code` does not (it keeps 证券代码, 证券简称, 总股本, 流通股本, 上市日期,
#: 所属行业, 地区, 报告日期); tushare's `bse_mapping` calls the field 原代码.
BJ_PREVIOUS_CODE_COLUMNS = ("原代码", "原证券代码")
#: Delisting frames (`stock_info_sh_delist`, `stock_info_sz_delist`).
SH_DELIST_COLUMNS = {"公司代码": "symbol", "公司简称": "name", "上市日期": "list_date", "暂停上市日期": "delist_date"}
SZ_DELIST_COLUMNS = {"证券代码": "symbol", "证券简称": "name", "上市日期": "list_date", "终止上市日期": "delist_date"}

#: `stock_hk_hist` columns -> canonical `hk_daily_bars` columns (成交量 in shares, prices in HKD).
HK_BAR_COLUMNS = {
    "日期": "trade_date",
    "开盘": "open",
    "最高": "high",
    "最低": "low",
    "收盘": "close",
    "成交量": "volume",
    "成交额": "amount",
    "涨跌幅": "pct_change",
    "换手率": "turnover_rate",
}
#: HK main board list (`stock_hk_main_board_spot_em`) -> symbol, name.
HK_LIST_COLUMNS = {"代码": "symbol", "名称": "name"}
#: The same list's day, after the close (akshare 1.19.5 keeps these of eastmoney's fields: f2 最新价,
#: f3 涨跌幅, f4 涨跌额, f5 成交量, f6 成交额, f12 代码, f14 名称, f15 最高, f16 最低, f17 今开,
#: f18 昨收). 成交量 in shares, as in `stock_hk_hist` (an HK board lot varies by stock, so
#: eastmoney counts shares; were it lots, the gate's amount/volume-within-[low, high] rule would
#: quarantine every row and the reconciliation would report it). 昨收 is the reference previous
#: close, kept as `reference_price`. No 换手率: turnover_rate stays NaN for quote-list rows.
HK_SPOT_COLUMNS = {
    "今开": "open",
    "最高": "high",
    "最低": "low",
    "最新价": "close",
    "昨收": "reference_price",
    "成交量": "volume",
    "成交额": "amount",
    "涨跌幅": "pct_change",
}
HK_CURRENCY = "HKD"

#: `stock_zh_index_daily_em` columns (akshare names them in English; 成交量 in lots of 100).
INDEX_BAR_COLUMNS = {
    "date": "trade_date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "amount": "amount",
}

#: `stock_individual_info_em` items -> canonical profile columns (shares in shares, values in CNY).
PROFILE_ITEMS = {
    "股票简称": "name",
    "行业": "industry",
    "总股本": "total_shares",
    "流通股": "float_shares",
    "总市值": "total_market_cap",
    "流通市值": "float_market_cap",
    "上市时间": "list_date",
}

#: sina key indicators (`stock_financial_abstract`): 选项 is the section, 指标 the label.
ABSTRACT_SECTION_COLUMN, ABSTRACT_LABEL_COLUMN = "选项", "指标"
#: sina labels -> English metric names of the `key_financials` view. A label missing here is
#: still loaded (with metric NULL), never dropped.
ABSTRACT_METRICS = {
    "营业总收入": "revenue",
    "营业成本": "operating_cost",
    "净利润": "net_profit",
    "归母净利润": "parent_net_profit",
    "扣非净利润": "deducted_net_profit",
    "经营现金流量净额": "operating_cash_flow",
    "股东权益合计(净资产)": "total_equity",
    "基本每股收益": "eps_basic",
    "每股净资产": "bvps",
    "每股现金流": "cfps",
    "净资产收益率(ROE)": "roe",
    "总资产报酬率(ROA)": "roa",
    "毛利率": "gross_margin",
    "销售净利率": "net_margin",
    "资产负债率": "debt_to_assets",
}

#: eastmoney statement frames: the columns that describe a report rather than an item.
STATEMENT_META_COLUMNS = {
    "SECUCODE",
    "SECURITY_CODE",
    "SECURITY_NAME_ABBR",
    "ORG_CODE",
    "ORG_TYPE",
    "REPORT_DATE",
    "REPORT_TYPE",
    "REPORT_DATE_NAME",
    "SECURITY_TYPE_CODE",
    "NOTICE_DATE",
    "UPDATE_DATE",
    "CURRENCY",
    "OPINION_TYPE",
    "OSOPINION_TYPE",
    "LISTING_STATE",
}
STATEMENT_KEY_COLUMNS = ("REPORT_DATE", "NOTICE_DATE")

#: eastmoney's whole-market report tables (`stock_zcfz_em`, `stock_lrb_em`, `stock_xjll_em`;
#: `stock_zcfz_bj_em` like `stock_zcfz_em`): akshare column -> the item name the per-symbol
#: statements (`financial_statement`) use for the same number, so both paths fill the same
#: rows. Values in CNY, flows year-to-date. Year-on-year and share-of-total columns are
#: derived and left out, as on the per-symbol path. 净利润 in the income table is eastmoney's
#: PARENT_NETPROFIT (the data-center field in that position) and 营业支出 its OPERATE_COST.
WHOLE_MARKET_STATEMENT_ITEMS = {
    "balance": {
        "资产-货币资金": "MONETARYFUNDS",
        "资产-应收账款": "ACCOUNTS_RECE",
        "资产-存货": "INVENTORY",
        "资产-总资产": "TOTAL_ASSETS",
        "负债-应付账款": "ACCOUNTS_PAYABLE",
        "负债-预收账款": "ADVANCE_RECEIVABLES",
        "负债-总负债": "TOTAL_LIABILITIES",
        "股东权益合计": "TOTAL_EQUITY",
    },
    "income": {
        "净利润": "PARENT_NETPROFIT",
        "营业总收入": "TOTAL_OPERATE_INCOME",
        "营业总支出-营业支出": "OPERATE_COST",
        "营业总支出-销售费用": "SALE_EXPENSE",
        "营业总支出-管理费用": "MANAGE_EXPENSE",
        "营业总支出-财务费用": "FINANCE_EXPENSE",
        "营业总支出-营业总支出": "TOTAL_OPERATE_COST",
        "营业利润": "OPERATE_PROFIT",
        "利润总额": "TOTAL_PROFIT",
    },
    "cash_flow": {
        "经营性现金流-现金流量净额": "NETCASH_OPERATE",
        "投资性现金流-现金流量净额": "NETCASH_INVEST",
        "融资性现金流-现金流量净额": "NETCASH_FINANCE",
        "净现金流-净现金流": "CCE_ADD",
    },
}
#: Which statement each whole-market table fills.
WHOLE_MARKET_STATEMENTS = {"balance": "balance", "balance_bse": "balance", "income": "income", "cash_flow": "cash_flow"}
#: Whole-market columns that are key_financials metrics: table -> {akshare column: metric}.
#: They become `financial_indicators` rows (section = `WHOLE_MARKET_SECTIONS[table]`,
#: indicator = the column name) next to sina's, under the same metric names. Percentages in
#: percent, per-share values in CNY per share. 净利润 of the results summary is the parent's.
WHOLE_MARKET_METRICS = {
    "summary": {
        "每股收益": "eps_basic",
        "营业总收入-营业总收入": "revenue",
        "营业总收入-同比增长": "revenue_yoy",
        "营业总收入-季度环比增长": "revenue_qoq",
        "净利润-净利润": "parent_net_profit",
        "净利润-同比增长": "parent_net_profit_yoy",
        "净利润-季度环比增长": "parent_net_profit_qoq",
        "每股净资产": "bvps",
        "净资产收益率": "roe",
        "每股经营现金流量": "cfps",
        "销售毛利率": "gross_margin",
    },
    "balance": {"股东权益合计": "total_equity", "资产负债率": "debt_to_assets"},
    "balance_bse": {"股东权益合计": "total_equity", "资产负债率": "debt_to_assets"},
    "cash_flow": {"经营性现金流-现金流量净额": "operating_cash_flow"},
}
WHOLE_MARKET_SECTIONS = {
    "summary": "业绩报表",
    "balance": "资产负债表",
    "balance_bse": "资产负债表",
    "income": "利润表",
    "cash_flow": "现金流量表",
}
#: The code and announcement-date columns of each whole-market table. The results summary
#: only carries the latest announcement (最新公告日期: a later correction moves it); the
#: statements carry the report's own (公告日期). `report_announcements` takes the earliest.
WHOLE_MARKET_CODE_COLUMN = "股票代码"
WHOLE_MARKET_NOTICE_COLUMNS = {
    "summary": "最新公告日期",
    "balance": "公告日期",
    "balance_bse": "公告日期",
    "income": "公告日期",
    "cash_flow": "公告日期",
}

#: Calendar frame (`tool_trade_date_hist_sina`).
CALENDAR_COLUMNS = {"trade_date": "trade_date"}

# The canonical frames' columns and dtypes live in `quantdb_pipeline.schema`; the `*_OUT`
# names keep this module's own upstream mappings (`HK_BAR_COLUMNS`, `INDEX_BAR_COLUMNS`) apart.
HK_BAR_COLUMNS_OUT = schema.HK_BAR_COLUMNS
INDEX_BAR_COLUMNS_OUT = schema.INDEX_BAR_COLUMNS


class SourceSchemaError(ValueError):
    """A raw upstream frame whose shape or types differ from what we map."""

    def __init__(self, source: str, symbol: str | None, column: str, problem: str):
        self.source, self.symbol, self.column, self.problem = source, symbol, column, problem
        where = f"symbol {symbol}" if symbol else "frame"
        super().__init__(f"{source}: {where}: column {column!r}: {problem}")


def _require(raw: pd.DataFrame, columns, source: str, symbol: str | None) -> None:
    present = set(raw.columns)
    for column in columns:
        if column not in present:
            found = ", ".join(map(str, raw.columns))
            raise SourceSchemaError(source, symbol, column, f"missing (columns found: {found})")


def _numeric(raw: pd.DataFrame, column: str, source: str, symbol: str | None) -> np.ndarray:
    values = raw[column]
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        raise SourceSchemaError(source, symbol, column, f"expected a numeric column, got dtype {values.dtype}")
    # an owned, writable array: a view of `raw` would tie the canonical frame (built with
    # copy=False) to the upstream frame and, under copy-on-write, be read-only
    return values.to_numpy(dtype="float64", na_value=np.nan, copy=True)


def _date_array(
    raw: pd.DataFrame, column: str, source: str, symbol: str | None, *, allow_missing: bool = False
) -> pa.Array:
    """Dates from date objects, datetime64 or 'YYYY-MM-DD'/'YYYYMMDD' strings, as Arrow date32."""
    values = raw[column]
    if values.dtype == object:
        try:  # the common case, akshare's own: a column of datetime.date objects
            # NaT (akshare's `.dt.date` of a missing date) must become null: pyarrow would
            # silently turn it into 0001-01-01
            array = pa.array([None if v is pd.NaT else v for v in values.tolist()], type=pa.date32())
            if allow_missing or array.null_count == 0:
                return array
        except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
            pass
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        sample = values.dropna()
        if len(sample) and not all(isinstance(v, (dt.date, str, pd.Timestamp)) for v in sample.head(50)):
            kind = type(sample.iloc[0]).__name__
            raise SourceSchemaError(source, symbol, column, f"expected dates, got values of type {kind}")
        as_text = values.map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
        parsed = pd.to_datetime(as_text, errors="coerce", format="mixed")
        bad = parsed.isna() & values.notna()
        if bad.any():
            raise SourceSchemaError(source, symbol, column, f"unparseable date {values[bad].iloc[0]!r}")
    if not allow_missing and parsed.isna().any():
        raise SourceSchemaError(source, symbol, column, "missing date")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_localize(None)
    return pa.array([None if v is pd.NaT else v for v in parsed.dt.normalize().dt.date.tolist()], type=pa.date32())


def _dates(raw: pd.DataFrame, column: str, source: str, symbol: str | None, *, allow_missing=False) -> pd.Series:
    array = _date_array(raw, column, source, symbol, allow_missing=allow_missing)
    return pd.Series(pd.arrays.ArrowExtensionArray(array), index=raw.index)


def a_share_bars(raw: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    """Canonical `daily_bars` rows from a `stock_zh_a_hist` frame (unadjusted, daily).

    Units: prices and `amount` in CNY, `volume` in shares (upstream lots x 100),
    `pct_change` and `turnover_rate` in percent; `prev_close` is the previous unadjusted
    close (close - 涨跌额: eastmoney measures 涨跌额 close-to-close, also on ex-dates), and
    `reference_price` is NULL: these klines carry no reference price. Built column by column
    from NumPy and Arrow arrays: this runs once per symbol, thousands of times a night.
    """
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_bars()
    _require(raw, [*A_SHARE_BAR_COLUMNS, A_SHARE_CHANGE_COLUMN], source, symbol)
    if A_SHARE_BAR_SYMBOL_COLUMN in raw.columns:
        # the distinct values first, as text after: one str() per distinct code, not per row
        codes = {str(v) for v in pd.unique(raw[A_SHARE_BAR_SYMBOL_COLUMN].to_numpy(dtype=object))}
        if codes != {symbol}:
            raise SourceSchemaError(
                source, symbol, A_SHARE_BAR_SYMBOL_COLUMN, f"rows for other symbols: {sorted(codes)}"
            )
    n = len(raw)
    columns = {
        "symbol": _repeated_text(symbol, n),
        "trade_date": pd.arrays.ArrowExtensionArray(_date_array(raw, "日期", source, symbol)),
    }
    for upstream, canonical in A_SHARE_BAR_COLUMNS.items():
        if canonical != "trade_date":
            columns[canonical] = _numeric(raw, upstream, source, symbol)
    lots = columns["volume"]
    columns["volume"] = pd.array(np.round(lots * SHARES_PER_LOT), dtype="Int64")
    columns["prev_close"] = np.round(columns["close"] - _numeric(raw, A_SHARE_CHANGE_COLUMN, source, symbol), 4)
    columns["reference_price"] = np.full(n, np.nan)
    # copy=False: no 2-D block built from the float columns (the frame is concatenated next)
    return pd.DataFrame({name: columns[name] for name in BAR_COLUMNS}, copy=False)


def _repeated_text(value: str, n: int) -> pd.api.extensions.ExtensionArray:
    """`value` n times as a pandas "string" array (Arrow-backed), built by Arrow without n Python strings."""
    return pd.arrays.ArrowStringArray(pa.array([value], type=pa.large_string()).take(np.zeros(n, dtype=np.int32)))


def a_share_spot_bars(raw: pd.DataFrame, trade_date: dt.date, source: str) -> tuple[pd.DataFrame, list[str]]:
    """(canonical `daily_bars` rows dated `trade_date`, symbols listed without a trade) from a
    `stock_zh_a_spot_em` frame taken after that day's close.

    A row without a price or volume ("-" upstream) is a symbol that did not trade: suspended
    symbols have no bar, as in the history endpoint. Which day the quotes belong to cannot be
    read from the frame: the caller checks it against the stored closes. 昨收 becomes
    `reference_price`; `prev_close` (the previous unadjusted close) is left NaN for the
    caller to fill from the stored bars.
    """
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_bars(), []
    _require(raw, A_SHARE_SPOT_COLUMNS, source, None)
    codes = raw["代码"].astype(str).str.strip()
    bad = ~codes.str.fullmatch(r"\d{6}")
    if bad.any():
        raise SourceSchemaError(source, None, "代码", f"not a six-digit code: {codes[bad].iloc[0]!r}")
    values = {
        canonical: _numeric(raw, upstream, source, None)
        for upstream, canonical in A_SHARE_SPOT_COLUMNS.items()
        if canonical != "symbol"
    }
    traded = ~np.isnan(values["close"]) & ~np.isnan(values["open"]) & (np.nan_to_num(values["volume"]) > 0)
    idle = codes[~traded].tolist()
    n = int(traded.sum())
    columns = {
        "symbol": pd.array(codes[traded].to_numpy(dtype=object), dtype="string"),
        "trade_date": pd.arrays.ArrowExtensionArray(pa.array([trade_date] * n, type=pa.date32())),
    }
    for name, array in values.items():
        columns[name] = array[traded]
    columns["volume"] = pd.array(np.round(columns["volume"] * SHARES_PER_LOT), dtype="Int64")
    columns["reference_price"] = np.round(columns["reference_price"], 4)
    columns["prev_close"] = np.full(n, np.nan)
    return pd.DataFrame({name: columns[name] for name in BAR_COLUMNS}), idle


def _kline_frame(raw: pd.DataFrame, mapping: dict, symbol: str, source: str, out: dict, shares_per_unit: int) -> dict:
    n = len(raw)
    columns = {
        "symbol": pd.array(np.full(n, symbol, dtype=object), dtype="string"),
        "trade_date": pd.arrays.ArrowExtensionArray(_date_array(raw, next(iter(mapping)), source, symbol)),
    }
    for upstream, canonical in mapping.items():
        if canonical != "trade_date":
            columns[canonical] = _numeric(raw, upstream, source, symbol)
    columns["volume"] = pd.array(np.round(columns["volume"] * shares_per_unit), dtype="Int64")
    return columns


def hk_bars(raw: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    """Canonical `hk_daily_bars` rows from a `stock_hk_hist` frame: HKD, volume in shares."""
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_frame(HK_BAR_DTYPES)
    _require(raw, [*HK_BAR_COLUMNS, A_SHARE_CHANGE_COLUMN], source, symbol)
    columns = _kline_frame(raw, HK_BAR_COLUMNS, symbol, source, HK_BAR_DTYPES, 1)
    columns["prev_close"] = np.round(columns["close"] - _numeric(raw, A_SHARE_CHANGE_COLUMN, source, symbol), 4)
    columns["currency"] = pd.array(np.full(len(raw), HK_CURRENCY, dtype=object), dtype="string")
    return pd.DataFrame({name: columns[name] for name in HK_BAR_COLUMNS_OUT})


def index_bars(raw: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    """Canonical `index_daily_bars` rows from a `stock_zh_index_daily_em` frame: volume in shares."""
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_frame(INDEX_BAR_DTYPES)
    _require(raw, INDEX_BAR_COLUMNS, source, symbol)
    columns = _kline_frame(raw, INDEX_BAR_COLUMNS, symbol, source, INDEX_BAR_DTYPES, SHARES_PER_LOT)
    return pd.DataFrame({name: columns[name] for name in INDEX_BAR_COLUMNS_OUT})


def hk_securities(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Canonical `hk_securities` rows (symbol, name, currency) from the HK main board list."""
    _require(raw, HK_LIST_COLUMNS, source, None)
    out = raw[list(HK_LIST_COLUMNS)].rename(columns=HK_LIST_COLUMNS)
    out["symbol"] = out["symbol"].astype(str).str.strip().str.zfill(5)
    out["name"] = out["name"].astype(str).str.strip()
    out["currency"] = HK_CURRENCY
    out = out[out["symbol"].str.fullmatch(r"\d{5}")].drop_duplicates("symbol")
    return out.sort_values("symbol").reset_index(drop=True).astype(HK_SECURITY_DTYPES)


def hk_quote_list(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """The HK main board list as rows of `hk_quote_list` (without as_of and lineage): symbol,
    name and the day's quote, NaN prices for a symbol listed without a trade ("-" upstream, or
    no volume). Raises `SourceSchemaError` naming the column when a needed one is missing."""
    _require(raw, [*HK_LIST_COLUMNS, *HK_SPOT_COLUMNS], source, None)
    names = hk_securities(raw, source)  # one home for the code and name rules
    raw = raw.assign(代码=raw["代码"].astype(str).str.strip().str.zfill(5)).drop_duplicates("代码")
    raw = raw.set_index("代码").loc[names["symbol"].to_numpy(dtype=object)]
    values = {canonical: _numeric(raw, upstream, source, None) for upstream, canonical in HK_SPOT_COLUMNS.items()}
    traded = ~np.isnan(values["close"]) & ~np.isnan(values["open"]) & (np.nan_to_num(values["volume"]) > 0)
    for name in ("open", "high", "low", "close", "amount", "pct_change"):
        values[name] = np.where(traded, values[name], np.nan)
    out = {"symbol": names["symbol"].to_numpy(dtype=object), "name": names["name"].to_numpy(dtype=object), **values}
    out["volume"] = pd.array(np.where(traded, np.round(np.nan_to_num(values["volume"])), np.nan), dtype="Int64")
    out["reference_price"] = np.round(values["reference_price"], 4)
    return pd.DataFrame(out).astype(HK_QUOTE_DTYPES)


def hk_spot_bars(quotes: pd.DataFrame, trade_date: dt.date, source: str) -> tuple[pd.DataFrame, list[str]]:
    """(canonical `hk_daily_bars` rows dated `trade_date` plus `reference_price`, symbols listed
    without a trade) from `hk_quote_list` rows. `prev_close` is left NaN for the caller to fill
    from the stored bars; which day the quotes show is for the caller to check."""
    traded = quotes["close"].notna().to_numpy()
    rows = quotes[traded]
    n = len(rows)
    bars = pd.DataFrame(
        {
            "symbol": pd.array(rows["symbol"].to_numpy(dtype=object), dtype="string"),
            "trade_date": pd.arrays.ArrowExtensionArray(pa.array([trade_date] * n, type=pa.date32())),
            **{c: rows[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close")},
            "volume": pd.array(rows["volume"].to_numpy(dtype="float64"), dtype="Int64"),
            "amount": rows["amount"].to_numpy(dtype="float64"),
            "pct_change": rows["pct_change"].to_numpy(dtype="float64"),
            "turnover_rate": np.full(n, np.nan),
            "prev_close": np.full(n, np.nan),
            "currency": pd.array(np.full(n, HK_CURRENCY, dtype=object), dtype="string"),
            "reference_price": rows["reference_price"].to_numpy(dtype="float64"),
        }
    )
    return bars, quotes["symbol"][~traded].astype(str).tolist()


def profile(raw: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    """One canonical profile row from `stock_individual_info_em` (an item/value frame)."""
    _require(raw, ["item", "value"], source, symbol)
    values = dict(zip(raw["item"].astype(str), raw["value"]))
    missing = [item for item in PROFILE_ITEMS if item not in values]
    if missing:
        raise SourceSchemaError(source, symbol, missing[0], f"profile item missing (items found: {', '.join(values)})")
    code = str(values.get("股票代码", symbol)).zfill(6)
    if code != symbol:
        raise SourceSchemaError(source, symbol, "股票代码", f"profile of another symbol: {code}")
    row = {canonical: values[item] for item, canonical in PROFILE_ITEMS.items()}
    for column in ("total_shares", "float_shares", "total_market_cap", "float_market_cap"):
        number = pd.to_numeric(pd.Series([row[column]]), errors="coerce").iloc[0]
        if pd.isna(number) and row[column] not in (None, "-", ""):
            raise SourceSchemaError(source, symbol, column, f"expected a number, got {row[column]!r}")
        row[column] = float(number)
    listed = str(row["list_date"]).strip()
    row["list_date"] = dt.datetime.strptime(listed, "%Y%m%d").date() if listed.isdigit() and len(listed) == 8 else None
    row["name"] = str(row["name"]).strip()
    industry = row["industry"]
    row["industry"] = None if industry in (None, "-", "") or pd.isna(industry) else str(industry).strip()
    frame = pd.DataFrame([{"symbol": symbol, **row}])
    frame["is_st"] = _is_st(frame["name"].astype("string"))
    return frame[list(PROFILE_DTYPES)].astype(PROFILE_DTYPES)


#: `stock_zh_a_spot_em` columns a profile takes: 名称 carries the ST prefix; prices and market
#: values in CNY. 最新价 is "-" (NaN) for a symbol without a trade; 昨收 is then its last close.
QUOTE_PROFILE_COLUMNS = {
    "代码": "symbol",
    "名称": "name",
    "最新价": "price",
    "昨收": "reference_price",
    "总市值": "total_market_cap",
    "流通市值": "float_market_cap",
}
#: Exchange lists that carry shares (in shares): SZSE's `stock_info_sz_name_code("A股列表")` and
#: BSE's `stock_info_bj_name_code()`. SSE's `stock_info_sh_name_code` carries none.
SZ_SHARE_COLUMNS = {"A股代码": "symbol", "A股总股本": "total_shares", "A股流通股本": "float_shares"}
BJ_SHARE_COLUMNS = {"证券代码": "symbol", "总股本": "total_shares", "流通股本": "float_shares"}
#: eastmoney industry boards (`stock_board_industry_name_em`) and a board's constituents
#: (`stock_board_industry_cons_em(board_code)`).
INDUSTRY_BOARD_COLUMNS = {"板块名称": "industry", "板块代码": "board_code"}
INDUSTRY_MEMBER_COLUMNS = {"代码": "symbol"}
#: SZSE's name-change records (`stock_info_sz_change_name("简称变更")`): the change date, the code and
#: the short names before and after. Which exact header SZSE gives the before/after columns is
#: not pinned down (the 全称变更 tab says 变更前全称/变更后全称): any column starting 变更前/变更后 is taken.
SZ_NAME_CHANGE_COLUMNS = {"变更日期": "change_date", "证券代码": "symbol"}
#: sina's former names (`stock_info_change_name(symbol)`): position (1 = oldest) and name, no dates.
FORMER_NAME_COLUMNS = {"index": "position", "name": "name"}


def _codes(raw: pd.DataFrame, column: str, source: str, what: str) -> pd.Series:
    codes = raw[column].astype(str).str.strip().str.split(".").str[0].str.zfill(6)
    bad = ~codes.str.fullmatch(r"\d{6}")
    if bad.any():
        raise SourceSchemaError(source, None, column, f"{what}: not a six-digit code: {codes[bad].iloc[0]!r}")
    return codes


def _counts(raw: pd.DataFrame, column: str, source: str, what: str) -> np.ndarray:
    """Numbers as an exchange sends them: numbers, or text with thousands separators; "-" is none."""
    text = raw[column].astype(str).str.replace(",", "", regex=False).str.strip()
    values = pd.to_numeric(text.where(~text.isin(["-", "", "nan", "None"])), errors="coerce")
    bad = values.isna() & ~text.isin(["-", "", "nan", "None"])
    if bad.any():
        raise SourceSchemaError(source, None, column, f"{what}: expected a number, got {raw[column][bad].iloc[0]!r}")
    return values.to_numpy(dtype="float64")


def quote_list_profiles(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """(symbol, name, is_st, price, total_market_cap, float_market_cap) per row of a
    `stock_zh_a_spot_em` frame. `price` is 最新价, or 昨收 where the symbol did not trade (so
    that market value / price stays the share count); CNY."""
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_frame(QUOTE_PROFILE_DTYPES)
    _require(raw, QUOTE_PROFILE_COLUMNS, source, None)
    last = _numeric(raw, "最新价", source, None)
    reference = _numeric(raw, "昨收", source, None)
    out = pd.DataFrame(
        {
            "symbol": _codes(raw, "代码", source, "quote list").to_numpy(dtype=object),
            "name": raw["名称"].astype(str).str.strip().to_numpy(dtype=object),
            "price": np.where(np.isnan(last), reference, last),
            "total_market_cap": _numeric(raw, "总市值", source, None),
            "float_market_cap": _numeric(raw, "流通市值", source, None),
        }
    )
    out["is_st"] = _is_st(out["name"].astype("string"))
    out = out.drop_duplicates("symbol", keep="first")  # a list that moved between pages repeats rows
    return out[list(QUOTE_PROFILE_DTYPES)].reset_index(drop=True).astype(QUOTE_PROFILE_DTYPES)


def exchange_shares(sz: pd.DataFrame, bj: pd.DataFrame, source: str) -> pd.DataFrame:
    """(symbol, total_shares, float_shares) in shares from the SZSE and BSE lists; a list without
    the share columns (or empty) contributes nothing."""
    frames = []
    for raw, columns, what in ((sz, SZ_SHARE_COLUMNS, "SZSE list"), (bj, BJ_SHARE_COLUMNS, "BSE list")):
        if raw is None or raw.shape[1] == 0 or len(raw) == 0 or not set(columns) <= set(raw.columns):
            continue
        code, total, floating = list(columns)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": _codes(raw, code, source, what).to_numpy(dtype=object),
                    "total_shares": _counts(raw, total, source, what),
                    "float_shares": _counts(raw, floating, source, what),
                }
            )
        )
    if not frames:
        return empty_frame(SHARE_DTYPES)
    out = pd.concat(frames, ignore_index=True)
    out = out[out["total_shares"] > 0].drop_duplicates("symbol", keep="first")
    return out.reset_index(drop=True).astype(SHARE_DTYPES)


def industry_boards(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """(industry, board_code) from `stock_board_industry_name_em()`."""
    _require(raw, INDUSTRY_BOARD_COLUMNS, source, None)
    out = raw[list(INDUSTRY_BOARD_COLUMNS)].rename(columns=INDUSTRY_BOARD_COLUMNS).astype(str)
    out = out.apply(lambda c: c.str.strip())
    bad = ~out["board_code"].str.fullmatch(r"BK\d+")
    if bad.any():
        raise SourceSchemaError(source, None, "板块代码", f"not a board code: {out['board_code'][bad].iloc[0]!r}")
    return out.drop_duplicates("board_code").reset_index(drop=True).astype("string")


def industry_members(raw: pd.DataFrame, industry: str, board_code: str, source: str) -> pd.DataFrame:
    """(symbol, industry, board_code) from `stock_board_industry_cons_em(board_code)`."""
    if raw.shape[1] == 0 or len(raw) == 0:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in ("symbol", "industry", "board_code")})
    _require(raw, INDUSTRY_MEMBER_COLUMNS, source, None)
    symbols = _codes(raw, "代码", source, f"industry board {board_code}").drop_duplicates()
    return pd.DataFrame(
        {"symbol": symbols.to_numpy(dtype=object), "industry": industry, "board_code": board_code}
    ).astype("string")


def sz_name_periods(raw: pd.DataFrame, list_dates: dict[str, dt.date], source: str) -> pd.DataFrame:
    """Dated name periods (symbol, valid_from, valid_to, name, is_st) from SZSE's 简称变更 records.

    Per symbol, by change date: the name before the first change runs from the listing date
    (`list_dates`; no period when unknown or not before the change), each new name from its
    change date to the next change (the last one open-ended). Two records on one day: the last
    listed wins.
    """
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_frame(NAME_PERIOD_DTYPES)
    _require(raw, SZ_NAME_CHANGE_COLUMNS, source, None)
    before = next((c for c in raw.columns if str(c).startswith("变更前")), None)
    after = next((c for c in raw.columns if str(c).startswith("变更后")), None)
    if after is None:
        raise SourceSchemaError(
            source,
            None,
            "变更后简称",
            f"SZSE name changes: no 变更后 column (columns: {', '.join(map(str, raw.columns))})",
        )
    records = pd.DataFrame(
        {
            "symbol": _codes(raw, "证券代码", source, "SZSE name changes").to_numpy(dtype=object),
            "change_date": _dates(raw, "变更日期", f"{source} SZSE name changes", None),
            "before": raw[before].astype(str).str.strip().to_numpy(dtype=object) if before else None,
            "after": raw[after].astype(str).str.strip().to_numpy(dtype=object),
        }
    ).dropna(subset=["change_date"])
    records = records.drop_duplicates(["symbol", "change_date"], keep="last")
    rows = []
    for symbol, group in records.sort_values(["symbol", "change_date"], kind="stable").groupby("symbol", sort=True):
        changes = list(group.itertuples(index=False))
        listed = list_dates.get(symbol)
        first = changes[0]
        if before and listed is not None and listed < first.change_date and first.before not in (None, "", "nan"):
            rows.append((symbol, listed, first.change_date, first.before))
        for i, change in enumerate(changes):
            end = changes[i + 1].change_date if i + 1 < len(changes) else None
            rows.append((symbol, change.change_date, end, change.after))
    out = pd.DataFrame(rows, columns=["symbol", "valid_from", "valid_to", "name"])
    out["is_st"] = _is_st(out["name"].astype("string"))
    return out[list(NAME_PERIOD_DTYPES)].astype(NAME_PERIOD_DTYPES)


def former_names(raw: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    """(symbol, position, name, is_st) from sina's `stock_info_change_name(symbol)`: every name
    the page lists, oldest first, undated. Empty when sina lists none."""
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_frame(FORMER_NAME_DTYPES)
    _require(raw, FORMER_NAME_COLUMNS, source, symbol)
    names = raw["name"].astype(str).str.strip()
    names = names[names.ne("") & names.ne("nan")]
    out = pd.DataFrame(
        {
            "symbol": symbol,
            "position": np.arange(1, len(names) + 1, dtype="int32"),
            "name": names.to_numpy(dtype=object),
        }
    )
    out["is_st"] = _is_st(out["name"].astype("string"))
    return out.astype(FORMER_NAME_DTYPES)


def financial_indicators(raw: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    """sina's key-indicator frame (选项, 指标, one column per report date) -> long rows."""
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_frame(INDICATOR_DTYPES)
    _require(raw, [ABSTRACT_SECTION_COLUMN, ABSTRACT_LABEL_COLUMN], source, symbol)
    dates = [c for c in raw.columns if c not in (ABSTRACT_SECTION_COLUMN, ABSTRACT_LABEL_COLUMN)]
    bad = [c for c in dates if not (isinstance(c, str) and len(c) == 8 and c.isdigit())]
    if bad:
        raise SourceSchemaError(source, symbol, str(bad[0]), "expected report-date columns like '20240930'")
    long = raw.melt(
        id_vars=[ABSTRACT_SECTION_COLUMN, ABSTRACT_LABEL_COLUMN],
        value_vars=dates,
        var_name="report_date",
        value_name="value",
    )
    out = pd.DataFrame(
        {
            "symbol": symbol,
            "report_date": pd.to_datetime(long["report_date"], format="%Y%m%d").dt.date,
            "section": long[ABSTRACT_SECTION_COLUMN].astype(str).str.strip(),
            "indicator": long[ABSTRACT_LABEL_COLUMN].astype(str).str.strip(),
            "value": pd.to_numeric(long["value"], errors="coerce"),
        }
    )
    out["metric"] = out["indicator"].map(ABSTRACT_METRICS)
    return out[list(INDICATOR_DTYPES)].astype(INDICATOR_DTYPES)


def financial_statement(raw: pd.DataFrame, symbol: str, statement: str, source: str) -> pd.DataFrame:
    """One of eastmoney's statements (a row per report, a column per item) -> long rows.

    Every numeric column that is not report metadata is an item, whatever the company
    layout; year-on-year columns (`*_YOY`) are derived and left out.
    """
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_frame(STATEMENT_DTYPES)
    _require(raw, STATEMENT_KEY_COLUMNS, source, symbol)
    if "SECURITY_CODE" in raw.columns:
        codes = set(raw["SECURITY_CODE"].astype(str).str.zfill(6))
        if codes != {symbol}:
            raise SourceSchemaError(source, symbol, "SECURITY_CODE", f"rows for other symbols: {sorted(codes)}")
    items = [c for c in raw.columns if c not in STATEMENT_META_COLUMNS and not str(c).endswith("_YOY")]
    numeric = raw[items].apply(pd.to_numeric, errors="coerce")
    numeric = numeric.loc[:, numeric.notna().any() | raw[items].isna().all()]
    frame = numeric.assign(
        report_date=pd.to_datetime(raw["REPORT_DATE"], errors="coerce").dt.date,
        notice_date=pd.to_datetime(raw["NOTICE_DATE"], errors="coerce").dt.date,
        currency=raw["CURRENCY"].astype(str) if "CURRENCY" in raw.columns else None,
    )
    long = frame.melt(id_vars=["report_date", "notice_date", "currency"], var_name="item", value_name="value")
    long.insert(0, "symbol", symbol)
    long.insert(1, "statement", statement)
    return long[list(STATEMENT_DTYPES)].astype(STATEMENT_DTYPES)


def whole_market_reports(
    tables: dict[str, pd.DataFrame], period: dt.date, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(statement rows, indicator rows) of one report period from eastmoney's whole-market
    tables (`tables`: table name of `sources.base.REPORT_TABLES` -> the akshare frame).

    Long rows in the shapes of `financial_statement` (STATEMENT_DTYPES) and
    `financial_indicators` (INDICATOR_DTYPES plus `notice_date`), named as the per-symbol
    path names them, so readers cannot tell which path filled a row. A company missing an
    item (NaN) has no row for it. A company listed twice for one statement (the BSE balance
    table overlapping the main one) counts once, the first table's row. Raises
    SourceSchemaError naming the table, period and column when a column is missing or of the
    wrong kind (akshare names the columns by position: a shifted upstream field shows here).
    """
    statements: list[pd.DataFrame] = []
    indicators: list[pd.DataFrame] = []
    seen: set[tuple] = set()
    for table, raw in tables.items():
        if raw.shape[1] == 0 or len(raw) == 0:
            continue
        where = f"{REPORT_TABLES.get(table, table)}({period:%Y%m%d})"
        notice_column = WHOLE_MARKET_NOTICE_COLUMNS[table]
        items = WHOLE_MARKET_STATEMENT_ITEMS.get(WHOLE_MARKET_STATEMENTS.get(table, ""), {})
        metrics = WHOLE_MARKET_METRICS.get(table, {})
        statement = WHOLE_MARKET_STATEMENTS.get(table)
        try:
            _require(raw, [WHOLE_MARKET_CODE_COLUMN, notice_column, *items, *metrics], source, None)
            frame = pd.DataFrame(
                {"symbol": raw[WHOLE_MARKET_CODE_COLUMN].astype(str).str.strip().str.zfill(6).to_numpy()}
            )
            frame["notice_date"] = pd.arrays.ArrowExtensionArray(
                _date_array(raw, notice_column, source, None, allow_missing=True)
            )
            for column in {**items, **metrics}:
                frame[column] = _numeric(raw, column, source, None)
        except SourceSchemaError as error:  # name the table and the period, not a symbol
            raise SourceSchemaError(source, None, error.column, f"{where}: {error.problem}") from error
        fresh = ~frame["symbol"].duplicated() & ~frame["symbol"].map(lambda s: (statement or table, s) in seen)
        seen.update((statement or table, s) for s in frame["symbol"][fresh])
        frame = frame[fresh.to_numpy()]
        if items:
            long = frame.melt(
                id_vars=["symbol", "notice_date"], value_vars=list(items), var_name="column", value_name="value"
            ).dropna(subset=["value"])
            statements.append(
                pd.DataFrame(
                    {
                        "symbol": long["symbol"],
                        "statement": statement,
                        "report_date": period,
                        "item": long["column"].map(items),
                        "value": long["value"],
                        "notice_date": long["notice_date"],
                        "currency": "CNY",
                    }
                )
            )
        if metrics:
            long = frame.melt(
                id_vars=["symbol", "notice_date"], value_vars=list(metrics), var_name="column", value_name="value"
            ).dropna(subset=["value"])
            indicators.append(
                pd.DataFrame(
                    {
                        "symbol": long["symbol"],
                        "report_date": period,
                        "section": WHOLE_MARKET_SECTIONS[table],
                        "indicator": long["column"],
                        "metric": long["column"].map(metrics),
                        "value": long["value"],
                        "notice_date": long["notice_date"],
                    }
                )
            )
    statement_rows = pd.concat(statements, ignore_index=True) if statements else empty_frame(STATEMENT_DTYPES)
    indicator_dtypes = {**INDICATOR_DTYPES, "notice_date": "date32[pyarrow]"}
    indicator_rows = pd.concat(indicators, ignore_index=True) if indicators else empty_frame(indicator_dtypes)
    return (
        statement_rows[list(STATEMENT_DTYPES)].astype(STATEMENT_DTYPES).reset_index(drop=True),
        indicator_rows[list(indicator_dtypes)].astype(indicator_dtypes).reset_index(drop=True),
    )


#: `stock_fhps_em` columns -> canonical `corporate_actions` columns. Amounts are per 10 shares
#: upstream and per share here.
DIVIDEND_DATE_COLUMNS = {
    "预案公告日": "plan_announced_on",
    "股权登记日": "record_date",
    "除权除息日": "ex_date",
    "最新公告日期": "announced_on",
}
DIVIDEND_PER_TEN_COLUMNS = {
    "现金分红-现金分红比例": "cash_per_share",
    "送转股份-送转比例": "bonus_shares_per_share",
    "送转股份-转股比例": "transfer_shares_per_share",
}
DIVIDEND_TOTAL_SHARES_COLUMN = "送转股份-送转总比例"


def corporate_actions(raw: pd.DataFrame, period: dt.date, source: str) -> pd.DataFrame:
    """Canonical `corporate_actions` rows from a `stock_fhps_em(date=period)` frame.

    Amounts per share (upstream: per 10 shares); a missing amount is none (0). Where upstream
    gives only the total of new shares (送转总比例) and not its split into bonus (送股) and
    transferred (转增) shares, the total is kept as bonus shares: adjustment needs only the sum.
    stock_fhps_em has no payment date and no rights issues: those columns are NULL.
    """
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_corporate_actions()
    _require(
        raw,
        ["代码", "方案进度", DIVIDEND_TOTAL_SHARES_COLUMN, *DIVIDEND_DATE_COLUMNS, *DIVIDEND_PER_TEN_COLUMNS],
        source,
        None,
    )
    n = len(raw)
    out = {
        "symbol": pd.array(raw["代码"].astype(str).str.strip().to_numpy(dtype=object), dtype="string"),
        "report_period": pd.arrays.ArrowExtensionArray(pa.array([period] * n, type=pa.date32())),
    }
    for upstream, canonical in DIVIDEND_DATE_COLUMNS.items():
        out[canonical] = pd.arrays.ArrowExtensionArray(_date_array(raw, upstream, source, None, allow_missing=True))
    out["pay_date"] = pd.arrays.ArrowExtensionArray(pa.nulls(n, type=pa.date32()))
    per_ten = {
        canonical: _numeric(raw, upstream, source, None) / 10
        for upstream, canonical in DIVIDEND_PER_TEN_COLUMNS.items()
    }
    total_shares = _numeric(raw, DIVIDEND_TOTAL_SHARES_COLUMN, source, None) / 10
    parts_missing = np.isnan(per_ten["bonus_shares_per_share"]) & np.isnan(per_ten["transfer_shares_per_share"])
    per_ten["bonus_shares_per_share"] = np.where(parts_missing, total_shares, per_ten["bonus_shares_per_share"])
    for canonical, values in per_ten.items():
        out[canonical] = np.nan_to_num(values, nan=0.0)
    out["rights_shares_per_share"] = np.full(n, np.nan)
    out["rights_price"] = np.full(n, np.nan)
    out["plan_progress"] = pd.array(
        raw["方案进度"].astype(object).where(raw["方案进度"].notna(), None).to_numpy(), dtype="string"
    )
    return pd.DataFrame({name: out[name] for name in CORPORATE_ACTION_COLUMNS}).astype(CORPORATE_ACTION_DTYPES)


def adjustment_factors(raw: pd.DataFrame, symbol: str, source: str) -> pd.DataFrame:
    """Canonical `adjustment_factors` rows from sina's hfq factor frame (newest first upstream).

    sina sends the factors as text; a value that is not a positive number is a schema error,
    not a factor of zero.
    """
    if raw.shape[1] == 0 or len(raw) == 0:
        return empty_factors()
    _require(raw, FACTOR_COLUMNS, source, symbol)
    values = pd.to_numeric(raw["hfq_factor"], errors="coerce").to_numpy(dtype="float64")
    bad = ~(values > 0)
    if bad.any():
        raise SourceSchemaError(
            source, symbol, "hfq_factor", f"expected positive numbers, got {raw['hfq_factor'][bad].iloc[0]!r}"
        )
    out = pd.DataFrame(
        {
            "symbol": pd.array(np.full(len(raw), symbol, dtype=object), dtype="string"),
            "ex_date": pd.arrays.ArrowExtensionArray(_date_array(raw, "date", source, symbol)),
            "hfq_factor": values,
        }
    )
    return out.drop_duplicates("ex_date", keep="first").sort_values("ex_date").reset_index(drop=True)


def _hk_factor_series(raw: pd.DataFrame, columns: dict[str, str], source: str, symbol: str) -> pd.DataFrame | None:
    """One of sina's HK factor scripts as (ex_date, values...) ascending, or None when it holds
    at most one row: akshare's `stock_hk_daily(adjust="hfq"/"qfq")` then leaves prices unadjusted."""
    if raw.shape[1] == 0 or len(raw) <= 1:
        return None
    _require(raw, columns, source, symbol)
    out = pd.DataFrame({"ex_date": pd.to_datetime(_date_array(raw, "date", source, symbol).to_pandas())})
    for upstream, name in columns.items():
        if name == "ex_date":
            continue
        values = pd.to_numeric(raw[upstream], errors="coerce").to_numpy(dtype="float64")
        bad = ~(values > 0) if name != "hfq_cash" else np.isnan(values)
        if bad.any():
            expected = "numbers" if name == "hfq_cash" else "positive numbers"
            raise SourceSchemaError(
                source, symbol, upstream, f"expected {expected}, got {raw[upstream][bad].iloc[0]!r}"
            )
        out[name] = values
    return out.drop_duplicates("ex_date", keep="first").sort_values("ex_date").reset_index(drop=True)


def hk_adjustment_factors(raw, symbol: str, source: str) -> pd.DataFrame:
    """Canonical `hk_adjustment_factors` rows from sina's two HK factor scripts (`HkFactorFrames`).

    One row per date on which either factor changes, each carrying the hfq factor, hfq cash
    (HKD) and qfq factor in force from that date until the next row. A script of at most one
    row contributes no adjustment (hfq_factor 1, hfq_cash 0, qfq_factor 1), as in akshare's
    own adjusted prices; both such scripts give an empty frame. Before the first date of one
    script, its first values apply (sina starts each script with a 1900-01-01 row).
    """
    hfq = _hk_factor_series(raw.hfq, HK_HFQ_FACTOR_COLUMNS, source, symbol)
    qfq = _hk_factor_series(raw.qfq, HK_QFQ_FACTOR_COLUMNS, source, symbol)
    if hfq is None and qfq is None:
        return empty_frame(HK_FACTOR_DTYPES)
    if hfq is None:
        assert qfq is not None  # not both: returned above
        hfq = pd.DataFrame({"ex_date": qfq["ex_date"].iloc[:1], "hfq_factor": [1.0], "hfq_cash": [0.0]})
    if qfq is None:
        qfq = pd.DataFrame({"ex_date": hfq["ex_date"].iloc[:1], "qfq_factor": [1.0]})
    merged = hfq.merge(qfq, on="ex_date", how="outer").sort_values("ex_date").ffill().bfill()
    return pd.DataFrame(
        {
            "symbol": pd.array(np.full(len(merged), symbol, dtype=object), dtype="string"),
            "ex_date": pd.arrays.ArrowExtensionArray(pa.array(merged["ex_date"].dt.date.tolist(), type=pa.date32())),
            "hfq_factor": merged["hfq_factor"].to_numpy(dtype="float64"),
            "hfq_cash": merged["hfq_cash"].to_numpy(dtype="float64"),
            "qfq_factor": merged["qfq_factor"].to_numpy(dtype="float64"),
        }
    )


#: What marks an ST name is the exchanges' rule: `market_rules.is_st_name`.
_is_st = is_st_name


def _listing(raw: pd.DataFrame, columns: dict[str, str], source: str, what: str) -> pd.DataFrame:
    _require(raw, columns, source, None)
    out = raw[list(columns)].rename(columns=columns)
    out["symbol"] = out["symbol"].astype(str).str.strip().str.zfill(6)
    out["name"] = out["name"].astype(str).str.strip()
    for column in ("list_date", "delist_date"):
        if column in out.columns:
            out[column] = _dates(out, column, f"{source} {what}", None, allow_missing=True)
    return out


def securities(
    sh: pd.DataFrame,
    sz: pd.DataFrame,
    bj: pd.DataFrame,
    sh_delisted: pd.DataFrame | None,
    sz_delisted: pd.DataFrame | None,
    source: str,
) -> pd.DataFrame:
    """Canonical `securities` rows from the exchanges' listed and delisted frames.

    `sh` is `stock_info_sh_name_code` for 主板A股 and 科创板 concatenated; a symbol that
    appears in a delisting list and not in a listing keeps its listing and delisting dates.
    """
    listed = pd.concat(
        [
            _listing(sh, SH_LIST_COLUMNS, source, "SSE list"),
            _listing(sz, SZ_LIST_COLUMNS, source, "SZSE list"),
            _listing(bj, BJ_LIST_COLUMNS, source, "BSE list"),
        ],
        ignore_index=True,
    )
    listed["delist_date"] = pd.Series(pd.NA, index=listed.index, dtype="date32[pyarrow]")
    frames = [listed]
    for raw, columns, what in (
        (sh_delisted, SH_DELIST_COLUMNS, "SSE delisted"),
        (sz_delisted, SZ_DELIST_COLUMNS, "SZSE delisted"),
    ):
        if raw is not None and raw.shape[1] > 0 and len(raw):
            delisted = _listing(raw, columns, source, what)
            frames.append(delisted[~delisted["symbol"].isin(listed["symbol"])])
    out = pd.concat(frames, ignore_index=True)
    out = out[out["symbol"].str.fullmatch(r"\d{6}")]
    known = out["symbol"].map(_safe_exchange)
    out = out[known.notna()].copy()
    out["exchange"] = out["symbol"].map(exchange_of)
    out["board"] = out["symbol"].map(board_of)
    out["is_st"] = _is_st(out["name"].astype("string"))
    out = out.drop_duplicates("symbol", keep="first")
    return out[SECURITY_COLUMNS].sort_values("symbol").reset_index(drop=True).astype(SECURITY_DTYPES)


def bse_previous_codes(bj: pd.DataFrame) -> pd.DataFrame:
    """(old_symbol, new_symbol) pairs the BSE list itself names, from a previous-code column
    (`BJ_PREVIOUS_CODE_COLUMNS`); empty when the list has none (as akshare 1.19.5's has not)."""
    column = next((c for c in BJ_PREVIOUS_CODE_COLUMNS if c in bj.columns), None)
    if column is None or "证券代码" not in bj.columns or bj.empty:
        return pd.DataFrame({"old_symbol": pd.Series(dtype="object"), "new_symbol": pd.Series(dtype="object")})
    pairs = pd.DataFrame({"old_symbol": bj[column], "new_symbol": bj["证券代码"]}).dropna()
    pairs = pairs.astype(str).apply(lambda c: c.str.strip().str.zfill(6))
    pairs = pairs[pairs["old_symbol"].str.fullmatch(r"\d{6}") & (pairs["old_symbol"] != pairs["new_symbol"])]
    return pairs.drop_duplicates("old_symbol", keep=False).reset_index(drop=True)


def _safe_exchange(code: str) -> str | None:
    try:
        return exchange_of(code)
    except ValueError:
        return None


def trading_calendar(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Canonical calendar rows (market 'CN': SSE, SZSE and BSE share one calendar)."""
    _require(raw, CALENDAR_COLUMNS, source, None)
    dates = _dates(raw, "trade_date", f"{source} calendar", None)
    out = pd.DataFrame({"market": pd.Series("CN", index=raw.index, dtype="string"), "trade_date": dates})
    return out.drop_duplicates().sort_values("trade_date").reset_index(drop=True)


__all__ = [
    "A_SHARE_BAR_COLUMNS",
    "BAR_COLUMNS",
    "SHARES_PER_LOT",
    "SourceSchemaError",
    "a_share_bars",
    "adjustment_factors",
    "bse_previous_codes",
    "empty_bars",
    "empty_factors",
    "financial_indicators",
    "financial_statement",
    "profile",
    "quote_list_profiles",
    "exchange_shares",
    "industry_boards",
    "industry_members",
    "sz_name_periods",
    "former_names",
    "hk_adjustment_factors",
    "hk_bars",
    "hk_securities",
    "index_bars",
    "securities",
    "trading_calendar",
]
