"""The expectation suites, one per table the pipeline writes, defined in code.

Rules that need context a single row does not carry (the previous close, the board's
price limit on that date, the trading calendar) are evaluated by Great Expectations on
derived columns added to the staged frame by `prepare_*`; the derivations are plain
arithmetic, the judgement stays in the suite.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from quantdb_pipeline.market_rules import (
    REGISTRATION_UNLIMITED_DAYS,
    board_limit_pcts,
    describe_board_limits,
    describe_main_board_st_limits,
    ex_rights_reference,
    limit_prices,
    unlimited_first_days_of,
)
from quantdb_pipeline.quality.expectations import FAIL, QUARANTINE, WARN, SuiteOutcome, gx_expectations, run_suite
from quantdb_pipeline.schema import OHLC_COLUMNS
from quantdb_pipeline.settings import DEFAULT_MIN_DAILY_COVERAGE  # the batch rule's default share
from quantdb_pipeline.symbols import BOARDS, EXCHANGES

# The daily price limits by board and date, the ST limits and the days after a listing without
# a limit are the exchanges' rules: `quantdb_pipeline.market_rules` holds them.
#: Limit prices are rounded to the fen, so a limit move can exceed the limit slightly.
LIMIT_TOLERANCE_PCT = 0.6
#: pct_change is rounded to 0.01 upstream.
PCT_CONSISTENCY_TOLERANCE = 0.02
#: amount / volume may sit slightly outside [low, high] through rounding of amount.
VWAP_TOLERANCE = 0.01
#: The share-of-universe rule only applies to days with at least this many expected symbols.
MIN_SYMBOLS_FOR_COVERAGE_RULE = 20

BAR_REPORT_COLUMNS = ["symbol", "trade_date", "open", "high", "low", "close", "volume", "amount", "pct_change"]


def _rule(expectation_cls, rule: str, action: str, description: str, **kwargs):
    return expectation_cls(meta={"rule": rule, "action": action, "description": description}, **kwargs)


# -- the price rules every bar table shares -----------------------------------------------


@dataclass(frozen=True)
class OhlcRules:
    """What differs between the bar tables' OHLC rules (A-shares, HK, indices); the rules
    themselves are `ohlc_expectations`'. Defaults: the HK and index tables'."""

    #: Each price must be present: a missing A-share price is quarantined. HK and index bars
    #: with a missing price pass (their pair rules skip it).
    prices_present: bool = False
    #: Also check low <= high: redundant where every price is present and the open lies in
    #: [low, high], needed where a price may be missing or the open may lie outside.
    low_le_high: bool = True
    #: The open is the opening auction's price (eastmoney's HK open), which may lie outside the
    #: continuous session's [low, high]: the rules comparing the open only warn.
    open_from_auction: bool = False
    #: The `mostly` of the positive-price rules, where given (1.0: every row).
    positive_mostly: float | None = None


A_SHARE_OHLC = OhlcRules(prices_present=True, low_le_high=False, positive_mostly=1.0)


def ohlc_expectations(gxe, shape: OhlcRules) -> list:
    """Prices > 0 (and present, per `shape`), then low <= open, low <= close, open <= high,
    close <= high (and low <= high): quarantined, or warned about per `shape`."""
    rules = []
    for price in OHLC_COLUMNS:
        rules.append(
            _rule(
                gxe.ExpectColumnValuesToBeBetween,
                f"{price}_positive",
                QUARANTINE,
                f"{price} > 0",
                column=price,
                min_value=0,
                strict_min=True,
                **({} if shape.positive_mostly is None else {"mostly": shape.positive_mostly}),
            )
        )
        if shape.prices_present:
            rules.append(
                _rule(
                    gxe.ExpectColumnValuesToNotBeNull,
                    f"{price}_present",
                    QUARANTINE,
                    f"{price} is not null",
                    column=price,
                )
            )
    pairs = [
        ("open", "low", "low_le_open"),
        ("close", "low", "low_le_close"),
        ("high", "open", "open_le_high"),
        ("high", "close", "close_le_high"),
    ]
    if shape.low_le_high:
        pairs.append(("high", "low", "low_le_high"))
    for a, b, name in pairs:
        action, description = QUARANTINE, f"{b} <= {a}"
        if shape.open_from_auction and "open" in (a, b):
            action = WARN
            description += (
                " (a warning: the open is the opening auction's price, which may lie outside the "
                "continuous session's range; the bar loads)"
            )
        rules.append(
            _rule(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB,
                name,
                action,
                description,
                column_A=a,
                column_B=b,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )
    return rules


def turnover_expectations(gxe, amount_unit: str) -> list:
    """volume >= 0 (shares) and amount >= 0 (`amount_unit`: e.g. " (CNY)", or "")."""
    return [
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "volume_non_negative",
            QUARANTINE,
            "volume >= 0 (shares)",
            column="volume",
            min_value=0,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "amount_non_negative",
            QUARANTINE,
            f"amount >= 0{amount_unit}",
            column="amount",
            min_value=0,
        ),
    ]


def vwap_expectations(gxe, low_note: str, high_note: str) -> list:
    """amount / volume within [low, high] (columns vwap, vwap_floor, vwap_cap, the tolerance
    `VWAP_TOLERANCE` applied by the prepare step); the notes are appended to the descriptions."""
    return [
        _rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "vwap_above_low",
            QUARANTINE,
            f"amount / volume >= low{low_note}",
            column_A="vwap",
            column_B="vwap_floor",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        _rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "vwap_below_high",
            QUARANTINE,
            f"amount / volume <= high{high_note}",
            column_A="vwap_cap",
            column_B="vwap",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
    ]


# -- daily_bars ---------------------------------------------------------------------------


@dataclass
class BarContext:
    """What the bar rules need beyond the rows themselves."""

    today: dt.date
    trading_days: list[dt.date]
    securities: pd.DataFrame  # symbol, board, is_st, list_date
    previous_close: dict[str, float] = field(default_factory=dict)  # last stored close before the batch
    min_daily_coverage: float = DEFAULT_MIN_DAILY_COVERAGE
    #: Known ex-dates of the batch's symbols: symbol, ex_date, and either the distribution
    #: (cash, new_shares, rights_shares, rights_price) or upstream's factor step (step).
    ex_rights: pd.DataFrame | None = None


def _day_array(dates: pd.Series) -> np.ndarray:
    """A date column (Arrow date32, datetime64 or date objects) as NumPy datetime64[D], NaT for nulls."""
    if isinstance(dates.dtype, pd.ArrowDtype):
        return dates.array.__arrow_array__().to_numpy(zero_copy_only=False).astype("datetime64[D]")
    return pd.to_datetime(pd.Series(dates.astype(object).to_numpy()), errors="coerce").to_numpy(dtype="datetime64[D]")


def _calendar_days(trading_days) -> np.ndarray:
    """The trading days (date objects), sorted, as datetime64[D]: through Arrow, since NumPy
    converts ~9,000 date objects one by one (tens of ms per call; a streamed load calls per chunk)."""
    days = list(trading_days)
    try:
        return np.sort(pa.array(days, type=pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]"))
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):  # e.g. Timestamps: the general way
        return np.array(sorted(days), dtype="datetime64[D]")


def _per_symbol(codes: np.ndarray, uniques: np.ndarray, mapping: pd.Series, dtype, fill) -> np.ndarray:
    """`mapping` (indexed by symbol) looked up once per distinct symbol, then spread to the rows."""
    return _symbol_values(uniques, mapping, dtype, fill)[codes]


def _symbol_values(uniques: np.ndarray, mapping: pd.Series, dtype, fill) -> np.ndarray:
    """`mapping` at each distinct symbol, then `fill` once more: index it with factorize codes
    (code -1, a null symbol, gets the fill)."""
    looked_up = mapping.reindex(uniques).to_numpy(dtype=dtype, na_value=fill)
    return np.append(looked_up, np.array([fill], dtype=dtype))


def _limits_by_board_and_day(board_codes: np.ndarray, boards: np.ndarray, days: np.ndarray, st: bool) -> np.ndarray:
    """`board_limit_pcts` of each row (board code into `boards`, -1 unknown; day datetime64[D]),
    computed once per (board, calendar day) pair: a backfill has millions of rows, a handful of
    boards and a few thousand days."""
    out = np.full(len(days), np.nan)
    known = ~np.isnat(days)
    if not known.any():
        return out
    first = days[known].min()
    offsets = (days[known] - first).astype("int64")
    span = int(offsets.max()) + 1
    if span * (len(boards) + 1) > 4 * len(days) + 100_000:  # absurd dates: row by row is cheaper
        row_boards = np.append(np.asarray(boards, dtype=object), [None])[board_codes]
        return board_limit_pcts(row_boards, days, st=np.full(len(days), st))
    calendar_days = first + np.arange(span)
    table = np.full((len(boards) + 1, span), np.nan)  # last row: unknown board (code -1)
    for code, board in enumerate(boards):
        table[code] = board_limit_pcts(np.full(span, board, dtype=object), calendar_days, st=np.full(span, st))
    out[known] = table[board_codes[known], offsets]
    return out


def _previous_close_order(codes: np.ndarray, day_values: np.ndarray) -> np.ndarray:
    """Row positions sorted by (symbol code, day), stable; the identity when the rows already are
    (a batch is the concatenation of per-symbol histories: no sort then)."""
    n = len(codes)
    if n > 1 and not np.isnat(day_values).any():
        same = codes[1:] == codes[:-1]
        days = day_values.view("int64")
        if bool(np.all((codes[1:] > codes[:-1]) | (same & (days[1:] >= days[:-1])))):
            return np.arange(n)
    return np.lexsort((day_values, codes))


def prepare_bars(bars: pd.DataFrame, context: BarContext) -> pd.DataFrame:
    """The staged bars plus the derived columns the rules look at (RangeIndex kept).

    Built from NumPy arrays, symbol look-ups done once per distinct symbol and the price limits
    once per (board, day): a backfill batch has millions of rows.
    """
    n = len(bars)
    day_values = _day_array(bars["trade_date"])
    codes, found = pd.factorize(bars["symbol"], use_na_sentinel=True)
    uniques = np.asarray(found, dtype=object)
    columns = {"symbol": bars["symbol"].array, "trade_date": day_values.astype("datetime64[s]")}
    for column in (
        "open",
        "high",
        "low",
        "close",
        "amount",
        "pct_change",
        "turnover_rate",
        "volume",
        "prev_close",
        "reference_price",
    ):
        columns[column] = bars[column].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        days_after = (day_values - np.datetime64(context.today, "D")).astype("float64")
    days_after[np.isnat(day_values)] = np.nan
    columns["days_after_today"] = days_after
    info = context.securities.drop_duplicates("symbol").set_index("symbol")
    symbol_board = _symbol_values(uniques, info["board"].astype(object), object, None)
    symbol_list_day = _symbol_values(
        uniques,
        pd.to_datetime(info["list_date"].astype(object)).astype("datetime64[s]"),
        "datetime64[D]",
        np.datetime64("NaT"),
    )
    is_st = _symbol_values(uniques, info["is_st"].astype(object).fillna(False).astype(bool), bool, False)[codes]
    board_codes, boards = pd.factorize(symbol_board, use_na_sentinel=True)
    row_board_codes = board_codes[codes]

    limit = _limits_by_board_and_day(row_board_codes, np.asarray(boards, dtype=object), day_values, st=False)
    calendar = _calendar_days(context.trading_days)
    day_pos = np.searchsorted(calendar, day_values)
    # looked up here, judged by the suite: a 9,000-date value set would be copied per expectation
    columns["is_trading_day"] = (day_pos < len(calendar)) & (
        calendar[np.minimum(day_pos, len(calendar) - 1)] == day_values
    )
    symbol_list_pos = np.searchsorted(calendar, symbol_list_day)
    symbol_unlimited = unlimited_first_days_of(symbol_board, symbol_list_day)
    newly_listed = ~np.isnat(symbol_list_day)[codes] & (day_pos - symbol_list_pos[codes] < symbol_unlimited[codes])
    limit[newly_listed] = np.nan
    pct = columns["pct_change"]
    st_limit = np.full(n, np.nan)
    if is_st.any():
        st_limit[is_st] = _limits_by_board_and_day(
            row_board_codes[is_st], np.asarray(boards, dtype=object), day_values[is_st], st=True
        )
    st_limit[newly_listed] = np.nan

    # the previous close of each row: the row before it of the same symbol, else the stored one
    close = columns["close"]
    order = _previous_close_order(codes, day_values)
    ordered_codes = codes[order]
    previous_sorted = np.empty(n)
    if n:
        previous_sorted[1:] = close[order][:-1]
        first_of_symbol = np.ones(n, dtype=bool)
        first_of_symbol[1:] = ordered_codes[1:] != ordered_codes[:-1]
        stored = pd.Series(context.previous_close, dtype="float64")
        previous_sorted[first_of_symbol] = _per_symbol(
            ordered_codes[first_of_symbol], uniques, stored, "float64", np.nan
        )
    previous = np.empty(n)
    previous[order] = previous_sorted
    # what upstream's 涨跌幅 is measured from: the quote list's 昨收, else close - 涨跌额 (the
    # history klines' previous close), else the previous close in the warehouse
    prev_close, quoted = columns["prev_close"], columns["reference_price"]
    change_base = np.where(~np.isnan(quoted), quoted, np.where(np.isnan(prev_close), previous, prev_close))
    # what the exchange measures the price limit from: its reference price, which on an ex-date
    # is the ex-rights price (the history klines do not show it: it comes from known ex-dates)
    reference = np.where(np.isnan(prev_close), previous, prev_close)
    ex_rights = _ex_rights_references(codes, uniques, day_values, reference, context.ex_rights)
    reference_known = ~np.isnan(quoted) | ~np.isnan(ex_rights)
    reference = np.where(~np.isnan(quoted), quoted, np.where(np.isnan(ex_rights), reference, ex_rights))
    columns["previous_close"] = reference
    board_limit = _limit_with_rounding(limit, reference)
    with np.errstate(invalid="ignore", divide="ignore"):
        from_reference = (close / reference - 1) * 100
        columns["abs_pct_change"] = np.where(np.isnan(from_reference), np.abs(pct), np.abs(from_reference))
    # A fall from the previous close beyond the limit on a day with no known reference price is
    # what an ex-date looks like in the close-to-close history klines when the dividend table
    # misses it, as well as what a bad price looks like: warned about, not quarantined.
    unexplained_fall = ~reference_known & (from_reference < 0)
    columns["board_limit_pct"] = np.where(unexplained_fall, np.nan, board_limit)
    columns["fall_limit_pct"] = np.where(unexplained_fall, board_limit, np.nan)
    columns["st_limit_pct"] = st_limit
    if is_st.any():
        columns["st_limit_pct"][is_st] = _limit_with_rounding(st_limit[is_st], reference[is_st])
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["pct_from_previous_close"] = (close / change_base - 1) * 100
        columns["pct_discrepancy"] = np.abs(pct - columns["pct_from_previous_close"])
        volume = columns["volume"]
        columns["vwap"] = np.where(volume > 0, columns["amount"] / volume, np.nan)
    columns["vwap_floor"] = columns["low"] * (1 - VWAP_TOLERANCE)
    columns["vwap_cap"] = columns["high"] * (1 + VWAP_TOLERANCE)
    frame = pd.DataFrame(columns, copy=False)  # one block per column: no 2-D copy of millions of rows
    frame.attrs["report_columns"] = BAR_REPORT_COLUMNS
    return frame


def _ex_rights_references(
    codes: np.ndarray, uniques: np.ndarray, days: np.ndarray, previous: np.ndarray, ex_rights: pd.DataFrame | None
) -> np.ndarray:
    """The exchange's ex-rights reference price of each row that falls on a known ex-date, NaN elsewhere.

    `codes`/`uniques`: the rows' symbols factorized (code -1: null symbol); `days` datetime64[D].
    """
    out = np.full(len(codes), np.nan)
    if ex_rights is None or ex_rights.empty or not len(codes):
        return out
    event_codes = pd.Index(uniques).get_indexer(ex_rights["symbol"].astype(str).to_numpy())
    event_days = pd.to_datetime(ex_rights["ex_date"]).to_numpy().astype("datetime64[D]")
    usable = (event_codes >= 0) & ~np.isnat(event_days)  # ex-dates of symbols the batch holds
    if not usable.any():
        return out

    # one integer per (symbol, day): code * 2^32 + days since the epoch
    def key(symbol_codes, day_values):
        return symbol_codes.astype("int64") * 2**32 + (day_values.astype("int64") + 2**31)

    events = pd.Index(key(event_codes[usable], event_days[usable]))
    known = (codes >= 0) & ~np.isnat(days)
    position = np.full(len(codes), -1)
    position[known] = events.get_indexer(key(codes[known], days[known]))
    rows = np.flatnonzero(position >= 0)
    if not len(rows):
        return out
    events = ex_rights.iloc[np.flatnonzero(usable)[position[rows]]]
    step = events["step"].to_numpy(dtype="float64")
    formula = ex_rights_reference(
        previous[rows],
        events["cash"].to_numpy(dtype="float64"),
        events["new_shares"].to_numpy(dtype="float64"),
        events["rights_shares"].to_numpy(dtype="float64"),
        events["rights_price"].to_numpy(dtype="float64"),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        from_step = np.round(previous[rows] / step, 2)
    out[rows] = np.where(np.isnan(step), formula, from_step)
    return out


def _limit_with_rounding(limit_pct: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The largest |pct_change| a limit allows, given that limit prices are rounded to the fen.

    A CNY 0.65 stock's +10% limit is round(0.715) = 0.72, a 10.77% move: on low prices the
    rounding is worth more than a fixed tolerance. Without a reference price, the fixed
    `LIMIT_TOLERANCE_PCT` applies. pct_change itself is rounded to 0.01.
    """
    up, down = limit_prices(reference, limit_pct)
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = np.maximum(up / reference - 1, 1 - down / reference) * 100 + 0.011
    return np.where(reference > 0, exact, limit_pct + LIMIT_TOLERANCE_PCT)


def bar_row_expectations(context: BarContext) -> list:
    """The `daily_bars` row rules. They do not depend on the context (what they need is in the
    derived columns), so they are built once per process: a streamed load validates many chunks."""
    return list(_bar_row_rules())


@lru_cache(maxsize=1)
def _bar_row_rules() -> tuple:
    gxe = gx_expectations()
    rules = [
        _rule(gxe.ExpectColumnValuesToNotBeNull, "symbol_present", QUARANTINE, "symbol is not null", column="symbol"),
        _rule(
            gxe.ExpectColumnValuesToNotBeNull,
            "trade_date_present",
            QUARANTINE,
            "trade_date is not null",
            column="trade_date",
        ),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            QUARANTINE,
            "one row per (symbol, trade_date); conflicting duplicates are all quarantined",
            column_list=["symbol", "trade_date"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "trading_day",
            QUARANTINE,
            "trade_date is a trading day of the market's calendar",
            column="is_trading_day",
            value_set=[True],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "not_in_future",
            QUARANTINE,
            "trade_date is not after the source's today",
            column="days_after_today",
            max_value=0,
        ),
    ]
    rules += ohlc_expectations(gxe, A_SHARE_OHLC)
    rules += turnover_expectations(gxe, " (CNY)")
    rules += [
        _rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "within_board_limit",
            QUARANTINE,
            "the close moved from the exchange's reference price (the ex-rights price on a known ex-date) "
            "by no more than the board's daily limit, with the limit price rounded to the fen "
            f"(by board and date: {describe_board_limits()}; none on a "
            f"listing's first {REGISTRATION_UNLIMITED_DAYS} trading days, or first day for approval-based "
            "listings; a fall with no known reference price is the next rule's)",
            column_A="board_limit_pct",
            column_B="abs_pct_change",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        _rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "fall_within_board_limit",
            WARN,
            "a fall from the previous close on a day with no known reference price stays within the board's "
            "limit; beyond it is an ex-date that corporate_actions lacks, or a bad price (a warning: the row "
            "loads; the examples name the symbol and day to check)",
            column_A="fall_limit_pct",
            column_B="abs_pct_change",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        _rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "within_st_limit",
            WARN,
            f"the move stays within the ST limit of the board on that date (main board "
            f"{describe_main_board_st_limits()}; other boards their board's limit) for names that are ST now "
            "(a warning: the warehouse does not yet know since when a name is ST)",
            column_A="st_limit_pct",
            column_B="abs_pct_change",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        *vwap_expectations(gxe, " (a lots-vs-shares unit error breaks this)", ""),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "pct_change_matches_previous_close",
            WARN,
            "pct_change agrees with close / what upstream measures it from (the quote list's 昨收, the "
            "history klines' close - 涨跌额, or the last stored close where upstream sends neither)",
            column="pct_discrepancy",
            max_value=PCT_CONSISTENCY_TOLERANCE,
        ),
    ]
    return tuple(rules)


def bar_day_counts(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(distinct trade dates as datetime64[D] ascending, rows on each): what `daily_coverage`
    needs of a batch, small enough to add up over the chunks of a load."""
    day_values = _day_array(bars["trade_date"]) if len(bars) else np.array([], dtype="datetime64[D]")
    return np.unique(day_values[~np.isnat(day_values)], return_counts=True)


def daily_coverage(
    bars: pd.DataFrame | tuple[np.ndarray, np.ndarray], windows: pd.DataFrame, trading_days: list[dt.date]
) -> pd.DataFrame:
    """Per trading day of the batch: symbols expected (their fetch window covers the day), reported, share.

    `bars`: the batch's bars, or their `bar_day_counts` (a load written in chunks adds those up).
    """
    if windows.empty:
        return pd.DataFrame({"trade_date_iso": [], "expected": [], "reported": [], "share": []})
    days = _calendar_days(trading_days)
    starts = windows["start"].to_numpy(dtype="datetime64[D]")
    ends = windows["end"].to_numpy(dtype="datetime64[D]")
    lo, hi = days.searchsorted(starts.min()), days.searchsorted(ends.max(), side="right")
    span = days[lo:hi]
    # per day: windows started on or before it less windows ended before it (no days x windows matrix)
    expected = np.searchsorted(np.sort(starts), span, side="right") - np.searchsorted(np.sort(ends), span, side="left")
    days_reported, counts = bars if isinstance(bars, tuple) else bar_day_counts(bars)
    reported = np.zeros(len(span), dtype="int64")
    if len(days_reported):
        pos = np.minimum(np.searchsorted(days_reported, span), len(days_reported) - 1)
        reported = np.where(days_reported[pos] == span, counts[pos], 0)
    iso = pd.Series(span.astype(str))
    frame = pd.DataFrame({"trade_date_iso": iso, "expected": expected, "reported": reported})
    frame["share"] = frame["reported"] / frame["expected"].where(frame["expected"] > 0)
    return frame[frame["expected"] >= MIN_SYMBOLS_FOR_COVERAGE_RULE].reset_index(drop=True)


def bar_batch_expectations(context: BarContext) -> list:
    gxe = gx_expectations()
    return [
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "daily_universe_coverage",
            FAIL,
            f"each trading day has rows for >= {context.min_daily_coverage:.0%} of the symbols "
            f"fetched for it (days with >= {MIN_SYMBOLS_FOR_COVERAGE_RULE} symbols)",
            column="share",
            min_value=context.min_daily_coverage,
        )
    ]


def validate_bar_rows(bars: pd.DataFrame, context: BarContext) -> SuiteOutcome:
    """The row rules, on `bars` positions."""
    return run_suite("daily_bars", prepare_bars(bars, context), bar_row_expectations(context))


def validate_bar_days(
    bars: pd.DataFrame | tuple[np.ndarray, np.ndarray], windows: pd.DataFrame, context: BarContext
) -> SuiteOutcome:
    """The batch rule (`daily_universe_coverage`) over a batch's bars or their `bar_day_counts`."""
    coverage = daily_coverage(bars, windows, context.trading_days)
    coverage.attrs["report_columns"] = list(coverage.columns)
    return run_suite("daily_bars_batch", coverage, bar_batch_expectations(context))


def validate_bars(bars: pd.DataFrame, windows: pd.DataFrame, context: BarContext) -> tuple[SuiteOutcome, SuiteOutcome]:
    """(row-level outcome on `bars` positions, batch-level outcome)."""
    return validate_bar_rows(bars, context), validate_bar_days(bars, windows, context)


# -- hk_daily_bars and index_daily_bars -------------------------------------------------

#: Each market's own rules: HK has no daily price limit; indices have no turnover rate, and
#: their amount / volume is an average constituent price, not a price of the index.
#: "open_from_auction": eastmoney's HK open is the opening auction's price, which can lie
#: outside the continuous session's [low, high] (02171 on 2024-04-22: open 4.81, high 4.65,
#: low 4.41, close 4.52): such an open is warned about and the bar kept.
MARKET_RULES = {
    "hk": ("vwap", "pct_change_consistent", "open_from_auction"),
    "index": (),
}


def prepare_market_bars(
    bars: pd.DataFrame, today: dt.date, trading_days: list[dt.date], market: str = ""
) -> pd.DataFrame:
    frame = pd.DataFrame({c: bars[c].to_numpy() for c in bars.columns})
    frame["symbol"] = bars["symbol"].to_numpy(dtype=object)
    dates = pd.to_datetime(pd.Series(bars["trade_date"].astype(object).to_numpy()), errors="coerce")
    frame["trade_date"] = dates.dt.date.to_numpy()
    frame["trade_date_iso"] = dates.dt.strftime("%Y-%m-%d")
    frame["days_after_today"] = (dates - pd.Timestamp(today)).dt.days
    calendar = np.array(sorted(trading_days), dtype="datetime64[D]")
    day_values = dates.to_numpy(dtype="datetime64[D]")
    pos = np.searchsorted(calendar, day_values)
    frame["is_trading_day"] = (pos < len(calendar)) & (calendar[np.minimum(pos, len(calendar) - 1)] == day_values)
    for column in ("open", "high", "low", "close", "amount", "pct_change", "turnover_rate", "prev_close"):
        if column in frame:
            frame[column] = frame[column].astype("float64")
    volume = frame["volume"].astype("float64")
    frame["volume"] = volume
    frame["vwap"] = (frame["amount"] / volume).where(volume > 0)
    low, high = frame["low"], frame["high"]
    if "open_from_auction" in MARKET_RULES.get(market, ()):
        # the auction's volume traded at the open, which may lie outside the session's range
        low, high = np.fmin(low, frame["open"]), np.fmax(high, frame["open"])
    frame["vwap_floor"] = low * (1 - VWAP_TOLERANCE)
    frame["vwap_cap"] = high * (1 + VWAP_TOLERANCE)
    if "prev_close" in frame:
        frame["pct_discrepancy"] = (frame["pct_change"] - (frame["close"] / frame["prev_close"] - 1) * 100).abs()
    frame.attrs["report_columns"] = [c for c in BAR_REPORT_COLUMNS if c in frame]
    return frame


def market_bar_expectations(market: str) -> list:
    """The row rules of a market's bars, built once per market and process (chunked loads validate often)."""
    return list(_market_bar_rules(market))


@lru_cache(maxsize=None)
def _market_bar_rules(market: str) -> tuple:
    gxe = gx_expectations()
    rules = [
        _rule(
            gxe.ExpectColumnValuesToNotBeNull,
            "trade_date_present",
            QUARANTINE,
            "trade_date is not null",
            column="trade_date",
        ),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            QUARANTINE,
            "one row per (symbol, trade_date); conflicting duplicates are all quarantined",
            column_list=["symbol", "trade_date_iso"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "trading_day",
            QUARANTINE,
            f"trade_date is a trading day of the {'HKEX' if market == 'hk' else 'SSE'} calendar",
            column="is_trading_day",
            value_set=[True],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "not_in_future",
            QUARANTINE,
            "trade_date is not after the source's today",
            column="days_after_today",
            max_value=0,
        ),
        *turnover_expectations(gxe, ""),
    ]
    rules += ohlc_expectations(gxe, OhlcRules(open_from_auction="open_from_auction" in MARKET_RULES[market]))
    if "vwap" in MARKET_RULES[market]:
        rules += vwap_expectations(
            gxe, " (volume in shares; HK: or the open, the auction's price)", " (HK: or the open)"
        )
    if "pct_change_consistent" in MARKET_RULES[market]:
        rules.append(
            _rule(
                gxe.ExpectColumnValuesToBeBetween,
                "pct_change_matches_previous_close",
                WARN,
                "pct_change agrees with close / prev_close",
                column="pct_discrepancy",
                max_value=PCT_CONSISTENCY_TOLERANCE,
            )
        )
    return tuple(rules)


def validate_market_bars(bars: pd.DataFrame, market: str, today: dt.date, trading_days: list[dt.date]) -> SuiteOutcome:
    """The row rules of `hk_daily_bars` (market "hk") or `index_daily_bars` (market "index")."""
    return run_suite(
        f"{market}_daily_bars", prepare_market_bars(bars, today, trading_days, market), market_bar_expectations(market)
    )


# -- adjustment_factors -------------------------------------------------------------------

#: A factor step may differ from last close / reference price by the rounding of the latter.
FACTOR_STEP_TOLERANCE = 0.005
#: Upstream's step on an ex-date whose factor the pipeline had derived must confirm it this closely.
DERIVED_STEP_TOLERANCE = 0.001


def prepare_factors(factors: pd.DataFrame, today: dt.date, reference_steps: pd.DataFrame) -> pd.DataFrame:
    """Factors plus each ex-date's step against the step the known ex-date implies.

    `reference_steps` (symbol, ex_date, implied_step, and optionally derived) holds, for the
    ex-dates the warehouse knows (`loaders.factors.known_ex_dates`), last close / the
    exchange's reference price; `derived` marks those whose factor the pipeline had derived.
    """
    frame = pd.DataFrame({c: factors[c].astype(object).to_numpy() for c in factors.columns})
    dates = pd.to_datetime(frame["ex_date"], errors="coerce")
    frame["ex_date_iso"] = dates.dt.strftime("%Y-%m-%d")
    frame["days_after_today"] = (dates - pd.Timestamp(today)).dt.days
    frame["hfq_factor"] = frame["hfq_factor"].astype("float64")
    ordered = frame.sort_values(["symbol", "ex_date_iso"], kind="stable")
    step = ordered["hfq_factor"] / ordered.groupby("symbol", sort=False)["hfq_factor"].shift(1)
    frame["factor_step"] = step.reindex(frame.index)
    implied = reference_steps.assign(ex_date_iso=pd.to_datetime(reference_steps["ex_date"]).dt.strftime("%Y-%m-%d"))
    if "derived" not in implied:
        implied["derived"] = False
    keyed = frame[["symbol", "ex_date_iso"]].merge(
        implied[["symbol", "ex_date_iso", "implied_step", "derived"]], how="left", on=["symbol", "ex_date_iso"]
    )
    frame["step_discrepancy"] = (frame["factor_step"] / keyed["implied_step"].to_numpy(dtype="float64") - 1).abs()
    derived = keyed["derived"].astype(object).fillna(False).astype(bool).to_numpy()
    frame["derived_step_discrepancy"] = np.where(derived, frame["step_discrepancy"], np.nan)
    frame.attrs["report_columns"] = ["symbol", "ex_date", "hfq_factor", "factor_step"]
    return frame


def validate_factors(factors: pd.DataFrame, today: dt.date, reference_steps: pd.DataFrame) -> SuiteOutcome:
    gxe = gx_expectations()
    rules = [
        _rule(
            gxe.ExpectColumnValuesToNotBeNull,
            "ex_date_present",
            QUARANTINE,
            "ex_date is not null",
            column="ex_date_iso",
        ),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            QUARANTINE,
            "one factor per (symbol, ex_date)",
            column_list=["symbol", "ex_date_iso"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "factor_positive",
            QUARANTINE,
            "hfq_factor > 0",
            column="hfq_factor",
            min_value=0,
            strict_min=True,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "not_in_future",
            QUARANTINE,
            "ex_date is not after today",
            column="days_after_today",
            max_value=0,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "step_matches_reference_price",
            WARN,
            f"the factor's step on an ex-date equals last close / the exchange's reference price "
            f"within {FACTOR_STEP_TOLERANCE:.1%} (where the warehouse knows that ex-date: the quote "
            f"list's 昨收 or a corporate action)",
            column="step_discrepancy",
            max_value=FACTOR_STEP_TOLERANCE,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "confirms_derived_step",
            WARN,
            f"where the pipeline had derived a factor before upstream published it, upstream's step equals "
            f"the derived one within {DERIVED_STEP_TOLERANCE:.1%}",
            column="derived_step_discrepancy",
            max_value=DERIVED_STEP_TOLERANCE,
        ),
    ]
    return run_suite("adjustment_factors", prepare_factors(factors, today, reference_steps), rules)


# -- corporate_actions --------------------------------------------------------------------


def prepare_corporate_actions(actions: pd.DataFrame) -> pd.DataFrame:
    """The staged distribution plans plus the derived columns the rules look at."""
    frame = pd.DataFrame({c: actions[c].astype(object).to_numpy() for c in actions.columns})
    for column in ("report_period", "record_date", "ex_date", "plan_announced_on"):
        frame[f"{column}_iso"] = pd.to_datetime(frame[column], errors="coerce").dt.strftime("%Y-%m-%d")
    amounts = ["cash_per_share", "bonus_shares_per_share", "transfer_shares_per_share"]
    for column in amounts:
        frame[column] = frame[column].astype("float64")
    frame["distributes"] = frame[amounts].fillna(0).sum(axis=1) > 0
    frame["is_a_share_code"] = frame["symbol"].astype(str).str.fullmatch(r"\d{6}")
    ex_date = pd.to_datetime(frame["ex_date"], errors="coerce")
    frame["ex_after_record"] = np.where(
        ex_date.isna() | pd.to_datetime(frame["record_date"], errors="coerce").isna(),
        None,
        ex_date > pd.to_datetime(frame["record_date"], errors="coerce"),
    )
    frame["ex_after_period"] = np.where(
        ex_date.isna(), None, ex_date > pd.to_datetime(frame["report_period"], errors="coerce")
    )
    frame.attrs["report_columns"] = [
        "symbol",
        "report_period",
        "ex_date",
        "cash_per_share",
        "bonus_shares_per_share",
        "transfer_shares_per_share",
        "plan_progress",
    ]
    return frame


def validate_corporate_actions(actions: pd.DataFrame) -> SuiteOutcome:
    """Row rules of `corporate_actions`: keys and codes, non-negative amounts, dates in order."""
    gxe = gx_expectations()
    rules = [
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "a_share_code",
            QUARANTINE,
            "symbol is a six-digit A-share code",
            column="is_a_share_code",
            value_set=[True],
        ),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            QUARANTINE,
            "one plan per (symbol, report_period, plan_announced_on); conflicting duplicates are all quarantined",
            column_list=["symbol", "report_period_iso", "plan_announced_on_iso"],
            ignore_row_if="any_value_is_missing",
        ),
        *(
            _rule(
                gxe.ExpectColumnValuesToBeBetween,
                f"{column}_non_negative",
                QUARANTINE,
                f"{column} >= 0",
                column=column,
                min_value=0,
            )
            for column in ("cash_per_share", "bonus_shares_per_share", "transfer_shares_per_share")
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "ex_date_after_record_date",
            QUARANTINE,
            "ex_date is after record_date (A-shares: the next trading day)",
            column="ex_after_record",
            value_set=[True],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "ex_date_after_report_period",
            QUARANTINE,
            "ex_date is after the report period the distribution is paid from",
            column="ex_after_period",
            value_set=[True],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "distributes_something",
            WARN,
            "cash, bonus or transferred shares > 0 (a plan of nothing changes no price)",
            column="distributes",
            value_set=[True],
        ),
    ]
    return run_suite("corporate_actions", prepare_corporate_actions(actions), rules)


# -- hk_adjustment_factors ----------------------------------------------------------------


def prepare_hk_factors(factors: pd.DataFrame, today: dt.date, previous_closes: pd.DataFrame) -> pd.DataFrame:
    """HK factors plus, on each ex-date, how far sina's qfq step is from the one its hfq implies.

    `previous_closes` (symbol, ex_date, previous_close) holds the last stored unadjusted close
    before each ex-date. hfq is continuous across an ex-date, so the price the stock resumes
    from is (previous_close x old hfq_factor + old hfq_cash - new hfq_cash) / new hfq_factor,
    and qfq's step (old qfq_factor / new qfq_factor) should be that price / previous_close.
    """
    frame = pd.DataFrame({c: factors[c].astype(object).to_numpy() for c in factors.columns})
    dates = pd.to_datetime(frame["ex_date"], errors="coerce")
    frame["ex_date_iso"] = dates.dt.strftime("%Y-%m-%d")
    frame["days_after_today"] = (dates - pd.Timestamp(today)).dt.days
    for column in ("hfq_factor", "hfq_cash", "qfq_factor"):
        frame[column] = frame[column].astype("float64")
    ordered = frame.sort_values(["symbol", "ex_date_iso"], kind="stable")
    before = ordered.groupby("symbol", sort=False)[["hfq_factor", "hfq_cash", "qfq_factor"]].shift(1)
    closes = previous_closes.assign(ex_date_iso=pd.to_datetime(previous_closes["ex_date"]).dt.strftime("%Y-%m-%d"))
    close = (
        ordered[["symbol", "ex_date_iso"]]
        .merge(closes[["symbol", "ex_date_iso", "previous_close"]], how="left", on=["symbol", "ex_date_iso"])[
            "previous_close"
        ]
        .to_numpy()
    )
    resumes = (close * before["hfq_factor"] + before["hfq_cash"] - ordered["hfq_cash"]) / ordered["hfq_factor"]
    qfq_step = before["qfq_factor"] / ordered["qfq_factor"]
    frame["qfq_step_discrepancy"] = (qfq_step / (resumes / close) - 1).abs().reindex(frame.index)
    frame.attrs["report_columns"] = ["symbol", "ex_date", "hfq_factor", "hfq_cash", "qfq_factor"]
    return frame


def validate_hk_factors(factors: pd.DataFrame, today: dt.date, previous_closes: pd.DataFrame) -> SuiteOutcome:
    gxe = gx_expectations()
    rules = [
        _rule(
            gxe.ExpectColumnValuesToNotBeNull,
            "ex_date_present",
            QUARANTINE,
            "ex_date is not null",
            column="ex_date_iso",
        ),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            QUARANTINE,
            "one row per (symbol, ex_date)",
            column_list=["symbol", "ex_date_iso"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "hfq_factor_positive",
            QUARANTINE,
            "hfq_factor > 0",
            column="hfq_factor",
            min_value=0,
            strict_min=True,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "qfq_factor_positive",
            QUARANTINE,
            "qfq_factor > 0",
            column="qfq_factor",
            min_value=0,
            strict_min=True,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "not_in_future",
            QUARANTINE,
            "ex_date is not after today",
            column="days_after_today",
            max_value=0,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "hfq_cash_not_negative",
            WARN,
            "hfq_cash >= 0 (cash dividends are added back)",
            column="hfq_cash",
            min_value=0,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "qfq_step_matches_hfq",
            WARN,
            f"on an ex-date, the qfq step equals the price ratio the hfq factors imply at the last stored "
            f"close within {FACTOR_STEP_TOLERANCE:.1%}",
            column="qfq_step_discrepancy",
            max_value=FACTOR_STEP_TOLERANCE,
        ),
    ]
    return run_suite("hk_adjustment_factors", prepare_hk_factors(factors, today, previous_closes), rules)


# -- security_profiles, financial_statements, financial_indicators -------------------------

#: Assets = liabilities + equity, within this share of total assets (upstream rounds items).
BALANCE_IDENTITY_TOLERANCE = 0.001


def validate_profiles(frame: pd.DataFrame, today: dt.date) -> SuiteOutcome:
    gxe = gx_expectations()
    staged = pd.DataFrame({c: frame[c].astype(object).to_numpy() for c in frame.columns})
    for column in ("total_shares", "float_shares"):
        staged[column] = staged[column].astype("float64")
    listed = pd.to_datetime(staged["list_date"], errors="coerce")
    staged["list_days_after_today"] = (listed - pd.Timestamp(today)).dt.days
    staged.attrs["report_columns"] = ["symbol", "name", "industry", "total_shares", "float_shares", "list_date"]
    rules = [
        _rule(gxe.ExpectColumnValuesToBeUnique, "symbol_unique", QUARANTINE, "one profile per symbol", column="symbol"),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "name_present", QUARANTINE, "name is not null", column="name"),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "total_shares_positive",
            QUARANTINE,
            "total_shares > 0",
            column="total_shares",
            min_value=0,
            strict_min=True,
        ),
        _rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "float_le_total_shares",
            QUARANTINE,
            "float_shares <= total_shares",
            column_A="total_shares",
            column_B="float_shares",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "industry_present", WARN, "industry is known", column="industry"),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "listed_not_in_future",
            WARN,
            "list_date is not after today",
            column="list_days_after_today",
            max_value=0,
        ),
    ]
    return run_suite("security_profiles", staged, rules)


def _report_frame(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    staged = pd.DataFrame({c: frame[c].astype(object).to_numpy() for c in frame.columns})
    dates = pd.to_datetime(staged["report_date"], errors="coerce")
    staged["report_date_iso"] = dates.dt.strftime("%Y-%m-%d")
    staged["is_quarter_end"] = dates.dt.is_quarter_end.fillna(False)
    staged["value"] = staged["value"].astype("float64")
    staged.attrs["report_columns"] = [c for c in (*key, "value") if c in staged]
    return staged


def validate_statements(frame: pd.DataFrame) -> SuiteOutcome:
    """Keys, quarter-end report dates, announcement after the period, and the balance identity."""
    gxe = gx_expectations()
    staged = _report_frame(frame, ["symbol", "statement", "report_date", "item"])
    notice = pd.to_datetime(staged["notice_date"], errors="coerce")
    staged["notice_days_after_period"] = (notice - pd.to_datetime(staged["report_date"], errors="coerce")).dt.days
    balance = staged[staged["statement"] == "balance"].pivot_table(
        index=["symbol", "report_date_iso"], columns="item", values="value", aggfunc="first"
    )
    gap = pd.Series(np.nan, index=balance.index)
    if {"TOTAL_ASSETS", "TOTAL_LIABILITIES", "TOTAL_EQUITY"} <= set(balance.columns):
        gap = (balance["TOTAL_ASSETS"] - balance["TOTAL_LIABILITIES"] - balance["TOTAL_EQUITY"]).abs() / balance[
            "TOTAL_ASSETS"
        ].abs()
    keys = pd.MultiIndex.from_frame(staged[["symbol", "report_date_iso"]])
    staged["balance_identity_gap"] = np.where(staged["statement"] == "balance", gap.reindex(keys).to_numpy(), np.nan)
    rules = [
        _rule(
            gxe.ExpectColumnValuesToNotBeNull,
            "report_date_present",
            QUARANTINE,
            "report_date is not null",
            column="report_date_iso",
        ),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            QUARANTINE,
            "one value per (symbol, statement, report_date, item)",
            column_list=["symbol", "statement", "report_date_iso", "item"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "report_date_quarter_end",
            QUARANTINE,
            "report dates are quarter ends",
            column="is_quarter_end",
            value_set=[True],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "announced_after_period",
            QUARANTINE,
            "notice_date is after report_date",
            column="notice_days_after_period",
            min_value=1,
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "balance_identity",
            QUARANTINE,
            f"TOTAL_ASSETS = TOTAL_LIABILITIES + TOTAL_EQUITY within {BALANCE_IDENTITY_TOLERANCE:.1%} "
            "(where the three items exist); the whole balance sheet of that report is kept out",
            column="balance_identity_gap",
            max_value=BALANCE_IDENTITY_TOLERANCE,
        ),
    ]
    return run_suite("financial_statements", staged, rules)


def validate_indicators(frame: pd.DataFrame) -> SuiteOutcome:
    gxe = gx_expectations()
    staged = _report_frame(frame, ["symbol", "report_date", "section", "indicator"])
    rules = [
        _rule(
            gxe.ExpectColumnValuesToNotBeNull,
            "report_date_present",
            QUARANTINE,
            "report_date is not null",
            column="report_date_iso",
        ),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            QUARANTINE,
            "one value per (symbol, report_date, section, indicator)",
            column_list=["symbol", "report_date_iso", "section", "indicator"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "report_date_quarter_end",
            QUARANTINE,
            "report dates are quarter ends",
            column="is_quarter_end",
            value_set=[True],
        ),
    ]
    return run_suite("financial_indicators", staged, rules)


# -- securities ---------------------------------------------------------------------------


def validate_securities(frame: pd.DataFrame, today: dt.date) -> SuiteOutcome:
    gxe = gx_expectations()
    staged = pd.DataFrame({c: frame[c].astype(object).to_numpy() for c in frame.columns})
    list_date = pd.to_datetime(staged["list_date"], errors="coerce")
    staged["list_days_after_today"] = (list_date - pd.Timestamp(today)).dt.days
    staged["list_date_ts"] = list_date
    staged["delist_date_ts"] = pd.to_datetime(staged["delist_date"], errors="coerce")
    staged.attrs["report_columns"] = ["symbol", "exchange", "board", "name", "list_date", "delist_date"]
    rules = [
        _rule(gxe.ExpectColumnValuesToNotBeNull, "symbol_present", QUARANTINE, "symbol is not null", column="symbol"),
        _rule(gxe.ExpectColumnValuesToBeUnique, "symbol_unique", QUARANTINE, "one row per symbol", column="symbol"),
        _rule(
            gxe.ExpectColumnValuesToMatchRegex,
            "symbol_format",
            QUARANTINE,
            "six digits",
            column="symbol",
            regex=r"^\d{6}$",
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "exchange_allowed",
            QUARANTINE,
            f"{', '.join(EXCHANGES[:-1])} or {EXCHANGES[-1]}",
            column="exchange",
            value_set=list(EXCHANGES),
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "board_allowed",
            QUARANTINE,
            f"{', '.join(BOARDS[:-1])} or {BOARDS[-1]}",
            column="board",
            value_set=list(BOARDS),
        ),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "name_present", QUARANTINE, "name is not null", column="name"),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "listed_not_in_future",
            WARN,
            "list_date is not after today (a warning: exchanges list upcoming IPOs)",
            column="list_days_after_today",
            max_value=0,
        ),
        _rule(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB,
            "delisted_after_listed",
            QUARANTINE,
            "delist_date >= list_date",
            column_A="delist_date_ts",
            column_B="list_date_ts",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
    ]
    return run_suite("securities", staged, rules)


# -- trading_calendar ---------------------------------------------------------------------


def validate_calendar(frame: pd.DataFrame) -> SuiteOutcome:
    """The calendar is all or nothing: every rule fails the batch."""
    gxe = gx_expectations()
    dates = pd.to_datetime(frame["trade_date"].astype(object))
    staged = pd.DataFrame(
        {
            "market": frame["market"].astype(object).to_numpy(),
            "trade_date_iso": dates.dt.strftime("%Y-%m-%d").to_numpy(),
            "weekday": dates.dt.day_of_week.to_numpy(),
        }
    )
    per_year = dates.dt.year.value_counts().sort_index()
    full_years = per_year.iloc[1:-1] if len(per_year) > 2 else per_year.iloc[0:0]
    years = pd.DataFrame({"year": full_years.index, "trading_days": full_years.to_numpy()})
    rules = [
        _rule(gxe.ExpectColumnValuesToNotBeNull, "trade_date_present", FAIL, "no null dates", column="trade_date_iso"),
        _rule(
            gxe.ExpectCompoundColumnsToBeUnique,
            "key_unique",
            FAIL,
            "one row per (market, trade_date)",
            column_list=["market", "trade_date_iso"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "market_allowed",
            FAIL,
            "market is CN or HK",
            column="market",
            value_set=["CN", "HK"],
        ),
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "weekday",
            FAIL,
            "trading days fall on Monday..Friday",
            column="weekday",
            min_value=0,
            max_value=4,
        ),
        _rule(gxe.ExpectTableRowCountToBeBetween, "not_empty", FAIL, "the calendar has rows", min_value=1),
    ]
    outcome = run_suite("trading_calendar", staged, rules)
    year_rules = [
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            "days_per_year",
            FAIL,
            "every complete year has 200..260 trading days",
            column="trading_days",
            min_value=200,
            max_value=260,
        )
    ]
    years.attrs["report_columns"] = ["year", "trading_days"]
    outcome.outcomes += run_suite("trading_calendar_years", years, year_rules).outcomes
    return outcome


# -- spot quotes (the nightly fast path) ----------------------------------------------------

#: Share of symbols whose 昨收 must equal the stored previous-session close for the quote list
#: to count as the expected day's (ex-dates legitimately differ: a few percent at most).
MIN_SPOT_DAY_SHARE = 0.8
#: Half a fen: prices that agree to the fen agree.
PRICE_TOLERANCE = 0.005
#: Relative tolerance of volume and amount between the quote list and the history endpoint.
TURNOVER_TOLERANCE = 0.001
SPOT_DAY_REPORT_COLUMNS = ["symbol", "prev_close", "stored_close", "close"]
RECONCILED_PRICES = ("open", "high", "low", "close", "prev_close")
RECONCILED_TURNOVER = ("volume", "amount")
RECONCILE_REPORT_COLUMNS = [
    "symbol",
    "trade_date",
    "in_spot",
    "in_history",
    *(f"{side}_{f}" for f in (*RECONCILED_PRICES, *RECONCILED_TURNOVER) for side in ("spot", "history")),
]


def validate_spot_day(quotes: pd.DataFrame, min_share: float = MIN_SPOT_DAY_SHARE) -> SuiteOutcome:
    """Do the quotes belong to the session after the stored one? `quotes` holds, per symbol with
    a stored close on the previous session: symbol, prev_close (the quotes' 昨收), stored_close,
    close. A list that still shows the previous session fails: its 昨收 is the close before."""
    frame = pd.DataFrame({c: quotes[c].to_numpy() for c in SPOT_DAY_REPORT_COLUMNS})
    frame["prev_close_is_stored_close"] = (
        frame["prev_close"].astype("float64") - frame["stored_close"].astype("float64")
    ).abs() <= PRICE_TOLERANCE
    frame.attrs["report_columns"] = SPOT_DAY_REPORT_COLUMNS
    gxe = gx_expectations()
    return run_suite(
        "spot_day",
        frame,
        [
            _rule(
                gxe.ExpectTableRowCountToBeBetween,
                "spot_day_comparable",
                FAIL,
                "some quoted symbols have a stored close on the previous session to compare with",
                min_value=1,
            ),
            _rule(
                gxe.ExpectColumnValuesToBeInSet,
                "spot_day",
                FAIL,
                f"昨收 equals the stored close of the previous session for >= {min_share:.0%} of the "
                "symbols (else the list shows another day)",
                column="prev_close_is_stored_close",
                value_set=[True],
                mostly=min_share,
            ),
        ],
    )


def validate_reconciliation(pairs: pd.DataFrame) -> SuiteOutcome:
    """Stored quote-list bars against the history endpoint's, row by row (a warning: the history
    rows replace the stored ones either way). `pairs` is the outer join of both on (symbol,
    trade_date): in_spot, in_history, and spot_<field>, history_<field> per compared field."""
    frame = pd.DataFrame({c: pairs[c].to_numpy() for c in pairs.columns})
    frame["in_both"] = frame["in_spot"].astype(bool) & frame["in_history"].astype(bool)
    for f in RECONCILED_PRICES:
        frame[f"{f}_diff"] = (frame[f"spot_{f}"].astype("float64") - frame[f"history_{f}"].astype("float64")).abs()
    for f in RECONCILED_TURNOVER:
        spot, history = frame[f"spot_{f}"].astype("float64"), frame[f"history_{f}"].astype("float64")
        frame[f"{f}_rel_diff"] = (spot - history).abs() / history.abs().where(history != 0, 1.0)
    frame.attrs["report_columns"] = RECONCILE_REPORT_COLUMNS
    gxe = gx_expectations()
    rules = [
        _rule(
            gxe.ExpectColumnValuesToBeInSet,
            "same_days",
            WARN,
            "a bar in the quote list has one in the history and the other way round",
            column="in_both",
            value_set=[True],
        )
    ]
    rules += [
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            f"same_{f}",
            WARN,
            f"{f} agrees to half a fen",
            column=f"{f}_diff",
            max_value=PRICE_TOLERANCE,
        )
        for f in RECONCILED_PRICES
    ]
    rules += [
        _rule(
            gxe.ExpectColumnValuesToBeBetween,
            f"same_{f}",
            WARN,
            f"{f} agrees within {TURNOVER_TOLERANCE:.1%}",
            column=f"{f}_rel_diff",
            max_value=TURNOVER_TOLERANCE,
        )
        for f in RECONCILED_TURNOVER
    ]
    return run_suite("spot_reconciliation", frame, rules)
