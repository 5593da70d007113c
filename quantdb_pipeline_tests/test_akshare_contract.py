"""The real akshare functions, run against HTTP-level fakes of their upstreams.

`responses` intercepts `requests`, so akshare's own request building and parsing runs on
upstream-shaped payloads; any request that is not faked fails, so nothing leaves the machine.
"""

import datetime as dt
import io
import json

import pandas as pd
import pytest
import requests
import responses

from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.pacing import RetriesExhausted

KLINE_URL = "https://push2his.eastmoney.com/api/qt/stock/kline/get"
SSE_LIST_URL = "https://query.sse.com.cn/sseQuery/commonQuery.do"
SSE_DELIST_URL = "https://query.sse.com.cn/commonQuery.do"
SZSE_URL = "https://www.szse.cn/api/report/ShowReport"
BSE_URL = "https://www.bse.cn/nqxxController/nqxxCnzq.do"
SINA_CALENDAR_URL = "https://finance.sina.com.cn/realstock/company/klc_td_sh.txt"

KLINES_600000 = [
    # date, open, close, high, low, volume (lots), amount, amplitude, pct, change, turnover
    "2024-01-02,6.60,6.58,6.62,6.55,337123,222000000.00,1.06,-0.30,-0.02,0.11",
    "2024-01-03,6.58,6.61,6.65,6.56,290001,191500000.00,1.37,0.46,0.03,0.10",
    "2024-01-04,6.61,6.54,6.62,6.50,410550,268000000.00,1.82,-1.06,-0.07,0.14",
]


def kline_payload(code: str, market: int, klines: list[str]) -> dict:
    return {
        "rc": 0,
        "rt": 17,
        "svr": 181216,
        "lt": 1,
        "full": 0,
        "dlmkts": "",
        "data": {
            "code": code,
            "market": market,
            "name": "浦发银行",
            "decimal": 2,
            "dktotal": 5000,
            "preKPrice": 6.60,
            "klines": klines,
        },
    }


def quiet_source(**kwargs) -> AkshareSource:
    """Real pacing and retry logic, with sleeping turned off so tests run fast."""
    slept = []
    source = AkshareSource(requests_per_second=1e9, backoff_seconds=0.5, sleep=slept.append, **kwargs)
    source.slept = slept
    return source


@responses.activate
def test_stock_zh_a_hist_is_requested_unadjusted_and_normalized_to_canonical_rows():
    responses.get(KLINE_URL, json=kline_payload("600000", 1, KLINES_600000))
    raw = quiet_source().a_share_daily_raw("600000", dt.date(2024, 1, 2), dt.date(2024, 1, 4))
    sent = responses.calls[0].request
    assert "secid=1.600000" in sent.url and "fqt=0" in sent.url  # SSE market code, no adjustment
    assert "beg=20240102" in sent.url and "end=20240104" in sent.url and "klt=101" in sent.url
    bars = normalize.a_share_bars(raw, "600000", "akshare")
    assert bars["trade_date"].tolist() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    assert bars["close"].tolist() == [6.58, 6.61, 6.54]
    assert bars["volume"].tolist() == [33_712_300, 29_000_100, 41_055_000]
    assert bars["amount"].iloc[0] == 222_000_000.0
    assert bars["pct_change"].tolist() == [-0.30, 0.46, -1.06]
    assert bars["turnover_rate"].tolist() == [0.11, 0.10, 0.14]


@responses.activate
def test_shenzhen_and_beijing_codes_use_market_zero():
    responses.get(KLINE_URL, json=kline_payload("000001", 0, [k for k in KLINES_600000]))
    quiet_source().a_share_daily_raw("000001", dt.date(2024, 1, 2), dt.date(2024, 1, 4))
    assert "secid=0.000001" in responses.calls[0].request.url


@responses.activate
def test_no_klines_is_an_empty_frame():
    responses.get(KLINE_URL, json={"rc": 0, "data": None})
    raw = quiet_source().a_share_daily_raw("600000", dt.date(2024, 1, 2), dt.date(2024, 1, 4))
    assert normalize.a_share_bars(raw, "600000", "akshare").empty


@responses.activate
def test_connection_errors_and_5xx_and_captcha_pages_are_retried_with_backoff():
    responses.get(KLINE_URL, body=requests.ConnectionError("connection reset by peer"))
    responses.get(KLINE_URL, status=502, body="<html>Bad Gateway</html>")
    responses.get(KLINE_URL, body="<html><title>验证码</title></html>", content_type="text/html")
    responses.get(KLINE_URL, json=kline_payload("600000", 1, KLINES_600000))
    source = quiet_source()
    raw = source.a_share_daily_raw("600000", dt.date(2024, 1, 2), dt.date(2024, 1, 4))
    assert len(raw) == 3
    assert len(responses.calls) == 4 and source.requests["stock_zh_a_hist"] == 4
    assert len(source.slept) == 3 and all(0 <= s <= 0.5 * 2**i for i, s in enumerate(source.slept))


@responses.activate
def test_a_timeout_is_retried_and_then_given_up_with_a_clear_error():
    for _ in range(3):
        responses.get(KLINE_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(RetriesExhausted, match=r"stock_zh_a_hist\(600000\).*3 attempts.*ReadTimeout"):
        quiet_source(max_retries=2).a_share_daily_raw("600000", dt.date(2024, 1, 2), dt.date(2024, 1, 4))


@responses.activate
def test_a_changed_kline_layout_fails_loudly_instead_of_loading_shifted_columns():
    # eastmoney dropping one field would shift every column after it; akshare refuses the frame
    short = [",".join(k.split(",")[:10]) for k in KLINES_600000]
    responses.get(KLINE_URL, json=kline_payload("600000", 1, short))
    source = quiet_source()
    with pytest.raises(ValueError, match="Length mismatch"):
        source.a_share_daily_raw("600000", dt.date(2024, 1, 2), dt.date(2024, 1, 4))
    assert source.requests["stock_zh_a_hist"] == 1  # not retried: it is not a transient fault


def xlsx(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    return buffer.getvalue()


def fake_exchange_lists():
    sse_main = {
        "result": [
            {
                "A_STOCK_CODE": "600000",
                "SEC_NAME_CN": "浦发银行",
                "SEC_NAME_FULL": "浦发银行",
                "COMPANY_ABBR": "浦发银行",
                "FULL_NAME": "上海浦东发展银行股份有限公司",
                "LIST_DATE": "19991110",
                "B_STOCK_CODE": "-",
            },
            {
                "A_STOCK_CODE": "600004",
                "SEC_NAME_CN": "白云机场",
                "SEC_NAME_FULL": "白云机场",
                "COMPANY_ABBR": "白云机场",
                "FULL_NAME": "广州白云国际机场股份有限公司",
                "LIST_DATE": "20030428",
                "B_STOCK_CODE": "-",
            },
        ]
    }
    sse_star = {
        "result": [
            {
                "A_STOCK_CODE": "688981",
                "SEC_NAME_CN": "中芯国际",
                "SEC_NAME_FULL": "中芯国际",
                "COMPANY_ABBR": "中芯国际",
                "FULL_NAME": "中芯国际集成电路制造有限公司",
                "LIST_DATE": "20200716",
                "B_STOCK_CODE": "-",
            }
        ]
    }
    sse_delisted = {
        "result": [
            {"COMPANY_CODE": "600087", "COMPANY_ABBR": "退市长油", "LIST_DATE": "19970612", "DELIST_DATE": "20140605"}
        ]
    }
    szse = pd.DataFrame(
        {
            "板块": ["主板"] * 10 + ["创业板"],
            "公司全称": ["x"] * 11,
            "英文名称": ["x"] * 11,
            "A股代码": [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 300750],
            "A股简称": [
                "平安银行",
                "万科A",
                "*ST国华",
                "ST星源",
                "深振业A",
                "全新好",
                "神州高铁",
                "中国宝安",
                "美丽生态",
                "深南电A",
                "宁德时代",
            ],
            "A股上市日期": ["1991-04-03"] * 10 + ["2018-06-11"],
            "A股总股本": [1] * 11,
            "A股流通股本": [1] * 11,
            "所属行业": ["J"] * 11,
        }
    )
    szse_delisted = pd.DataFrame(
        {"证券代码": [3], "证券简称": ["PT金田A"], "上市日期": ["1991-07-03"], "终止上市日期": ["2002-06-14"]}
    )
    bse_row = {f"k{i:02d}": "-" for i in range(48)}
    bse_row.update(
        {
            "k00": "20211115",
            "k11": 1,
            "k17": "软件",
            "k22": "20240331",
            "k29": "上海",
            "k35": "x",
            "k36": 2,
            "k38": "830799",
            "k40": "艾融软件",
        }
    )
    bse_body = "null(" + json.dumps([{"content": [bse_row], "totalPages": 1}]) + ")"

    def sse(request):
        stock_type = request.params.get("STOCK_TYPE")
        return 200, {}, json.dumps(sse_star if stock_type == "8" else sse_main)

    def szse_report(request):
        catalog = request.params.get("CATALOGID")
        return 200, {}, xlsx(szse_delisted if catalog == "1793_ssgs" else szse)

    responses.add_callback(responses.GET, SSE_LIST_URL, callback=sse)
    responses.get(SSE_DELIST_URL, json=sse_delisted)
    responses.add_callback(responses.GET, SZSE_URL, callback=szse_report)
    responses.post(BSE_URL, body=bse_body)


@responses.activate
def test_exchange_lists_from_sse_szse_and_bse_become_the_securities_table():
    fake_exchange_lists()
    raw = quiet_source().listings_raw()
    frame = normalize.securities(
        pd.concat([raw.sh_main, raw.sh_star]), raw.sz, raw.bj, raw.sh_delisted, raw.sz_delisted, "akshare"
    ).set_index("symbol")
    assert {"600000", "600004", "688981", "000001", "000004", "300750", "830799", "600087", "000003"} <= set(
        frame.index
    )
    assert frame.loc["600000", "list_date"] == dt.date(1999, 11, 10)
    assert frame.loc["300750", "board"] == "chinext" and frame.loc["688981", "board"] == "star"
    assert frame.loc["830799", "exchange"] == "BJ" and frame.loc["830799", "list_date"] == dt.date(2021, 11, 15)
    assert frame.loc["600087", "delist_date"] == dt.date(2014, 6, 5)
    assert frame.loc["000003", "delist_date"] == dt.date(2002, 6, 14)
    assert bool(frame.loc["000004", "is_st"]) and bool(frame.loc["000005", "is_st"])
    assert not frame.loc["000001", "is_st"]


@responses.activate
def test_calendar_falls_back_to_the_calendar_akshare_ships_when_sina_fails():
    responses.get(SINA_CALENDAR_URL, status=503, body="unavailable")
    source = quiet_source(max_retries=1)
    calendar = normalize.trading_calendar(source.trading_calendar_raw(), "akshare")
    # akshare does not look at the HTTP status: sina's error page fails its JS decoding, which
    # is not a transient error, so there is one request and then the fallback.
    assert source.requests["tool_trade_date_hist_sina"] == 1
    assert dt.date(2024, 1, 2) in set(calendar["trade_date"]) and dt.date(2024, 10, 1) not in set(
        calendar["trade_date"]
    )


def test_today_is_yesterday_until_the_bars_are_final():
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    before = AkshareSource(now=lambda: dt.datetime(2024, 5, 6, 14, 59, tzinfo=shanghai))
    after = AkshareSource(now=lambda: dt.datetime(2024, 5, 6, 16, 0, tzinfo=shanghai))
    assert before.today() == dt.date(2024, 5, 5) and after.today() == dt.date(2024, 5, 6)
