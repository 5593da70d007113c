"""QuantDB 2.2.12's cache hit on rows we give it; runs in QuantDB's own venv (see `make bench-setup`).

    .venv-quantdb/bin/python benchmarks/quantdb_side.py ROWS.json

ROWS.json: {"symbol": "000001", "rows": [{"date": "2023-01-03", "open": .., "high": .., "low": ..,
"close": .., "volume": shares, "amount": CNY, "pct_change": percent, "turnover_rate": percent}, ...]}.
The rows are written into QuantDB's SQLite cache through its own SQLAlchemy models (an
`assets` row and one `daily_stock_data` row per day, `amount` in its `turnover` column, as its
akshare adapter maps 成交额), so that `qdb.get_stock_data(symbol, start, end)` finds every
trading day of its calendar and never fetches; one warm-up call follows.

The network is cut before QuantDB is imported: any socket connect raises, so a cache miss (or
any other upstream call) fails this script instead of reaching a vendor. It also fails when
QuantDB's calendar wants a day the rows lack (that would be a miss, not a hit).

Then it serves the benchmark, one JSON line per request on stdout, so that the benchmark can
interleave QuantDB's calls with its own under the same machine load. QuantDB's own console
log (INFO by default, as users get it) goes to /dev/null, not to that stdout.

- on start: {"version", "trading_days": n, "rows": [{"date": "YYYY-MM-DD", "open", "high",
  "low", "close", "volume", "amount"}, ...]} (what the warm-up call served);
- "calls N" on stdin: N timed calls, {"calls_ms": [...]} (milliseconds, each call separately);
- end of stdin: exits.
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
    payload = json.loads(Path(sys.argv[1]).read_text())
    symbol, rows = payload["symbol"], payload["rows"]

    socket.socket.connect = _no_network
    socket.socket.connect_ex = _no_network
    socket.create_connection = _no_network
    socket.getaddrinfo = _no_network
    reply = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # the protocol's channel
    sys.stdout = open(os.devnull, "w")  # QuantDB's console log handler binds sys.stdout on import

    work = Path(tempfile.mkdtemp(prefix="quantdb-side-"))
    os.chdir(work)  # its calendar cache (data/) and log file (logs/) are relative to the working directory
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'stock_data.db'}"
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
        asset = Asset(
            symbol=symbol,
            name=f"Stock {symbol}",
            isin=f"CN{symbol}",
            asset_type="stock",
            exchange="SHSE" if symbol.startswith("6") else "SZSE",
            currency="CNY",
            data_source="benchmark",
        )
        session.add(asset)
        session.flush()
        for row in rows:
            session.add(
                DailyStockData(
                    asset_id=asset.asset_id,
                    trade_date=dt.date.fromisoformat(row["date"]),
                    open=row["open"],
                    high=row["high"],
                    low=row["low"],
                    close=row["close"],
                    volume=row["volume"],
                    turnover=row["amount"],
                    pct_change=row["pct_change"],
                    turnover_rate=row["turnover_rate"],
                )
            )
        session.commit()

    start, end = rows[0]["date"].replace("-", ""), rows[-1]["date"].replace("-", "")
    wanted = get_trading_calendar().get_trading_days(start, end, symbol=symbol)
    have = {row["date"].replace("-", "") for row in rows}
    missing = [d for d in wanted if d not in have]
    if missing:
        raise SystemExit(
            f"QuantDB's calendar wants {len(missing)} day(s) the rows lack, e.g. {missing[:5]}: "
            "that would be a cache miss"
        )

    frame = qdb.get_stock_data(symbol, start_date=start, end_date=end)  # warm-up: sessions, calendar, imports
    served = [
        {"date": f"{d:%Y-%m-%d}", "open": o, "high": h, "low": lo, "close": c, "volume": int(v), "amount": a}
        for d, o, h, lo, c, v, a in zip(
            frame["date"],
            frame["open"],
            frame["high"],
            frame["low"],
            frame["close"],
            frame["volume"],
            frame["turnover"],
        )
    ]
    print(
        json.dumps({"version": version("quantdb"), "trading_days": len(wanted), "rows": served}), file=reply, flush=True
    )
    for line in sys.stdin:
        command, _, count = line.strip().partition(" ")
        if command != "calls":
            raise SystemExit(f"unknown request {line!r}")
        calls = []
        for _ in range(int(count)):
            began = time.perf_counter()
            qdb.get_stock_data(symbol, start_date=start, end_date=end)
            calls.append((time.perf_counter() - began) * 1000)
        print(json.dumps({"calls_ms": calls}), file=reply, flush=True)


if __name__ == "__main__":
    main()
