"""For users of the `quantdb`/`qdb` package: its `get_stock_data`, answered from the warehouse.

    from quantdb_pipeline.compat import get_stock_data     # instead of: import qdb
    df = get_stock_data("600000", start_date="20240101", end_date="20240630", adjust="qfq")

The frame has akshare's `stock_zh_a_hist` columns and units (成交量 in lots of 100 shares),
as qdb returned them, so code written against qdb keeps working. The difference: nothing is
fetched on a call; the data is what the pipeline has published (see docs/MIGRATING_FROM_QDB.md).
"""

from __future__ import annotations

import os

from quantdb_pipeline import read
from quantdb_pipeline.read.args import _date

#: qdb's adjust values -> read.daily_bars's.
_ADJUST = {"": None, "qfq": "qfq", "hfq": "hfq"}


def get_stock_data(
    symbol: str,
    start_date: str | None = None,
    end_date: str | None = None,
    days: int | None = None,
    adjust: str = "",
    *,
    warehouse: str | os.PathLike | None = None,
):
    """Daily bars of one A-share in akshare's `stock_zh_a_hist` shape.

    `start_date`/`end_date` as "YYYYMMDD" (or "YYYY-MM-DD"); `days`: the last N trading days
    ending at `end_date` (or the latest bar), used when `start_date` is not given; `adjust`:
    "" (unadjusted), "qfq" or "hfq".
    """
    from quantdb_pipeline.sources.normalize import A_SHARE_BAR_COLUMNS, A_SHARE_BAR_SYMBOL_COLUMN, SHARES_PER_LOT

    if adjust not in _ADJUST:
        raise ValueError(f"adjust={adjust!r}: use '', 'qfq' or 'hfq' (as in qdb and akshare)")
    if days is not None and (not isinstance(days, int) or days <= 0):
        raise ValueError(f"days={days!r}: a positive number of trading days")
    if start_date is None and days is not None:
        with read.connect(warehouse) as conn:
            latest = conn.execute("SELECT max(trade_date) FROM daily_bars").fetchall()[0][0]
        last = _date(end_date, "end_date") or latest
        trading = read.trading_days(end=last, warehouse=warehouse)
        start_date = trading[-days] if len(trading) >= days else (trading[0] if len(trading) else None)
    bars = read.daily_bars(
        symbol,
        start_date,
        end_date,
        columns=["open", "high", "low", "close", "prev_close", "volume", "amount", "pct_change", "turnover_rate"],
        adjust=_ADJUST[adjust],
        warehouse=warehouse,
    )
    upstream = {canonical: name for name, canonical in A_SHARE_BAR_COLUMNS.items()}
    out = bars.assign(
        trade_date=bars["trade_date"].dt.date,
        volume=(bars["volume"] / SHARES_PER_LOT).round().astype("int64"),
        amplitude=((bars["high"] - bars["low"]) / bars["prev_close"] * 100).round(2),
        change=(bars["close"] - bars["prev_close"]).round(4),
    )
    columns = {
        "trade_date": upstream["trade_date"],
        "symbol": A_SHARE_BAR_SYMBOL_COLUMN,
        "open": upstream["open"],
        "close": upstream["close"],
        "high": upstream["high"],
        "low": upstream["low"],
        "volume": upstream["volume"],
        "amount": upstream["amount"],
        "amplitude": "振幅",
        "pct_change": upstream["pct_change"],
        "change": "涨跌额",
        "turnover_rate": upstream["turnover_rate"],
    }
    return out[list(columns)].rename(columns=columns).reset_index(drop=True)
