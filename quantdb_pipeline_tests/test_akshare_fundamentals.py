"""Every akshare function behind profiles and financials, run against HTTP-level fakes shaped
like their upstreams (eastmoney's quote and F10 endpoints, sina's finance API), served from
the sample market, including a bank's statement layout."""

import datetime as dt
import json
import re
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import responses

from quantdb_pipeline.sources import normalize
from quantdb_pipeline.sources.akshare_source import AkshareSource
from quantdb_pipeline.sources.sample import BANK_SYMBOL, ST_SYMBOL, SampleMarket

TODAY = "2024-11-15"
QUOTE_URL = "https://push2.eastmoney.com/api/qt/stock/get"
SINA_FINANCE_URL = "https://quotes.sina.cn/cn/api/openapi.php/CompanyFinanceService.getFinanceReport2022"
F10 = "https://emweb.securities.eastmoney.com/PC_HSF10/NewFinanceAnalysis/"
STATEMENT_PAGES = {"zcfzb": "balance", "lrb": "income", "xjllb": "cash_flow"}
#: eastmoney's company types: 4 general, 3 bank (2 insurer, 1 broker).
COMPANY_TYPE = {BANK_SYMBOL: "3"}
SINA_SECTIONS = ("常用指标", "每股指标", "盈利能力", "成长能力", "收益质量", "财务风险", "营运能力")
PROFILE_FIELDS = {
    "股票代码": "f57",
    "股票简称": "f58",
    "总股本": "f84",
    "流通股": "f85",
    "行业": "f127",
    "总市值": "f116",
    "流通市值": "f117",
    "上市时间": "f189",
    "最新": "f43",
}


JSON = {"Content-Type": "application/json; charset=utf-8"}


def params(request) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}


def fake_upstreams(mock: responses.RequestsMock, market: SampleMarket, calls: list):
    def quote(request):
        symbol = params(request)["secid"].split(".")[1]
        calls.append(("quote", symbol))
        info = dict(zip(*market.individual_info_raw(symbol).T.values))
        data = {field: info[item] for item, field in PROFILE_FIELDS.items()}
        data.update({"f44": 1.0, "f45": 1.0, "f46": 1.0})  # fields akshare asks for but does not map
        return 200, JSON, json.dumps({"rc": 0, "rt": 4, "svr": 1, "lt": 1, "full": 1, "data": data})

    def sina(request):
        symbol = params(request)["paperCode"][2:]
        calls.append(("sina", symbol))
        frame = market.financial_abstract_raw(symbol)
        report_list = {}
        for column in frame.columns[2:]:
            items = []
            for section in SINA_SECTIONS:
                items.append({"item_title": section, "item_value": None})
                rows = frame[frame["选项"] == section]
                if rows.empty:  # akshare slices between section titles: each needs a row
                    rows = pd.DataFrame({"指标": ["营业总收入增长率"], column: [3.1]})
                items += [
                    {"item_title": label, "item_value": None if pd.isna(v) else str(v)}
                    for label, v in zip(rows["指标"], rows[column])
                ]
            items.append({"item_title": "存货周转天数", "item_value": "30.5"})
            report_list[column] = {"rType": "合并期末", "rCurrency": "CNY", "data": items}
        return (
            200,
            JSON,
            json.dumps({"result": {"status": {"code": 0}, "data": {"report_list": report_list}}}, ensure_ascii=False),
        )

    def index_page(request):
        symbol = params(request)["code"][2:]
        calls.append(("ctype", symbol))
        ctype = COMPANY_TYPE.get(symbol, "4")
        return (
            200,
            {"Content-Type": "text/html; charset=utf-8"},
            f'<html><body><input id="hidctype" value="{ctype}"/></body></html>',
        )

    def statement(request):
        page, kind = re.match(rf"{re.escape(F10)}(zcfzb|lrb|xjllb)(Date)?AjaxNew", request.url).groups()
        query = params(request)
        symbol = query["code"][2:]
        calls.append((page + ("Date" if kind else ""), symbol))
        assert query["companyType"] == COMPANY_TYPE.get(symbol, "4")
        raw = market.statement_raw(symbol, STATEMENT_PAGES[page])
        if kind:
            return 200, JSON, json.dumps({"data": [{"REPORT_DATE": d} for d in raw["REPORT_DATE"]]})
        wanted = {f"{d} 00:00:00" for d in query["dates"].split(",")}
        rows = raw[raw["REPORT_DATE"].isin(wanted)].replace({np.nan: None})
        return 200, JSON, json.dumps({"data": rows.to_dict("records")}, ensure_ascii=False)

    mock.add_callback(responses.GET, QUOTE_URL, callback=quote)
    mock.add_callback(responses.GET, SINA_FINANCE_URL, callback=sina)
    mock.add_callback(responses.GET, F10 + "Index", callback=index_page)
    mock.add_callback(
        responses.GET, re.compile(re.escape(F10) + r"(zcfzb|lrb|xjllb)(Date)?AjaxNew.*"), callback=statement
    )


@pytest.fixture
def upstream():
    from akshare.stock_feature.stock_three_report_em import _stock_balance_sheet_by_report_ctype_em

    _stock_balance_sheet_by_report_ctype_em.cache_clear()  # akshare caches company types per process
    market, calls = SampleMarket(today=TODAY), []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake_upstreams(mock, market, calls)
        yield market, calls


def source() -> AkshareSource:
    return AkshareSource(
        requests_per_second=1e9,
        sleep=lambda s: None,
        now=lambda: dt.datetime(2024, 11, 15, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
    )


def test_stock_individual_info_em_becomes_a_profile(upstream):
    market, calls = upstream
    got = normalize.profile(source().individual_info_raw(ST_SYMBOL), ST_SYMBOL, "akshare").iloc[0]
    assert ("quote", ST_SYMBOL) in calls
    info = dict(zip(*market.individual_info_raw(ST_SYMBOL).T.values))
    assert got["name"] == info["股票简称"] and got["is_st"]
    assert got["total_shares"] == info["总股本"] and got["float_shares"] == info["流通股"]
    assert (
        got["industry"] == info["行业"]
        and got["list_date"] == dt.datetime.strptime(str(info["上市时间"]), "%Y%m%d").date()
    )


def test_stock_financial_abstract_becomes_long_indicators_with_unknown_labels_kept(upstream):
    market, calls = upstream
    long = normalize.financial_indicators(source().financial_abstract_raw("600000"), "600000", "akshare")
    assert ("sina", "600000") in calls
    revenue = long[(long["metric"] == "revenue") & (long["report_date"] == dt.date(2024, 9, 30))]["value"]
    expected = market.financial_reports("600000").set_index("report_date").loc[dt.date(2024, 9, 30), "revenue"]
    assert revenue.tolist() == [pytest.approx(expected)]
    assert long[long["indicator"] == "研发费用率"]["metric"].isna().all() and len(
        long[long["indicator"] == "研发费用率"]
    )


@pytest.mark.parametrize("symbol", ["600000", BANK_SYMBOL], ids=["general", "bank"])
def test_the_three_eastmoney_statements_become_long_items_with_notice_dates(upstream, symbol):
    market, calls = upstream
    frames = {
        s: normalize.financial_statement(source().statement_raw(symbol, s), symbol, s, "akshare")
        for s in ("balance", "income", "cash_flow")
    }
    assert {c[0] for c in calls if c[1] == symbol} >= {
        "ctype",
        "zcfzbDate",
        "zcfzb",
        "lrbDate",
        "lrb",
        "xjllbDate",
        "xjllb",
    }
    reports = market.financial_reports(symbol).set_index("report_date")
    balance = frames["balance"]
    assets = balance[(balance["item"] == "TOTAL_ASSETS") & (balance["report_date"] == dt.date(2024, 9, 30))]
    assert assets["value"].tolist() == [pytest.approx(reports.loc[dt.date(2024, 9, 30), "total_assets"])]
    assert assets["notice_date"].tolist() == [reports.loc[dt.date(2024, 9, 30), "notice_date"]]
    announced = reports[reports["notice_date"] <= dt.date(2024, 11, 15)]
    assert set(balance["report_date"]) == set(announced.index)  # akshare pages through every report date
    # what a quarterly refresh costs upstream: per statement one list of report dates and a page
    # per 5 reports, plus the company type once per process (akshare caches it)
    pages = -(-len(announced) // 5)
    assert sum(1 for c in calls if c[1] == symbol) == 1 + 3 * (1 + pages)
    items = set(frames["income"]["item"])
    assert ("OPERATE_INCOME" in items) if symbol == BANK_SYMBOL else ("TOTAL_OPERATE_INCOME" in items)
    assert "NETCASH_OPERATE" in set(frames["cash_flow"]["item"])
