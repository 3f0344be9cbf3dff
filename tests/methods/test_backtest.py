"""The pooled rolling-origin backtest: scores checked by hand, no look-ahead, and calibration on known truth."""

import numpy as np
import pandas as pd
from scipy import stats

from tokenwatch.methods import backtest as B
from tokenwatch.methods import projection as P
from tokenwatch.paths import data_dir
from tokenwatch.tokens import load_ledger

SCENARIOS = P.load_scenarios()


def test_crps_from_samples_matches_the_normal_closed_form():
    rng = np.random.default_rng(0)
    y = np.array([0.0, 1.0, -2.5])
    got = B.crps(rng.standard_normal((3, 200_000)), y)
    # Gneiting and Raftery (2007): CRPS(N(0,1), y) = y (2 Phi(y) - 1) + 2 phi(y) - 1 / sqrt(pi)
    want = y * (2 * stats.norm.cdf(y) - 1) + 2 * stats.norm.pdf(y) - 1 / np.sqrt(np.pi)
    np.testing.assert_allclose(got, want, rtol=0.01)  # Monte Carlo error of 200,000 draws


def test_interval_score_by_hand():
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])
    # inside: its width; below by 0.5 at 80%: 1 + 2 / 0.2 * 0.5 = 6; above by 1: 1 + 10 * 1 = 11
    np.testing.assert_allclose(B.interval_score(lo, hi, np.array([0.5, -0.5, 2.0]), 0.8), [1.0, 6.0, 11.0])


def test_every_cutoff_of_every_series_is_scored_on_later_disclosures_only():
    ledger = load_ledger()
    pool = B.rolling_origin(ledger, ["exponential"], SCENARIOS.loc[["data_only"]], k=200)
    c = pool.cells
    assert set(c["series"]) == {"doubao", "google-surfaces"}  # the others never had 3 points and a later one
    public = ledger.set_index("id")["public_from"]
    assert (c["target_id"].map(public) > c["cutoff"]).all()
    public_then = [(P.observations(ledger, s)["public_from"] <= d).sum() for s, d in zip(c["series"], c["cutoff"],
                                                                                         strict=True)]
    assert (c["points"] == public_then).all() and (c["points"] >= 3).all()
    assert len(c[["series", "cutoff", "target_id"]].drop_duplicates()) == 16


def test_the_backtest_never_sees_what_came_after_its_cutoff(tmp_path, monkeypatch):
    scenarios = SCENARIOS.loc[["data_only", "room_30x"]]
    before = B.rolling_origin(load_ledger(), list(P.MODELS), scenarios, series=["doubao"], k=300)
    data = tmp_path / "data"
    (data / "tokens").mkdir(parents=True)
    for name in ("token_scenarios.csv", "accelerators.csv", "tokens/report_claims.csv", "tokens/parts.csv"):
        (data / name).write_bytes((data_dir() / name).read_bytes())
    frame = pd.read_csv(data_dir() / "tokens" / "disclosures.csv", dtype=str, keep_default_na=False)
    frame.loc[frame["id"] == "doubao-2025-12", "value"] = "9e+20"  # the last disclosure, absurd
    frame.to_csv(data / "tokens" / "disclosures.csv", index=False)
    monkeypatch.setenv("TOKENWATCH_DATA", str(data))
    after = B.rolling_origin(load_ledger(), list(P.MODELS), scenarios, series=["doubao"], k=300)
    pd.testing.assert_frame_equal(before.cells.drop(columns="actual"), after.cells.drop(columns="actual"))
    np.testing.assert_array_equal(before.draws, after.draws)  # every fit was made before it was public
    moved = after.cells["target_id"] == "doubao-2025-12"
    assert np.allclose(after.cells.loc[moved, "actual"], np.log(9e20))


def test_leave_one_series_out_never_calibrates_a_series_on_itself():
    ledger = load_ledger()
    pool = B.rolling_origin(ledger, list(P.MODELS), SCENARIOS, k=300)
    public = ledger.set_index("id")["public_from"]
    loso = B.Calibrator(pool, public, B.LOSO)
    assert not (pool.cells.loc[loso.mask("doubao", pd.Timestamp("2025-01-01")), "series"] == "doubao").any()
    real_time = B.Calibrator(pool, public, B.AS_OF)
    cut = pd.Timestamp("2025-06-11")
    used = pool.cells[real_time.mask("doubao", cut)]
    assert (used["target_id"].map(public) <= cut).all() and (used["horizon_years"] > 0).all()
    up, down = loso.kappa("doubao", cut, "gompertz")
    assert up >= 0 and down >= 0


def _synthetic(n: int, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Series that grow exponentially with a random walk on top (sd 0.3 a sqrt-year), published late."""
    out = {}
    for i in range(n):
        m = int(rng.integers(5, 9))
        dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.cumsum(rng.uniform(40, 150, m)).round(), "D")
        t = (dates - dates[0]).days.to_numpy() / P.DAYS_PER_YEAR
        walk = np.concatenate([[0.0], np.cumsum(rng.normal(0, 0.3 * np.sqrt(np.diff(t))))])
        v = np.exp(np.log(1e12) + rng.uniform(0.5, 3.0) * t + walk)
        out[f"s{i}"] = pd.DataFrame({"id": [f"s{i}-{j}" for j in range(m)], "date": dates, "tokens_per_day": v,
                                     "low": v, "high": v,
                                     "public_from": dates + pd.to_timedelta(rng.uniform(5, 60, m).round(), "D")})
    return out


def test_calibrated_intervals_cover_at_their_nominal_rates_on_synthetic_series():
    rng = np.random.default_rng(11)
    observed = _synthetic(200, rng)
    pool = B.rolling_origin(load_ledger(), ["exponential"], SCENARIOS.loc[["data_only"]], k=400, observed=observed)
    public = pd.concat(observed.values()).set_index("id")["public_from"]
    scored = B.evaluated(pool, B.Calibrator(pool, public, B.LOSO, folds=5))
    model = scored[scored["model"] == "exponential"]
    for calibrated, should_pass in ((True, True), (False, False)):
        s = model[model["calibrated"] == calibrated]
        for nominal in B.NOMINALS:
            inside = s.groupby("series")[f"in_{round(nominal * 100)}"]
            share = inside.sum().sum() / inside.size().sum()
            se = np.sqrt(nominal * (1 - nominal) / inside.ngroups)  # series are the independent units
            assert (abs(share - nominal) < 3 * se) == should_pass, (calibrated, nominal, share)
    assert len(model[model["calibrated"]]) > 1000
