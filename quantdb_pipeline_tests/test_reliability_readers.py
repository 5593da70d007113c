"""Four reader processes query the published warehouse in a loop while the pipeline loads and
publishes day after day: no reader ever fails, and every read sees one consistent snapshot."""

import datetime as dt
import subprocess
import sys
import textwrap

import pytest

from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage

pytestmark = pytest.mark.slow  # readers in subprocesses while runs publish

READER = textwrap.dedent("""
    import sys, time, traceback
    from pathlib import Path
    from quantdb_pipeline import read
    path, stop = Path(sys.argv[1]), Path(sys.argv[2])
    reads = errors = 0
    seen = set()
    while not stop.exists():
        try:
            bars = read.daily_bars(["600000", "000001", "300002"], start="2024-07-01", warehouse=path)
            last = bars.groupby("symbol")["trade_date"].max()
            counts = bars.groupby("symbol").size()
            # one snapshot: every symbol ends on the same day and has the same number of rows
            assert last.nunique() == 1 and counts.nunique() == 1, (last.to_dict(), counts.to_dict())
            seen.add(str(last.iloc[0].date()))
            reads += 1
        except Exception:
            errors += 1
            traceback.print_exc()
    print(reads, errors, len(seen))
""")


def test_readers_are_never_blocked_and_always_see_a_consistent_snapshot(tmp_path):
    published = tmp_path / "quantdb.duckdb"
    days = [
        d
        for d in SampleMarket(today="2024-08-30").trading_calendar_raw()["trade_date"]
        if dt.date(2024, 8, 1) <= d <= dt.date(2024, 8, 16)
    ]
    conn = open_working(published)
    migrate(conn)
    market = SampleMarket(today="2024-07-31")
    lineage = Lineage.now("sample", "setup")
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    load_daily_bars(conn, market, dt.date(2024, 7, 1), dt.date(2024, 7, 31), lineage)
    conn.close()
    publish(published)

    stop = tmp_path / "stop"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(published), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for day in days:  # one nightly run per trading day, each ending in a publish
            conn = open_working(published)
            report = load_daily_bars(conn, SampleMarket(today=day), day, day, Lineage.now("sample", str(day)))
            conn.close()
            publish(published)
            assert report.rows_written > 0 and not report.failed
    finally:
        stop.touch()
    results = []
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        reads, errors, snapshots = map(int, out.split())
        assert errors == 0, err
        results.append((reads, snapshots))
    assert all(reads > 0 for reads, _ in results)
    assert max(snapshots for _, snapshots in results) >= 3  # readers really saw publishes happen
