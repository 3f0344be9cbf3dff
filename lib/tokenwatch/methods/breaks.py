"""Where a series' mean shifts: a Chow test at a given date and a sup-F search over candidate dates.

The model is a shift in the mean of a daily series (for example a basket's excess return):
y_t = m1 before the break, m2 from the break on. For a date fixed in advance, the Chow F has an F(1, n-2)
distribution. A date found by searching does not, so the sup-F (Andrews 1993) p-value and critical
value come from permutations of the series itself (exact under no break and exchangeable days). The
95% band for the date is Bai's (1997): k +- 11.03 s^2 / d^2 sessions, with d the estimated shift.

Two fluctuation tests from statsmodels sit beside them: the OLS-CUSUM (Ploberger and Kramer 1992: the largest
scaled cumulative OLS residual, against a Brownian bridge) and the recursive CUSUM (Brown, Durbin and Evans 1975:
the cumulative recursive residuals against their 5% boundary lines).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.diagnostic import breaks_cusumolsresid, recursive_olsresiduals

from tokenwatch.errors import ParameterError

BREAK_COLUMNS = ["series", "method", "break_date", "lower", "upper", "statistic", "critical_value", "p_value",
                 "verdict"]
BAI_95 = 11.03  # 95% quantile of |argmax| of a two-sided Brownian motion with drift (Bai 1997, table 1)


def f_stats(y: np.ndarray, splits: np.ndarray) -> np.ndarray:
    """Chow F for a mean shift at each split (the index of the first point of the second regime).

    Works on a 2-D array too: one series per row, the same splits for all (used for permutations).
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    n = y.shape[1]
    total = y.sum(axis=1, keepdims=True)
    ssr0 = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1, keepdims=True)
    left = np.cumsum(y, axis=1)[:, splits - 1]
    k = splits.astype(float)
    # SSR0 - SSR(k) = k (n-k)/n (mean1 - mean2)^2
    mean1, mean2 = left / k, (total - left) / (n - k)
    gain = k * (n - k) / n * (mean1 - mean2) ** 2
    out = gain / ((ssr0 - gain) / (n - 2))
    return out[0] if out.shape[0] == 1 else out


@dataclass(frozen=True)
class BreakResult:
    series: str
    method: str
    break_date: pd.Timestamp
    lower: pd.Timestamp | None
    upper: pd.Timestamp | None
    statistic: float
    critical_value: float
    p_value: float
    shift: float  # mean after minus mean before

    @property
    def verdict(self) -> str:
        """'break' or 'no break' at 5%: by the p-value, else by the statistic against its 5% critical value; a
        Bai-Perron row is a break chosen by BIC."""
        if self.method.startswith("Bai-Perron"):
            return "break (chosen by BIC)"
        if np.isfinite(self.p_value):
            return "break at 5%" if self.p_value < 0.05 else "no break at 5%"
        return "break at 5%" if self.statistic > self.critical_value else "no break at 5%"

    def row(self) -> dict:
        return {"series": self.series, "method": self.method, "break_date": self.break_date.date(),
                "lower": self.lower.date() if self.lower is not None else None,
                "upper": self.upper.date() if self.upper is not None else None,
                "statistic": self.statistic, "critical_value": self.critical_value, "p_value": self.p_value,
                "verdict": self.verdict}

    def summary(self) -> str:
        band = f", 95% band {self.lower.date()} to {self.upper.date()}" if self.lower is not None and self.upper else ""
        return (f"{self.method} on {self.series}: break at {self.break_date.date()}{band}; statistic "
                f"{self.statistic:.2f} (critical {self.critical_value:.2f}), p = {self.p_value:.3f}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<p><code>{html.escape(self.summary())}</code></p>"


def _checked(y: pd.Series) -> pd.Series:
    if y.isna().any():
        raise ParameterError(f"series {y.name!r} has {int(y.isna().sum())} missing value(s); a break test needs "
                             "a complete series")
    if len(y) < 20:
        raise ParameterError(f"series {y.name!r} has {len(y)} points; a break test needs at least 20")
    return y


def chow(y: pd.Series, date: object, alpha: float = 0.05) -> BreakResult:
    """Chow test of a mean shift from `date` (the first session of the new regime)."""
    y = _checked(y)
    k = int(y.index.searchsorted(pd.Timestamp(date)))
    if not 2 <= k <= len(y) - 2:
        raise ParameterError(f"{pd.Timestamp(date).date()} leaves fewer than two points on one side of the "
                             f"series ({y.index[0].date()}..{y.index[-1].date()})")
    f = float(f_stats(y.to_numpy(), np.array([k]))[0])
    v = y.to_numpy()
    return BreakResult(str(y.name), "Chow (date given)", y.index[k], None, None, f,
                       float(stats.f.ppf(1 - alpha, 1, len(y) - 2)), float(stats.f.sf(f, 1, len(y) - 2)),
                       float(v[k:].mean() - v[:k].mean()))


def sup_f(y: pd.Series, trim: float = 0.15, permutations: int = 4999, alpha: float = 0.05,
          seed: int = 20250630) -> BreakResult:
    """Search every date in the middle (1 - 2 trim) of the series for the largest Chow F."""
    y = _checked(y)
    v = y.to_numpy()
    n = len(v)
    splits = np.arange(max(2, int(np.ceil(trim * n))), min(n - 2, int(np.floor((1 - trim) * n))) + 1)
    f = f_stats(v, splits)
    best = int(np.argmax(f))
    k = int(splits[best])
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.broadcast_to(v, (permutations, n)), axis=1)
    null = f_stats(perms, splits).max(axis=1)
    p = (1 + (null >= f[best]).sum()) / (permutations + 1)
    shift = float(v[k:].mean() - v[:k].mean())
    resid = np.concatenate([v[:k] - v[:k].mean(), v[k:] - v[k:].mean()])
    half = int(np.ceil(BAI_95 * resid.var(ddof=2) / shift**2)) if shift else n
    lo, hi = max(0, k - half), min(n - 1, k + half)
    return BreakResult(str(y.name), f"sup-F over {y.index[splits[0]].date()}..{y.index[splits[-1]].date()} "
                       f"({permutations} permutations; band: Bai 95%)", y.index[k], y.index[lo], y.index[hi],
                       float(f[best]), float(np.quantile(null, 1 - alpha)), float(p), shift)


def verdict(search: BreakResult, given: BreakResult, alpha: float = 0.05, unit: str = "") -> str:
    """A plain sentence: does the data put a break where the report does?"""
    day = given.break_date.date()
    if search.p_value >= alpha:
        found = (f"The search finds no significant break in {search.series} (sup-F {search.statistic:.2f}, "
                 f"p = {search.p_value:.3f}; the largest F is at {search.break_date.date()}).")
    else:
        assert search.lower is not None and search.upper is not None  # a search always has its band
        inside = search.lower <= given.break_date <= search.upper
        found = (f"The search puts the break in {search.series} at {search.break_date.date()} "
                 f"(95% band {search.lower.date()} to {search.upper.date()}; sup-F {search.statistic:.2f}, "
                 f"p = {search.p_value:.3f}); the report's {day} lies {'inside' if inside else 'outside'} that band.")
    chow_text = (f"A Chow test at {day} gives F = {given.statistic:.2f} (p = {given.p_value:.3f}): "
                 f"{'a' if given.p_value < alpha else 'no'} significant shift at the {alpha:.0%} level, "
                 f"mean {'up' if given.shift > 0 else 'down'} by {abs(given.shift):.3g}{unit} a day.")
    return f"{found} {chow_text}"


def bai_perron(y: pd.Series, max_breaks: int = 3, trim: float = 0.15) -> list[BreakResult]:
    """Several mean shifts at once: the global least-squares partition for each number of breaks
    (dynamic programming, Bai and Perron 2003), the number chosen by BIC. Each break gets Bai's 95% band
    from its own shift and the pooled residual variance. An empty list means BIC chooses no break."""
    y = _checked(y)
    v = y.to_numpy(dtype=float)
    n = len(v)
    h = max(2, int(np.ceil(trim * n)))  # shortest segment
    csum = np.concatenate([[0.0], np.cumsum(v)])
    csq = np.concatenate([[0.0], np.cumsum(v**2)])

    def ssr(i: int, j: int) -> float:  # segment v[i:j]
        s = csum[j] - csum[i]
        return csq[j] - csq[i] - s * s / (j - i)

    # best[m][j]: least SSR of v[:j] in m+1 segments; cut[m][j]: where the last segment starts
    best = [np.full(n + 1, np.inf) for _ in range(max_breaks + 1)]
    cut = [np.zeros(n + 1, dtype=int) for _ in range(max_breaks + 1)]
    for j in range(h, n + 1):
        best[0][j] = ssr(0, j)
    for m in range(1, max_breaks + 1):
        for j in range((m + 1) * h, n + 1):
            for i in range(m * h, j - h + 1):
                total = best[m - 1][i] + ssr(i, j)
                if total < best[m][j]:
                    best[m][j], cut[m][j] = total, i
    bic = [n * np.log(best[m][n] / n) + (2 * m + 1) * np.log(n) if np.isfinite(best[m][n]) else np.inf
           for m in range(max_breaks + 1)]
    m = int(np.argmin(bic))
    cuts, j = [], n
    for k in range(m, 0, -1):
        j = cut[k][j]
        cuts.append(j)
    cuts.sort()
    bounds = [0, *cuts, n]
    sigma2 = best[m][n] / (n - 2 * m - 1)
    out = []
    for idx, k in enumerate(cuts):
        before, after = v[bounds[idx]:k], v[k:bounds[idx + 2]]
        shift = float(after.mean() - before.mean())
        half = int(np.ceil(BAI_95 * sigma2 / shift**2)) if shift else n
        out.append(BreakResult(str(y.name), f"Bai-Perron, {m} break(s) chosen by BIC (max {max_breaks}; statistic: BIC "
                                            "gain "
                               "over no break; band: Bai 95%)",
                               y.index[k], y.index[max(0, k - half)], y.index[min(n - 1, k + half)],
                               float(bic[m] - bic[0]), np.nan, np.nan, shift))
    return out


def ols_cusum(y: pd.Series) -> BreakResult:
    """OLS-CUSUM of a constant mean (statsmodels): sup |cumulative residual| / (sigma sqrt(n)), p-value from the
    Brownian bridge; the date is where the cumulative residual is farthest from zero (the likeliest turn)."""
    y = _checked(y)
    resid = (y - y.mean()).to_numpy()
    stat, p, crit = breaks_cusumolsresid(resid, ddof=1)
    k = int(np.argmax(np.abs(np.cumsum(resid))))
    turn = min(k + 1, len(y) - 1)  # the first session after the farthest point
    v = y.to_numpy()
    return BreakResult(str(y.name), "OLS-CUSUM (Ploberger-Kramer; date: largest cumulative residual)", y.index[turn],
                       None, None, float(stat), float(dict(crit)[5]), float(p),
                       float(v[turn:].mean() - v[:turn].mean()))


def recursive_cusum(y: pd.Series) -> BreakResult:
    """Recursive CUSUM of a constant mean (statsmodels): the largest ratio of the cumulative recursive residual
    to its 5% boundary (above 1: the boundary is crossed); the date is the first crossing, else the largest."""
    y = _checked(y)
    fit = sm.OLS(y.to_numpy(), np.ones(len(y))).fit()
    cusum, bounds = recursive_olsresiduals(fit)[5:7]
    cusum = cusum[-bounds.shape[1]:]  # the first value is the start, before any recursive residual
    ratio = np.abs(cusum) / bounds[1]
    crossed = np.flatnonzero(ratio > 1)
    k = int(crossed[0] if len(crossed) else np.argmax(ratio))
    at = len(y) - len(cusum) + k
    v = y.to_numpy()
    return BreakResult(str(y.name), "recursive CUSUM (Brown-Durbin-Evans; statistic: largest |CUSUM| / 5% bound)",
                       y.index[at], None, None, float(ratio.max()), 1.0, np.nan,
                       float(v[at:].mean() - v[:at].mean()) if at > 0 else np.nan)
