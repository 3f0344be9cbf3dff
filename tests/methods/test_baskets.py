"""The equal-weight basket rule by hand."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.methods import baskets


def test_the_basket_index_by_hand_on_three_names_and_three_days():
    days = pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07"])
    closes = pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1],
                           "B": [20.0, 19.0, np.nan, 20.9],   # suspended on day 3, back on day 4
                           "C": [np.nan, 5.0, 5.5, 5.0]},     # listed on day 2
                          index=days)
    idx = baskets.equal_weight_index(closes)
    day2 = (0.10 - 0.05) / 2            # C has no earlier close: sits out
    day3 = (0.10 + 0.10) / 2            # B is suspended: sits out
    day4 = (0.0 + (20.9 / 19.0 - 1) + (5.0 / 5.5 - 1)) / 3  # B earns the move across its suspension
    expected = 100 * np.cumprod([1, 1 + day2, 1 + day3, 1 + day4])
    assert idx.level.to_numpy() == pytest.approx(expected)
    assert idx.members.tolist() == [2, 2, 3]
    assert idx.contributions.sum() == pytest.approx(expected[-1] - 100)
    assert idx.contributions["C"] == pytest.approx(100 * (day2 * 0 + (1 + day2) * 0.10 / 2
                                                          + (1 + day2) * (1 + day3) * (5.0 / 5.5 - 1) / 3))
    assert set(idx.gaps["member"]) == {"B", "C"}
