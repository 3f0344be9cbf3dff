"""The market-model event study against hand computations."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import OutOfRangeError, ParameterError
from tokenwatch.methods import eventstudy


def test_event_study_matches_a_hand_computation():
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2025-01-01", periods=40)
    market = pd.Series(rng.normal(0, 0.01, 40), index=days)
    stock = 0.001 + 1.5 * market + pd.Series(rng.normal(0, 0.005, 40), index=days)
    stock.iloc[35] += 0.05  # the event day
    returns = stock.to_frame("X")
    events = pd.DataFrame({"date": [days[35]], "session_date": [days[35]], "entity": ["E"], "category": ["tokens"],
                           "headline": ["h"]})
    study = eventstudy.run(returns, market, events, [(-1, 1)], estimation_length=30)
    # by hand: OLS over the 30 sessions before the window (days 4..33), CAR over days 34..36
    est = slice(4, 34)
    x, y = market.iloc[est].to_numpy(), stock.iloc[est].to_numpy()
    beta = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    alpha = y.mean() - beta * x.mean()
    s2 = ((y - alpha - beta * x) ** 2).sum() / (30 - 2)
    xw, yw = market.iloc[34:37].to_numpy(), stock.iloc[34:37].to_numpy()
    car = (yw - alpha - beta * xw).sum()
    var = s2 * (3 + 9 / 30 + (xw.sum() - 3 * x.mean()) ** 2 / ((x - x.mean()) ** 2).sum())
    row = study.results.iloc[0]
    assert list(study.estimation) == list(days[est])
    assert row["car_pct"] == pytest.approx(100 * car)
    assert row["t_stat"] == pytest.approx(car / np.sqrt(var))
    assert row["car_pct"] > 4 and row["p_value"] < 0.001
    assert study.models.iloc[0]["beta"] == pytest.approx(beta)


def test_event_study_refuses_an_estimation_window_over_the_events():
    days = pd.bdate_range("2025-01-01", periods=60)
    r = pd.Series(np.linspace(-0.01, 0.01, 60), index=days)
    events = pd.DataFrame({"date": [days[50]], "session_date": [days[50]], "entity": ["E"], "category": ["c"],
                           "headline": ["h"]})
    with pytest.raises(ParameterError, match="overlaps the events"):
        eventstudy.run(r.to_frame("X"), r, events, [(-1, 1)], 30, estimation_end=days[49])
    with pytest.raises(OutOfRangeError, match="only 50 sessions before"):
        eventstudy.run(r.to_frame("X"), r, events, [(0, 1)], 55)
    with pytest.raises(ParameterError, match="starts after it ends"):
        eventstudy.parse_windows([[2, 1]])


def test_category_means_and_per_event_means_by_hand():
    results = pd.DataFrame({
        "event_date": ["d1"] * 2 + ["d2"] * 2 + ["d3"] * 2, "session_date": ["s1"] * 2 + ["s2"] * 2 + ["s3"] * 2,
        "entity": ["a", "a", "b", "b", "c", "c"], "category": ["tokens"] * 4 + ["capex"] * 2,
        "headline": "h", "symbol": ["X", "Y"] * 3, "window": "[-1,+1]",
        "car_pct": [1.0, 3.0, 2.0, 6.0, -1.0, 1.0], "t_stat": 0.0, "p_value": 1.0})
    means = eventstudy.category_means(results).set_index("category")
    cars = np.array([1.0, 3.0, 2.0, 6.0])
    assert means.loc["tokens", "mean_car_pct"] == pytest.approx(3.0)
    assert means.loc["tokens", "t_stat"] == pytest.approx(3.0 / (cars.std(ddof=1) / 2))
    assert (means.loc["tokens", "events"], means.loc["tokens", "observations"]) == (2, 4)
    assert means.loc["capex", "share_positive"] == 0.5
    per_event = eventstudy.by_event(results)["[-1,+1]"]
    assert per_event.tolist() == [2.0, 4.0, 0.0]


def test_dummy_regression_splits_a_shared_session_by_hand():
    days = pd.bdate_range("2025-03-03", periods=8)
    # day 0: A alone (AR 1), day 1: B alone (AR 3), day 2: A and B together (AR 4), then five quiet days
    ar = pd.Series([1.0, 3.0, 4.0, 0, 0, 0, 0, 0], index=days)
    dummies = pd.DataFrame({"A": [1, 0, 1, 0, 0, 0, 0, 0], "B": [0, 1, 1, 0, 0, 0, 0, 0]}, index=days)
    fit = eventstudy.dummy_regression(ar, dummies, maxlags=1).set_index("category")
    # normal equations 2a + b = 5 and a + 2b = 7: a = 1, b = 3, so the shared day's 4 is 1 + 3
    assert fit.loc["A", "coef"] == pytest.approx(1.0) and fit.loc["B", "coef"] == pytest.approx(3.0)


def test_sessions_with_several_categories_are_confounded_and_counted_once():
    events = pd.DataFrame({"session_date": pd.to_datetime(["2025-03-04", "2025-03-04", "2025-03-04", "2025-03-10"]),
                           "category": ["capex", "tokens", "capex", "tokens"]})
    table = eventstudy.session_categories(events).set_index("session_date")
    assert table.loc["2025-03-04", "categories"] == "capex+tokens" and table.loc["2025-03-04", "confounded"]
    assert not table.loc["2025-03-10", "confounded"] and table.loc["2025-03-04", "events"] == 3
    days = pd.bdate_range("2025-02-03", periods=40)
    ar = pd.Series(0.0, index=days)
    ar.loc["2025-03-04"], ar.loc["2025-03-10"] = 0.05, 0.02
    dec = eventstudy.decompose(ar, days[:20], eventstudy.session_categories(events), days, [(0, 0)])
    dec = dec.set_index("category")
    # tokens alone on 03-10 earns 2%, so the shared 5% on 03-04 leaves 3% to capex and 2% to tokens
    assert dec.loc["tokens", "car_pct"] == pytest.approx(2.0) and dec.loc["capex", "car_pct"] == pytest.approx(3.0)
    assert dec.loc["capex", "days"] == 1 and dec.loc["tokens", "sessions"] == 2
    assert dec.loc["capex", "clean_sessions"] == 0 and dec.loc["tokens", "clean_sessions"] == 1


def test_the_difference_of_two_categories_by_hand():
    from scipy import stats

    days = pd.bdate_range("2025-02-03", periods=40)
    estimation = days[:20]
    # tokens alone on two sessions (AR 2% and 4%), tokens with capex on a third (5%), far apart
    events = pd.DataFrame({"session_date": pd.to_datetime(["2025-03-04", "2025-03-11", "2025-03-18", "2025-03-18"]),
                           "category": ["tokens", "tokens", "tokens", "capex"]})
    ar = pd.Series(0.0, index=days)
    ar.loc["2025-03-04"], ar.loc["2025-03-11"], ar.loc["2025-03-18"] = 0.02, 0.04, 0.05
    got = eventstudy.difference(ar, estimation, eventstudy.session_categories(events), days, (0, 0), "tokens", "capex")
    # least squares: tokens 3% (the mean of its clean days), capex 2% (the shared day's rest); residuals -1%, +1%, 0
    assert got["difference_pct"] == pytest.approx(1.0)
    # Newey-West, 1 lag: the sample's rows are the estimation days, then the three event days in a row, so
    # S_tokens = (-0.01)^2 + 0.01^2 + 2 x (1/2 Bartlett weight) x (-0.01 x 0.01) = 0.0001; (X'X)^-1 =
    # [[.5, -.5], [-.5, 1.5]], so var(b_tokens - b_capex) = 0.0001 x (0.5 + 0.5)^2 = 0.0001 (no small-sample factor)
    variance = 0.0001 * (0.5 - (-0.5)) ** 2
    assert got["t_stat"] == pytest.approx(0.01 / np.sqrt(variance))  # t = 1
    assert got["p_value"] == pytest.approx(2 * stats.norm.sf(abs(got["t_stat"])))
