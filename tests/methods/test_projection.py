"""Projection models: fits, bounds, anchored predictive draws, merged scenarios and dates to a level."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import FitError, ParameterError
from tokenwatch.methods import projection as P
from tokenwatch.tokens import as_of, load_ledger

SCENARIOS = P.load_scenarios()
DATA_ONLY = SCENARIOS.loc["data_only"]


def _obs(values: list[float], start: str = "2024-01-01", step_days: int = 60,
         low: list[float] | None = None, high: list[float] | None = None) -> pd.DataFrame:
    dates = pd.date_range(start, periods=len(values), freq=f"{step_days}D")
    v = np.asarray(values, dtype=float)
    return pd.DataFrame({"id": [f"x{i}" for i in range(len(v))], "date": dates, "tokens_per_day": v,
                         "low": v if low is None else low, "high": v if high is None else high,
                         "public_from": dates})


def test_exponential_recovers_a_known_growth_rate():
    rng = np.random.default_rng(5)
    t = np.arange(8) * 60 / P.DAYS_PER_YEAR
    f = P.fit(_obs(list(1e11 * np.exp(2.0 * t + rng.normal(0, 0.05, 8)))), "exponential", DATA_ONLY, load_ledger())
    assert f.params[1] == pytest.approx(2.0, abs=0.15) and f.dof == 6


def test_paths_start_at_the_latest_disclosure_within_its_range():
    values = [1e11, 4e11, 1.3e12, 4e12, 1.27e13, 1.64e13, 3e13, 5e13]  # Doubao-like: growth slowing
    low, high = [*values[:-1], 4.5e13], [*values[:-1], 5.5e13]
    obs = _obs(values, low=low, high=high)
    obs["tokens_per_day"] = np.sqrt(obs["low"] * obs["high"])
    anchor = obs["date"].iloc[-1]
    for model in P.MODELS:
        scenario = SCENARIOS.loc["room_30x"] if model != "exponential" else DATA_ONLY
        f = P.fit(obs, model, scenario, load_ledger())
        d = np.exp(f.log_draws(pd.DatetimeIndex([anchor]), 5000, np.random.default_rng(0))[:, 0])
        assert d.min() >= 4.5e13 * (1 - 1e-9) and d.max() <= 5.5e13 * (1 + 1e-9), model
        # the fitted curve itself sits far from the last point for the exponential: the anchor removes the jump
        assert f.median_path(pd.DatetimeIndex([anchor]))[0] == pytest.approx(obs["tokens_per_day"].iloc[-1])


def test_an_s_curve_never_crosses_its_scenario_ceiling():
    obs = _obs([1e11, 3e11, 9e11, 2.5e12, 6e12, 1.2e13])
    f = P.fit(obs, "logistic", SCENARIOS.loc["room_30x"], load_ledger())
    d = np.exp(f.log_draws(pd.DatetimeIndex(["2030-01-01", "2040-01-01"]), 20_000, np.random.default_rng(0)))
    assert d.max() <= 30 * 1.2e13 * (1 + 1e-9)  # residual draws included: the ceiling is a scenario's premise
    assert np.median(d[:, 1]) == pytest.approx(30 * 1.2e13, rel=0.05)
    with pytest.raises(FitError, match="needs at least 4"):
        P.fit(obs.iloc[:3], "gompertz", DATA_ONLY, load_ledger())


def test_a_fit_on_its_bound_is_reported():
    doubao = P.observations(load_ledger(), "doubao")
    f = P.fit(doubao, "logistic", DATA_ONLY, load_ledger())
    assert f.at_bound == "log_ceiling at its lower bound"  # K = the highest disclosure
    assert P.fit(doubao, "gompertz", SCENARIOS.loc["room_30x"], load_ledger()).at_bound == ""


def test_scenarios_that_give_one_fit_share_a_row():
    ledger = load_ledger()
    fits, skipped = P.fit_specs(P.observations(ledger, "doubao"), list(P.MODELS), SCENARIOS, ledger)
    exp = sorted(f.scenario for f in fits if f.model == "exponential")
    assert exp == ["b_end_2026", "data_only", "room_30x|per_capita_100k|overseas_x2"]
    assert len({f.key for f in fits}) == len(fits)
    # Doubao's 180T/day of June 2026 (doubao-2026-06) is above the per_capita_100k ceiling (~1.41e14: 100k tokens a
    # day per person in China), so the S-curves refuse that scenario by name; the exponential, with no ceiling, keeps it
    assert sorted(zip(skipped["model"], skipped["scenario"], strict=True)) == [
        ("gompertz", "per_capita_100k"), ("logistic", "per_capita_100k")]
    assert skipped["reason"].str.contains("ceiling 1.41e+14 is not above the highest disclosure 1.8e+14",
                                          regex=False).all()
    s_curves = {(f.model, f.scenario) for f in fits if f.model != "exponential"}
    assert s_curves == {(m, s) for m in ("logistic", "gompertz")
                        for s in ("data_only", "room_30x", "b_end_2026", "overseas_x2")}


def test_a_ceiling_can_be_a_multiple_of_another_series_as_public_at_the_fit():
    public = as_of(load_ledger(), pd.Timestamp("2025-06-30"))
    obs = P.observations(public, "doubao")
    cap = P.ceiling(SCENARIOS.loc["overseas_x2"], obs, public)
    google = P.observations(public, "google-surfaces").iloc[-1]  # 2025-04/05: June's figure came out in July
    assert google["id"] == "google-2025-05" and cap == pytest.approx(2 * google["tokens_per_day"])
    early = as_of(load_ledger(), pd.Timestamp("2025-01-01"))
    with pytest.raises(FitError, match="needs series google-surfaces"):
        P.ceiling(SCENARIOS.loc["overseas_x2"], P.observations(early, "doubao"), early)


def test_reach_dates_read_each_quantile_path():
    dates = pd.to_datetime(["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"])
    table = pd.DataFrame({"model": "m", "scenario": "s", "date": dates, "p10": [1, 2, 3, 4], "p50": [2, 4, 6, 8],
                          "p90": [5, 9, 12, 15]})
    r = P.reach_dates(table, 6, "six").iloc[0]
    assert (r["date_q10"], r["date_q50"]) == (dates[1], dates[2]) and pd.isna(r["date_q90"])
    moving = pd.Series([100, 10, 5, 4], index=dates)  # a level per date, such as the leader's median
    r = P.reach_dates(table, moving, "leader").iloc[0]
    assert (r["date_q10"], r["date_q50"], r["date_q90"]) == (dates[2], dates[2], dates[3])


def test_errors_name_what_to_do():
    ledger = load_ledger()
    with pytest.raises(ParameterError, match="no token disclosures"):
        P.observations(ledger, "nonexistent")
    with pytest.raises(ParameterError, match="not one of"):
        P.fit(P.observations(ledger, "doubao"), "cubic", DATA_ONLY, ledger)
