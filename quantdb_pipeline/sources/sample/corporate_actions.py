"""The sample market's A-share corporate actions: the fixed ones tests rely on, the drawn yearly
dividends and bonus shares, and eastmoney's whole-market dividend table (`stock_fhps_em`) cut
from them."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left

import numpy as np
import pandas as pd

from quantdb_pipeline.sources.sample.universe import _calendar


#: Fixed corporate actions that tests rely on: (ex-date, cash per share, new shares per share).
DIVIDEND_SYMBOL = "600002"
DIVIDEND_DATE = dt.date(2026, 7, 15)
SPLIT_SYMBOL = "000003"
SPLIT_DATE = dt.date(2025, 6, 20)
FIXED_ACTIONS = {
    DIVIDEND_SYMBOL: ((DIVIDEND_DATE, 0.85, 0.3),),
    SPLIT_SYMBOL: ((SPLIT_DATE, 0.0, 1.0),),
}
#: The dividend of `DIVIDEND_SYMBOL` is paid from its Q1 report: eastmoney's dividend table lists
#: it under 0331 only (akshare#3656: ask every quarter end, not only 0630 and 1231). Every other
#: sample distribution is paid from the previous year's annual report.
DIVIDEND_PERIOD = dt.date(2026, 3, 31)
#: New shares are transferred from capital reserve (转增) for these, bonus shares (送股) otherwise.
TRANSFER_SYMBOLS = {SPLIT_SYMBOL}
#: Yearly odds of a cash dividend and of bonus shares for the other symbols.
DIVIDEND_ODDS, BONUS_ODDS = 0.6, 0.12
BONUS_RATIOS = (0.2, 0.3, 0.5, 1.0)

FHPS_COLUMNS = [
    "代码",
    "名称",
    "送转股份-送转总比例",
    "送转股份-送转比例",
    "送转股份-转股比例",
    "现金分红-现金分红比例",
    "现金分红-股息率",
    "每股收益",
    "每股净资产",
    "每股公积金",
    "每股未分配利润",
    "净利润同比增长",
    "总股本",
    "预案公告日",
    "股权登记日",
    "除权除息日",
    "方案进度",
    "最新公告日期",
]
#: Days between a plan's first announcement and its ex-date, and between the implementation
#: notice and the ex-date, in the sample.
PLAN_LEAD_DAYS, IMPLEMENTATION_LEAD_DAYS = 75, 6


def report_period_of(code: str, ex_date: dt.date) -> dt.date:
    """The report a sample distribution is paid from."""
    if code == DIVIDEND_SYMBOL and ex_date == DIVIDEND_DATE:
        return DIVIDEND_PERIOD
    return dt.date(ex_date.year - 1, 12, 31)


def dividend_table(
    events: dict[str, pd.DataFrame], universe: pd.DataFrame, period: dt.date, today: dt.date
) -> pd.DataFrame:
    """`stock_fhps_em(period)` as upstream would answer it on `today`, from each code's events
    (`corporate_actions` frames): plans appear when announced, ex-dates when implemented."""
    names = dict(zip(universe["code"], universe["name"]))
    calendar = _calendar()
    rows = []
    for code, frame in events.items():
        for event in frame.to_dict("records"):
            ex_date = event["ex_date"]
            if report_period_of(code, ex_date) != period:
                continue
            planned = max(period + dt.timedelta(days=30), ex_date - dt.timedelta(days=PLAN_LEAD_DAYS))
            if planned > today:
                continue
            implemented = ex_date - dt.timedelta(days=IMPLEMENTATION_LEAD_DAYS)
            transfer = code in TRANSFER_SYMBOLS
            shares = event["shares"] * 10
            rows.append(
                {
                    "代码": code,
                    "名称": names.get(code, code),
                    "送转股份-送转总比例": shares or np.nan,
                    "送转股份-送转比例": np.nan if transfer or not shares else shares,
                    "送转股份-转股比例": shares if transfer and shares else np.nan,
                    "现金分红-现金分红比例": round(event["cash"] * 10, 4) or np.nan,
                    "现金分红-股息率": round(event["cash"] / event["previous_close"], 6) or np.nan,
                    "每股收益": np.nan,
                    "每股净资产": np.nan,
                    "每股公积金": np.nan,
                    "每股未分配利润": np.nan,
                    "净利润同比增长": np.nan,
                    "总股本": np.nan,
                    "预案公告日": planned,
                    "股权登记日": calendar[bisect_left(calendar, ex_date) - 1] if implemented <= today else pd.NaT,
                    "除权除息日": ex_date if implemented <= today else pd.NaT,
                    "方案进度": (
                        "实施分配"
                        if implemented <= today
                        else "股东大会决议通过"
                        if planned + dt.timedelta(days=30) <= today
                        else "董事会预案"
                    ),
                    "最新公告日期": (
                        implemented
                        if implemented <= today
                        else planned + dt.timedelta(days=30)
                        if planned + dt.timedelta(days=30) <= today
                        else planned
                    ),
                }
            )
    table = pd.DataFrame(rows, columns=FHPS_COLUMNS)
    for column in ("预案公告日", "股权登记日", "除权除息日", "最新公告日期"):
        table[column] = pd.to_datetime(table[column], errors="coerce").dt.date
    return table.sort_values("最新公告日期", kind="stable", ignore_index=True)


def ex_date_reference(events: pd.DataFrame, day: dt.date) -> float:
    """The exchange's ex-rights reference price if `day` is an ex-date in `events`, else NaN."""
    on_day = events["reference_close"][events["ex_date"] == day]
    return float(on_day.iloc[0]) if len(on_day) else np.nan


def _actions(seed: int, code: str, days: list[dt.date]) -> dict[int, tuple[float | None, float]]:
    """Day index -> (cash per share, or None for a drawn yield; new shares per share)."""
    position = {d: i for i, d in enumerate(days)}
    if code in FIXED_ACTIONS:
        return {position[d]: (cash, shares) for d, cash, shares in FIXED_ACTIONS[code] if d in position}
    rng = np.random.default_rng([seed, int(code), 7])
    actions = {}
    for year in range(days[0].year, days[-1].year + 1) if days else ():
        pay, bonus, pick = rng.random(), rng.random(), rng.random()
        ratio = BONUS_RATIOS[int(rng.integers(0, len(BONUS_RATIOS)))]
        season = [i for d, i in position.items() if d.year == year and 6 <= d.month <= 8 and i >= 120]
        if not season or (pay >= DIVIDEND_ODDS and bonus >= BONUS_ODDS):
            continue
        actions[season[int(pick * len(season))]] = (
            None if pay < DIVIDEND_ODDS else 0.0,
            ratio if bonus < BONUS_ODDS else 0.0,
        )
    return actions
