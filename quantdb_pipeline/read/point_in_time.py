"""What the warehouse knows about each security, as known on a day: the universe (`securities`,
`hk_securities`), profiles, names and reported financials, without look-ahead."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from quantdb_pipeline.read.args import _date, _names, _range
from quantdb_pipeline.read.connection import _current_file, _cursor
from quantdb_pipeline.read.errors import NoProfileError
from quantdb_pipeline.read.frames import _frame
from quantdb_pipeline.read.symbol_args import _check_known, _market_codes, _one_a_share

if TYPE_CHECKING:
    import pandas as pd


def hk_securities(*, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """The HK securities the warehouse knows: symbol (five digits), name, currency."""
    with _cursor(warehouse) as conn:
        return _frame(conn.execute("SELECT symbol, name, currency FROM hk_securities ORDER BY symbol"))


def securities(
    as_of=None, include_delisted: bool = False, *, warehouse: str | os.PathLike | None = None
) -> pd.DataFrame:
    """The A-share universe: symbol, exchange, board, name, is_st, industry, list and delist dates,
    listing status and the code's successor.

    `status` is "listed" (fetched every night), "dropped" (no longer in its exchange's list:
    kept and readable, not fetched) or "switched" (the old code of a code change: `new_symbol`
    names the new code and `change_date` its first day; `daily_bars` of either code returns
    the joined history); `last_listed` is the last day a list showed the code.

    Without `as_of`: every security not delisted, with its current name (both codes of a code
    change, told apart by `status`). With `as_of`: the securities listed on that day, each
    company once (a code change's old code before `change_date`, its new code from it on),
    with the name, ST status and industry of the profile version valid then. Before the first
    observed profile version, name and is_st come from an exchange's dated name-change record
    (SZSE) covering the day, else they are NULL (unknown; never today's name); `name_source`
    says which: "profile", "exchange_record" or NULL. `profile_known` is False where the
    warehouse holds no profile version that old (industry is then NULL).
    `include_delisted=True` keeps delisted names too.
    """
    day = _date(as_of, "as_of")
    with _cursor(warehouse) as conn:
        return _frame(
            conn.execute(
                """
            SELECT s.symbol, s.exchange, s.board,
                   CASE WHEN $day::DATE IS NULL THEN coalesce(p.name, s.name) ELSE coalesce(p.name, h.name) END AS name,
                   CASE WHEN $day::DATE IS NULL THEN coalesce(p.is_st, s.is_st) ELSE coalesce(p.is_st, h.is_st) END
                       AS is_st,
                   p.industry, s.list_date, s.delist_date,
                   p.symbol IS NOT NULL AS profile_known,
                   CASE WHEN p.symbol IS NOT NULL THEN 'profile' WHEN h.symbol IS NOT NULL THEN 'exchange_record'
                        WHEN $day::DATE IS NULL THEN 'securities' END AS name_source,
                   s.status, s.last_listed, c.new_symbol, c.change_date
            FROM securities s
            LEFT JOIN symbol_changes c ON c.old_symbol = s.symbol
            LEFT JOIN security_profiles p ON p.symbol = s.symbol
                 AND (CASE WHEN $day::DATE IS NULL THEN p.valid_to IS NULL
                           ELSE p.valid_from <= $day AND (p.valid_to IS NULL OR p.valid_to > $day) END)
            -- dated names only before the first observed version: after it, what was observed counts
            LEFT JOIN security_names h ON h.symbol = s.symbol AND $day::DATE IS NOT NULL
                 AND h.valid_from <= $day AND (h.valid_to IS NULL OR h.valid_to > $day)
                 AND NOT EXISTS (SELECT 1 FROM security_profiles f WHERE f.symbol = s.symbol AND f.valid_from <= $day)
            WHERE ($include_delisted OR s.delist_date IS NULL OR s.delist_date > coalesce($day, DATE '9999-12-31'))
              AND ($day::DATE IS NULL OR s.list_date IS NULL OR s.list_date <= $day)
              -- on a day, a company of a code change trades under one code: the old before the change
              AND ($day::DATE IS NULL OR c.change_date IS NULL OR $day < c.change_date)
              AND ($day::DATE IS NULL OR NOT EXISTS (
                   SELECT 1 FROM symbol_changes n WHERE n.new_symbol = s.symbol AND $day < n.change_date))
            ORDER BY s.symbol
            """,
                {"day": day, "include_delisted": include_delisted},
            )
        )


#: Columns of `read.profile`.
PROFILE_FIELDS = (
    "symbol",
    "name",
    "is_st",
    "industry",
    "total_shares",
    "float_shares",
    "list_date",
    "total_market_cap",
    "float_market_cap",
    "shares_source",
    "valid_from",
    "valid_to",
    "observed_on",
)


def profile(symbol: str, as_of=None, *, warehouse: str | os.PathLike | None = None) -> pd.Series:
    """The profile of `symbol` as the pipeline knew it on `as_of` (default: the current one).

    A version is valid from the day the pipeline first saw it (`valid_from`) until the day the
    next one was seen (`valid_to`, exclusive). Shares are counts of shares (`shares_source`:
    "exchange_list", or "market_value/price" where derived), market values CNY as observed on
    `observed_on`.

    Before the first observed version, an exchange's dated name-change record (SZSE) covering
    `as_of` answers name and is_st (valid_from/valid_to: the record's period; every other field
    NULL, observed_on NaT, `shares_source` "exchange_record"); with none, `NoProfileError`.
    """
    code = _one_a_share(
        symbol, "profiles are kept for A-shares only (HK names and lot sizes are in hk_securities())", warehouse
    )
    day = _date(as_of, "as_of")
    with _cursor(warehouse) as conn:
        rows = _frame(
            conn.execute(
                f"""
            SELECT {", ".join(PROFILE_FIELDS)} FROM security_profiles
            WHERE symbol = $code AND (CASE WHEN $day::DATE IS NULL THEN valid_to IS NULL
                                           ELSE valid_from <= $day AND (valid_to IS NULL OR valid_to > $day) END)
            """,
                {"code": code, "day": day},
            )
        )
        if len(rows):
            return rows.iloc[0]
        first = conn.execute("SELECT min(valid_from) FROM security_profiles WHERE symbol = ?", [code]).fetchall()[0][0]
        if day is not None and (first is None or day < first):
            named = _frame(
                conn.execute(
                    f"""
                SELECT {
                        ", ".join(
                            f
                            if f in ("symbol", "name", "is_st", "valid_from", "valid_to")
                            else "'exchange_record' AS shares_source"
                            if f == "shares_source"
                            else f"NULL::DATE AS {f}"
                            if f in ("list_date", "observed_on")
                            else f"NULL::VARCHAR AS {f}"
                            if f == "industry"
                            else f"NULL::DOUBLE AS {f}"
                            for f in PROFILE_FIELDS
                        )
                    }
                FROM security_names
                WHERE symbol = $code AND valid_from <= $day AND (valid_to IS NULL OR valid_to > $day)
                """,
                    {"code": code, "day": day},
                )
            )
            if len(named):
                return named.iloc[0]
        _check_known(conn, "securities", [code], rows)
        where = _current_file()
        listed = conn.execute("SELECT list_date, delist_date FROM securities WHERE symbol = ?", [code]).fetchall()
        list_date, delist_date = listed[0] if listed else (None, None)
        if day is not None and list_date is not None and day < list_date:
            raise NoProfileError(
                f"no profile of {code} on {day}: it was not listed yet (listed on {list_date}; warehouse {where})"
            )
        if delist_date is not None and (day is None or day >= delist_date):
            raise NoProfileError(
                f"no profile of {code}{f' on {day}' if day else ''}: it was delisted on "
                f"{delist_date} (warehouse {where})"
            )
        if first is None:
            raise NoProfileError(f"no profile of {code} in {where} yet: run the security_profiles asset")
        raise NoProfileError(f"no profile of {code} known on {day} in {where}: the first was observed on {first}")


def name_history(symbol: str, *, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every name of `symbol` the warehouse knows: symbol, name, is_st, valid_from, valid_to
    (exclusive), source, position.

    source "exchange_record": dated by an exchange's name-change record (SZSE); "profile": a
    profile version (dated by when the pipeline first saw it); "former_names": sina's list of
    former names, undated (valid_from/valid_to NULL, `position` 1 = oldest), which says a name
    was carried, not when. Dated rows first, by valid_from.
    """
    code = _one_a_share(
        symbol, "name histories are kept for A-shares only (HK names are in hk_securities())", warehouse
    )
    with _cursor(warehouse) as conn:
        rows = _frame(
            conn.execute(
                """
            SELECT symbol, name, is_st, valid_from, valid_to, 'exchange_record' AS source, NULL::INTEGER AS position
            FROM security_names WHERE symbol = $code
            UNION ALL
            SELECT symbol, name, is_st, valid_from, valid_to, 'profile', NULL FROM security_profiles WHERE symbol = $code
            UNION ALL
            SELECT symbol, name, is_st, NULL, NULL, 'former_names', position FROM former_names WHERE symbol = $code
            ORDER BY valid_from NULLS LAST, source, position
            """,
                {"code": code},
            )
        )
        if rows.empty:
            _check_known(conn, "securities", [code], rows)
        return rows


#: The metrics of `read.financials` (the key_financials view), in English.
FINANCIAL_METRICS = (
    "revenue",
    "net_profit",
    "parent_net_profit",
    "deducted_net_profit",
    "operating_cash_flow",
    "total_equity",
    "eps_basic",
    "bvps",
    "roe",
    "gross_margin",
    "net_margin",
    "debt_to_assets",
)


def financials(
    symbols: str | Iterable[str],
    metrics: Iterable[str] | None = None,
    start=None,
    end=None,
    as_of=None,
    *,
    warehouse: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Key financial metrics per symbol and report date (one row per report).

    `start`/`end` bound the report dates. With `as_of`, only reports public on or before that
    day are returned: no look-ahead. A report is public from its announcement date
    (eastmoney's NOTICE_DATE); where none is known, from the statutory deadline (Q1 04-30,
    H1 08-31, Q3 10-31, annual 04-30 next year), and `available_from_estimated` is True.
    Flows (revenue, profits, cash flow) are year-to-date, CNY; eps and bvps CNY per share;
    roe, margins and debt_to_assets percent.
    """
    codes = _market_codes(symbols, "A-share", "financials cover A-shares only", warehouse)
    chosen = list(FINANCIAL_METRICS) if metrics is None else _names(metrics, "metrics")
    unknown = [m for m in chosen if m not in FINANCIAL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(FINANCIAL_METRICS)}")
    start, end = _range(start, end)
    day = _date(as_of, "as_of")
    with _cursor(warehouse) as conn:
        rows = _frame(
            conn.execute(
                f"""
            SELECT symbol, report_date, available_from, available_from_estimated, {", ".join(chosen)}
            FROM key_financials
            WHERE symbol IN (SELECT unnest($codes::VARCHAR[]))
              AND report_date >= coalesce($start::DATE, DATE '0001-01-01')
              AND report_date <= coalesce($end::DATE, DATE '9999-12-31')
              AND ($day::DATE IS NULL OR available_from <= $day)
            ORDER BY symbol, report_date
            """,
                {"codes": codes, "start": start, "end": end, "day": day},
            )
        )
        _check_known(conn, "securities", codes, rows)
        return rows
