"""Break tests (Chow, sup-F, Bai-Perron) on planted breaks and on noise."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tokenwatch.methods import breaks


def test_chow_matches_an_ols_with_a_step_dummy():
    rng = np.random.default_rng(1)
    idx = pd.bdate_range("2025-01-01", periods=80)
    y = pd.Series(rng.normal(0, 1, 80), index=idx, name="y")
    res = breaks.chow(y, idx[30])
    fit = sm.OLS(y.to_numpy(), sm.add_constant((np.arange(80) >= 30).astype(float))).fit()
    assert res.statistic == pytest.approx(fit.tvalues[1] ** 2)
    assert res.p_value == pytest.approx(fit.pvalues[1])


def test_the_break_search_finds_a_known_break_and_none_without_one():
    rng = np.random.default_rng(2025)
    idx = pd.bdate_range("2025-01-01", periods=120)
    noise = rng.normal(0, 1, 120)
    shifted = pd.Series(noise + np.where(np.arange(120) >= 70, 1.2, 0.0), index=idx, name="with a break")
    found = breaks.sup_f(shifted, permutations=1999)
    assert found.p_value < 0.01 and found.statistic > found.critical_value
    assert found.lower <= idx[70] <= found.upper and abs(idx.get_loc(found.break_date) - 70) <= 5
    flat = breaks.sup_f(pd.Series(noise, index=idx, name="no break"), permutations=1999)
    assert flat.p_value > 0.05 and flat.statistic < flat.critical_value
    given = breaks.chow(pd.Series(noise, index=idx, name="no break"), idx[70])
    assert "finds no significant break" in breaks.verdict(flat, given)
    assert "lies inside that band" in breaks.verdict(found, breaks.chow(shifted, idx[70]))


def test_bai_perron_finds_two_planted_breaks_and_none_in_noise():
    rng = np.random.default_rng(8)
    idx = pd.bdate_range("2025-01-01", periods=150)
    noise = rng.normal(0, 1, 150)
    steps = np.select([np.arange(150) < 50, np.arange(150) < 100], [0.0, 2.0], -1.0)
    found = breaks.bai_perron(pd.Series(noise + steps, index=idx, name="two breaks"))
    assert len(found) == 2
    for res, k in zip(found, (50, 100), strict=True):
        assert res.lower <= idx[k] <= res.upper and abs(idx.get_loc(res.break_date) - k) <= 3
    assert breaks.bai_perron(pd.Series(noise, index=idx, name="noise")) == []


def test_a_break_result_renders_itself_with_its_named_fields():
    y = pd.Series(np.r_[np.zeros(40), np.ones(40)] + np.random.default_rng(3).normal(0, 0.2, 80),
                  index=pd.bdate_range("2025-01-01", periods=80), name="planted")
    found = breaks.sup_f(y, permutations=99)
    assert abs(y.index.get_loc(found.break_date) - 40) <= 3
    assert "planted" in found._repr_html_() and f"{found.p_value:.3f}" in found.summary()


def test_the_verdict_states_the_level_it_tested_at():
    y = pd.Series(np.random.default_rng(5).normal(0, 1, 60), index=pd.bdate_range("2025-01-01", periods=60), name="y")
    given, search = breaks.chow(y, y.index[30], alpha=0.10), breaks.sup_f(y, permutations=99, alpha=0.10)
    assert "at the 10% level" in breaks.verdict(search, given, alpha=0.10)
    assert "at the 5% level" in breaks.verdict(search, given)


def test_cusum_tests_by_hand():
    from scipy import stats

    days = pd.bdate_range("2025-01-01", periods=40)
    y = pd.Series(np.r_[np.zeros(20), np.ones(20)] + 0.1 * np.sin(np.arange(40)), index=days, name="step")
    e = (y - y.mean()).to_numpy()
    by_hand = np.abs(np.cumsum(e)).max() / np.sqrt((e**2).sum() / 39 * 40)  # sigma with one parameter, times sqrt(n)
    ols = breaks.ols_cusum(y)
    assert ols.statistic == pytest.approx(by_hand)
    assert ols.p_value == pytest.approx(stats.kstwobign.sf(by_hand)) and ols.verdict == "break at 5%"
    assert ols.break_date == days[20]  # the cumulative residual turns where the mean steps up
    v = y.to_numpy()
    w = np.array([(v[t] - v[:t].mean()) * np.sqrt(t / (t + 1)) for t in range(1, 40)])  # recursive residuals
    cusum = np.cumsum(w) / w.std(ddof=1)
    bound = 0.948 * (np.sqrt(39) + 2 * np.arange(39) / np.sqrt(39))  # Brown-Durbin-Evans 5% lines
    rec = breaks.recursive_cusum(y)
    assert rec.statistic == pytest.approx((np.abs(cusum) / bound).max())
    crossed = np.flatnonzero(np.abs(cusum) > bound)
    assert rec.verdict == ("break at 5%" if len(crossed) else "no break at 5%")
    flat = pd.Series(0.1 * np.sin(np.arange(40)), index=days, name="flat")
    assert breaks.ols_cusum(flat).verdict == "no break at 5%"
