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


def test_a_basket_given_inline_as_codes_takes_names_from_the_universe():
    basket = load_basket("cn:603228,cn:300476, NVDA,cn:600000")
    assert basket["code"].tolist() == ["603228", "300476", "NVDA", "600000"]
    assert basket["name"].tolist()[:3] == ["景旺电子", "胜宏科技", "NVIDIA"]
    assert basket["segment"].iloc[0] == "PCB/CCL" and basket["symbol"].iloc[1] == Symbol("cn", "300476")
    assert basket.loc[3, ["name", "segment"]].tolist() == ["600000", "not in data/universe.csv"]
    assert load_basket("cn:603228")["name"].tolist() == ["景旺电子"]  # one code with its market is inline too


def test_an_empty_basket_file_and_an_overlong_name_get_clear_messages(tmp_path):
    from tokenwatch.errors import DataValidationError

    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataValidationError, match="is an empty file; give it a header line"):
        load_basket(str(empty))
    header = tmp_path / "header.csv"
    header.write_text("code,name,segment,market\n", encoding="utf-8")  # A3-10: was a pandas KeyError
    with pytest.raises(DataValidationError, match="has a header but no member"):
        load_basket(str(header))
    with pytest.raises(ParameterError, match=r"\(300 characters\) is too long for a file name"):  # A3-11: OSError
        load_basket("a" * 300)
