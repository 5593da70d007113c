"""The stored adjustment inputs: A-share hfq factors, HK factors and corporate actions."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from quantdb_pipeline.read.args import _range
from quantdb_pipeline.read.connection import _cursor
from quantdb_pipeline.read.frames import _frame
from quantdb_pipeline.read.symbol_args import _market_codes

if TYPE_CHECKING:
    import pandas as pd


def adjustment_factors(symbols: str | Iterable[str], *, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """The stored hfq factors (symbol, ex_date, hfq_factor, derived_from): each applies from its
    ex_date on. `derived_from` is None for upstream's (sina's) factors; for a factor upstream
    had not published yet it says what the step was derived from ("quote_list_reference" or
    "corporate_actions"; "base" for the 1.0 a derived series starts from)."""
    codes = _market_codes(symbols, "A-share", "HK factors are in hk_adjustment_factors()", warehouse)
    with _cursor(warehouse) as conn:
        return _frame(
            conn.execute(
                "SELECT symbol, ex_date, hfq_factor, derived_from FROM adjustment_factors "
                "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY symbol, ex_date",
                [codes],
            )
        )


CORPORATE_ACTION_FIELDS = (
    "symbol",
    "report_period",
    "ex_date",
    "record_date",
    "pay_date",
    "cash_per_share",
    "bonus_shares_per_share",
    "transfer_shares_per_share",
    "rights_shares_per_share",
    "rights_price",
    "plan_progress",
    "plan_announced_on",
    "announced_on",
)


def corporate_actions(
    symbols: str | Iterable[str] | None = None,
    start=None,
    end=None,
    *,
    implemented_only: bool = True,
    warehouse: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Distributions with ex-dates between `start` and `end` (inclusive), for total-return work.

    One row per plan: symbol, report_period, ex_date, record_date, pay_date (None: the source
    has none), cash_per_share (pre-tax, CNY), bonus_shares_per_share, transfer_shares_per_share,
    rights_shares_per_share and rights_price (None: not in the source), plan_progress,
    plan_announced_on, announced_on; sorted by ex_date then symbol. Default: every symbol.
    `implemented_only=False` adds plans without an ex-date yet (then `start`/`end` filter
    on plan_announced_on). Source: eastmoney's dividend table (`stock_fhps_em`).
    """
    codes = (
        None
        if symbols is None
        else _market_codes(
            symbols,
            "A-share",
            "corporate actions cover A-shares (HK dividends are in hk_adjustment_factors)",
            warehouse,
        )
    )
    start, end = _range(start, end)
    with _cursor(warehouse) as conn:
        return _frame(
            conn.execute(
                f"""
            SELECT {", ".join(CORPORATE_ACTION_FIELDS)} FROM corporate_actions
            WHERE ($codes::VARCHAR[] IS NULL OR symbol IN (SELECT unnest($codes::VARCHAR[])))
              AND (ex_date IS NOT NULL OR NOT $implemented)
              AND coalesce(ex_date, plan_announced_on) >= coalesce($start::DATE, DATE '0001-01-01')
              AND coalesce(ex_date, plan_announced_on) <= coalesce($end::DATE, DATE '9999-12-31')
            ORDER BY coalesce(ex_date, plan_announced_on), symbol
            """,
                {"codes": codes, "implemented": implemented_only, "start": start, "end": end},
            )
        )


def hk_adjustment_factors(symbols: str | Iterable[str], *, warehouse: str | os.PathLike | None = None) -> pd.DataFrame:
    """sina's stored HK factors (symbol, ex_date, hfq_factor, hfq_cash, qfq_factor), each row in
    force from its ex_date on: hfq price = price x hfq_factor + hfq_cash (HKD), qfq price =
    price x qfq_factor. A symbol without rows has had no corporate action upstream knows of."""
    codes = _market_codes(symbols, "HK", "A-share factors are in adjustment_factors()", warehouse)
    with _cursor(warehouse) as conn:
        return _frame(
            conn.execute(
                "SELECT symbol, ex_date, hfq_factor, hfq_cash, qfq_factor FROM hk_adjustment_factors "
                "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) ORDER BY symbol, ex_date",
                [codes],
            )
        )
