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
    m = ar.shape[1]
    u = stats.rankdata(ar, axis=1) / (m + 1) - 0.5
    k = u.mean(axis=0)
    length = np.asarray(event_ar).shape[1]
    s = np.sqrt((k**2).mean())
    if s == 0:
        return float("nan"), float("nan")
    z = float(np.sqrt(length) * k[-length:].mean() / s)
    return z, _two_sided_normal(z)


def generalized_sign(car: np.ndarray, estimation_ar: np.ndarray) -> tuple[float, float]:
    """Cowan's generalised sign test: positive CARs against the estimation window's share of positive days."""
    car = np.asarray(car, float)
    n = len(car)
    p = float((np.asarray(estimation_ar, float) > 0).mean())
    if n == 0 or p in (0.0, 1.0):
        return float("nan"), float("nan")
    z = float(((car > 0).sum() - n * p) / np.sqrt(n * p * (1 - p)))
    return z, _two_sided_normal(z)
