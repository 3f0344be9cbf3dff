import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.universe import Symbol, load_basket, names, parse_symbol, parse_symbols, universe


def test_codes_stay_strings_with_leading_zeros():
    table = universe()
    assert "002463" in set(table["code"])
    assert table["code"].map(type).eq(str).all()
    basket = load_basket("compute_chain")
    assert "002463" in set(basket["code"]) and "000977" in set(basket["code"])


def test_number_is_refused_with_the_zero_padded_hint():
    with pytest.raises(ParameterError, match="'002463'"):
        parse_symbol(2463)


def test_plain_codes_resolve_through_the_universe():
    assert parse_symbol("603228") == Symbol("cn", "603228")
    assert parse_symbol("000300") == Symbol("cn_index", "000300")
    assert parse_symbol("nvda") == Symbol("us", "NVDA")
    assert parse_symbol("600000") == Symbol("cn", "600000")  # not listed: six digits -> A-share
    assert parse_symbol("cn:000001") == Symbol("cn", "000001")


def test_ambiguous_or_malformed_symbols_say_what_to_write():
    table = universe()
    doubled = table.iloc[[0]].assign(market="cn_index")
    import pandas as pd

    both = pd.concat([table, doubled])
    with pytest.raises(ParameterError, match="several markets"):
        parse_symbol(table["code"].iloc[0], both)
    with pytest.raises(ParameterError, match="market 'xx'"):
        parse_symbol("xx:1")
    with pytest.raises(ParameterError, match="neither"):
        parse_symbol("12345")


def test_parse_symbols_keeps_order_and_drops_repeats():
    assert parse_symbols(["NVDA", "603228", "NVDA"]) == [Symbol("us", "NVDA"), Symbol("cn", "603228")]


def test_names_are_chinese_for_a_shares():
    assert names([Symbol("cn", "603228")])[Symbol("cn", "603228")] == "景旺电子"


def test_unknown_basket_lists_the_available_ones():
    with pytest.raises(ParameterError, match="compute_chain"):
        load_basket("no_such_basket")


def test_basket_with_short_code_names_the_row(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("code,name,segment,market\n603228,景旺电子,PCB,cn\n2463,沪电股份,PCB,cn\n", encoding="utf-8")
    with pytest.raises(Exception, match="row 3"):
        load_basket(path)
