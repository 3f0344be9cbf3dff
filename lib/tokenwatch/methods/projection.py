"""Growth models for tokens per day: fits, scenarios, and predictive draws anchored on the latest disclosure.

Models work in log space on t = years since the series' first observation:

- exponential: log y = a + b t by OLS; a scenario may decay the growth rate after the last disclosure and
  add B-end growth from a date;
- logistic: log y = log K - log(1 + exp(-r (t - m)));
- gompertz: log y = log K - b exp(-c t);
  both by bounded non-linear least squares (scipy), the ceiling K fitted or set by a scenario.

Predictive draws respect small samples: with nu = n - p residual degrees of freedom, one chi-square draw per
path scales both the parameter draw and the residual draw (Student-t(nu), the flat-prior posterior of a
linear model); the S-curves use the same construction on their linearised covariance, clipped to the fit's
bounds. The residual draw grows from zero at the anchor to its full size one typical disclosure gap later.

Paths are anchored: a draw starts from the latest disclosure and takes its growth from the model. The
exponential adds the model's log growth since the anchor; an S-curve continues from the point where its curve
equals the anchor (a shift in time), so it never crosses its ceiling. A disclosure's date is the middle of the
period it describes; its value the middle of its per-day range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from tokenwatch.curated import read_curated, with_numbers
from tokenwatch.errors import DataValidationError, FitError, ParameterError
from tokenwatch.paths import data_dir
from tokenwatch.tokens.periods import central

MODELS = ("exponential", "logistic", "gompertz")
QUANTILES = {"p05": 0.05, "p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90, "p95": 0.95}
INTERVALS = {0.5: ("p25", "p75"), 0.8: ("p10", "p90"), 0.9: ("p05", "p95")}  # central interval: its quantiles
DAYS_PER_YEAR = 365.25
CEILING_BASES = ("fitted", "level_at_cutoff", "per_capita")
SCENARIO_JOIN = "|"  # scenarios that give one identical fit share a row: "room_30x|per_capita_100k"
BOUND_TOLERANCE = 1e-4


OBSERVATION_SOURCE = ["id", "series", "measure", "restates", "midpoint", "per_day_low", "per_day_high", "public_from"]


def _token_rows(ledger: pd.DataFrame) -> pd.DataFrame:
    """The ledger's token counts (restatements left out), only the columns observations need."""
    slim = ledger[OBSERVATION_SOURCE]
    return slim[(slim["measure"] == "tokens") & (slim["restates"] == "")]


def _as_observations(rows: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"id": rows["id"].to_numpy(), "date": rows["midpoint"].dt.normalize().to_numpy(),
                        "tokens_per_day": central(rows["per_day_low"], rows["per_day_high"]).to_numpy(),
                        "low": rows["per_day_low"].to_numpy(), "high": rows["per_day_high"].to_numpy(),
                        "public_from": rows["public_from"].to_numpy()})
    return out.sort_values(["date", "public_from"]).reset_index(drop=True)


def observations(ledger: pd.DataFrame, series: str) -> pd.DataFrame:
    """A series' token disclosures: date (period middle), tokens per day, its range and when it was public."""
    counts = _token_rows(ledger)
    rows = counts[counts["series"] == series]
    if rows.empty:
        raise ParameterError(f"series {series!r} has no token disclosures here; series: "
                             f"{sorted(counts['series'].unique())}")
    return _as_observations(rows)


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
        if SCENARIO_JOIN in row["scenario"]:
            raise DataValidationError(f"{path}, line {line}: a scenario name may not contain {SCENARIO_JOIN!r}")
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
        other = basis.split(":", 1)[1]
        try:
            reference = observations(ledger, other)["tokens_per_day"].iloc[-1]
        except ParameterError:
            raise FitError(f"scenario {scenario['scenario']} needs series {other}, which had no disclosure public "
                           "at the fit date") from None
    return float(scenario["ceiling_multiple"]) * reference


def years(dates: pd.DatetimeIndex | pd.Series | list, origin: pd.Timestamp) -> np.ndarray:
    """Years from `origin` to each date."""
    return ((pd.DatetimeIndex(dates) - origin).days / DAYS_PER_YEAR).to_numpy(dtype=float)


def _logistic(t, log_k, r, m):
    return log_k - np.logaddexp(0.0, -r * (t - m))


def _gompertz(t, log_k, b, c):
    return log_k - b * np.exp(-c * t)


@dataclass
class Fit:
    """A fitted model: parameters, covariance, residual sd and dof (log), its bounds, anchor and scenario."""

    model: str
    scenario: str  # every scenario name that gives this fit, joined by SCENARIO_JOIN
    params: np.ndarray
    cov: np.ndarray
    sigma: float
    dof: int
    lower: np.ndarray
    upper: np.ndarray
    origin: pd.Timestamp
    anchor_t: float  # years from origin to the latest disclosure
    log_anchor: float  # log tokens per day of the latest disclosure (the middle of its range)
    anchor_halfwidth: float  # half its stated range in log: paths start anywhere within it
    anchor_id: str
    log_ceiling: float | None  # fixed by the scenario
    decay: float
    b_end_t: float | None
    b_end_growth: float
    n: int
    at_bound: str = ""  # which parameter sits on its bound ('' for none): its interval is not valid there

    @property
    def log_cap(self) -> float:
        """The scenario's fixed log ceiling, which no draw may cross (inf when the ceiling is fitted or none)."""
        return self.log_ceiling if self.log_ceiling is not None else np.inf

    @property
    def key(self) -> tuple:
        """What makes two fits of one series identical, whatever their scenarios are called."""
        return (self.model, self.log_ceiling, self.decay, self.b_end_t, self.b_end_growth)

    def log_curve(self, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The fitted (unanchored) log curve for parameter draws `theta` (k x p) on times `t` (g,): (k x g)."""
        t = t[None, :]
        if self.model == "exponential":
            return theta[:, :1] + theta[:, 1:2] * self._exp_time(t)
        params = self._full(theta)
        f = _logistic if self.model == "logistic" else _gompertz
        return f(t, params[:, :1], params[:, 1:2], params[:, 2:3])

    def _full(self, theta: np.ndarray) -> np.ndarray:
        if self.log_ceiling is None:
            return theta
        return np.column_stack([np.full(len(theta), self.log_ceiling), theta])

    def _exp_time(self, t: np.ndarray) -> np.ndarray:
        """Growth-weighted time: after the last disclosure the rate decays by `decay` a year."""
        tau = np.clip(t - self.anchor_t, 0.0, None)
        ahead = tau if self.decay == 0 else -np.expm1(np.log1p(-self.decay) * tau) / -np.log1p(-self.decay)
        return np.minimum(t, self.anchor_t) + ahead

    def anchored(self, theta: np.ndarray, t: np.ndarray, v: np.ndarray | float | None = None) -> np.ndarray:
        """Log paths (k x g) that pass through the latest disclosure (log level `v`, default its middle) and
        grow as each draw's model does."""
        tt = t[None, :]
        v = self.log_anchor if v is None else v
        if self.model == "exponential":
            growth = theta[:, 1:2] * (self._exp_time(tt) - self.anchor_t)
            out = v + growth
            if self.b_end_t is not None and self.b_end_growth:
                out = out + self.b_end_growth * np.clip(tt - max(self.b_end_t, self.anchor_t), 0.0, None)
            return out
        params = self._full(theta)
        log_k = params[:, :1]
        gap = np.clip(log_k - v, 0.0, None)  # how far the anchor is below the ceiling (K >= anchor by the bounds)
        if self.model == "logistic":
            return log_k - np.log1p(np.expm1(gap) * np.exp(-params[:, 1:2] * (tt - self.anchor_t)))
        return log_k - gap * np.exp(-params[:, 2:3] * (tt - self.anchor_t))

    def median_path(self, dates) -> np.ndarray:
        """The anchored path at the point estimate, tokens per day."""
        return np.exp(self.anchored(self.params[None, :], years(dates, self.origin))[0])

    def log_draws(self, dates, k: int, rng: np.random.Generator) -> np.ndarray:
        """`k` predictive log paths on `dates` (k x g): Student-t parameter and residual draws, anchored."""
        t = years(dates, self.origin)
        if self.dof < 1:
            return np.repeat(self.anchored(self.params[None, :], t), k, axis=0)
        p = len(self.params)
        vals, vecs = np.linalg.eigh(self.cov)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        scale = np.sqrt(self.dof / rng.chisquare(self.dof, size=(k, 1)))  # one per path: a t draw
        theta = self.params + scale * (rng.standard_normal((k, p)) @ root.T)
        theta = np.clip(theta, self.lower, self.upper)
        # a disclosure strays from the curve as the fitted ones did, from nothing at the anchor to the full
        # residual spread one typical gap between disclosures later
        gap = self.anchor_t / max(self.n - 1, 1)
        ramp = np.sqrt(np.clip((t - self.anchor_t) / gap, 0.0, 1.0)) if gap > 0 else np.ones_like(t)
        noise = scale * self.sigma * rng.standard_normal((k, 1)) * ramp[None, :]
        start = self.log_anchor + self.anchor_halfwidth * rng.uniform(-1.0, 1.0, size=(k, 1))
        return np.minimum(self.anchored(theta, t, start) + noise, self.log_cap)


def min_points(model: str, fixed_ceiling: bool) -> int:
    """Parameters plus one degree of freedom for the residual variance."""
    return (2 if model == "exponential" or fixed_ceiling else 3) + 1


def _at_bound(params: np.ndarray, lower: np.ndarray, upper: np.ndarray, names: list[str]) -> str:
    width = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
    hits = [f"{name} at its {'lower' if abs(v - lo) <= BOUND_TOLERANCE * w else 'upper'} bound"
            for name, v, lo, hi, w in zip(names, params, lower, upper, width, strict=True)
            if abs(v - lo) <= BOUND_TOLERANCE * w or abs(hi - v) <= BOUND_TOLERANCE * w]
    return "; ".join(hits)


def fit(obs: pd.DataFrame, model: str, scenario: pd.Series, ledger: pd.DataFrame) -> Fit:
    """Fit `model` under `scenario` to observations (date, tokens_per_day)."""
    if model not in MODELS:
        raise ParameterError(f"model {model!r} is not one of {list(MODELS)}")
    cap = ceiling(scenario, obs, ledger) if model != "exponential" else None
    need = min_points(model, cap is not None)
    if len(obs) < need:
        raise FitError(f"{model} needs at least {need} disclosures, the series has {len(obs)}")
    origin = obs["date"].iloc[0]
    t = years(obs["date"], origin)
    y = np.log(obs["tokens_per_day"].to_numpy())
    b_end = scenario["b_end_start"]
    common: dict[str, Any] = {
        "model": model, "scenario": scenario["scenario"], "origin": origin, "anchor_t": float(t[-1]),
        "log_anchor": float(y[-1]), "anchor_halfwidth": float(np.log(obs["high"].iloc[-1] / obs["low"].iloc[-1]) / 2),
        "anchor_id": str(obs["id"].iloc[-1]), "n": len(obs),
        "decay": float(scenario["growth_decay_per_year"]) if model == "exponential" else 0.0,
        "b_end_t": float(years([pd.Timestamp(b_end)], origin)[0]) if b_end and model == "exponential" else None,
        "b_end_growth": float(scenario["b_end_extra_growth"] or 0) if model == "exponential" else 0.0}
    if model == "exponential":
        x = np.column_stack([np.ones_like(t), t])
        params, *_ = np.linalg.lstsq(x, y, rcond=None)
        dof = len(y) - 2
        sigma = float(np.sqrt(((y - x @ params) ** 2).sum() / dof))
        cov = sigma**2 * np.linalg.inv(x.T @ x)
        inf = np.full(2, np.inf)
        return Fit(params=params, cov=cov, sigma=sigma, dof=dof, lower=-inf, upper=inf, log_ceiling=None, **common)
    if cap is not None and cap <= obs["tokens_per_day"].max():
        raise FitError(f"scenario {scenario['scenario']}: ceiling {cap:.3g} is not above the highest "
                       f"disclosure {obs['tokens_per_day'].max():.3g}")
    log_cap = float(np.log(cap)) if cap is not None else None
    f = _logistic if model == "logistic" else _gompertz
    span = max(t[-1], 0.25)
    if model == "logistic":
        p0 = [y.max() + np.log(3.0), 4.0 / span, t[-1]]
        bounds = ([y.max(), 1e-3, -20.0], [y.max() + 15.0, 50.0, 50.0])
        names = ["log_ceiling", "rate", "midpoint"]
    else:
        p0 = [y.max() + np.log(3.0), y.max() + np.log(3.0) - y[0], 1.0 / span]
        bounds = ([y.max(), 1e-6, 1e-4], [y.max() + 15.0, 50.0, 20.0])
        names = ["log_ceiling", "displacement", "rate"]
    if log_cap is not None:
        func: Callable[..., Any] = lambda tt, p1, p2: f(tt, log_cap, p1, p2)  # noqa: E731
        p0, bounds, names = p0[1:], (bounds[0][1:], bounds[1][1:]), names[1:]
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
    lower, upper = np.asarray(bounds[0], dtype=float), np.asarray(bounds[1], dtype=float)
    return Fit(params=np.asarray(params), cov=np.asarray(cov), sigma=sigma, dof=dof, lower=lower, upper=upper,
               log_ceiling=log_cap, at_bound=_at_bound(np.asarray(params), lower, upper, names), **common)


def fit_specs(obs: pd.DataFrame, models: list[str], scenarios: pd.DataFrame,
              ledger: pd.DataFrame) -> tuple[list[Fit], pd.DataFrame]:
    """Every model under every scenario, identical fits merged under all their names; and what was skipped."""
    merged: dict[tuple, Fit] = {}
    skipped = []
    for model in models:
        for name, scenario in scenarios.iterrows():
            try:
                f = fit(obs, model, scenario, ledger)
            except FitError as exc:
                skipped.append({"model": model, "scenario": name, "reason": str(exc)})
                continue
            if f.key in merged:
                merged[f.key].scenario += SCENARIO_JOIN + str(name)
            else:
                merged[f.key] = f
    return list(merged.values()), pd.DataFrame(skipped, columns=["model", "scenario", "reason"])


def month_grid(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Month ends from start to end, with both ends included."""
    grid = pd.date_range(start, end, freq="ME")
    return pd.DatetimeIndex(sorted({start.normalize(), *grid, end.normalize()}))


def quantile_table(log_paths: np.ndarray, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Quantiles (tokens per day) of log paths (k x g) on `dates`."""
    q = np.exp(np.quantile(log_paths, list(QUANTILES.values()), axis=0))
    return pd.DataFrame(q.T, columns=list(QUANTILES)).assign(date=dates)


def reach_dates(table: pd.DataFrame, level: float | pd.Series, label: str) -> pd.DataFrame:
    """First grid date on which p90, p50 and p10 reach `level` (a number, or a level per date) per model and
    scenario: for paths that rise with time these are the 10th, 50th and 90th percentiles of the date."""
    rows = []
    for (model, scenario), part in table.groupby(["model", "scenario"], sort=False):
        target = level if np.isscalar(level) else part["date"].map(level)
        row = {"target": label, "model": model, "scenario": scenario}
        for q, name in (("p90", "date_q10"), ("p50", "date_q50"), ("p10", "date_q90")):
            hit = part.loc[(part[q] >= target).to_numpy(), "date"]
            row[name] = hit.iloc[0] if len(hit) else pd.NaT
        rows.append(row)
    return pd.DataFrame(rows, columns=["target", "model", "scenario", "date_q10", "date_q50", "date_q90"])


# ----- growth members for the pooled backtest and the headline

PRIOR_MAX_AGE_YEARS = 1.0  # another series' latest growth counts in the prior only if this recent


def _by_date(obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Years from the first point and log tokens per day (observations come sorted by date)."""
    d = obs["date"].to_numpy()
    return (d - d[0]) / np.timedelta64(1, "D") / DAYS_PER_YEAR, np.log(obs["tokens_per_day"].to_numpy(float))


def naive_growth(obs: pd.DataFrame) -> float:
    """Log growth a year through the last two points by date (NaN with fewer than two or no time between)."""
    if len(obs) < 2:
        return float("nan")
    t, y = _by_date(obs)
    dt = t[-1] - t[-2]
    return float((y[-1] - y[-2]) / dt) if dt > 0 else float("nan")


def trend_growth(obs: pd.DataFrame) -> float:
    """The log-linear OLS slope on every point (NaN with fewer than three: it would be the naive)."""
    if len(obs) < 3:
        return float("nan")
    t, y = _by_date(obs)
    return float(np.polyfit(t, y, 1)[0]) if np.ptp(t) > 0 else float("nan")


def damped_time(h: np.ndarray, rate: float) -> np.ndarray:
    """Growth-weighted years ahead when growth fades at `rate` a year: (1 - exp(-rate h)) / rate (h at rate 0)."""
    h = np.asarray(h, dtype=float)
    return h if rate == 0 else -np.expm1(-rate * h) / rate


@dataclass
class Prior:
    """Growth pooled across series (empirical Bayes, DerSimonian-Laird): mean, between-series variance tau2 and
    the noise of one disclosure's log level (sigma), from `series` (their latest growth each)."""

    mean: float
    tau2: float
    sigma: float
    series: list[str]


@dataclass
class Posterior:
    mean: float
    sd: float
    shrinkage: float  # the prior's share: 0 keeps the series' own growth, 1 takes the prior's


def series_observations(ledger: pd.DataFrame, minimum: int = 2) -> dict[str, pd.DataFrame]:
    """Every token series with at least `minimum` disclosures: its observations."""
    rows = _token_rows(ledger)
    return {str(name): _as_observations(part) for name, part in rows.groupby("series", sort=True)
            if len(part) >= minimum}


def public_at(observed: dict[str, pd.DataFrame], date: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Each series' observations public on `date`."""
    return {name: o[o["public_from"] <= date] for name, o in observed.items()}


def level_noise(observed: dict[str, pd.DataFrame], exclude: str = "") -> float:
    """The typical scatter (log) of a disclosure about its series' local log-linear trend: the root mean square
    of every 3-point window's residual (one degree of freedom each), pooled over series; NaN without any."""
    resid = []
    for name, obs in observed.items():
        if name == exclude or len(obs) < 3:
            continue
        t, y = _by_date(obs)
        for i in range(len(t) - 2):
            tt, yy = t[i:i + 3], y[i:i + 3]
            if np.ptp(tt) > 0:
                resid.append(yy - np.polyval(np.polyfit(tt, yy, 1), tt))
    if not resid:
        return float("nan")
    r = np.concatenate(resid)
    return float(np.sqrt((r**2).sum() / len(resid)))


def pooled_prior(observed: dict[str, pd.DataFrame], exclude: str = "",
                 level_sigma: float | None = None) -> Prior | None:
    """The growth prior from every series but `exclude` with two points, the latest at most PRIOR_MAX_AGE_YEARS
    before the last public disclosure: each series' latest two-point growth, sampling variance 2 sigma^2 / dt^2
    (sigma: `level_sigma`, by default `level_noise` of every series public, `exclude` too). None when fewer than
    two series qualify or sigma cannot be estimated."""
    sigma = level_sigma if level_sigma is not None else level_noise(observed)
    observed = {n: o for n, o in observed.items() if len(o) and n != exclude}
    if not observed or not np.isfinite(sigma):
        return None
    latest = max(o["public_from"].max() for o in observed.values())
    rows = []
    for name, obs in observed.items():
        if len(obs) < 2 or (latest - obs["date"].max()).days / DAYS_PER_YEAR > PRIOR_MAX_AGE_YEARS:
            continue
        t, _ = _by_date(obs)
        growth = naive_growth(obs)
        if np.isfinite(growth):
            rows.append((name, growth, t[-1] - t[-2]))
    if len(rows) < 2:
        return None
    g = np.array([r[1] for r in rows], dtype=float)
    v = 2 * sigma**2 / np.array([r[2] for r in rows], dtype=float) ** 2
    w = 1 / v
    fixed = (w * g).sum() / w.sum()
    q = (w * (g - fixed) ** 2).sum()
    tau2 = max(0.0, (q - (len(rows) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    ws = 1 / (v + tau2)
    return Prior(float((ws * g).sum() / ws.sum()), float(tau2), sigma, [r[0] for r in rows])


def pooled_growth(obs: pd.DataFrame, prior: Prior) -> Posterior:
    """The series' latest growth shrunk toward the prior: precision-weighted (normal-normal)."""
    g = naive_growth(obs)
    if not np.isfinite(g):
        return Posterior(prior.mean, float(np.sqrt(prior.tau2)), 1.0)
    t, _ = _by_date(obs)
    v = 2 * prior.sigma**2 / (t[-1] - t[-2]) ** 2
    if prior.tau2 == 0:
        return Posterior(prior.mean, 0.0, 1.0)
    b = v / (v + prior.tau2)
    return Posterior(float(b * prior.mean + (1 - b) * g), float(np.sqrt(1 / (1 / v + 1 / prior.tau2))), float(b))
