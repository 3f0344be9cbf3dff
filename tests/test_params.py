"""Parameter checks: ISO dates only (with the ISO readings suggested), finite numbers, whole numbers written as
floats, empty lists (issue 29 item 5; audit A3-05, A3-08, A3-21..28, A8-04)."""

import math

import pandas as pd
import pytest

from tokenwatch import params
from tokenwatch.errors import ParameterError


@pytest.mark.parametrize("value, readings", [
    ("07/06/2025", "write 2025-06-07 or 2025-07-06 as YYYY-MM-DD"),  # A3-05: was read month-first, silently
    ("27/06/2025", "write 2025-06-27 as YYYY-MM-DD"),  # A3-04: only one reading is a date
    ("06/27/2025", "write 2025-06-27 as YYYY-MM-DD"),
    ("2025/06/27", "write 2025-06-27 as YYYY-MM-DD"),
    ("2025-6-7", "write 2025-06-07 as YYYY-MM-DD"),
    ("June 27 2025", "write it as 'YYYY-MM-DD', e.g. '2025-06-27'"),
    ("20250627", "write it as 'YYYY-MM-DD'"),
])
def test_dates_other_than_iso_are_refused_with_the_iso_form(value, readings):
    with pytest.raises(ParameterError, match="is not an ISO date") as info:
        params.as_date("week_end", value)
    assert readings in str(info.value) and "parameter week_end" in str(info.value)


def test_iso_dates_and_date_objects_are_read():
    assert params.as_date("d", "2025-06-27") == pd.Timestamp("2025-06-27")
    assert params.as_date("d", pd.Timestamp("2025-06-27 13:00")) == pd.Timestamp("2025-06-27")
    with pytest.raises(ParameterError, match="is not a date"):
        params.as_date("week_end", "2025-02-30")
    with pytest.raises(ParameterError, match="is not a date"):
        params.as_date("week_end", 20250627)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_not_numbers_here(value):
    with pytest.raises(ParameterError, match="not a finite number"):  # A3-24, A3-28
        params.number("multiple", value)


def test_whole_floats_are_whole_numbers():
    assert params.positive_int("paths", 100000.0) == 100000  # A3-22, A8-04: papermill passes 1e5 as a float
    assert params.positive_int("paths", 1e5) == 100000
    for bad in (2.5, math.nan, math.inf, 0, -3, True):
        with pytest.raises(ParameterError, match="positive whole number"):
            params.positive_int("paths", bad)


def test_an_empty_list_is_refused_where_items_are_needed():
    assert params.text_list("entities", []) == []  # where [] means "all"
    with pytest.raises(ParameterError, match="overseas is an empty list"):  # A3-08
        params.nonempty_text_list("overseas", [])
