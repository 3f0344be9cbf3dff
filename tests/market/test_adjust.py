"""Ex-rights adjustment by hand."""

import pandas as pd
import pytest

from tokenwatch.market.adjust import cumulative_factor, describe_actions

DAYS = pd.DatetimeIndex(["2024-02-01", "2024-02-02", "2024-02-05", "2024-02-06", "2024-02-07", "2024-02-08",
                         "2024-02-19", "2024-02-20", "2024-02-21", "2024-02-22", "2024-02-23"])


def test_cumulative_factor_by_hand():
    factors = pd.DataFrame({"ex_date": pd.to_datetime(["2024-02-05", "2024-02-20"]), "factor": [1.1, 1.2],
                            "cash_per_share": [0.3, None], "bonus_per_share": [0.0, 0.2]})
    got = cumulative_factor(DAYS, factors)
    assert got[:2].tolist() == [1.0, 1.0] and got[2] == pytest.approx(1.1) and got[7] == pytest.approx(1.32)
    text = describe_actions(factors, DAYS[0], DAYS[-1])
    assert "ex-date 2024-02-05: cash 0.3/share" in text and "bonus 0.2 shares/share" in text
