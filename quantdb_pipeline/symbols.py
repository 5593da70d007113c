"""A-share symbol forms and what a code says about its exchange and board.

Users write "600000", "sh600000", "SH600000" or "600000.SH"; the warehouse stores the bare
six-digit code. The code itself determines the exchange, so a prefix or suffix that
contradicts it (e.g. "sh000001", which is the SSE Composite index, not Ping An Bank) is an
error rather than a silent reinterpretation.
"""

from __future__ import annotations

import re

EXCHANGES = ("SH", "SZ", "BJ")
BOARDS = ("main", "chinext", "star", "bse")

_FORM = re.compile(
    r"^\s*(?:(?P<prefix>sh|sz|bj)\.?)?(?P<code>\d{6})(?:\.(?P<suffix>sh|ss|sz|bj))?\s*$",
    re.IGNORECASE,
)


class SymbolError(ValueError):
    """A symbol that is not a recognisable A-share code."""


def exchange_of(code: str) -> str:
    """The exchange that lists a six-digit A-share code: SH, SZ or BJ."""
    if code.startswith(("60", "68", "90")):
        return "SH"
    if code.startswith(("00", "30", "20")):
        return "SZ"
    if code.startswith(("43", "83", "87", "88", "92")):
        return "BJ"
    raise SymbolError(f"{code!r} is not an A-share code of SSE, SZSE or BSE")


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
            f"unrecognised symbol {symbol!r}: use a six-digit code such as '600000', "
            "'sh600000' or '600000.SH'"
        )
    code = match["code"]
    exchange = exchange_of(code)
    stated = (match["prefix"] or match["suffix"] or "").upper().replace("SS", "SH")
    if stated and stated != exchange:
        raise SymbolError(
            f"symbol {symbol!r} names exchange {stated}, but code {code} is listed on {exchange}"
        )
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
