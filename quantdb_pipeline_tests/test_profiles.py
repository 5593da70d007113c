"""Profiles from whole-market lists: names and market values from the quote list the nightly
already fetched, shares from the exchange lists (else derived and flagged), industries from
eastmoney's boards, and name history from SZSE's records and sina's pages, read point-in-time.

The loaders run on the offline sample market, and the new upstream functions run as the real
akshare code behind HTTP fakes shaped like the upstream payloads (`faults`).
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.loaders.bars import load_daily_bars
from quantdb_pipeline.loaders.profiles import FORMER_NAMES_PER_REFRESH, load_profiles
from quantdb_pipeline.loaders.reference import load_securities, load_trading_calendar
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.base import spot_pages
from quantdb_pipeline.sources.sample import (
    BANK_SYMBOL,
    FORMER_NAME,
    INDUSTRY_BOARDS,
    RENAMED_SYMBOL,
    ST_DATE,
    ST_SYMBOL,
    SampleMarket,
    industry_on,
)
from quantdb_pipeline.warehouse.publish import open_working, publish
from quantdb_pipeline.warehouse.schema import migrate
from quantdb_pipeline.warehouse.writes import Lineage
from quantdb_pipeline_tests.faults import (
    FakeExchangeLists,
    FakeIndustryBoards,
    FakeQuoteList,
    FakeSinaFormerNames,
)

BEFORE_ST = dt.date(2023, 4, 28)  # the last session before ST_SYMBOL's rename (May Day follows)


def warehouse(path, day: dt.date):
    conn = open_working(path)
    migrate(conn)
    market = SampleMarket(today=day)
    lineage = Lineage.now("sample", f"ref-{day}")
    load_trading_calendar(conn, market, lineage)
    load_securities(conn, market, lineage)
    return conn


def listed(market: SampleMarket) -> list[dict]:
    return market._listed_records()


@pytest.mark.slow
def test_a_rename_to_st_in_the_quote_list_is_a_new_version_the_same_night_at_no_extra_request(tmp_path):
    conn = warehouse(tmp_path / "w.duckdb", BEFORE_ST)
    first = SampleMarket(today=BEFORE_ST)
    load_daily_bars(conn, first, dt.date(2023, 4, 24), BEFORE_ST, Lineage.now("sample", "bars-0428"))
    load_profiles(conn, first, Lineage.now("sample", "profiles-0428"))
    night = SampleMarket(today=ST_DATE)  # the first session after the holiday: the list shows *ST
    load_securities(conn, night, Lineage.now("sample", "ref-0504"))
    bars = load_daily_bars(
        conn, night, ST_DATE, ST_DATE, Lineage.now("sample", "bars-0504"), use_spot=True, reconcile_symbols=0
    )
    assert bars.spot_day == ST_DATE and bars.spot_requests == spot_pages(len(listed(night)))
    asked = sum(night.requests.values())
    report = load_profiles(conn, night, Lineage.now("sample", "profiles-0504"))
    assert sum(night.requests.values()) == asked and report.requests == 0  # the bars step's list, reused
    assert report.quote_list == f"stored ({ST_DATE})" and not report.weekly_refresh
    assert report.changes == {ST_SYMBOL: "name: SZ main 002 -> *ST SZ main 002"}
    versions = conn.execute(
        "SELECT name, is_st, valid_from, valid_to FROM security_profiles WHERE symbol = ? ORDER BY valid_from",
        [ST_SYMBOL],
    ).fetchall()
    assert versions == [("SZ main 002", False, BEFORE_ST, ST_DATE), ("*ST SZ main 002", True, ST_DATE, None)]
    assert conn.execute("SELECT count(*) FROM security_profiles").fetchall()[0][0] == len(listed(night)) + 1
    # a rerun the same night asks nothing and changes nothing
    again = load_profiles(conn, night, Lineage.now("sample", "profiles-0504-again"))
    assert again.requests == 0 and again.changes == {}
    conn.close()


def test_shares_come_from_the_exchange_list_else_market_value_over_price_flagged(tmp_path):
    day = dt.date(2024, 8, 30)
    conn = warehouse(tmp_path / "w.duckdb", day)
    market = SampleMarket(today=day)
    load_profiles(conn, market, Lineage.now("sample", "p"))
    rows = (
        conn.execute(
            "SELECT symbol, total_shares, float_shares, shares_source, total_market_cap FROM security_profiles"
        )
        .df()
        .set_index("symbol")
    )
    lists = market.listings_raw()
    sz = lists.sz.set_index("A股代码").loc["000003"]
    assert rows.loc["000003", "shares_source"] == "exchange_list"
    assert (rows.loc["000003", "total_shares"], rows.loc["000003", "float_shares"]) == (
        sz["A股总股本"],
        sz["A股流通股本"],
    )
    bj = lists.bj.iloc[0]
    assert rows.loc[bj["证券代码"], "shares_source"] == "exchange_list"
    assert rows.loc[bj["证券代码"], "total_shares"] == bj["总股本"]
    quotes = market.a_share_spot_raw().set_index("代码")
    for symbol in ("600000", "688001"):  # the SSE list carries no shares: derived, flagged
        quote = quotes.loc[symbol]
        price = quote["最新价"] if pd.notna(quote["最新价"]) else quote["昨收"]
        assert rows.loc[symbol, "shares_source"] == "market_value/price"
        assert rows.loc[symbol, "total_shares"] == round(quote["总市值"] / price)
        assert rows.loc[symbol, "float_shares"] == round(quote["流通市值"] / price)
    assert set(rows.loc[[s for s in rows.index if s.startswith("6")], "shares_source"]) == {"market_value/price"}
    # a later night's derived count within rounding of the stored one is the stored one: no new version
    later = SampleMarket(today=dt.date(2024, 9, 2))
    load_trading_calendar(conn, later, Lineage.now("sample", "c2"))
    load_securities(conn, later, Lineage.now("sample", "s2"))
    report = load_profiles(conn, later, Lineage.now("sample", "p2"))
    assert report.quote_list.startswith("fetched") and "600000" not in report.changes
    assert conn.execute("SELECT count(*) FROM security_profiles WHERE symbol = '600000'").fetchall()[0][0] == 1
    conn.close()


def test_the_weekly_refresh_costs_boards_pages_one_szse_list_and_a_bounded_sina_batch(tmp_path):
    day = dt.date(2024, 8, 30)
    conn = warehouse(tmp_path / "w.duckdb", day)
    market = SampleMarket(today=day)
    records = listed(market)
    industries = sorted({industry_on(r, day) for r in records})
    board_pages = spot_pages(len(industries)) + sum(
        spot_pages(sum(industry_on(r, day) == i for r in records)) for i in industries
    )
    sse_bse = [r for r in records if r["exchange"] in ("SH", "BJ")]
    report = load_profiles(conn, market, Lineage.now("sample", "first"))
    assert report.weekly_refresh and report.weekly_requests == {
        "stock_board_industry_name_em": spot_pages(len(industries)),
        "stock_board_industry_cons_em": board_pages - spot_pages(len(industries)),
        "stock_info_sz_change_name": 1,
        "stock_info_change_name": min(len(sse_bse), FORMER_NAMES_PER_REFRESH),
    }
    assert report.requests == board_pages + 1 + len(sse_bse) + spot_pages(len(records))  # + the quote list
    assigned = dict(conn.execute("SELECT symbol, industry FROM industry_assignments").fetchall())
    assert assigned[BANK_SYMBOL] == "银行" and len(assigned) == len(records)
    assert conn.execute("SELECT industry FROM security_profiles WHERE symbol = ?", [BANK_SYMBOL]).fetchall() == [
        ("银行",)
    ]
    # the next night: nothing weekly is due and the list is fresh
    assert load_profiles(conn, market, Lineage.now("sample", "rerun")).requests == 0
    # a week later: the boards and SZSE's list again, sina only for symbols never asked (none)
    week = SampleMarket(today=day + dt.timedelta(days=7))
    load_trading_calendar(conn, week, Lineage.now("sample", "c"))
    load_securities(conn, week, Lineage.now("sample", "s"))
    # the weekday schedule's run (weekly=False) leaves the due refresh to the Saturday run
    weekday = load_profiles(conn, week, Lineage.now("sample", "weekday"), weekly=False)
    assert not weekday.weekly_refresh and weekday.requests == spot_pages(len(records))  # the quote list alone
    weekly = load_profiles(conn, week, Lineage.now("sample", "week"))
    assert weekly.weekly_refresh and "stock_info_change_name" not in weekly.weekly_requests
    assert sum(weekly.weekly_requests.values()) == board_pages + 1
    conn.close()


def test_industry_boards_and_name_records_through_akshare(tmp_path, monkeypatch):
    """The real akshare functions behind eastmoney's paged clist JSON (3 rows a page, to page),
    SZSE's xlsx report and sina's GBK company page; what the fakes answered is what was counted."""
    import akshare.utils.func

    monkeypatch.setattr(akshare.utils.func.time, "sleep", lambda seconds: None)  # akshare's pause between pages
    day = dt.date(2023, 5, 5)
    market = SampleMarket(today=day)
    conn = warehouse(tmp_path / "w.duckdb", day)
    source = AkshareSource(
        now=lambda: dt.datetime(2023, 5, 5, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai")), sleep=lambda seconds: None
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        boards = FakeIndustryBoards(market, mock, page_size=3)
        sina = FakeSinaFormerNames(market, mock)
        FakeExchangeLists(market, mock)
        quote_list = FakeQuoteList(market, mock)
        report = load_profiles(conn, source, Lineage.now("akshare", "weekly"))
        szse = [c for c in mock.calls if "SSGSGMXX" in c.request.url]
    records = listed(market)
    per_board = {
        code: sum(INDUSTRY_BOARDS[industry_on(r, day)] == code for r in records)
        for code in {INDUSTRY_BOARDS[industry_on(r, day)] for r in records}
    }
    assert [p for what, p in boards.calls if what == "boards"] == list(range(1, -(-len(per_board) // 3) + 1))
    assert len(boards.calls) == -(-len(per_board) // 3) + sum(-(-n // 3) for n in per_board.values())
    assert len(szse) == 1 and sorted(sina.calls) == sorted(r["code"] for r in records if r["exchange"] in ("SH", "BJ"))
    assert quote_list.pages == [1]
    assigned = dict(conn.execute("SELECT symbol, industry FROM industry_assignments").fetchall())
    assert assigned == {r["code"]: industry_on(r, day) for r in records}
    names = conn.execute(
        "SELECT valid_from, valid_to, name, is_st FROM security_names WHERE symbol = ? ORDER BY valid_from", [ST_SYMBOL]
    ).fetchall()
    st_record = market._record(ST_SYMBOL)
    assert names == [(st_record["list_date"], ST_DATE, "SZ main 002", False), (ST_DATE, None, "*ST SZ main 002", True)]
    former = conn.execute(
        "SELECT position, name FROM former_names WHERE symbol = ? ORDER BY position", [RENAMED_SYMBOL]
    ).fetchall()
    assert former == [(1, FORMER_NAME.replace(" ", "")), (2, "SHmain009")]
    assert conn.execute("SELECT count(*) FROM former_names WHERE symbol <> ?", [RENAMED_SYMBOL]).fetchall() == [(0,)]
    statuses = dict(conn.execute("SELECT symbol, status FROM ingest_state WHERE dataset = 'former_names'").fetchall())
    assert statuses[RENAMED_SYMBOL] == "ok" and statuses["600000"] == "empty"
    assert report.failed == {} and report.changes == {}
    conn.close()


def test_before_the_first_observation_names_come_from_dated_records_or_are_null(tmp_path):
    day = dt.date(2024, 8, 30)
    path = tmp_path / "w.duckdb"
    conn = warehouse(path, day)
    load_profiles(conn, SampleMarket(today=day), Lineage.now("sample", "p"))
    conn.close()
    publish(path)
    old = read.securities(as_of="2023-05-01", warehouse=path).set_index("symbol")
    row = old.loc[ST_SYMBOL]  # renamed *ST on 2023-05-04: on 05-01 it was not ST
    assert row["name"] == "SZ main 002" and row["is_st"] == False and row["name_source"] == "exchange_record"  # noqa: E712
    assert not row["profile_known"] and pd.isna(row["industry"])
    assert old.loc[ST_SYMBOL, "list_date"] < dt.datetime(2023, 5, 1)
    renamed = read.securities(as_of="2023-05-05", warehouse=path).set_index("symbol").loc[ST_SYMBOL]
    assert renamed["name"] == "*ST SZ main 002" and renamed["is_st"] == True  # noqa: E712
    for symbol in ("600000", RENAMED_SYMBOL, "000003"):  # no dated record: unknown, not today's name
        assert pd.isna(old.loc[symbol, "name"]) and pd.isna(old.loc[symbol, "is_st"])
        assert pd.isna(old.loc[symbol, "name_source"])
    today = read.securities(as_of=day, warehouse=path).set_index("symbol")
    assert today.loc["600000", "name"] == "SH main 001" and today.loc["600000", "name_source"] == "profile"
    assert read.securities(warehouse=path).set_index("symbol").loc[ST_SYMBOL, "is_st"]
    profile = read.profile(ST_SYMBOL, as_of="2023-05-01", warehouse=path)
    assert profile["name"] == "SZ main 002" and not profile["is_st"] and pd.isna(profile["observed_on"])
    with pytest.raises(read.NoProfileError):
        read.profile("600000", as_of="2023-05-01", warehouse=path)
    history = read.name_history(RENAMED_SYMBOL, warehouse=path)
    assert list(history["source"]) == ["profile", "former_names", "former_names"]
    assert history["name"].tolist()[1] == FORMER_NAME and history["valid_from"].isna().tolist()[1:] == [True, True]


def test_a_weekly_endpoint_down_keeps_industries_and_names_but_not_the_nights_rename(tmp_path):
    from quantdb_pipeline_tests.faults import EndpointDown

    conn = warehouse(tmp_path / "w.duckdb", BEFORE_ST)
    load_profiles(conn, SampleMarket(today=BEFORE_ST), Lineage.now("sample", "first"))
    stored = conn.execute("SELECT symbol, industry FROM industry_assignments ORDER BY symbol").fetchall()
    day = ST_DATE + dt.timedelta(days=4)  # a week on: the refresh is due, and eastmoney's boards are down
    down = EndpointDown(today=day, down=["industry_constituents_raw"])
    load_trading_calendar(conn, down, Lineage.now("sample", "c"))
    load_securities(conn, down, Lineage.now("sample", "s"))
    report = load_profiles(conn, down, Lineage.now("sample", "down"), breaker_threshold=3)
    assert report.weekly_refresh and report.circuit_open is None
    assert any(key.startswith("industry board ") for key in report.failed)
    assert conn.execute("SELECT symbol, industry FROM industry_assignments ORDER BY symbol").fetchall() == stored
    assert report.changes[ST_SYMBOL] == "name: SZ main 002 -> *ST SZ main 002"  # the night's rename all the same
    healed = load_profiles(conn, SampleMarket(today=day), Lineage.now("sample", "healed"))
    assert healed.weekly_refresh and not healed.failed  # still due the next run, and done then
    conn.close()


def test_without_the_quote_list_nothing_is_written_and_every_symbol_is_recorded_failed(tmp_path):
    from quantdb_pipeline_tests.faults import EndpointDown

    day = dt.date(2024, 8, 30)
    conn = warehouse(tmp_path / "w.duckdb", day)
    report = load_profiles(conn, EndpointDown(today=day, down=["a_share_spot_raw"]), Lineage.now("sample", "x"))
    assert report.circuit_open.startswith("quote list unavailable: a_share_spot_raw: gave up")
    assert conn.execute("SELECT count(*) FROM security_profiles").fetchall() == [(0,)]
    failed = conn.execute(
        "SELECT count(*) FROM ingest_state WHERE dataset = 'security_profiles' AND status = 'failed'"
    ).fetchall()[0][0]
    assert failed == len(listed(SampleMarket(today=day))) == len(report.failed)
    conn.close()


def test_with_more_boards_than_a_refresh_reads_the_longest_unread_go_first(tmp_path, monkeypatch):
    from quantdb_pipeline.loaders import profiles

    monkeypatch.setattr(profiles, "MAX_BOARDS_PER_REFRESH", 4)
    day = dt.date(2024, 8, 30)
    conn = warehouse(tmp_path / "w.duckdb", day)
    market = SampleMarket(today=day)
    codes = sorted({INDUSTRY_BOARDS[industry_on(r, day)] for r in listed(market)})
    assert len(codes) > 8  # three refreshes to read them all
    read_boards = []
    for week in range(3):
        today = day + dt.timedelta(days=7 * week)
        weekly = SampleMarket(today=today)
        load_trading_calendar(conn, weekly, Lineage.now("sample", f"c{week}"))
        load_securities(conn, weekly, Lineage.now("sample", f"s{week}"))
        report = load_profiles(conn, weekly, Lineage.now("sample", f"w{week}"))
        assert report.weekly_requests["stock_board_industry_cons_em"] == 4  # one page per sample board
        boards = [
            b
            for (b,) in conn.execute(
                "SELECT symbol FROM ingest_state WHERE dataset = 'industry_boards' AND as_of = ? ORDER BY symbol",
                [today],
            ).fetchall()
        ]
        read_boards.append(boards)
    assert read_boards[0] == codes[:4] and read_boards[1] == codes[4:8]
    assert read_boards[2] == sorted(codes[8:] + codes[: 4 - len(codes[8:])])  # the rest, then the oldest read
    assigned = dict(conn.execute("SELECT symbol, board_code FROM industry_assignments").fetchall())
    assert set(assigned.values()) == set(codes) and assigned[BANK_SYMBOL] == "BK0475"
    conn.close()
