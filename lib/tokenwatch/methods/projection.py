"""Growth models for tokens per day, with scenarios, Monte Carlo intervals and an honest backtest.

Models work in log space on t = years since the series' first observation:

- exponential: log y = a + b t, statsmodels OLS with HC1 (robust) errors; a scenario may decay the
  growth rate after the last disclosure and add B-end growth from a date;
- logistic: log y = log K - log(1 + exp(-r (t - m)));
- gompertz: log y = log K - b exp(-c t);
  both fitted by non-linear least squares (scipy), the ceiling K fitted or set by a scenario.

Prediction intervals: 10,000 draws of the parameters from their estimated covariance, plus a draw of
the log residual (sd from the fit), evaluated on the whole date grid at once. A disclosure's date is
the middle of the period it describes; its value the middle of its per-day range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.optimize import curve_fit

from tokenwatch.curated import read_curated, with_numbers
from tokenwatch.errors import (
    DataValidationError,
    FitError,
    ParameterError,
)
from tokenwatch.paths import data_dir
from tokenwatch.tokens import as_of, tokens_only
from tokenwatch.tokens.periods import central

MODELS = ("exponential", "logistic", "gompertz")
QUANTILES = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90}
PROJECTION_COLUMNS = ["series", "model", "scenario", "date", *QUANTILES]
BACKTEST_COLUMNS = ["series", "model", "cutoff", "target_date", "actual", "p50", "log_error", "in_50", "in_80"]
DAYS_PER_YEAR = 365.25
CEILING_BASES = ("fitted", "level_at_cutoff", "per_capita")




def observations(ledger: pd.DataFrame, series: str) -> pd.DataFrame:
    """A series' token disclosures: date (period middle), tokens per day, its range and when it was public."""
    counts = tokens_only(ledger)
    rows = counts[counts["series"] == series]
    known = sorted(counts["series"].unique())
    if rows.empty:
        raise ParameterError(f"series {series!r} has no token disclosures here; series: {known}")
    out = pd.DataFrame({"id": rows["id"].to_numpy(), "date": rows["midpoint"].dt.normalize().to_numpy(),
                        "tokens_per_day": central(rows["per_day_low"], rows["per_day_high"]).to_numpy(),
                        "low": rows["per_day_low"].to_numpy(), "high": rows["per_day_high"].to_numpy(),
                        "public_from": rows["public_from"].to_numpy()})
    return out.sort_values("date").reset_index(drop=True)


def load_scenarios(path: str | PathLike | None = None) -> pd.DataFrame:
    """data/token_scenarios.csv, checked row by row."""
    path = Path(path) if path else data_dir() / "token_scenarios.csv"
    numbers = ["ceiling_multiple", "population", "growth_decay_per_year", "b_end_extra_growth"]
    table = with_numbers(read_curated(path, ["scenario", "ceiling_basis", "b_end_start", *numbers], "scenarios"),
                         numbers, path)
    for line, row in enumerate(table.to_dict("records"), start=2):
        basis = row["ceiling_basis"]
        if basis not in CEILING_BASES and not basis.startswith("series:"):
            raise DataValidationError(f"{path}, line {line}: ceiling_basis {basis!r} should be one of "
                                      f"{list(CEILING_BASES)} or 'series:<ledger series>'")
        if basis != "fitted" and not row["ceiling_multiple"] > 0:
            raise DataValidationError(f"{path}, line {line}: ceiling_multiple must be positive for {basis}")
        if basis == "per_capita" and not row["population"] > 0:
            raise DataValidationError(f"{path}, line {line}: per_capita needs a population")
        if not 0 <= float(row["growth_decay_per_year"]) < 1:
            raise DataValidationError(f"{path}, line {line}: growth_decay_per_year must be in [0, 1)")
    return table.set_index("scenario", drop=False)


def ceiling(scenario: pd.Series, obs: pd.DataFrame, ledger: pd.DataFrame) -> float | None:
    """The scenario's ceiling in tokens per day (None: fitted). `ledger` is what was public at the fit."""
    basis = scenario["ceiling_basis"]
    if basis == "fitted":
        return None
    if basis == "level_at_cutoff":
        reference = obs["tokens_per_day"].iloc[-1]
    elif basis == "per_capita":
        reference = float(scenario["population"])
    else:
        ref = observations(ledger, basis.split(":", 1)[1])
        reference = ref["tokens_per_day"].iloc[-1]
    return float(scenario["ceiling_multiple"]) * reference


def _years(dates: pd.DatetimeIndex | pd.Series, origin: pd.Timestamp) -> np.ndarray:
    return ((pd.DatetimeIndex(dates) - origin).days / DAYS_PER_YEAR).to_numpy(dtype=float)


def _logistic(t, log_k, r, m):
    return log_k - np.logaddexp(0.0, -r * (t - m))


def _gompertz(t, log_k, b, c):
    return log_k - b * np.exp(-c * t)


@dataclass
class Fit:
    """A fitted model: parameters, their covariance, the residual sd (log) and the scenario applied."""

    model: str
    scenario: str
    params: np.ndarray
    cov: np.ndarray
    sigma: float
    origin: pd.Timestamp
    last_t: float
    log_ceiling: float | None  # fixed by the scenario
    decay: float
    b_end_t: float | None
    b_end_growth: float
    n: int

    def _log_curve(self, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
        """log tokens per day for parameter draws `theta` (k x p) on times `t` (g,): a (k x g) array."""
        t = t[None, :]
        if self.model == "exponential":
            a, b = theta[:, :1], theta[:, 1:2]
            tau = np.clip(t - self.last_t, 0.0, None)
            if self.decay > 0:
                lam = -np.log1p(-self.decay)
                ahead = (1 - np.exp(-lam * tau)) / lam
            else:
                ahead = tau
            out = a + b * (np.minimum(t, self.last_t) + ahead)
            if self.b_end_t is not None and self.b_end_growth:
                out = out + self.b_end_growth * np.clip(t - max(self.b_end_t, self.last_t), 0.0, None)
            return out
        params = theta if self.log_ceiling is None else np.column_stack(
            [np.full(len(theta), self.log_ceiling), theta])
        f = _logistic if self.model == "logistic" else _gompertz
        return f(t, params[:, :1], params[:, 1:2], params[:, 2:3])

    def median_curve(self, dates) -> np.ndarray:
        return np.exp(self._log_curve(self.params[None, :], _years(dates, self.origin))[0])

    def quantiles(self, dates, paths: int = 10_000, seed: int = 0) -> pd.DataFrame:
        """Quantiles of tokens per day on `dates` from `paths` Monte Carlo draws."""
        rng = np.random.default_rng(seed)
        theta = rng.multivariate_normal(self.params, self.cov, size=paths, method="eigh")
        t = _years(dates, self.origin)
        logy = self._log_curve(theta, t) + rng.normal(0.0, self.sigma, size=(paths, 1))
        q = np.exp(np.quantile(logy, list(QUANTILES.values()), axis=0))
        return pd.DataFrame(q.T, columns=list(QUANTILES), index=pd.DatetimeIndex(dates))


def min_points(model: str, fixed_ceiling: bool) -> int:
    """Parameters plus one degree of freedom for the residual variance."""
    return (2 if model == "exponential" or fixed_ceiling else 3) + 1


def fit(obs: pd.DataFrame, model: str, scenario: pd.Series, ledger: pd.DataFrame) -> Fit:
    """Fit `model` under `scenario` to observations (date, tokens_per_day)."""
    if model not in MODELS:
        raise ParameterError(f"model {model!r} is not one of {list(MODELS)}")
    cap = ceiling(scenario, obs, ledger) if model != "exponential" else None
    need = min_points(model, cap is not None)
    if len(obs) < need:
        raise FitError(f"{model} needs at least {need} disclosures, the series has {len(obs)}")
    origin = obs["date"].iloc[0]
    t = _years(obs["date"], origin)
    y = np.log(obs["tokens_per_day"].to_numpy())
    b_end = scenario["b_end_start"]
    common = {"model": model, "scenario": scenario["scenario"], "origin": origin, "last_t": float(t[-1]),
              "decay": float(scenario["growth_decay_per_year"]) if model == "exponential" else 0.0,
              "b_end_t": float(_years([pd.Timestamp(b_end)], origin)[0]) if b_end and model == "exponential"
              else None, "b_end_growth": float(scenario["b_end_extra_growth"] or 0), "n": len(obs)}
    if model == "exponential":
        res = sm.OLS(y, sm.add_constant(t)).fit(cov_type="HC1")
        return Fit(params=np.asarray(res.params), cov=np.asarray(res.cov_params()),
                   sigma=float(np.sqrt(res.ssr / (len(y) - 2))), log_ceiling=None, **common)
    if cap is not None and cap <= obs["tokens_per_day"].max():
        raise FitError(f"scenario {scenario['scenario']}: ceiling {cap:.3g} is not above the highest "
                       f"disclosure {obs['tokens_per_day'].max():.3g}")
    log_cap = np.log(cap) if cap is not None else None
    f = _logistic if model == "logistic" else _gompertz
    span = max(t[-1], 0.25)
    if model == "logistic":
        p0 = [y.max() + np.log(3.0), 4.0 / span, t[-1]]
        bounds = ([y.max(), 1e-3, -20.0], [y.max() + 15.0, 50.0, 50.0])
    else:
        p0 = [y.max() + np.log(3.0), y.max() + np.log(3.0) - y[0], 1.0 / span]
        bounds = ([y.max(), 1e-6, 1e-4], [y.max() + 15.0, 50.0, 20.0])
    if log_cap is not None:
        func: Callable[..., Any] = lambda tt, p1, p2: f(tt, log_cap, p1, p2)  # noqa: E731
        p0, bounds = p0[1:], (bounds[0][1:], bounds[1][1:])
    else:
        func = f
    try:
        params, cov = curve_fit(func, t, y, p0=p0, bounds=bounds, maxfev=20_000)
    except (RuntimeError, ValueError) as exc:
        raise FitError(f"{model} under {scenario['scenario']} did not converge: {exc}") from None
    resid = y - func(t, *params)
    dof = len(y) - len(params)
    sigma = float(np.sqrt((resid**2).sum() / dof))
    if not np.all(np.isfinite(cov)):
        raise FitError(f"{model} under {scenario['scenario']}: parameter uncertainty cannot be estimated from "
                       f"{len(y)} points (give it a ceiling with a scenario)")
    return Fit(params=np.asarray(params), cov=np.asarray(cov), sigma=sigma, log_ceiling=log_cap, **common)


def month_grid(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Month ends from start to end, with both ends included."""
    grid = pd.date_range(start, end, freq="ME")
    return pd.DatetimeIndex(sorted({start.normalize(), *grid, end.normalize()}))


@dataclass
class Fitted:
    """Every model fitted under every scenario on what was public at one date, and what could not be."""

    fits: dict[tuple[str, str], Fit]
    skipped: pd.DataFrame  # model, scenario, reason
    observations: pd.DataFrame  # the disclosures the fits used


@dataclass
class Projection(Fitted):
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # PROJECTION_COLUMNS


def fit_all(ledger: pd.DataFrame, series: str, models: list[str], scenarios: pd.DataFrame,
            fit_as_of: pd.Timestamp) -> Fitted:
    """Fit every model under every scenario on the disclosures public at `fit_as_of` (nothing later)."""
    public = as_of(ledger, fit_as_of)
    obs = observations(public, series)
    fits, skipped = {}, []
    for model in models:
        for name, scenario in scenarios.iterrows():
            try:
                fits[(model, name)] = fit(obs, model, scenario, public)
            except FitError as exc:
                skipped.append({"model": model, "scenario": name, "reason": str(exc)})
    if not fits:
        reasons = "; ".join(sorted({s["reason"] for s in skipped}))
        raise ParameterError(f"no model could be fitted to {series} as of {fit_as_of.date()}: {reasons}")
    return Fitted(fits, pd.DataFrame(skipped, columns=["model", "scenario", "reason"]), obs)


def project(ledger: pd.DataFrame, series: str, models: list[str], scenarios: pd.DataFrame, fit_as_of: pd.Timestamp,
            horizon: pd.Timestamp, paths: int = 10_000) -> Projection:
    """Fit every model under every scenario on what was public at `fit_as_of`; quantiles up to `horizon`."""
    fitted = fit_all(ledger, series, models, scenarios, fit_as_of)
    obs = fitted.observations
    if horizon <= obs["date"].iloc[-1]:
        raise ParameterError(f"horizon {horizon.date()} is not after the last disclosure used "
                             f"({obs['date'].iloc[-1].date()}); pick a later horizon")
    grid = month_grid(obs["date"].iloc[0], horizon)
    rows = [f.quantiles(grid, paths).rename_axis("date").reset_index().assign(series=series, model=model,
                                                                              scenario=name)
            for (model, name), f in fitted.fits.items()]
    table = pd.concat(rows, ignore_index=True)[PROJECTION_COLUMNS]
    return Projection(fitted.fits, fitted.skipped, obs, table)


def check_cutoff(ledger: pd.DataFrame, series: str, cutoff: pd.Timestamp) -> None:
    """A clear error when nothing of `series` was public at `cutoff`."""
    obs = observations(ledger, series)
    first = obs["public_from"].min()
    if cutoff < first:
        raise ParameterError(f"cutoff {cutoff.date()} is before the first disclosure of {series} "
                             f"(public {pd.Timestamp(first).date()}); choose a later cutoff, or '' to skip the "
                             "backtest")


def backtest(ledger: pd.DataFrame, series: str, models: list[str], scenarios: pd.DataFrame, cutoff: pd.Timestamp,
             paths: int = 10_000) -> tuple[pd.DataFrame, Fitted]:
    """Fit on what was public at `cutoff` (`fit_all`); score each disclosure made public after it."""
    check_cutoff(ledger, series, cutoff)
    later = observations(ledger, series)
    later = later[later["public_from"] > cutoff]
    if later.empty:
        raise ParameterError(f"no disclosure of {series} became public after {cutoff.date()}: nothing to score")
    fitted = fit_all(ledger, series, models, scenarios, cutoff)
    rows = []
    for (model, name), f in fitted.fits.items():
        q = f.quantiles(pd.DatetimeIndex(later["date"]), paths)
        for target, actual, (_, qq) in zip(later["date"], later["tokens_per_day"], q.iterrows(), strict=True):
            rows.append({"series": series, "model": model, "cutoff": cutoff.date(), "target_date": target.date(),
                         "actual": actual, "p50": qq["p50"], "log_error": float(np.log(actual / qq["p50"])),
                         "in_50": bool(qq["p25"] <= actual <= qq["p75"]),
                         "in_80": bool(qq["p10"] <= actual <= qq["p90"]), "scenario": name})
    return pd.DataFrame(rows, columns=[*BACKTEST_COLUMNS, "scenario"]), fitted


def scores(bt: pd.DataFrame) -> pd.DataFrame:
    """Out-of-sample score per model and scenario: mean absolute log error and coverage; best first."""
    g = bt.groupby(["model", "scenario"])
    out = pd.DataFrame({"targets": g.size(), "mean_abs_log_error": g["log_error"].apply(lambda s: s.abs().mean()),
                        "bias_log": g["log_error"].mean(), "coverage_50": g["in_50"].mean(),
                        "coverage_80": g["in_80"].mean()}).reset_index()
    return out.sort_values(["mean_abs_log_error", "coverage_80"], ascending=[True, False]).reset_index(drop=True)


def reach_dates(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """First grid date on which p10, p50 and p90 reach `level`, per model and scenario (NaT: not by the horizon)."""
    rows = []
    for (model, scenario), part in table.groupby(["model", "scenario"], sort=False):
        row = {"model": model, "scenario": scenario, "level": level}
        for q in ("p90", "p50", "p10"):
            hit = part.loc[part[q] >= level, "date"]
            row[f"date_{q}"] = hit.iloc[0] if len(hit) else pd.NaT
        rows.append(row)
    return pd.DataFrame(rows)
