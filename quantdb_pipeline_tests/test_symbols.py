import pytest

from quantdb_pipeline.symbols import (
    IndexSymbolError,
    SymbolError,
    board_of,
    exchange_of,
    normalize_symbol,
    normalize_symbols,
)


@pytest.mark.parametrize(
    "form", ["600000", "sh600000", "SH600000", "600000.SH", "600000.sh", "600000.SS", " 600000 ", "sh.600000"]
)
def test_every_accepted_form_of_an_sse_symbol(form):
    assert normalize_symbol(form) == "600000"


@pytest.mark.parametrize(
    "form, code",
    [
        ("000001.SZ", "000001"),
        ("sz300750", "300750"),
        ("830799.BJ", "830799"),
        ("bj920001", "920001"),
        ("688981", "688981"),
    ],
)
def test_other_exchanges(form, code):
    assert normalize_symbol(form) == code


def test_a_prefix_that_contradicts_the_code_is_an_error_not_a_reinterpretation():
    with pytest.raises(SymbolError, match="sh000001.*listed on SZ"):
        normalize_symbol("sh000001")


@pytest.mark.parametrize("bad", ["60000", "6000000", "abc", "", "hk00700", "600000.HK", "123456"])
def test_malformed_symbols_are_rejected(bad):
    with pytest.raises(SymbolError):
        normalize_symbol(bad)


def test_boards_and_exchanges():
    assert [board_of(c) for c in ("600000", "000001", "300750", "688981", "830799", "920001")] == [
        "main",
        "main",
        "chinext",
        "star",
        "bse",
        "bse",
    ]
    assert [exchange_of(c) for c in ("601318", "002594", "430047")] == ["SH", "SZ", "BJ"]


def test_lists_and_comma_strings_keep_order_and_drop_duplicates():
    assert normalize_symbols("600000, sz000001,600000.SH") == ["600000", "000001"]
    with pytest.raises(SymbolError):
        normalize_symbols("")


@pytest.mark.parametrize(
    "form, exchange, stock_exchange",
    [
        ("sh000300", "SH", "SZ"),
        ("SH000300", "SH", "SZ"),
        ("000300.SH", "SH", "SZ"),
        ("000300.ss", "SH", "SZ"),
        ("sz399006", "SZ", None),
        ("399006", "SZ", None),
        ("399006.SZ", "SZ", None),
        ("bj899050", "BJ", None),
    ],
)
def test_an_index_code_is_told_apart_from_a_stock(form, exchange, stock_exchange):
    with pytest.raises(IndexSymbolError, match=f"'{form}' is an index code on {exchange}, not a stock") as raised:
        normalize_symbol(form)
    assert (raised.value.code, raised.value.exchange, raised.value.stock_exchange) == (
        form.lower().removeprefix("sh").removeprefix("sz").removeprefix("bj")[:6],
        exchange,
        stock_exchange,
    )


def test_a_stock_code_on_its_own_side_stays_a_stock_and_a_wrong_side_for_an_index_code_is_refused():
    assert [normalize_symbol(f) for f in ("sz000300", "000300", "000300.SZ")] == ["000300"] * 3
    with pytest.raises(SymbolError, match="'sh399006' names exchange SH, but 399006 is no stock code") as raised:
        normalize_symbol("sh399006")
    assert not isinstance(raised.value, IndexSymbolError)
