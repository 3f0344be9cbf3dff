"""The US and A-share clocks."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.methods import clock


def test_the_overseas_clock():
    us_days = pd.to_datetime(["2025-05-16", "2025-05-19", "2025-05-20", "2025-05-21", "2025-05-22", "2025-05-23",
                              "2025-05-27"])
    level = pd.Series(np.arange(1.0, 8.0), index=us_days)
    cn_days = pd.to_datetime(["2025-05-19", "2025-05-20", "2025-05-26", "2025-05-27", "2025-05-28"])
    aligned = clock.align_overseas(level, cn_days, us_days)
    # Monday 19th sees Friday 16th; the 26th (US holiday) sees Friday 23rd; the 28th sees the 27th
    assert aligned.tolist() == [1.0, 2.0, 6.0, 6.0, 7.0]
    rets = pd.Series(np.arange(10.0, 17.0), index=us_days)
    assert clock.lagged_us(rets, cn_days, 1).tolist() == [10.0, 11.0, 15.0, 15.0, 16.0]
    np.testing.assert_array_equal(clock.lagged_us(rets, cn_days, 0), [11.0, 12.0, 16.0, 16.0, np.nan])
    with pytest.raises(ParameterError, match="needs the US close before it"):
        clock.align_overseas(level.iloc[:-1], cn_days, us_days)
    with pytest.raises(ParameterError, match="end the window by 2025-05-24"):  # the 28th needs the 27th
        clock.align_overseas(level.iloc[:-1], cn_days, us_days)


def test_a_window_that_starts_before_the_overseas_prices_is_told_where_to_start():
    us_days = pd.to_datetime(["2025-05-16", "2025-05-19", "2025-05-20"])
    level = pd.Series([1.0, 2.0, 3.0], index=us_days)
    cn_days = pd.to_datetime(["2025-05-15", "2025-05-16", "2025-05-19", "2025-05-20", "2025-05-21"])
    # the 15th and 16th have no US close before them in the prices; the 19th sees the 16th
    with pytest.raises(ParameterError, match=r"do not reach back to; start the window on or after 2025-05-19 or "
                                             "fetch older US prices"):
        clock.align_overseas(level, cn_days, us_days)
