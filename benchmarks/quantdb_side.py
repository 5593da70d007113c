"""QuantDB 2.2.12's cache hit on rows we give it; runs in QuantDB's own venv (see `make bench-setup`).

    .venv-quantdb/bin/python benchmarks/quantdb_side.py ROWS.json RESULT.json [REPEATS]

ROWS.json: {"symbol": "000001", "rows": [{"date": "2023-01-03", "open": .., "high": .., "low": ..,
"close": .., "volume": shares, "amount": CNY, "pct_change": percent, "turnover_rate": percent}, ...]}.
The rows are written into QuantDB's SQLite cache through its own SQLAlchemy models (an
`assets` row and one `daily_stock_data` row per day, `amount` in its `turnover` column, as its
akshare adapter maps 成交额), so that `qdb.get_stock_data(symbol, start, end)` finds every
trading day of its calendar and never fetches. Then the call is timed `REPEATS` times after one
warm-up call (milliseconds, each call separately).

The network is cut before QuantDB is imported: any socket connect raises, so a cache miss (or
any other upstream call) fails this script instead of reaching a vendor. It also fails when
QuantDB's calendar wants a day the rows lack (that would be a miss, not a hit).

RESULT.json: {"version", "calls_ms": [...], "trading_days": n, "missing_days": [...],
"rows": [{"date": "YYYY-MM-DD", "open", "high", "low", "close", "volume", "amount"}, ...]}.
"""

from __future__ import annotations

import json
import os
import site
import socket
import sys
import tempfile
import time
from pathlib import Path


def _no_network(*args, **kwargs):
    raise OSError("quantdb_side: network access is disabled in the benchmark")


def main() -> None:
    rows_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    payload = json.loads(rows_path.read_text())
    symbol, rows = payload["symbol"], payload["rows"]

    socket.socket.connect = _no_network
    socket.socket.connect_ex = _no_network
    socket.create_connection = _no_network
    socket.getaddrinfo = _no_network

    work = Path(tempfile.mkdtemp(prefix="quantdb-side-"))
    os.chdir(work)  # its calendar cache (data/) and log file (logs/) are relative to the working directory
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'stock_data.db'}"
    os.environ.setdefault("LOG_LEVEL", "INFO")  # its default
    for packages in site.getsitepackages():  # its default SQLite home must exist before first use
        (Path(packages) / "database").mkdir(exist_ok=True)

    import datetime as dt
    from importlib.metadata import version

    import qdb
    from core.database.connection import Base, SessionLocal, engine
    from core.models.asset import Asset
    from core.models.stock_data import DailyStockData
    from core.services.trading_calendar import get_trading_calendar

    Base.metadata.create_all(bind=engine)
    with SessionLocal() as session:
        asset = Asset(symbol=symbol, name=f"Stock {symbol}", isin=f"CN{symbol}", asset_type="stock",
                      exchange="SHSE" if symbol.startswith("6") else "SZSE", currency="CNY",
                      data_source="benchmark")
        session.add(asset)
        session.flush()
        for row in rows:
            session.add(DailyStockData(
                asset_id=asset.asset_id, trade_date=dt.date.fromisoformat(row["date"]), open=row["open"],
                high=row["high"], low=row["low"], close=row["close"], volume=row["volume"],
                turnover=row["amount"], pct_change=row["pct_change"], turnover_rate=row["turnover_rate"]))
        session.commit()

    start, end = rows[0]["date"].replace("-", ""), rows[-1]["date"].replace("-", "")
    wanted = get_trading_calendar().get_trading_days(start, end, symbol=symbol)
    have = {row["date"].replace("-", "") for row in rows}
    missing = [d for d in wanted if d not in have]
    if missing:
        raise SystemExit(f"QuantDB's calendar wants {len(missing)} day(s) the rows lack, e.g. {missing[:5]}: "
                         "that would be a cache miss")

    frame = qdb.get_stock_data(symbol, start_date=start, end_date=end)  # warm-up: sessions, calendar, imports
    calls = []
    for _ in range(repeats):
        began = time.perf_counter()
        qdb.get_stock_data(symbol, start_date=start, end_date=end)
        calls.append((time.perf_counter() - began) * 1000)
    out = [{"date": f"{d:%Y-%m-%d}", "open": o, "high": h, "low": lo, "close": c, "volume": int(v), "amount": a}
           for d, o, h, lo, c, v, a in zip(frame["date"], frame["open"], frame["high"], frame["low"],
                                           frame["close"], frame["volume"], frame["turnover"])]
    result_path.write_text(json.dumps({"version": version("quantdb"), "calls_ms": calls,
                                       "trading_days": len(wanted), "missing_days": missing, "rows": out}))


if __name__ == "__main__":
    main()
