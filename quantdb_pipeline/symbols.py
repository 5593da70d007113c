"""Symbol forms of each market, and what an A-share code says about its exchange and board.

A-shares: users write "600000", "sh600000", "SH600000" or "600000.SH"; the warehouse stores
the bare six-digit code. Hong Kong: "00700", "0700.HK", "700.HK" or "hk00700", stored as the
five-digit code. Indices: "000300", "sh000300" or "000300.SH", stored as the six-digit code
(SZSE's indices are 399xxx, the others are published on the SSE side).

An A-share code itself determines the exchange, so a prefix or suffix that contradicts it is
an error rather than a silent reinterpretation; the same holds for an index's side. Where the
stated side is that of an index with the code (e.g. "sh000001", the SSE Composite, not Ping An
Bank, which is "sz000001"; "sh000300", the CSI 300), or the code is no stock code but an
index's (SZSE's 399xxx, BSE's 899xxx), the error is an `IndexSymbolError` that says so.
"""

from __future__ import annotations

import datetime as dt
import re

EXCHANGES = ("SH", "SZ", "BJ")
BOARDS = ("main", "chinext", "star", "bse")

_FORM = re.compile(
    r"^\s*(?:(?P<prefix>sh|sz|bj)\.?)?(?P<code>\d{6})(?:\.(?P<suffix>sh|ss|sz|bj))?\s*$",
    re.IGNORECASE,
)


_HK_FORM = re.compile(r"^\s*(?:hk\.?(?P<prefixed>\d{5})|(?P<bare>\d{5})|(?P<suffixed>\d{1,5})\.hk)\s*$", re.IGNORECASE)
_INDEX_FORM = re.compile(r"^\s*(?:(?P<prefix>sh|sz)\.?)?(?P<code>\d{6})(?:\.(?P<suffix>sh|ss|sz))?\s*$", re.IGNORECASE)


class SymbolError(ValueError):
    """A symbol that is not a recognisable code of its market."""


class IndexSymbolError(SymbolError):
    """An index's code where a stock's was expected ("sh000300", "399006.SZ").

    `symbol`: as written; `code`: the six digits; `exchange`: the side publishing the index
    (SH, SZ or BJ); `stock_exchange`: where a stock of that code would be listed, or None when
    the code is no stock code at all."""

    def __init__(self, symbol: str, code: str, exchange: str, stock_exchange: str | None):
        self.symbol, self.code, self.exchange, self.stock_exchange = symbol, code, exchange, stock_exchange
        as_stock = (
            f" (as a stock, code {code} would be listed on {stock_exchange})"
            if stock_exchange
            else f" ({code} is no stock code)"
        )
        use = (
            "BSE indices are not loaded (index_bars covers SSE, CSI and SZSE indices)"
            if exchange == "BJ"
            else f"use index_bars({symbol!r}) to read it, --indices {code} to load it"
        )
        super().__init__(f"{symbol!r} is an index code on {exchange}, not a stock{as_stock}: {use}")


_SH_PREFIXES, _SZ_PREFIXES, _BJ_PREFIXES = ("60", "68", "90"), ("00", "30", "20"), ("43", "83", "87", "88", "92")
#: The first two digits of every A-share code (SSE, SZSE, BSE).
A_SHARE_PREFIXES = _SH_PREFIXES + _SZ_PREFIXES + _BJ_PREFIXES
#: From this day on the BSE's 248 stocks listed before it trade under 920xxx codes (new listings
#: had 920 codes since 2024-04); the 43/83/87xxxx codes left the market (BSE notice of
#: 2025-09-12). eastmoney answers the old codes with no data and serves the whole history
#: under the new ones.
BSE_CODE_SWITCH_DATE = dt.date(2025, 10, 9)
NEW_BSE_PREFIX = "92"


def exchange_of(code: str) -> str:
    """The exchange that lists a six-digit A-share code: SH, SZ or BJ."""
    if code.startswith(_SH_PREFIXES):
        return "SH"
    if code.startswith(_SZ_PREFIXES):
        return "SZ"
    if code.startswith(_BJ_PREFIXES):
        return "BJ"
    raise SymbolError(f"{code!r} is not an A-share code of SSE, SZSE or BSE")


def is_bare_code(symbol) -> bool:
    """True for a symbol that is already a bare six-digit A-share code (the common case, checked
    without a regular expression: a 5,000-symbol request checks 5,000 of them)."""
    return isinstance(symbol, str) and len(symbol) == 6 and symbol.isdigit() and symbol.startswith(A_SHARE_PREFIXES)


def board_of(code: str) -> str:
    """The listing board, which decides the daily price limit (main ±10%, ChiNext/STAR ±20%, BSE ±30%)."""
    exchange = exchange_of(code)
    if exchange == "BJ":
        return "bse"
    if code.startswith(("688", "689")):
        return "star"
    if code.startswith(("300", "301")):
        return "chinext"
    return "main"


def normalize_symbol(symbol: str) -> str:
    """Return the bare six-digit code for any accepted form of an A-share symbol.

    >>> normalize_symbol("600000.SH"), normalize_symbol("sz000001"), normalize_symbol("830799")
    ('600000', '000001', '830799')
    """
    if not isinstance(symbol, str):
        raise SymbolError(f"symbol must be a string such as '600000', got {symbol!r}")
    match = _FORM.match(symbol)
    if not match:
        raise SymbolError(
            f"unrecognised symbol {symbol!r}: use a six-digit code such as '600000', 'sh600000' or '600000.SH'"
        )
    code = match["code"]
    stated = (match["prefix"] or match["suffix"] or "").upper().replace("SS", "SH")
    try:
        exchange = exchange_of(code)
    except SymbolError:
        index_side = _index_side(code)
        if code.startswith(_INDEX_ONLY_PREFIXES):
            if stated in ("", index_side):
                raise IndexSymbolError(symbol, code, index_side, None) from None
            raise SymbolError(
                f"symbol {symbol!r} names exchange {stated}, but {code} is no stock code: "
                f"it is an index code on {index_side}"
            ) from None
        raise
    if stated and stated != exchange:
        if stated == index_exchange(code):  # "sh000300": the CSI 300, not SZSE's stock 000300
            raise IndexSymbolError(symbol, code, stated, exchange)
        raise SymbolError(f"symbol {symbol!r} names exchange {stated}, but code {code} is listed on {exchange}")
    return code


def normalize_symbols(symbols: str | list[str] | tuple[str, ...]) -> list[str]:
    """Normalize one symbol, a comma-separated string, or a list; order kept, duplicates dropped."""
    if isinstance(symbols, str):
        items = [part for part in symbols.split(",") if part.strip()]
    else:
        items = list(symbols)
    if not items:
        raise SymbolError("no symbols given")
    return list(dict.fromkeys(normalize_symbol(item) for item in items))


def is_hk_symbol(symbol: str) -> bool:
    """True for the Hong Kong forms: five digits, an "hk" prefix or a ".HK" suffix."""
    return isinstance(symbol, str) and _HK_FORM.match(symbol) is not None


def normalize_hk_symbol(symbol: str) -> str:
    """The five-digit HKEX code for "00700", "0700.HK", "700.HK" or "hk00700".

    >>> normalize_hk_symbol("0700.HK"), normalize_hk_symbol("hk00700"), normalize_hk_symbol("9988.HK")
    ('00700', '00700', '09988')
    """
    match = _HK_FORM.match(symbol) if isinstance(symbol, str) else None
    if not match:
        raise SymbolError(f"unrecognised Hong Kong symbol {symbol!r}: use '00700', '0700.HK' or 'hk00700'")
    return (match["prefixed"] or match["bare"] or match["suffixed"]).zfill(5)


def index_exchange(code: str) -> str:
    """SZ for SZSE's 399xxx indices, SH for the others (SSE and CSI indices)."""
    return "SZ" if code.startswith("399") else "SH"


def _index_side(code: str) -> str:
    """The side publishing an index code, BSE's 899xxx included (which the warehouse does not load)."""
    return "BJ" if code.startswith(_BSE_INDEX_PREFIX) else index_exchange(code)


#: Code prefixes only indices use (no A-share code starts so): SZSE's 399xxx and BSE's 899xxx.
_BSE_INDEX_PREFIX = "899"
_INDEX_ONLY_PREFIXES = ("399", _BSE_INDEX_PREFIX)


def normalize_index_symbol(symbol: str) -> str:
    """The six-digit index code for "000300", "sh000300" or "000300.SH".

    >>> normalize_index_symbol("sz399006"), normalize_index_symbol("000001.SH")
    ('399006', '000001')
    """
    match = _INDEX_FORM.match(symbol) if isinstance(symbol, str) else None
    if not match:
        raise SymbolError(f"unrecognised index symbol {symbol!r}: use '000300', 'sh000300' or '000300.SH'")
    code = match["code"]
    stated = (match["prefix"] or match["suffix"] or "").upper().replace("SS", "SH")
    if stated and stated != index_exchange(code):
        raise SymbolError(
            f"index symbol {symbol!r} names exchange {stated}, but index {code} is published on {index_exchange(code)}"
        )
    return code
