"""Market models for every subject and every possible day 0 at once, vectorised over stacked windows.

For day 0 at position t the model is estimated on the sessions t+a..t+b (default [-130, -11]: it ends ten
sessions before day 0, so the pre-event window [-10, -1] stays out of sample), leaving out every event session
and every day a subject did not trade. Window sums come from cumulative sums, so all T x S models cost a few
array operations: OLS of one regressor in closed form (beta = Sxy / Sxx, alpha = mean_y - beta mean_x,
residual variance SSR / (n - 2)). `fixed` gives one model per subject on a given set of days for every day 0
(the rally replay's model, estimated before its first event).

Three abnormal returns per window of L days, each with the standard error of its CAR:
- market model: R - a - b R_m, s^2 (L + L^2/n + (sum R_m - L mean_m)^2 / Sxx) (Campbell, Lo and MacKinlay 1997);
- market-adjusted: R - R_m, L s^2 with s^2 the variance of R - R_m over the estimation days;
- constant mean: R - mean R, s^2 (L + L^2 / n) with s^2 the variance of R over the estimation days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MARKET_MODEL, MARKET_ADJUSTED, CONSTANT_MEAN = "market model", "market-adjusted", "constant mean"
KINDS = (MARKET_MODEL, MARKET_ADJUSTED, CONSTANT_MEAN)


def _window_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sums of `values` (T x S) over rows lo[t]..hi[t]-1 for every t (rows outside give 0)."""
    c = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    return c[np.clip(hi, 0, len(values))] - c[np.clip(lo, 0, len(values))]


@dataclass(frozen=True)
class Models:
    """Per day 0 (rows) and subject (columns): the estimation window, its sums and the fitted market model."""

    days: pd.DatetimeIndex
    subjects: list[str]
    y: np.ndarray  # T x S returns (NaN: not traded)
    x: np.ndarray  # T market returns
    use: np.ndarray  # T x S: the day may enter an estimation window (traded, not an event session)
    start: np.ndarray  # T: first position of day t's estimation window (may be < 0: runs before the prices)
    stop: np.ndarray  # T: one past its last position
    n: np.ndarray  # T x S usable estimation days
    alpha: np.ndarray
    beta: np.ndarray
    sigma2: np.ndarray  # market-model residual variance (ddof 2)
    mean_x: np.ndarray
    sxx: np.ndarray
    mean_y: np.ndarray
    var_y: np.ndarray  # variance of R (ddof 1): the constant-mean model's
    var_adj: np.ndarray  # variance of R - R_m (ddof 1): the market-adjusted model's
    valid: np.ndarray  # T x S: a model that may be used (window inside the prices, enough days)
    reason: np.ndarray  # T x S: why not, "" when valid

    def window_car(self, window: tuple[int, int], kind: str = MARKET_MODEL) -> tuple[np.ndarray, np.ndarray]:
        """CAR and its standard error (T x S) of every day 0 over `window`, NaN where the window leaves the
        prices, a return is missing in it, or the model is not valid."""
        t_count, length = len(self.days), window[1] - window[0] + 1
        pos = np.arange(t_count)
        lo, hi = pos + window[0], pos + window[1] + 1
        inside = (lo >= 0) & (hi <= t_count)
        missing = _window_sums(np.isnan(self.y).astype(float), lo, hi)
        sum_y = _window_sums(np.nan_to_num(self.y), lo, hi)
        sum_x = _window_sums(self.x[:, None], lo, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == MARKET_MODEL:
                car = sum_y - length * self.alpha - self.beta * sum_x
                var = self.sigma2 * (length + length**2 / self.n + (sum_x - length * self.mean_x) ** 2 / self.sxx)
            elif kind == MARKET_ADJUSTED:
                car, var = sum_y - sum_x, length * self.var_adj
            elif kind == CONSTANT_MEAN:
                car, var = sum_y - length * self.mean_y, self.var_y * (length + length**2 / self.n)
            else:
                raise ValueError(f"abnormal-return model {kind!r}: one of {KINDS}")
            ok = inside[:, None] & (missing == 0) & self.valid
            return np.where(ok, car, np.nan), np.where(ok, np.sqrt(np.where(ok, var, np.nan)), np.nan)

    def abnormal(self, t: int, s: int, positions: np.ndarray) -> np.ndarray:
        """Market-model abnormal returns of subject s on `positions` with day t's model."""
        return self.y[positions, s] - self.alpha[t, s] - self.beta[t, s] * self.x[positions]

    def estimation_ar(self, t: int, s: int) -> np.ndarray:
        """Day t's estimation residuals of subject s, one per estimation-window position (NaN: not used)."""
        positions = np.arange(self.start[t], self.stop[t])
        out = np.full(len(positions), np.nan)
        inside = positions >= 0
        keep = np.zeros(len(positions), bool)
        keep[inside] = self.use[positions[inside], s]
        out[keep] = self.abnormal(t, s, positions[keep])
        return out

    def daily_ar(self) -> pd.DataFrame:
        """Each day's market-model abnormal return with the model whose day 0 it is (NaN where not valid)."""
        ar = self.y - self.alpha - self.beta * self.x[:, None]
        return pd.DataFrame(np.where(self.valid, ar, np.nan), index=self.days, columns=self.subjects)


def _fit(days: pd.DatetimeIndex, returns: pd.DataFrame, market: pd.Series, use: np.ndarray, start: np.ndarray,
         stop: np.ndarray, min_days: int, label: str) -> Models:
    y, x = returns.to_numpy(float), market.to_numpy(float)
    w = use.astype(float)
    xx = np.broadcast_to(x[:, None], y.shape)
    yz, xz = np.where(use, y, 0.0), np.where(use, xx, 0.0)
    n, sx, sy = (_window_sums(v, start, stop) for v in (w, xz, yz))
    sxx_raw, sxy_raw, syy_raw = (_window_sums(v, start, stop) for v in (xz * xz, xz * yz, yz * yz))
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        sxx, sxy, syy = sxx_raw - n * mx * mx, sxy_raw - n * mx * my, syy_raw - n * my * my
        beta = sxy / sxx
        alpha = my - beta * mx
        sigma2 = (syy - beta * sxy) / (n - 2)
        var_y = syy / (n - 1)
        var_adj = (syy - 2 * sxy + sxx) / (n - 1)
    before = (start < 0)[:, None] & np.ones(y.shape, bool)
    short = ~before & (n < min_days)
    reason = np.full(y.shape, "", dtype=object)
    reason[before] = f"estimation window {label} starts before the prices ({days[0].date()})"
    counts = n[short].astype(int)
    reason[short] = [f"estimation window {label} has {k} usable sessions, fewer than {min_days}" for k in counts]
    valid = ~before & ~short & (sxx > 0)
    return Models(days, list(returns.columns), y, x, use, start, stop, n, alpha, beta, sigma2, mx, sxx, my, var_y,
                  var_adj, valid, reason)


def rolling(returns: pd.DataFrame, market: pd.Series, event_sessions: pd.DatetimeIndex,
            window: tuple[int, int] = (-130, -11), min_days: int = 100) -> Models:
    """A model per subject and day 0 on the sessions window[0]..window[1] around it, event sessions and days
    not traded left out; fewer than `min_days` usable days, or a window before the prices, is not valid."""
    if window[1] >= 0 or window[0] > window[1]:
        raise ValueError(f"estimation window {window} must end before day 0")
    days = returns.index
    use = returns.notna().to_numpy() & ~days.isin(event_sessions)[:, None] & market.notna().to_numpy()[:, None]
    pos = np.arange(len(days))
    label = f"[{window[0]:+d},{window[1]:+d}]"
    return _fit(days, returns, market, use, pos + window[0], pos + window[1] + 1, min_days, label)


def fixed(returns: pd.DataFrame, market: pd.Series, estimation: pd.DatetimeIndex, min_days: int = 30) -> Models:
    """One model per subject on the days `estimation` (a subset of returns' days), used for every day 0."""
    days = returns.index
    chosen = days.isin(estimation)
    use = returns.notna().to_numpy() & chosen[:, None] & market.notna().to_numpy()[:, None]
    where = np.flatnonzero(chosen)
    start = np.full(len(days), where[0])
    stop = np.full(len(days), where[-1] + 1)
    label = f"{days[where[0]].date()}..{days[where[-1]].date()}"
    return _fit(days, returns, market, use, start, stop, min_days, label)
