"""`-p NAME VALUE` read as the user meant: 1e5 is a number, a whole float is a whole number, NaN and inf refused
before any kernel starts (audit A3-22/23/24/27)."""

import math

import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.run.notebooks import NotebookInfo, check_parameters, parse_cli_value

INFO = NotebookInfo("demo", None, {"paths": 10000, "multiple": 5.0, "tokens_per_day": 0.0, "label": "x",  # type: ignore[arg-type]
                                   "overseas": ["NVDA"]})


@pytest.mark.parametrize("text, default, value", [
    ("1e5", 10000, 100000), ("100000.0", 10000, 100000), ("100000", 10000, 100000),
    ("1e13", 0.0, 1e13), ("1.5e13", 0.0, 1.5e13), ("-3", 5.0, -3), ("2.5", 10000, 2.5),
    ("1e5", "x", "1e5"), ("abc", 0.0, "abc"),
])
def test_numbers_typed_as_numbers(text, default, value):
    got = parse_cli_value(text, default)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("name, text", [("multiple", ".inf"), ("tokens_per_day", ".nan"), ("tokens_per_day", ".NaN"),
                                        ("paths", "-.inf")])
def test_nan_and_inf_are_refused_before_a_kernel_starts(name, text):
    with pytest.raises(ParameterError, match=f"parameter {name}=.* is not a finite number"):
        check_parameters(INFO, {name: parse_cli_value(text, INFO.parameters[name])})


def test_a_fraction_where_a_whole_number_is_expected_is_named():
    with pytest.raises(ParameterError, match="paths=2.5 should be a whole number"):
        check_parameters(INFO, {"paths": parse_cli_value("2.5", 10000)})
    assert check_parameters(INFO, {"paths": parse_cli_value("1e5", 10000)}) == {"paths": 100000}
    assert math.isclose(check_parameters(INFO, {"tokens_per_day": parse_cli_value("1e13", 0.0)})["tokens_per_day"],
                        1e13)


def test_an_empty_list_reaches_the_notebook_check():
    assert parse_cli_value("[]", ["NVDA"]) == []  # the notebook refuses it, naming the parameter
