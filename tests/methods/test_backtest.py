"""The pooled forecast-only backtest: the naive model, the pooled prior and the cutoff rule checked by hand, no
look-ahead, each series calibrated on the others only, and calibration on known truth."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tokenwatch.methods import backtest as B
from tokenwatch.methods import projection as P
from tokenwatch.paths import data_dir
from tokenwatch.tokens import load_ledger


def _series(name: str, dates: list[str], values: list[float], public: list[str]) -> pd.DataFrame:
    d = pd.to_datetime(dates)
    return pd.DataFrame({"id": [f"{name}-{i}" for i in range(len(d))], "date": d, "tokens_per_day": values,
                         "low": values, "high": values, "public_from": pd.to_datetime(public)})


def test_interval_score_by_hand():
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])
    # inside: its width; below by 0.5 at 80%: 1 + 2 / 0.2 * 0.5 = 6; above by 1: 1 + 10 * 1 = 11
    np.testing.assert_allclose(B.interval_score(lo, hi, np.array([0.5, -0.5, 2.0]), 0.8), [1.0, 6.0, 11.0])


def test_naive_growth_runs_through_the_last_two_points_by_hand():
    # 1e12 on 2024-01-01, 4e12 on 2024-07-01 (182 days), 8e12 on 2025-01-01 (184 days later): the last two only
    obs = _series("a", ["2024-01-01", "2024-07-01", "2025-01-01"], [1e12, 4e12, 8e12],
                  ["2024-01-02", "2024-07-02", "2025-01-02"])
    g = P.naive_growth(obs)
    assert g == pytest.approx(np.log(2) / (184 / 365.25))
    paths = B.member_paths(obs, np.array([0.5]), None)
    assert np.exp(paths["naive"][0]) == pytest.approx(8e12 * 2 ** (0.5 * 365.25 / 184))
    # the trend is the OLS slope on all three points; the pooled members need a prior
    t = np.array([0, 182, 366]) / 365.25
    assert P.trend_growth(obs) == pytest.approx(np.polyfit(t, np.log([1e12, 4e12, 8e12]), 1)[0])
    assert np.isnan(paths["pooled"][0])
    assert np.isnan(P.naive_growth(obs.iloc[:1])) and np.isnan(P.trend_growth(obs.iloc[:2]))


def test_the_pooled_prior_is_dersimonian_laird_by_hand():
    # three series, two points each a year apart except c (half a year): growth log 2, log 8, log 4 a year
    observed = {"a": _series("a", ["2024-01-01", "2024-12-31"], [1.0, 2.0], ["2024-01-02", "2025-01-01"]),
                "b": _series("b", ["2024-01-01", "2024-12-31"], [1.0, 8.0], ["2024-01-02", "2025-01-01"]),
                "c": _series("c", ["2024-07-01", "2024-12-30"], [1.0, 2.0], ["2024-07-02", "2025-01-01"])}
    sigma = 0.1  # no series has three points, so the level noise is given here
    prior = P.pooled_prior(observed, level_sigma=sigma)
    assert prior is not None
    dt = np.array([365, 365, 182]) / 365.25
    g = np.array([np.log(2), np.log(8), np.log(2)]) / dt
    v = 2 * sigma**2 / dt**2
    w = 1 / v
    fixed = (w * g).sum() / w.sum()
    q = (w * (g - fixed) ** 2).sum()
    tau2 = max(0.0, (q - 2) / (w.sum() - (w**2).sum() / w.sum()))
    ws = 1 / (v + tau2)
    assert prior.tau2 == pytest.approx(tau2) and prior.mean == pytest.approx((ws * g).sum() / ws.sum())
    # a short series' growth shrinks toward the prior by v / (v + tau2)
    post = P.pooled_growth(observed["c"], prior)
    b = v[2] / (v[2] + tau2)
    assert post.shrinkage == pytest.approx(b) and post.mean == pytest.approx(b * prior.mean + (1 - b) * g[2])
    assert P.pooled_prior({"a": observed["a"]}, level_sigma=sigma) is None  # one series: no prior


def test_a_target_must_be_dated_after_its_cutoff_and_within_18_months():
    # public dates differ from period dates: s-2 (dated 2024-03-01) is published only on 2024-08-01
    s = _series("s", ["2024-01-01", "2024-02-01", "2024-03-01", "2024-09-01", "2025-08-25"],
                [1.0, 2.0, 2.5, 4.0, 9.0], ["2024-01-05", "2024-02-05", "2024-08-01", "2024-09-05", "2025-09-05"])
    pool = B.forecast_cells(load_ledger().iloc[:0], observed={"s": s})
    got = {(c.date().isoformat(), t) for c, t in zip(pool.cells["cutoff"], pool.cells["target_id"], strict=True)}
    # cutoff 2024-01-05 has one point: none; 2024-02-05: s-2 is dated after the cutoff (2024-03-01) -> scored,
    # s-3 too; s-4 is 1.56 years past the anchor (2024-02-01) -> out. 2024-08-01: s-3 (s-4 is 1.48 years after
    # 2024-03-01 -> in). 2024-09-05: s-4.
    assert got == {("2024-02-05", "s-2"), ("2024-02-05", "s-3"), ("2024-08-01", "s-3"), ("2024-08-01", "s-4"),
                   ("2024-09-05", "s-4")}
    assert (pool.cells["target_date"] > pool.cells["cutoff"]).all() and (pool.cells["horizon_years"] > 0).all()
    assert (pool.cells["horizon_years"] <= B.MAX_HORIZON_YEARS).all()


def test_the_backtest_never_sees_what_came_after_its_cutoff(tmp_path, monkeypatch):
    before = B.forecast_cells(load_ledger())
    data = tmp_path / "data"
    (data / "tokens").mkdir(parents=True)
    for name in ("token_scenarios.csv", "tokens/parts.csv"):
        (data / name).write_bytes((data_dir() / name).read_bytes())
    frame = pd.read_csv(data_dir() / "tokens" / "disclosures.csv", dtype=str, keep_default_na=False)
    doubao = P.observations(load_ledger(), "doubao")
    last, public = doubao["id"].iloc[-1], doubao["public_from"].iloc[-1]
    frame.loc[frame["id"] == last, "value"] = "9e+20"  # the last Doubao disclosure, absurd
    frame.to_csv(data / "tokens" / "disclosures.csv", index=False)
    monkeypatch.setenv("TOKENWATCH_DATA", str(data))
    after = B.forecast_cells(load_ledger())
    pd.testing.assert_frame_equal(before.cells.drop(columns="actual"), after.cells.drop(columns="actual"))
    # every forecast made before it was public is unchanged (later ones may use it: the pooled prior does)
    earlier = (before.cells["cutoff"] < public).to_numpy()
    assert earlier.sum() > 20
    pd.testing.assert_frame_equal(before.preds[earlier], after.preds[earlier])
    moved = after.cells["target_id"] == last
    assert moved.any() and np.allclose(after.cells.loc[moved, "actual"], np.log(9e20))


def test_a_series_band_is_learned_from_the_other_series_only():
    pool = B.forecast_cells(load_ledger())
    scored = B.evaluated(pool)
    # change every Doubao actual: Doubao's own quantiles stay, the other series' move
    shifted = dataclasses.replace(pool, cells=pool.cells.assign(
        actual=np.where(pool.cells["series"] == "doubao", pool.cells["actual"] + 3, pool.cells["actual"])))
    again = B.evaluated(shifted)
    mine = (scored["series"] == "doubao") & (scored["model"] == B.ENSEMBLE)
    np.testing.assert_allclose(scored.loc[mine, "p50"], again.loc[mine.to_numpy(), "p50"])
    others = (scored["series"] != "doubao") & (scored["model"] == B.ENSEMBLE)
    assert not np.allclose(scored.loc[others, "p90"], again.loc[others.to_numpy(), "p90"])


def test_conformal_quantile_by_hand():
    # nine values: the 80% conformal quantile is the ceil(10 * 0.8) = 8th smallest
    assert B.conformal(np.arange(1.0, 10.0), 0.8) == 8.0
    assert B.conformal(np.arange(1.0, 4.0), 0.9) == 3.0  # too few: the largest


def _synthetic(n: int, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Series growing at a random rate with noise in the growth rate (a random walk on it), published late."""
    out = {}
    for i in range(n):
        m = int(rng.integers(4, 8))
        dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.cumsum(rng.uniform(60, 150, m)).round(), "D")
        t = (dates - dates[0]).days.to_numpy() / P.DAYS_PER_YEAR
        rate = rng.uniform(0.7, 3.0) * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(0, 0.3, m - 1))]))
        y = np.log(1e12) + np.concatenate([[0.0], np.cumsum(rate[1:] * np.diff(t))]) + rng.normal(0, 0.05, m)
        v = np.exp(y)
        out[f"s{i}"] = pd.DataFrame({"id": [f"s{i}-{j}" for j in range(m)], "date": dates, "tokens_per_day": v,
                                     "low": v, "high": v,
                                     "public_from": dates + pd.to_timedelta(rng.uniform(5, 30, m).round(), "D")})
    return out


def test_bands_learned_leaving_one_series_out_cover_near_nominal_on_synthetic_series():
    observed = _synthetic(60, np.random.default_rng(3))
    pool = B.forecast_cells(load_ledger().iloc[:0], observed=observed)
    scored = B.evaluated(pool)
    head = scored[scored["model"] == B.ENSEMBLE]
    assert len(head) > 300
    for nominal in B.NOMINALS:
        share = head[f"in_{round(nominal * 100)}"].mean()
        assert abs(share - nominal) < 0.08, (nominal, share)


def test_the_share_above_the_median_has_its_binomial_p_by_hand():
    scored = pd.DataFrame({"actual": [2.0] * 7 + [0.5] * 3, "p50": [1.0] * 10})
    got = B.above_median(scored)
    # two-sided: P(X >= 7) + P(X <= 3) for X ~ Bin(10, 1/2) = 2 * (120 + 45 + 10 + 1) / 1024
    assert got["above"] == 7 and got["share"] == 0.7 and got["binomial_p"] == pytest.approx(352 / 1024)


def test_growth_scaled_bands_score_better_than_bands_that_widen_with_the_horizon_alone(monkeypatch):
    """The design choice the README states: on the ledger's pooled cells, a band in units of the growth projected
    has a lower CRPS than one in units of the horizon alone, which undercovers Doubao's own cells."""
    pool = B.forecast_cells(load_ledger())
    scaled = B.evaluated(pool)

    def horizon_only(median, anchor, h, noise=0.0):
        return np.sqrt((B.GROWTH_FLOOR * np.maximum(np.asarray(h, dtype=float), 1 / 12)) ** 2 + noise**2)

    monkeypatch.setattr(B, "spread", horizon_only)
    flat = B.evaluated(pool)
    head = [s[s["model"] == B.ENSEMBLE] for s in (scaled, flat)]
    assert len(head[0]) == len(head[1]) >= 60
    assert head[0]["crps"].mean() < head[1]["crps"].mean()
    doubao = [h[h["series"] == "doubao"]["in_80"].mean() for h in head]
    assert doubao[0] >= 0.8 > doubao[1]
