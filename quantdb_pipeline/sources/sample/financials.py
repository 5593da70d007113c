"""The sample market's financial reports: quarterly statements that hold together as real ones
do, announced inside the statutory windows, in eastmoney's and sina's shapes, per symbol and
as eastmoney's whole-market tables of a report period."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from quantdb_pipeline.market_rules import statutory_deadline
from quantdb_pipeline.sources.sample.universe import BANK_SYMBOL, _calendar, code_on, industry_on, name_on


#: First quarter end with financial statements in the sample.
FIRST_REPORT = dt.date(2016, 3, 31)

#: Canonical report columns -> eastmoney item names, per statement and layout.
STATEMENT_ITEMS = {
    "balance": {
        "general": {
            "TOTAL_ASSETS": "total_assets",
            "TOTAL_CURRENT_ASSETS": "current_assets",
            "MONETARYFUNDS": "cash",
            "TOTAL_LIABILITIES": "total_liabilities",
            "TOTAL_CURRENT_LIAB": "current_liabilities",
            "TOTAL_EQUITY": "total_equity",
            "TOTAL_PARENT_EQUITY": "parent_equity",
            "TOTAL_LIAB_EQUITY": "total_assets",
        },
        "bank": {
            "TOTAL_ASSETS": "total_assets",
            "LOAN_ADVANCE": "loans",
            "CASH_DEPOSIT_PBC": "cash",
            "TOTAL_LIABILITIES": "total_liabilities",
            "ACCEPT_DEPOSIT": "deposits",
            "TOTAL_EQUITY": "total_equity",
            "TOTAL_PARENT_EQUITY": "parent_equity",
            "TOTAL_LIAB_EQUITY": "total_assets",
        },
    },
    "income": {
        "general": {
            "TOTAL_OPERATE_INCOME": "revenue",
            "OPERATE_COST": "operating_cost",
            "NETPROFIT": "net_profit",
            "PARENT_NETPROFIT": "parent_net_profit",
            "DEDUCT_PARENT_NETPROFIT": "deducted_net_profit",
            "BASIC_EPS": "eps_basic",
        },
        "bank": {
            "OPERATE_INCOME": "revenue",
            "INTEREST_NI": "interest_income",
            "NETPROFIT": "net_profit",
            "PARENT_NETPROFIT": "parent_net_profit",
            "DEDUCT_PARENT_NETPROFIT": "deducted_net_profit",
            "BASIC_EPS": "eps_basic",
        },
    },
    "cash_flow": {
        "general": {
            "NETCASH_OPERATE": "operating_cash_flow",
            "NETCASH_INVEST": "investing_cash_flow",
            "NETCASH_FINANCE": "financing_cash_flow",
        },
        "bank": {
            "NETCASH_OPERATE": "operating_cash_flow",
            "NETCASH_INVEST": "investing_cash_flow",
            "NETCASH_FINANCE": "financing_cash_flow",
        },
    },
}
#: sina's key-indicator rows: (section, label, canonical report column). "研发费用率" has no
#: mapping on our side on purpose: the pipeline must keep labels it does not know.
ABSTRACT_ROWS = (
    ("常用指标", "归母净利润", "parent_net_profit"),
    ("常用指标", "营业总收入", "revenue"),
    ("常用指标", "营业成本", "operating_cost"),
    ("常用指标", "净利润", "net_profit"),
    ("常用指标", "扣非净利润", "deducted_net_profit"),
    ("常用指标", "股东权益合计(净资产)", "total_equity"),
    ("常用指标", "经营现金流量净额", "operating_cash_flow"),
    ("常用指标", "基本每股收益", "eps_basic"),
    ("常用指标", "每股净资产", "bvps"),
    ("常用指标", "净资产收益率(ROE)", "roe"),
    ("常用指标", "毛利率", "gross_margin"),
    ("常用指标", "销售净利率", "net_margin"),
    ("常用指标", "资产负债率", "debt_to_assets"),
    ("每股指标", "基本每股收益", "eps_basic"),
    ("每股指标", "每股净资产", "bvps"),
    ("盈利能力", "研发费用率", "rd_ratio"),
)
#: The columns akshare 1.19.5 returns for each whole-market report table, in its order, and the
#: sample report field each carries (None: not simulated, NaN as upstream's null).
REPORT_TABLE_COLUMNS = {
    "summary": {
        "股票代码": None,
        "股票简称": None,
        "每股收益": "eps_basic",
        "营业总收入-营业总收入": "revenue",
        "营业总收入-同比增长": "revenue_yoy",
        "营业总收入-季度环比增长": None,
        "净利润-净利润": "parent_net_profit",
        "净利润-同比增长": "parent_net_profit_yoy",
        "净利润-季度环比增长": None,
        "每股净资产": "bvps",
        "净资产收益率": "roe",
        "每股经营现金流量": None,
        "销售毛利率": "gross_margin",
        "所处行业": None,
        "最新公告日期": None,
    },
    "balance": {
        "股票代码": None,
        "股票简称": None,
        "资产-货币资金": "cash",
        "资产-应收账款": None,
        "资产-存货": None,
        "资产-总资产": "total_assets",
        "资产-总资产同比": None,
        "负债-应付账款": None,
        "负债-预收账款": None,
        "负债-总负债": "total_liabilities",
        "负债-总负债同比": None,
        "资产负债率": "debt_to_assets",
        "股东权益合计": "total_equity",
        "公告日期": None,
    },
    "income": {
        "股票代码": None,
        "股票简称": None,
        "净利润": "parent_net_profit",
        "净利润同比": None,
        "营业总收入": "revenue",
        "营业总收入同比": None,
        "营业总支出-营业支出": "operating_cost",
        "营业总支出-销售费用": None,
        "营业总支出-管理费用": None,
        "营业总支出-财务费用": None,
        "营业总支出-营业总支出": None,
        "营业利润": None,
        "利润总额": None,
        "公告日期": None,
    },
    "cash_flow": {
        "股票代码": None,
        "股票简称": None,
        "净现金流-净现金流": "net_cash_flow",
        "净现金流-同比增长": None,
        "经营性现金流-现金流量净额": "operating_cash_flow",
        "经营性现金流-净现金流占比": None,
        "投资性现金流-现金流量净额": "investing_cash_flow",
        "投资性现金流-净现金流占比": None,
        "融资性现金流-现金流量净额": "financing_cash_flow",
        "融资性现金流-净现金流占比": None,
        "公告日期": None,
    },
}
REPORT_TABLE_COLUMNS["balance_bse"] = REPORT_TABLE_COLUMNS["balance"]


def market_reports(seed: int, universe: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Every report of every security listed by `today` (also those not announced yet), one
    row per (code, report_date), with what the whole-market tables add to `_reports`: the
    code and name on `today`, the board, the industry, year-on-year growth of revenue and
    parent net profit (as statement_raw's *_YOY, in percent) and the net cash flow; a bank
    has no 货币资金 (its cash is at the central bank) and no gross margin. Built once per
    sample market: the whole-market tables are cuts of it."""
    frames = []
    for record in universe.to_dict("records"):
        if record["list_date"] > today:
            continue
        reports = _reports(seed, record["code"], record["list_date"], record["total_shares"]).copy()
        for field in ("revenue", "parent_net_profit"):
            reports[f"{field}_yoy"] = np.round(reports[field].pct_change(4).to_numpy() * 100, 4)
        reports["net_cash_flow"] = np.round(
            reports["operating_cash_flow"] + reports["investing_cash_flow"] + reports["financing_cash_flow"], 2
        )
        if record["code"] == BANK_SYMBOL:
            reports["cash"], reports["gross_margin"] = np.nan, np.nan
        delisted = record["delist_date"] if pd.notna(record["delist_date"]) else None
        if delisted is not None:  # a delisted company reports no period after it left
            reports = reports[reports["report_date"] <= delisted]
        reports["code"], reports["name"] = code_on(record, today), name_on(record, today)
        reports["industry"], reports["board"] = industry_on(record, today), record["board"]
        frames.append(reports)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def report_table(reports: pd.DataFrame, table: str, period: dt.date, today: dt.date) -> pd.DataFrame:
    """A whole-market report table (akshare's frame) of `period` as known on `today`, cut from
    `market_reports`, newest announcement first (eastmoney sorts by NOTICE_DATE, SECURITY_CODE,
    both descending). The balance, income and cash-flow tables leave the BSE out; "balance_bse"
    holds only it; the summary holds everyone."""
    if reports.empty:
        return pd.DataFrame()
    chosen = (reports["report_date"] == period) & (reports["notice_date"] <= today)
    if table != "summary":
        chosen &= (reports["board"] == "bse") == (table == "balance_bse")
    rows = reports[chosen.to_numpy()]
    if rows.empty:
        return pd.DataFrame()
    columns = REPORT_TABLE_COLUMNS[table]
    notice = "最新公告日期" if table == "summary" else "公告日期"
    frame = pd.DataFrame(
        {column: (rows[field].astype("float64").to_numpy() if field else np.nan) for column, field in columns.items()}
    )
    frame["股票代码"], frame["股票简称"] = rows["code"].to_numpy(), rows["name"].to_numpy()
    frame[notice] = rows["notice_date"].to_numpy()
    if table == "summary":
        frame["所处行业"] = rows["industry"].to_numpy()
    frame = frame.sort_values([notice, "股票代码"], ascending=False, kind="stable").reset_index(drop=True)
    frame.insert(0, "序号", range(1, len(frame) + 1))
    return frame


#: Statutory disclosure deadlines: Q1 by 04-30, H1 by 08-31, Q3 by 10-31, annual by 04-30 next year.
#: When the sample's companies start announcing each quarter's report (month of the quarter end
#: -> month, day, in the year of the statutory deadline): a choice of the sample. The window
#: closes at the deadline, `market_rules.statutory_deadline`.
_NOTICE_OPENS = {3: (4, 10), 6: (7, 20), 9: (10, 15), 12: (3, 1)}
_REPORT_TYPES = {3: "一季报", 6: "中报", 9: "三季报", 12: "年报"}


@lru_cache(maxsize=256)
def _reports(seed: int, symbol: str, list_date: dt.date, total_shares: int) -> pd.DataFrame:
    """Quarterly reports of `symbol` from its listing on, as Chinese companies file them, with
    announcement dates inside the statutory windows. One row per report; money in CNY, per-share
    figures in CNY per share (on `total_shares`), ratios in percent.

    The statements hold together as real ones do, so that a researcher's first plot looks like
    a company's: each quarter's profit is a return on the equity at its start (a company's own
    annual ROE, mostly 4..20%, for about one company in eight a loss of up to 8%, plus noise) and its
    revenue a turnover of that equity (with a mild seasonal pattern), so revenue grows smoothly with
    equity; equity evolves as the previous quarter's equity + profit - the dividend (a payout of the
    previous year's parent profit, paid in Q3); liabilities follow a slowly drifting debt ratio
    and assets = liabilities + equity to the fen. Income and cash-flow items are year-to-date
    (Q1, H1, Q3, annual cumulative), balance items at the quarter end; roe is the year-to-date
    parent profit over the average of the parent equity at the year's start and at the period end
    (eastmoney's weighted ROE, not annualised). A company listed mid-year has run since January:
    its first report's year-to-date figures cover the whole year so far.
    """
    rng = np.random.default_rng([seed, int(symbol), 404])
    timing = np.random.default_rng([seed, int(symbol), 405])  # announcement dates, drawn apart
    bank = symbol == BANK_SYMBOL
    first_year = max(FIRST_REPORT.year, list_date.year)
    ends = [d.date() for d in pd.date_range(dt.date(first_year, 1, 1), _calendar()[-1], freq="QE")]
    n = len(ends)
    if bank:
        roe, turnover, debt_ratio = rng.uniform(0.09, 0.13), rng.uniform(0.25, 0.35), rng.uniform(0.9, 0.93)
    else:
        roe = rng.uniform(-0.08, 0.0) if rng.random() < 0.125 else rng.uniform(0.04, 0.2)
        turnover, debt_ratio = rng.uniform(0.5, 2.5), rng.uniform(0.3, 0.65)
    equity = total_shares * rng.uniform(2.0, 12.0)  # book value of 2..12 CNY a share when the reports start
    parent_share, payout, cash_share = rng.uniform(0.85, 1.0), rng.uniform(0.2, 0.5), rng.uniform(0.05, 0.2)
    gross_spread = rng.uniform(0.1, 0.35)  # gross margin above net margin
    season = np.array([0.23, 0.25, 0.25, 0.27]) * rng.uniform(0.97, 1.03, 4)
    season /= season.sum()
    roe_noise, revenue_noise = rng.normal(0.0, 0.025, n), np.exp(rng.normal(0.0, 0.04, n))
    debt_steps, cash_noise, rd = rng.normal(0.0, 0.01, n), rng.uniform(0.6, 1.6, n), rng.uniform(1, 8)
    low, high = (0.88, 0.94) if bank else (0.15, 0.8)
    rows, year_start_parent, last_annual_parent = [], equity * parent_share, 0.0
    ytd = dict.fromkeys(("revenue", "profit", "cash", "invest", "finance"), 0.0)
    for i, end in enumerate(ends):
        quarter = end.month // 3
        if quarter == 1:
            ytd = dict.fromkeys(ytd, 0.0)
        revenue = equity * turnover * season[quarter - 1] * revenue_noise[i]
        profit = equity * (roe + roe_noise[i]) * season[quarter - 1]
        dividend = payout * last_annual_parent / parent_share if quarter == 3 and last_annual_parent > 0 else 0.0
        operating_cash = profit * cash_noise[i] + revenue * 0.02
        equity += profit - dividend
        debt_ratio = min(max(debt_ratio + debt_steps[i], low), high)
        ytd["revenue"] += revenue
        ytd["profit"] += profit
        ytd["cash"] += operating_cash
        ytd["invest"] -= abs(operating_cash) * 0.5
        ytd["finance"] -= dividend + abs(operating_cash) * 0.1
        total_equity = round(equity, 2)
        liabilities = round(equity * debt_ratio / (1 - debt_ratio), 2)
        assets = round(total_equity + liabilities, 2)
        parent_equity = round(equity * parent_share, 2)
        parent = ytd["profit"] * parent_share
        if quarter == 4:
            last_annual_parent = parent
        net_margin = ytd["profit"] / ytd["revenue"]
        row = {
            "report_date": end,
            "report_type": _REPORT_TYPES[end.month],
            "notice_date": _notice_date(timing, end),
            "revenue": round(ytd["revenue"], 2),
            "operating_cost": round(ytd["revenue"] * (1 - max(net_margin + gross_spread, 0.05)), 2),
            "net_profit": round(ytd["profit"], 2),
            "parent_net_profit": round(parent, 2),
            "deducted_net_profit": round(parent - abs(parent) * 0.05, 2),
            "operating_cash_flow": round(ytd["cash"], 2),
            "investing_cash_flow": round(ytd["invest"], 2),
            "financing_cash_flow": round(ytd["finance"], 2),
            "interest_income": round(ytd["revenue"] * 0.7, 2),
            "total_assets": assets,
            "current_assets": round(assets * 0.55, 2),
            "cash": round(assets * cash_share, 2),
            "total_liabilities": liabilities,
            "current_liabilities": round(liabilities * 0.7, 2),
            "total_equity": total_equity,
            "parent_equity": parent_equity,
            "loans": round(assets * 0.5, 2),
            "deposits": round(liabilities * 0.75, 2),
            "eps_basic": round(parent / total_shares, 4),
            "bvps": round(parent_equity / total_shares, 4),
            "roe": round(parent / ((year_start_parent + parent_equity) / 2) * 100, 4),
            "gross_margin": round(max(net_margin + gross_spread, 0.05) * 100, 4),
            "net_margin": round(net_margin * 100, 4),
            "debt_to_assets": round(liabilities / assets * 100, 4),
            "rd_ratio": round(float(rd), 4),
        }
        if quarter == 4:
            year_start_parent = parent_equity
        if end >= list_date:
            rows.append(row)
    return pd.DataFrame(rows)


def _notice_date(rng: np.random.Generator, end: dt.date) -> dt.date:
    """A day inside the statutory disclosure window of the report for quarter end `end`."""
    last = statutory_deadline(end)
    first = dt.date(last.year, *_NOTICE_OPENS[end.month])
    return first + dt.timedelta(days=int(rng.integers(0, (last - first).days + 1)))
