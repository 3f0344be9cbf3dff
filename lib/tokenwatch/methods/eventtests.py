"""Event-study test statistics a reviewer expects beside the t-test (as in R's estudy2 and EventStudy).

For N event-symbol observations of one window of L sessions:

- BMP (Boehmer, Musumeci and Poulsen 1991): each CAR standardised by its own market-model standard error,
  then a cross-sectional t-test of the standardised CARs, robust to event-induced variance:
  z = mean(SCAR) sqrt(N) / sd(SCAR).
- Kolari and Pynnonen (2010): BMP times sqrt((1 - r) / (1 + (N - 1) r)), r the mean correlation of the
  observations' abnormal returns; symbols that share a session share its shock.
- Corrado rank (Corrado 1989; multi-day as in Campbell and Wasley 1993): each observation's abnormal returns
  over estimation and event days ranked, U = rank / (M + 1); with K_t the cross-sectional mean of U - 1/2 on
  day t, z = sqrt(L) mean_event(K_t) / sqrt(mean_all(K_t^2)).
- Generalised sign (Cowan 1992): w of N CARs positive against the share p of positive abnormal returns in the
  estimation window, z = (w - N p) / sqrt(N p (1 - p)).

Each returns (statistic, two-sided p-value); BMP and its adjustment against t(N - 1), the others N(0, 1).
Estimation abnormal returns may hold NaN (a day left out of an observation's window): ranks and shares skip them.

Tests that need no distribution:
- placebo: the share of statistics computed on random non-event sessions at least as extreme as the real one,
  counting the real one among the draws, (1 + #{|placebo| >= |real|}) / (1 + draws), so never 0;
- cluster bootstrap of the mean CAR: event sessions drawn with replacement (every observation of a session
  together, since names sharing a session are not independent), p = (1 + #{|m* - m| >= |m|}) / (1 + draws);
- `adjust`: p-values adjusted for multiple testing (statsmodels' multipletests: Holm or Benjamini-Hochberg).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _two_sided_normal(z: float) -> float:
    return float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")


def bmp(car: np.ndarray, sd_car: np.ndarray) -> tuple[float, float]:
    """Boehmer-Musumeci-Poulsen: the t-test of CARs standardised by their own standard errors."""
    scar = np.asarray(car, dtype=float) / np.asarray(sd_car, dtype=float)
    n = len(scar)
    if n < 2 or scar.std(ddof=1) == 0:
        return float("nan"), float("nan")
    z = float(scar.mean() * np.sqrt(n) / scar.std(ddof=1))
    return z, float(2 * stats.t.sf(abs(z), n - 1))


def kolari_pynnonen(car: np.ndarray, sd_car: np.ndarray, mean_correlation: float) -> tuple[float, float]:
    """BMP adjusted for cross-correlated abnormal returns (Kolari and Pynnonen 2010)."""
    z, _ = bmp(car, sd_car)
    n = len(car)
    r = float(mean_correlation)
    if not np.isfinite(z) or 1 + (n - 1) * r <= 0:
        return float("nan"), float("nan")
    adj = float(z * np.sqrt((1 - r) / (1 + (n - 1) * r)))
    return adj, float(2 * stats.t.sf(abs(adj), n - 1))


def mean_pairwise_correlation(residuals: np.ndarray) -> float:
    """The mean off-diagonal correlation of the columns of `residuals` (days x series)."""
    k = residuals.shape[1]
    if k < 2:
        return 0.0
    c = np.corrcoef(residuals, rowvar=False)
    return float((c.sum() - k) / (k * (k - 1)))


def corrado_rank(estimation_ar: np.ndarray, event_ar: np.ndarray) -> tuple[float, float]:
    """Corrado's rank test over an event window: `estimation_ar` (N x T) and `event_ar` (N x L)."""
    ar = np.concatenate([np.asarray(estimation_ar, float), np.asarray(event_ar, float)], axis=1)
    m = (~np.isnan(ar)).sum(axis=1, keepdims=True)
    u = stats.rankdata(ar, axis=1, nan_policy="omit") / (m + 1) - 0.5
    counts = (~np.isnan(u)).sum(axis=0)
    k = np.where(counts > 0, np.nansum(u, axis=0) / np.maximum(counts, 1), np.nan)  # NaN: a day no one has
    length = np.asarray(event_ar).shape[1]
    s = np.sqrt(np.nanmean(k**2))
    if s == 0:
        return float("nan"), float("nan")
    z = float(np.sqrt(length) * k[-length:].mean() / s)
    return z, _two_sided_normal(z)


def generalized_sign(car: np.ndarray, estimation_ar: np.ndarray) -> tuple[float, float]:
    """Cowan's generalised sign test: positive CARs against the estimation window's share of positive days."""
    car = np.asarray(car, float)
    n = len(car)
    est = np.asarray(estimation_ar, float)
    est = est[~np.isnan(est)]
    p = float((est > 0).mean()) if len(est) else float("nan")
    if n == 0 or not 0.0 < p < 1.0:
        return float("nan"), float("nan")
    z = float(((car > 0).sum() - n * p) / np.sqrt(n * p * (1 - p)))
    return z, _two_sided_normal(z)


def placebo_p(real: float, draws: np.ndarray) -> float:
    """Two-sided placebo p: the real statistic counted among the draws (NaN draws left out)."""
    draws = np.asarray(draws, float)
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(real) or not len(draws):
        return float("nan")
    return float((1 + (np.abs(draws) >= abs(real)).sum()) / (1 + len(draws)))


def cluster_bootstrap(car: np.ndarray, cluster: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Mean CAR over observations, resampling clusters (event sessions): `counts` (draws x clusters, in the
    order of np.unique(cluster)) says how often each cluster enters each draw. Returns (mean / bootstrap
    standard error, two-sided p of the recentred draws)."""
    car = np.asarray(car, float)
    keys, index = np.unique(np.asarray(cluster), return_inverse=True)
    if len(keys) < 2:
        return float("nan"), float("nan")
    sums, sizes = np.bincount(index, car), np.bincount(index).astype(float)
    mean = car.mean()
    boot = (counts @ sums) / (counts @ sizes)
    se = boot.std(ddof=1)
    stat = float(mean / se) if se > 0 else float("nan")
    return stat, float((1 + (np.abs(boot - mean) >= abs(mean)).sum()) / (1 + len(boot)))


def session_draws(clusters: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of `clusters` enters each of `draws` resamples with replacement (draws x clusters)."""
    return rng.multinomial(clusters, np.full(clusters, 1 / clusters), size=draws)


ADJUSTMENTS = {"holm": "Holm (family-wise error rate)", "fdr_bh": "Benjamini-Hochberg (false discovery rate)"}


def adjust(p_values: np.ndarray, method: str) -> np.ndarray:
    """p-values adjusted for testing them all at once (NaN stays NaN and does not count)."""
    from statsmodels.stats.multitest import multipletests

    if method not in ADJUSTMENTS:
        raise ValueError(f"p-value adjustment {method!r}: one of {sorted(ADJUSTMENTS)}")
    p = np.asarray(p_values, float)
    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = np.maximum(multipletests(p[ok], method=method)[1], p[ok])
    return out
