"""The market-model event study against hand computations."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import OutOfRangeError, ParameterError
from tokenwatch.methods import eventconfound, eventstudy


def test_event_study_matches_a_hand_computation():
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2025-01-01", periods=40)
    market = pd.Series(rng.normal(0, 0.01, 40), index=days)
    stock = 0.001 + 1.5 * market + pd.Series(rng.normal(0, 0.005, 40), index=days)
    stock.iloc[35] += 0.05  # the event day
    returns = stock.to_frame("X")
    events = pd.DataFrame({"date": [days[35]], "session_date": [days[35]], "entity": ["E"], "category": ["tokens"],
                           "headline": ["h"]})
    study = eventstudy.run(returns, market, events, eventstudy.Design([(-1, 1)], None, 30, pre_event=None))
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
    assert (study.models.iloc[0]["estimation_start"], study.models.iloc[0]["estimation_end"]) == (
        days[4].date(), days[33].date())
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
        eventstudy.run(r.to_frame("X"), r, events, eventstudy.Design([(-1, 1)], None, 30, days[49], pre_event=None))
    with pytest.raises(OutOfRangeError, match="only 50 sessions before"):
        eventstudy.run(r.to_frame("X"), r, events, eventstudy.Design([(0, 1)], None, 55, pre_event=None))
    with pytest.raises(ParameterError, match="must end before the pre-event window"):
        eventstudy.Design([(0, 1)], (-130, -5), pre_event=(-10, -1))
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
    fit = eventconfound.dummy_regression(ar, dummies, maxlags=1).set_index("category")
    # normal equations 2a + b = 5 and a + 2b = 7: a = 1, b = 3, so the shared day's 4 is 1 + 3
    assert fit.loc["A", "coef"] == pytest.approx(1.0) and fit.loc["B", "coef"] == pytest.approx(3.0)


def test_sessions_with_several_categories_are_confounded_and_counted_once():
    events = pd.DataFrame({"session_date": pd.to_datetime(["2025-03-04", "2025-03-04", "2025-03-04", "2025-03-10"]),
                           "category": ["capex", "tokens", "capex", "tokens"]})
    table = eventconfound.session_categories(events).set_index("session_date")
    assert table.loc["2025-03-04", "categories"] == "capex+tokens" and table.loc["2025-03-04", "confounded"]
    assert not table.loc["2025-03-10", "confounded"] and table.loc["2025-03-04", "events"] == 3
    days = pd.bdate_range("2025-02-03", periods=40)
    ar = pd.Series(0.0, index=days)
    ar.loc["2025-03-04"], ar.loc["2025-03-10"] = 0.05, 0.02
    dec = eventconfound.decompose(ar, days[:20], eventconfound.session_categories(events), days, [(0, 0)])
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
    sessions = eventconfound.session_categories(events)
    got = eventconfound.difference(ar, estimation, sessions, days, (0, 0), "tokens", "capex")
    # least squares: tokens 3% (the mean of its clean days), capex 2% (the shared day's rest); residuals -1%, +1%, 0
    assert got["difference_pct"] == pytest.approx(1.0)
    # Newey-West, 1 lag: the sample's rows are the estimation days, then the three event days in a row, so
    # S_tokens = (-0.01)^2 + 0.01^2 + 2 x (1/2 Bartlett weight) x (-0.01 x 0.01) = 0.0001; (X'X)^-1 =
    # [[.5, -.5], [-.5, 1.5]], so var(b_tokens - b_capex) = 0.0001 x (0.5 + 0.5)^2 = 0.0001 (no small-sample factor)
    variance = 0.0001 * (0.5 - (-0.5)) ** 2
    assert got["t_stat"] == pytest.approx(0.01 / np.sqrt(variance))  # t = 1
    assert got["p_value"] == pytest.approx(2 * stats.norm.sf(abs(got["t_stat"])))


def _blocks(spec: dict) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """One subject, one block of sessions per event: its estimation days, then its event days."""
    m, y, day0 = [], [], []
    for s in spec.values():
        day0.append(len(m) + len(s["est_index"]))
        m += s["est_index"] + s["evt_index"]
        y += [s["alpha"] + s["beta"] * x + e for x, e in zip(s["est_index"], s["est_resid"], strict=True)]
        y += s["evt_firm"]
    days = pd.bdate_range("2020-01-06", periods=len(m))
    events = pd.DataFrame({"date": days[day0], "session_date": days[day0], "entity": list(spec), "category": "c",
                           "headline": "h"})
    return pd.Series(y, index=days).to_frame("F"), pd.Series(m, index=days), events


def test_reproduces_the_eventstudy_r_package_golden_multi_event_example():
    """R's EventStudy package (github.com/sipemu/eventstudy, the CRAN EventStudy), commit 0b9687c5:
    tests/testthat/helper-golden-data.R `golden_multi_event_fixture` gives three events, each with its own market
    model on m = 8 estimation days and a 3-day event window (inputs copied below); tests/testthat/
    test_golden_values.R pins, from an independent closed form (data-raw/derive-golden-values.R), the
    cross-sectional t (Brown and Warner 1985) of day 0, aar = 0.017858427448395411, aar_t = 12.785674729349529, and
    of the CAR over days 0..2, caar = 0.027155776845985774, caar_t = 4.1627875088073241; and the generalized sign
    z over days 0..2, cgsign_z = 1.7320508075688774 (each firm's estimation residuals balanced: p_hat = 0.5).
    Their BMP and Kolari-Pynnonen standardise by the model sigma, ours by the CAR's forecast-error standard error
    (Campbell, Lo and MacKinlay), so those pins are not ours to match."""
    spec = {
        "E1": dict(est_index=[-0.02, -0.01, 0.00, 0.01, 0.02, 0.03, -0.015, 0.005],
                   est_resid=[0.001, -0.001, 0.002, -0.002, 0.0015, -0.0015, 0.0005, -0.0005], alpha=0.004,
                   beta=1.2, evt_index=[0.015, -0.005, 0.010], evt_firm=[0.040, 0.000, 0.030]),
        "E2": dict(est_index=[-0.018, -0.008, 0.002, 0.012, 0.022, 0.028, -0.012, 0.008],
                   est_resid=[0.0012, -0.0008, 0.0018, -0.0016, 0.0010, -0.0012, 0.0006, -0.0010], alpha=0.003,
                   beta=1.0, evt_index=[0.012, -0.004, 0.009], evt_firm=[0.030, -0.010, 0.020]),
        "E3": dict(est_index=[-0.025, -0.012, 0.001, 0.010, 0.020, 0.030, -0.010, 0.006],
                   est_resid=[0.0008, -0.0012, 0.0016, -0.0014, 0.0012, -0.0010, 0.0004, -0.0004], alpha=0.005,
                   beta=1.4, evt_index=[0.018, -0.006, 0.011], evt_firm=[0.050, -0.005, 0.035]),
    }
    returns, market, events = _blocks(spec)
    design = eventstudy.Design([(0, 0), (0, 2)], (-8, -1), min_estimation=8, pre_event=None)
    study = eventstudy.run(returns, market, events, design)
    means = study.by_category.set_index("window")
    assert means.loc["[+0,+0]", "mean_car_pct"] == pytest.approx(100 * 0.017858427448395411, abs=1e-10)
    assert means.loc["[+0,+0]", "t_stat"] == pytest.approx(12.785674729349529, abs=1e-8)
    assert means.loc["[+0,+2]", "mean_car_pct"] == pytest.approx(100 * 0.027155776845985774, abs=1e-10)
    assert means.loc["[+0,+2]", "t_stat"] == pytest.approx(4.1627875088073241, abs=1e-8)
    assert study.row("generalized sign", "c", "[+0,+2]")["statistic"] == pytest.approx(1.7320508075688774)
    # one model per event, each on its own eight days ending the session before day 0
    assert len(study.models) == 3 and (study.models["estimation_days"] == 8).all()
    assert study.models["estimation_end"].tolist() == [d.date() for d in returns.index[[7, 18, 29]]]


def test_a_model_per_event_ends_before_its_window_and_a_short_window_is_left_out():
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2024-01-01", periods=200)
    market = pd.Series(rng.normal(0, 0.01, 200), index=days)
    # the stock's beta doubles halfway: a model per event follows it, one model held would not
    beta = np.where(np.arange(200) < 100, 1.0, 2.0)
    stock = pd.Series(0.0005 + beta * market.to_numpy() + rng.normal(0, 0.004, 200), index=days)
    events = pd.DataFrame({"date": days[[40, 90, 180]], "session_date": days[[40, 90, 180]], "entity": ["a", "b", "c"],
                           "category": "tokens", "headline": "h"})
    design = eventstudy.Design([(0, 1)], (-60, -11), min_estimation=45, pre_event=(-10, -1), placebo_draws=100,
                               bootstrap_draws=100)
    study = eventstudy.run(stock.to_frame("X"), market, events, design)
    # day 40: the window [-60, -11] starts before the prices: left out, with the reason
    assert study.skipped["reason"].str.contains("starts before the prices").sum() == 1
    models = study.models.set_index("session")
    assert list(models.index) == [days[90].date(), days[180].date()]
    # by hand for day 180: sessions 120..169 less the event session 130? none; no event sessions in it
    x, y = market.iloc[120:170].to_numpy(), stock.iloc[120:170].to_numpy()
    b = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    a = y.mean() - b * x.mean()
    row = models.loc[days[180].date()]
    assert (row["estimation_start"], row["estimation_end"]) == (days[120].date(), days[169].date())
    assert row["beta"] == pytest.approx(b) and row["alpha_bp"] == pytest.approx(1e4 * a)
    assert row["resid_sd_pct"] == pytest.approx(100 * np.sqrt(((y - a - b * x) ** 2).sum() / 48))
    assert row["beta"] > 1.7 and models.loc[days[90].date(), "beta"] < 1.3
    # day 90's window [30, 79] holds the event session 40: it is left out of the estimation
    assert models.loc[days[90].date(), "estimation_days"] == 49
    # the pre-event window is tested, with its own tests
    pre = study.tests[study.tests["period"] == eventstudy.PRE_EVENT]
    assert set(pre["window"]) == {"[-10,-1]"} and "placebo: mean CAR" in set(pre["test"])


def test_market_adjusted_and_constant_mean_rows_by_hand():
    days = pd.bdate_range("2024-01-01", periods=40)
    rng = np.random.default_rng(5)
    market = pd.Series(rng.normal(0, 0.01, 40), index=days)
    stock = pd.Series(0.002 + 1.5 * market.to_numpy() + rng.normal(0, 0.003, 40), index=days)
    events = pd.DataFrame({"date": days[[30, 36]], "session_date": days[[30, 36]], "entity": ["a", "b"],
                           "category": "c", "headline": "h"})
    design = eventstudy.Design([(0, 1)], (-25, -3), min_estimation=20, pre_event=None, placebo_draws=100,
                               bootstrap_draws=100)
    study = eventstudy.run(stock.to_frame("X"), market, events, design)
    cars_ma, cars_cm = [], []
    for t in (30, 36):
        est = [d for d in range(t - 25, t - 2) if d not in (30, 36)]
        y = stock.iloc[est].to_numpy()
        cars_ma.append((stock.iloc[t:t + 2] - market.iloc[t:t + 2]).sum())
        cars_cm.append((stock.iloc[t:t + 2] - y.mean()).sum())
    for model, cars in (("market-adjusted", cars_ma), ("constant mean", cars_cm)):
        row = study.row("t (cross-section)", "c", "[+0,+1]", model=model)
        cars = np.array(cars)
        assert row["car_pct"] == pytest.approx(100 * cars.mean())
        assert row["statistic"] == pytest.approx(cars.mean() / (cars.std(ddof=1) / np.sqrt(2)))


def test_placebo_draws_quiet_sessions_and_adjusted_p_never_falls_below_p():
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2023-01-02", periods=400)
    market = pd.Series(rng.normal(0, 0.01, 400), index=days)
    returns = pd.DataFrame({s: 1.2 * market.to_numpy() + rng.normal(0, 0.01, 400) for s in "XYZ"}, index=days)
    sessions = [150, 200, 250, 300, 350]
    returns.iloc[sessions] += 0.03  # a real reaction on each event session
    events = pd.DataFrame({"date": days[sessions], "session_date": days[sessions], "entity": list("abcde"),
                           "category": "tokens", "headline": "h"})
    design = eventstudy.Design([(0, 0)], (-130, -11), pre_event=(-10, -1), placebo_draws=500, bootstrap_draws=500,
                               seed=1)
    study = eventstudy.run(returns, market, events, design)
    placebo = study.placebo.set_index("window")
    # candidates: days 0 from 130 on (a full model), no event session in the window, not an event session
    assert placebo.loc["[+0,+0]", "candidates"] == 400 - 130 - 5
    # the pre-event window [-10,-1] must hold no event session either: 10 days before each event are out too
    assert placebo.loc["[-10,-1]", "candidates"] < placebo.loc["[+0,+0]", "candidates"]
    assert study.row("placebo: mean CAR", "tokens", "[+0,+0]")["p_value"] == pytest.approx(1 / 501)
    assert study.row("placebo: mean CAR", "tokens", "[-10,-1]")["p_value"] > 0.05
    again = eventstudy.run(returns, market, events, design)
    pd.testing.assert_frame_equal(study.tests, again.tests)  # seeded
    t = study.tests.dropna(subset=["p_value"])
    assert (t["p_adjusted"] >= t["p_value"]).all() and (t["p_adjusted"] <= 1).all()
    assert "Benjamini-Hochberg" in study.adjustment
