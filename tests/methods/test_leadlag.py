"""Lead-lag: the Granger F-test against statsmodels, rolling beta on a known beta."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import grangercausalitytests

from tokenwatch.methods import leadlag


def test_granger_matches_statsmodels_when_the_calendars_line_up():
    rng = np.random.default_rng(3)
    us_days = pd.bdate_range("2024-01-01", periods=300)
    us = pd.Series(rng.normal(0, 1, 300), index=us_days)
    cn_days = us_days + pd.Timedelta(days=1)  # every A-share session follows exactly one US session
    y = pd.Series(0.3 * us.to_numpy() + rng.normal(0, 1, 300), index=cn_days)  # reacts to the night before
    for lags in (1, 3):
        mine = leadlag.granger_p(y.iloc[:-1], us, lags)
        data = pd.DataFrame({"y": y.to_numpy()[:-1], "x": us.to_numpy()[1:]})  # x_{t-1} = the night before
        theirs = grangercausalitytests(data, maxlag=[lags])[lags][0]["ssr_ftest"][1]
        assert mine == pytest.approx(theirs)
    table = leadlag.lead_lag(y, us)
    assert table.loc[table["correlation"].abs().idxmax(), "lag_days"] == 1
    assert table.loc[table["lag_days"] == 1, "granger_p_value"].iloc[0] < 1e-6


def test_rolling_beta_recovers_a_known_beta():
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2025-01-01", periods=200)
    us = pd.Series(rng.normal(0, 0.02, 200), index=days)
    cn = 0.5 * us + pd.Series(rng.normal(0, 0.001, 200), index=days)
    rolled = leadlag.rolling_beta(cn, us, 60).dropna()
    assert len(rolled) == 141
    assert rolled["beta"].between(0.48, 0.52).all() and (rolled["correlation"] > 0.99).all()
