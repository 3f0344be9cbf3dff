"""Trading sessions: week windows, holidays, week ends, period returns."""

import pandas as pd
import pytest

from tokenwatch.errors import OutOfRangeError
from tokenwatch.sessions import (
    last_on_or_before,
    period_return,
    rolling_high,
    week_ends,
    week_window,
)

DAYS = pd.DatetimeIndex(["2024-02-01", "2024-02-02", "2024-02-05", "2024-02-06", "2024-02-07", "2024-02-08",
                         "2024-02-19", "2024-02-20", "2024-02-21", "2024-02-22", "2024-02-23"])


def test_week_window_on_a_friday():
    w = week_window("2024-02-23", DAYS)
    assert (w.end, w.prev_close, w.snapped) == (pd.Timestamp("2024-02-23"), pd.Timestamp("2024-02-08"), False)
    assert len(w.sessions) == 5


def test_week_ending_in_a_holiday_snaps_back_with_a_notice():
    w = week_window("2024-02-10", DAYS)  # Saturday after the last pre-holiday session
    assert w.end == pd.Timestamp("2024-02-08") and w.prev_close == pd.Timestamp("2024-02-02")
    assert "2024-02-10 is not a trading day" in w.notice()
    closed = week_window("2024-02-16", DAYS)  # the whole week was closed: falls back to the week before
    assert closed.end == pd.Timestamp("2024-02-08")


def test_week_window_needs_a_previous_close():
    with pytest.raises(OutOfRangeError, match="no previous close"):
        week_window("2024-02-02", DAYS)
    with pytest.raises(OutOfRangeError, match="before the data"):
        last_on_or_before(DAYS, "2024-01-15")
    with pytest.raises(OutOfRangeError, match="after the data"):
        last_on_or_before(DAYS, "2024-06-01")


def test_past_the_data_only_a_weekend_snaps_back():
    assert last_on_or_before(DAYS, "2024-02-25") == pd.Timestamp("2024-02-23")  # Sunday after the last Friday
    with pytest.raises(OutOfRangeError, match="2024-02-26 is after the data, which ends 2024-02-23"):
        last_on_or_before(DAYS, "2024-02-26")  # a Monday we hold no data for


def test_week_ends_one_per_week():
    assert [d.day for d in week_ends("2024-02-01", "2024-02-29", DAYS)] == [2, 8, 23]
    assert [d.day for d in week_ends("2024-02-01", "2024-02-22", DAYS)] == [2, 8]  # a week ends on its Sunday


def test_period_return_and_rolling_high():
    s = pd.Series([10.0, 12.0, 9.0, 13.0], index=DAYS[:4], name="x")
    assert period_return(s, DAYS[0], DAYS[3]) == pytest.approx(30.0)
    with pytest.raises(OutOfRangeError, match="x has no value on 2024-02-19"):
        period_return(s, DAYS[0], DAYS[6])
    assert rolling_high(s).tolist() == [10, 12, 12, 13]
    assert rolling_high(s, 2).tolist() == [10, 12, 12, 13]
