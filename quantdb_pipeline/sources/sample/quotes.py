"""The sample market's A-share quote list after the close, in `stock_zh_a_spot_em()`'s shape."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


_SPOT_COLUMNS = [
    "序号",
    "代码",
    "名称",
    "最新价",
    "涨跌幅",
    "涨跌额",
    "成交量",
    "成交额",
    "振幅",
    "最高",
    "最低",
    "今开",
    "昨收",
    "量比",
    "换手率",
    "市盈率-动态",
    "市净率",
    "总市值",
    "流通市值",
    "涨速",
    "5分钟涨跌",
    "60日涨跌幅",
    "年初至今涨跌幅",
]


def spot_quotes(
    listed: pd.DataFrame, names: list[str], last_rows: list, session: dt.date, references: list[float] | None = None
) -> pd.DataFrame:
    """The quote list after `session`'s close, as `stock_zh_a_spot_em()` returns it.

    `listed` holds the universe records shown, `last_rows` each one's last history row up to
    the session (None before its first bar), `references` the exchange's reference price of
    the symbols whose ex-date the session is (NaN for the others). 昨收 is the exchange's
    reference previous close, so on an ex-date it and the day's 涨跌额/涨跌幅 differ from the
    history klines, which are close-to-close. A symbol whose last row is older did not trade:
    its price fields are NaN and 昨收 is its last close. Sorted by 涨跌幅, best first, as
    akshare sorts the pages it joins.
    """
    n = len(listed)
    traded = np.array([row is not None and row["日期"] == session for row in last_rows], dtype=bool)

    def field(column: str, when_idle=np.nan) -> np.ndarray:
        values = np.array([np.nan if row is None else float(row[column]) for row in last_rows])
        return np.where(traded, values, when_idle)

    close = field("收盘")
    last_close = np.array([np.nan if row is None else float(row["收盘"]) for row in last_rows])
    reference = np.full(n, np.nan) if references is None else np.asarray(references, dtype="float64")
    previous = np.where(np.isnan(reference), np.round(close - field("涨跌额"), 2), reference)
    change = np.round(close - previous, 2)
    shares = listed["total_shares"].to_numpy(dtype="float64")
    float_shares = listed["float_shares"].to_numpy(dtype="float64")
    price = np.where(traded, close, last_close)
    frame = pd.DataFrame(
        {
            "序号": np.arange(1, n + 1),
            "代码": listed["code"].to_numpy(),
            "名称": names,
            "最新价": close,
            "涨跌幅": np.where(np.isnan(reference), field("涨跌幅"), np.round((close / previous - 1) * 100, 2)),
            "涨跌额": change,
            "成交量": field("成交量"),
            "成交额": field("成交额"),
            "振幅": field("振幅"),
            "最高": field("最高"),
            "最低": field("最低"),
            "今开": field("开盘"),
            "昨收": np.where(traded, previous, last_close),
            "量比": np.where(traded, 1.0, np.nan),
            "换手率": field("换手率"),
            "市盈率-动态": np.nan,
            "市净率": np.nan,
            "总市值": np.round(shares * price, 0),
            "流通市值": np.round(float_shares * price, 0),
            "涨速": np.where(traded, 0.0, np.nan),
            "5分钟涨跌": np.where(traded, 0.0, np.nan),
            "60日涨跌幅": np.nan,
            "年初至今涨跌幅": np.nan,
        },
        columns=_SPOT_COLUMNS,
    )
    frame = frame.sort_values("涨跌幅", ascending=False, kind="stable", na_position="last").reset_index(drop=True)
    frame["序号"] = np.arange(1, n + 1)
    return frame
