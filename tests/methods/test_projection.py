"""Projection models, scenarios, the as-of backtest and scores on synthetic and real series."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.methods import projection as P
from tokenwatch.paths import data_dir
from tokenwatch.reports.token_projection import project_series
from tokenwatch.tokens import load_ledger

SCENARIOS = P.load_scenarios()


DATA_ONLY = SCENARIOS.loc["data_only"]


def _obs(values: list[float], start: str = "2024-01-01", step_days: int = 60) -> pd.DataFrame:
    dates = pd.date_range(start, periods=len(values), freq=f"{step_days}D")
    v = np.asarray(values, dtype=float)
    return pd.DataFrame({"id": [f"x{i}" for i in range(len(v))], "date": dates, "tokens_per_day": v, "low": v,
                         "high": v, "public_from": dates})


def test_exponential_recovers_a_known_growth_rate_and_its_intervals_cover():
    rng = np.random.default_rng(5)
    t = np.arange(8) * 60 / P.DAYS_PER_YEAR
    values = 1e11 * np.exp(2.0 * t + rng.normal(0, 0.05, 8))
    f = P.fit(_obs(list(values)), "exponential", DATA_ONLY, load_ledger())
    assert f.params[1] == pytest.approx(2.0, abs=0.15)
    dates = pd.date_range("2024-01-01", periods=8, freq="60D")
    q = f.quantiles(dates, paths=20_000)
    assert ((q["p10"] <= values) & (values <= q["p90"])).mean() >= 0.75
    assert np.allclose(q["p50"], f.median_curve(dates), rtol=0.02)


def test_a_scenario_ceiling_caps_the_logistic():
    values = [1e11, 3e11, 9e11, 2.5e12, 6e12, 1.2e13]
    obs = _obs(values)
    room = SCENARIOS.loc["room_30x"]
    f = P.fit(obs, "logistic", room, load_ledger())
    far = f.median_curve(pd.DatetimeIndex(["2040-01-01"]))[0]
    assert far == pytest.approx(30 * 1.2e13, rel=1e-3)
    with pytest.raises(P.FitError, match="needs at least 4"):
        P.fit(obs.iloc[:3], "gompertz", DATA_ONLY, load_ledger())


def test_the_backtest_never_sees_what_came_after_the_cutoff(tmp_path, monkeypatch):
    cutoff = pd.Timestamp("2025-06-30")
    ledger = load_ledger()
    bt, proj = P.backtest(ledger, "doubao", list(P.MODELS), SCENARIOS, cutoff, paths=2000)
    assert set(bt["target_date"].astype(str)) == {"2025-09-30", "2025-12-09"}
    # rewrite every later disclosure absurdly: the fit at the cutoff must not move
    data = tmp_path / "data"
    (data / "tokens").mkdir(parents=True)
    for name in ("token_scenarios.csv", "accelerators.csv"):
        (data / name).write_bytes((data_dir() / name).read_bytes())
    frame = pd.read_csv(data_dir() / "tokens" / "disclosures.csv", dtype=str, keep_default_na=False)
    later = frame["id"].isin(["doubao-2025-09", "doubao-2025-12"])
    frame.loc[later, "value"] = "9e+20"
    frame.to_csv(data / "tokens" / "disclosures.csv", index=False)
    (data / "tokens" / "report_claims.csv").write_bytes((data_dir() / "tokens" / "report_claims.csv").read_bytes())
    monkeypatch.setenv("TOKENWATCH_DATA", str(data))
    bt2, proj2 = P.backtest(load_ledger(), "doubao", list(P.MODELS), SCENARIOS, cutoff, paths=2000)
    for key, f in proj.fits.items():
        np.testing.assert_array_equal(f.params, proj2.fits[key].params)
    pd.testing.assert_series_equal(bt["p50"], bt2["p50"])
    assert (bt2["actual"] == 9e20).all()


def test_projection_errors_are_clear():
    ledger = load_ledger()
    with pytest.raises(ParameterError, match="before the first disclosure of china-nda"):
        P.check_cutoff(ledger, "china-nda", pd.Timestamp("2025-06-30"))
    with pytest.raises(ParameterError, match="has 1 disclosure"):
        project_series("baidu-ernie", None, pd.Timestamp("2027-12-31"), list(P.MODELS), [])
    with pytest.raises(ParameterError, match="horizon 2025-05-01 is not after the cutoff"):
        project_series("doubao", pd.Timestamp("2025-06-30"), pd.Timestamp("2025-05-01"), list(P.MODELS), [])
    with pytest.raises(ParameterError, match="no token disclosures"):
        P.observations(ledger, "nonexistent")


def test_scores_rank_by_out_of_sample_error():
    bt = pd.DataFrame({"model": ["a", "a", "b", "b"], "scenario": ["s"] * 4, "log_error": [0.1, -0.3, 1.0, 0.9],
                       "in_50": [True, False, False, False], "in_80": [True, True, False, False]})
    s = P.scores(bt)
    assert s["model"].tolist() == ["a", "b"]
    assert s.loc[0, "mean_abs_log_error"] == pytest.approx(0.2) and s.loc[0, "coverage_80"] == 1.0


def test_reach_dates_take_the_first_month_each_quantile_crosses():
    dates = pd.to_datetime(["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"])
    table = pd.DataFrame({"model": "m", "scenario": "s", "date": dates, "p10": [1, 2, 3, 4], "p50": [2, 4, 6, 8],
                          "p90": [5, 9, 12, 15], "p25": 0, "p75": 0})
    r = P.reach_dates(table, 6).iloc[0]
    assert (r["date_p90"], r["date_p50"]) == (dates[1], dates[2]) and pd.isna(r["date_p10"])


def test_a_ceiling_can_be_a_multiple_of_another_series_as_public_at_the_fit():
    from tokenwatch.tokens import as_of

    public = as_of(load_ledger(), pd.Timestamp("2025-06-30"))
    obs = P.observations(public, "doubao")
    cap = P.ceiling(SCENARIOS.loc["overseas_x2"], obs, public)
    google = P.observations(public, "google-surfaces").iloc[-1]  # 2025-04/05: June's figure came out in July
    assert google["id"] == "google-2025-05" and cap == pytest.approx(2 * google["tokens_per_day"])
