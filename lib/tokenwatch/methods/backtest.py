"""A pooled rolling-origin backtest that scores forecasts only, calibrated bands, and a headline that earns its place.

Cells: for every ledger series with at least three token disclosures and every date on which one of them became
public (a cutoff) with at least two public, each later disclosure dated after the cutoff and at most
MAX_HORIZON_YEARS past the latest public one is a target. Everything is in log tokens per day, so series of any
size pool.

Members give a median path from the latest disclosure (the anchor): `naive` (growth through the last two points),
`trend` (log-linear OLS on every point), `pooled` (the series' latest growth shrunk to a prior pooled across the
other series, empirical Bayes), `damped` (the pooled growth fading at a rate learned from the other series) and,
as conditional members kept out of the headline, each model under each scenario (projection.Fit).

Calibration (leave one series out): a series' band is learned from the other series' cells only. A member's log
error in units of the growth it projected (`spread`) has a centre (the median; none for naive) and, at each
nominal level, a half-width: the split-conformal quantile of the absolute centred errors. The headline
mixes the headline members' centred medians with weights 1 / their pooled score (CRPS from quantiles), then is
calibrated the same way. The unit adds a disclosure's own scatter about its trend (pooled over the other series) in
quadrature to the growth projected. A lower quantile stops at the anchor unless the other series' cells show falls
as often as its level: a p10 falls as far as the tenth percentile of their changes (`fall_floors`). The headline
is this ensemble only when its median |log error| over the pooled cells is below naive's; otherwise the naive
model with its calibrated band is the headline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tokenwatch.methods import projection as P
from tokenwatch.tokens import as_of, tokens_only

NOMINALS = tuple(P.INTERVALS)
HORIZON_BUCKETS = [(-np.inf, 0.25, "up to 3 months"), (0.25, 0.5, "3-6 months"), (0.5, 1.0, "6-12 months"),
                   (1.0, np.inf, "over a year")]
MAX_HORIZON_YEARS = 1.5  # 18 months
MIN_SERIES_POINTS = 3  # a series in the backtest has at least this many disclosures in all
MIN_CUTOFF_POINTS = 2  # a cutoff needs this many public: growth through two points
MIN_CALIBRATION_CELLS = 8  # other series' cells needed to learn a band
ENSEMBLE, ALL, NAIVE = "ensemble", "all", "naive"
HEADLINE_MEMBERS = ("naive", "trend", "pooled", "damped")
DAMPING = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)  # candidate rates (a year) at which pooled growth fades
LOSO = "leave_one_series_out"
EQUAL_SERIES = False  # each series counts once in a calibration (else each cell does)
CELL_COLUMNS = ["series", "cutoff", "points", "anchor_id", "anchor_date", "anchor", "target_id", "target_date",
                "horizon_years", "actual"]
BACKTEST_COLUMNS = ["series", "model", "scenario", "cutoff", "points", "anchor_id", "target_id", "target_date",
                    "horizon_years", "actual", *P.QUANTILES, "in_50", "in_80", "in_90", "log_error", "crps",
                    "ceiling_broken", "headline_member"]


GROWTH_FLOOR = float(np.log(2))  # log a year: the least growth a spread is scaled by (a doubling a year)


def spread(median: np.ndarray, anchor: np.ndarray | float, h: np.ndarray, noise: float = 0.0) -> np.ndarray:
    """The unit a forecast's log error is measured in: the log growth it projects, |median - anchor|, at least
    GROWTH_FLOOR * h, added in quadrature to `noise`, the scatter of one disclosure about its trend. Errors of
    growth extrapolation scale with the growth extrapolated (a series growing 50x a year misses by more than one
    growing 3x) and grow with the horizon; a near target misses by about a disclosure's own scatter."""
    h = np.asarray(h, dtype=float)
    growth = np.maximum(np.abs(np.asarray(median, dtype=float) - anchor), GROWTH_FLOOR * np.maximum(h, 1.0 / 12))
    return np.sqrt(growth**2 + noise**2)


def interval_score(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, nominal: float) -> np.ndarray:
    """Winkler's interval score of a central `nominal` interval (lower is better; its width if y inside)."""
    alpha = 1.0 - nominal
    return (hi - lo) + 2.0 / alpha * (np.clip(lo - y, 0, None) + np.clip(y - hi, 0, None))


def crps_quantiles(q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS approximated from quantiles (n x len(QUANTILES), log) at y (n,): twice the mean pinball loss."""
    tau = np.array(list(P.QUANTILES.values()))
    d = y[:, None] - q
    return 2 * np.maximum(tau * d, (tau - 1) * d).mean(axis=1)


def horizon_bucket(h: pd.Series) -> pd.Series:
    """Each horizon's bucket label."""
    out = pd.Series("", index=h.index, dtype=object)
    for lo, hi, label in HORIZON_BUCKETS:
        out[(h > lo) & (h <= hi)] = label
    return out


def eligible_series(ledger: pd.DataFrame, minimum: int = MIN_SERIES_POINTS) -> list[str]:
    """Token series with at least `minimum` disclosures."""
    counts = tokens_only(ledger)["series"].value_counts()
    return sorted(counts[counts >= minimum].index)


# ----- members

def member_paths(obs: pd.DataFrame, h: np.ndarray, prior: P.Prior | None) -> dict[str, np.ndarray]:
    """Log median of each headline member at horizons `h` (years past the anchor); NaN where it cannot be made."""
    anchor = float(np.log(obs["tokens_per_day"].iloc[-1]))
    nan = np.full(len(h), np.nan)
    g_naive = P.naive_growth(obs)
    g_trend = P.trend_growth(obs)
    g_pooled = P.pooled_growth(obs, prior).mean if prior is not None else np.nan
    out = {"naive": anchor + g_naive * h if np.isfinite(g_naive) else nan,
           "trend": anchor + g_trend * h if np.isfinite(g_trend) else nan,
           "pooled": anchor + g_pooled * h if np.isfinite(g_pooled) else nan}
    for lam in DAMPING:
        out[f"damped@{lam}"] = anchor + g_pooled * P.damped_time(h, lam) if np.isfinite(g_pooled) else nan
    return out


@dataclass
class Cells:
    """Scored forecast cells and each member's log median there (NaN: the member could not forecast)."""

    cells: pd.DataFrame  # CELL_COLUMNS
    preds: pd.DataFrame  # one column per member, aligned with cells
    members: pd.DataFrame  # member, model, scenario, headline, log_ceiling (inf: none)
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    observed: dict[str, pd.DataFrame] = field(default_factory=dict)  # every series' observations

    def rows(self, mask: np.ndarray) -> Cells:
        return Cells(self.cells[mask].reset_index(drop=True), self.preds[mask].reset_index(drop=True),
                     self.members, self.skipped, self.observed)

    def noise(self, exclude: str = "") -> float:
        """A disclosure's scatter about its trend (log), pooled over every series but `exclude`; 0 without any."""
        sigma = P.level_noise(self.observed, exclude=exclude)
        return sigma if np.isfinite(sigma) else 0.0


def member_table(fits: list[P.Fit]) -> pd.DataFrame:
    rows = [{"member": m, "model": m, "scenario": "", "headline": True, "log_ceiling": np.inf}
            for m in (*HEADLINE_MEMBERS[:3], *(f"damped@{lam}" for lam in DAMPING))]
    rows += [{"member": f"{f.model}/{f.scenario}", "model": f.model, "scenario": f.scenario, "headline": False,
              "log_ceiling": f.log_cap} for f in fits]
    return pd.DataFrame(rows).drop_duplicates("member")


def forecast_cells(ledger: pd.DataFrame, models: list[str] | None = None, scenarios: pd.DataFrame | None = None,
                   series: list[str] | None = None,
                   observed: dict[str, pd.DataFrame] | None = None) -> Cells:
    """Every feasible cutoff of every series: members fitted on what was public then, at each later target.

    A target must be dated after its cutoff and lie at most MAX_HORIZON_YEARS past the anchor; conditional
    members (each of `models` under each scenario) are fitted too when `scenarios` is given. `observed`
    (series -> observations) replaces the ledger's series, e.g. by synthetic ones.
    """
    everything = P.series_observations(ledger)
    if observed is None:
        observed = {name: everything[name] for name in (series or eligible_series(ledger))}
    rows, preds, skipped, all_fits = [], [], [], []
    for name, full in observed.items():
        for cutoff in sorted(full["public_from"].unique()):
            cutoff = pd.Timestamp(cutoff)
            obs = full[full["public_from"] <= cutoff].sort_values(["date", "public_from"]).reset_index(drop=True)
            anchor_date = obs["date"].iloc[-1] if len(obs) else pd.NaT
            later = full[(full["public_from"] > cutoff) & (full["date"] > cutoff)]
            later = later[P.years(later["date"], anchor_date) <= MAX_HORIZON_YEARS] if len(obs) else later
            if later.empty or len(obs) < MIN_CUTOFF_POINTS:
                continue
            h = P.years(later["date"], anchor_date)
            paths = member_paths(obs, h, P.pooled_prior(P.public_at(everything, cutoff), exclude=name))
            if scenarios is not None and models:
                fits, skip = P.fit_specs(obs, models, scenarios, as_of(ledger, cutoff))
                skipped.append(skip.assign(series=name, cutoff=cutoff))
                all_fits += fits
                for f in fits:
                    paths[f"{f.model}/{f.scenario}"] = np.log(f.median_path(later["date"]))
            for j, target in enumerate(later.itertuples()):
                rows.append((name, cutoff, len(obs), obs["id"].iloc[-1], anchor_date,
                             float(np.log(obs["tokens_per_day"].iloc[-1])), target.id, target.date, float(h[j]),
                             float(np.log(target.tokens_per_day))))
                preds.append({k: v[j] for k, v in paths.items()})
    cells = pd.DataFrame(rows, columns=CELL_COLUMNS)
    members = member_table(all_fits)
    pred = pd.DataFrame(preds, columns=list(members["member"])).astype(float)
    skips = pd.concat(skipped, ignore_index=True) if skipped else pd.DataFrame(
        columns=["model", "scenario", "reason", "series", "cutoff"])
    return Cells(cells, pred, members, skips, everything)


# ----- calibration

def fall_floors(falls: np.ndarray) -> dict[float, float]:
    """For each lower quantile level tau, how far (log, <= 0) below its anchor that quantile may go: the k-th
    smallest change actual - anchor of the training cells, k = floor(tau (n + 1)) (the smallest when k < 1),
    and 0 when that change is not a fall. A p10 goes below the last disclosure only as far as one in ten of the
    pooled figures fell below theirs."""
    v = np.sort(np.asarray(falls, dtype=float))
    out = {}
    for tau in P.QUANTILES.values():
        if tau < 0.5:
            k = int(np.floor(tau * (len(v) + 1)))
            out[tau] = float(min(0.0, v[max(k, 1) - 1])) if len(v) else 0.0
    return out


@dataclass
class Band:
    """A calibrated band: centre and half-widths (log, per unit of `spread` with `noise`), and per lower quantile
    how far below the anchor it may fall."""

    centre: float
    half: dict[float, float]  # nominal -> half-width
    n: int
    floors: dict[float, float]  # lower quantile level -> its floor below the anchor (log, <= 0): fall_floors
    noise: float = 0.0  # a disclosure's scatter (log) in `spread`

    @property
    def floor(self) -> float:
        """The largest fall (log, <= 0) any quantile may show below the anchor."""
        return min(self.floors.values(), default=0.0)

    def quantiles(self, median: np.ndarray, h: np.ndarray, anchor: np.ndarray | float) -> np.ndarray:
        """Log quantiles (n x len(QUANTILES)) of medians at horizons h, each lower one floored at anchor + its
        floor (the median and upper quantiles at anchor + the lowest floor), and none below the one before."""
        s = spread(median, anchor, h, self.noise)
        mid = median + self.centre * s
        base = np.broadcast_to(np.asarray(anchor, dtype=float), mid.shape)
        cols = []
        for tau in P.QUANTILES.values():
            nominal = round(abs(1 - 2 * tau), 2)
            sign = 0.0 if tau == 0.5 else (1.0 if tau > 0.5 else -1.0)
            col = mid + sign * self.half.get(nominal, 0.0) * s
            cols.append(np.maximum(col, base + self.floors.get(tau, self.floor)))
        return np.maximum.accumulate(np.column_stack(cols), axis=1)  # a floored quantile lifts those above it


def conformal(values: np.ndarray, nominal: float, weights: np.ndarray | None = None) -> float:
    """The weighted split-conformal quantile: the smallest value whose weight share, with one more average
    weight for the point to come, reaches `nominal` (the largest value when there are too few)."""
    order = np.argsort(values)
    v = np.asarray(values, dtype=float)[order]
    w = np.ones(len(v)) if weights is None else np.asarray(weights, dtype=float)[order]
    share = np.cumsum(w) / (w.sum() + w.mean())
    k = int(np.searchsorted(share, nominal - 1e-12))
    return float(v[min(k, len(v) - 1)])


def series_weights(series: np.ndarray) -> np.ndarray:
    """1 / cells of its series for each cell: every series counts once in a calibration, however long."""
    _, inverse, counts = np.unique(series, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def fit_band(errors: np.ndarray, s: np.ndarray, falls: np.ndarray, centre: bool = True,
             weights: np.ndarray | None = None, noise: float = 0.0) -> Band:
    """A band from log errors (actual - median) in units of their `spread`; `falls`: actual - anchor.

    The centre is the (weighted) median error; each level's half-width the split-conformal quantile of the
    centred |errors|, distribution-free. (A normal shape with one scale set at 80% was tried on the ledger of
    an earlier merge, where these per-level quantiles covered 31% at 50%; it covered 40% there, but 75% once
    the OpenRouter subsets were added, where the per-level quantiles cover 57%: so the shape stays free.)
    """
    r = errors / s
    c = _weighted_median(r, weights) if centre else 0.0
    d = np.abs(r - c)
    return Band(c, {nom: conformal(d, nom, weights) for nom in NOMINALS}, len(r), fall_floors(falls), noise)


def _weighted_median(x: np.ndarray, weights: np.ndarray | None) -> float:
    order = np.argsort(x)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)[order]
    cum = np.cumsum(w) / w.sum()
    return float(np.asarray(x, dtype=float)[order][int(np.searchsorted(cum, 0.5))])


@dataclass
class Calibration:
    """What the training cells taught: a band per member, the headline weights, the ensemble's band."""

    bands: dict[str, Band]
    weights: pd.Series  # headline member -> weight (sums to 1)
    damping: float
    ensemble: Band | None
    cells: int
    series: list[str]

    def ensemble_median(self, preds: pd.DataFrame, h: np.ndarray, anchor: np.ndarray | float) -> np.ndarray:
        """The weighted mix of the headline members' centred medians (members missing in a row drop out)."""
        num, den = np.zeros(len(preds)), np.zeros(len(preds))
        for m, w in self.weights.items():
            x = preds[m].to_numpy(float)
            x = x + self.bands[m].centre * spread(x, anchor, h, self.bands[m].noise)
            ok = np.isfinite(x)
            num[ok] += w * x[ok]
            den[ok] += w
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def with_damping(preds: pd.DataFrame, lam: float) -> pd.DataFrame:
    return preds.assign(damped=preds[f"damped@{lam}"])


def calibrate(train: Cells, noise: float = 0.0) -> Calibration | None:
    """Bands, damping and weights from `train` cells (None when they are fewer than MIN_CALIBRATION_CELLS);
    `noise`: a disclosure's scatter (log), added to each `spread`."""
    c = train.cells
    if len(c) < MIN_CALIBRATION_CELLS:
        return None
    y, h, anchor = c["actual"].to_numpy(), c["horizon_years"].to_numpy(), c["anchor"].to_numpy()
    falls = y - anchor
    names = c["series"].to_numpy()
    lam = min(DAMPING, key=lambda v: _median_abs(y - train.preds[f"damped@{v}"].to_numpy()))
    preds = with_damping(train.preds, lam)
    bands: dict[str, Band] = {}
    scores = {}
    for m in [*HEADLINE_MEMBERS, *train.members.loc[~train.members["headline"], "member"]]:
        x = preds[m].to_numpy(float)
        ok = np.isfinite(x)
        if ok.sum() < MIN_CALIBRATION_CELLS:
            continue
        bands[m] = fit_band(y[ok] - x[ok], spread(x[ok], anchor[ok], h[ok], noise), falls[ok], centre=m != NAIVE,
                            weights=series_weights(names[ok]) if EQUAL_SERIES else None, noise=noise)
        if m in HEADLINE_MEMBERS:
            q = bands[m].quantiles(x[ok], h[ok], anchor[ok])
            scores[m] = float(crps_quantiles(q, y[ok]).mean())
    inv = pd.Series({m: 1.0 / s for m, s in scores.items() if s > 0})
    weights = inv / inv.sum()
    cal = Calibration(bands, weights, lam, None, len(c), sorted(c["series"].unique()))
    med = cal.ensemble_median(preds, h, anchor)
    ok = np.isfinite(med)
    cal.ensemble = fit_band(y[ok] - med[ok], spread(med[ok], anchor[ok], h[ok], noise), falls[ok],
                            weights=series_weights(names[ok]) if EQUAL_SERIES else None, noise=noise)
    return cal


def _median_abs(e: np.ndarray) -> float:
    e = e[np.isfinite(e)]
    return float(np.median(np.abs(e))) if len(e) else np.inf


def calibration_for(pool: Cells, series: str) -> Calibration | None:
    """The calibration a series gets: learned from every other series' cells, with their disclosures' scatter."""
    return calibrate(pool.rows((pool.cells["series"] != series).to_numpy()), pool.noise(exclude=series))


def evaluated(pool: Cells) -> pd.DataFrame:
    """Every cell of every member and of the ensemble, its quantiles learned leaving its series out.

    Rows: BACKTEST_COLUMNS (quantiles in tokens per day, actual too). Series whose others give too few cells to
    calibrate are left out, and said so by `coverage`'s counts.
    """
    frames = []
    for series in sorted(pool.cells["series"].unique()):
        test = pool.rows((pool.cells["series"] == series).to_numpy())
        cal = calibration_for(pool, series)
        if cal is None:
            continue
        preds = with_damping(test.preds, cal.damping)
        h, anchor, y = (test.cells[c].to_numpy() for c in ("horizon_years", "anchor", "actual"))
        headline_members = set(cal.weights.index)
        for m, band in cal.bands.items():
            x = preds[m].to_numpy(float)
            ok = np.isfinite(x)
            if ok.any():
                ceiling = float(pool.members.set_index("member")["log_ceiling"].get(m, np.inf))
                frames.append(_rows(test.cells[ok], band.quantiles(x[ok], h[ok], anchor[ok]), y[ok], m, pool,
                                    m in headline_members, ceiling))
        med = cal.ensemble_median(preds, h, anchor)
        ok = np.isfinite(med)
        assert cal.ensemble is not None
        frames.append(_rows(test.cells[ok], cal.ensemble.quantiles(med[ok], h[ok], anchor[ok]), y[ok], ENSEMBLE,
                            pool, False, np.inf))
    if not frames:
        return pd.DataFrame(columns=BACKTEST_COLUMNS)
    return pd.DataFrame({c: np.concatenate([f[c] for f in frames]) for c in BACKTEST_COLUMNS})


def _rows(cells: pd.DataFrame, q: np.ndarray, y: np.ndarray, member: str, pool: Cells, in_headline: bool,
          log_ceiling: float) -> dict[str, np.ndarray]:
    """One member's scored cells as columns (BACKTEST_COLUMNS)."""
    info = pool.members.set_index("member")
    model, scenario = (ENSEMBLE, ALL) if member == ENSEMBLE else (
        ("damped", "") if member == "damped" else (str(info.at[member, "model"]), str(info.at[member, "scenario"])))
    names = list(P.QUANTILES)
    n = len(y)
    out: dict[str, np.ndarray] = {c: cells[c].to_numpy() for c in CELL_COLUMNS if c not in ("anchor", "anchor_date")}
    out |= {"model": np.full(n, model, dtype=object), "scenario": np.full(n, scenario, dtype=object)}
    out |= {name: np.exp(q[:, i]) for i, name in enumerate(names)}
    for nominal, (lo, hi) in P.INTERVALS.items():
        out[f"in_{round(nominal * 100)}"] = (q[:, names.index(lo)] <= y) & (y <= q[:, names.index(hi)])
    out |= {"log_error": y - q[:, names.index("p50")], "crps": crps_quantiles(q, y), "ceiling_broken": y > log_ceiling,
            "headline_member": np.full(n, in_headline), "actual": np.exp(y)}
    return out


# ----- summaries

def coverage(scored: pd.DataFrame) -> pd.DataFrame:
    """nominal, coverage, n of these cells (coverage NaN when there are none)."""
    return pd.DataFrame([{"nominal": nominal, "n": len(scored),
                          "coverage": float(scored[f"in_{round(nominal * 100)}"].mean()) if len(scored) else np.nan}
                         for nominal in NOMINALS])


def above_median(scored: pd.DataFrame) -> dict:
    """How many actual figures lie above the median, and the two-sided binomial p against one half."""
    n = len(scored)
    k = int((scored["actual"] > scored["p50"]).sum())
    p = float(stats.binomtest(k, n, 0.5).pvalue) if n else float("nan")
    return {"cells": n, "above": k, "share": k / n if n else float("nan"), "binomial_p": p}


def median_abs_log_error(scored: pd.DataFrame) -> float:
    return float(scored["log_error"].abs().median()) if len(scored) else float("nan")


def skill(scored: pd.DataFrame, model: str = ENSEMBLE) -> dict:
    """`model` against naive on the cells both forecast: median |log error| of each and their ratio."""
    key = ["series", "cutoff", "target_id"]
    a = scored[(scored["model"] == model) & (scored["scenario"] == (ALL if model == ENSEMBLE else ""))]
    b = scored[scored["model"] == NAIVE]
    both = a.merge(b[[*key, "log_error"]], on=key, suffixes=("", "_naive"))
    ours, naive = float(both["log_error"].abs().median()), float(both["log_error_naive"].abs().median())
    return {"cells": len(both), "series": both["series"].nunique(), "median_abs_log_error": ours,
            "naive_median_abs_log_error": naive, "ratio": ours / naive if naive else float("nan"),
            "wins": int((both["log_error"].abs() < both["log_error_naive"].abs()).sum())}


def model_scores(scored: pd.DataFrame) -> pd.DataFrame:
    """Per forecaster (model, scenario): cells, series, coverage, CRPS, median and mean |log error|, bias."""
    g = scored.groupby(["model", "scenario"], sort=False)
    out = g.agg(cells=("crps", "size"), series=("series", "nunique"), crps=("crps", "mean"),
                median_abs_log_error=("log_error", lambda s: s.abs().median()),
                mean_abs_log_error=("log_error", lambda s: s.abs().mean()), bias_log=("log_error", "mean"),
                share_above_median=("log_error", lambda s: (s > 0).mean()),
                ceilings_broken=("ceiling_broken", "sum"),
                **{f"coverage_{p}": (f"in_{p}", "mean") for p in (50, 80, 90)})
    return out.reset_index().sort_values("crps").reset_index(drop=True)


def error_by_horizon(scored: pd.DataFrame) -> pd.DataFrame:
    """Cells, median |log error| and coverage by model and horizon bucket."""
    s = scored.assign(horizon=horizon_bucket(scored["horizon_years"]))
    g = s.groupby(["model", "scenario", "horizon"], sort=False)
    return g.agg(cells=("log_error", "size"), mean_log_error=("log_error", "mean"),
                 median_abs_log_error=("log_error", lambda e: e.abs().median()),
                 coverage_80=("in_80", "mean")).reset_index()


def headline_choice(scored: pd.DataFrame) -> tuple[str, dict]:
    """ENSEMBLE when it beats naive on median |log error| over the pooled cells, else NAIVE; and the numbers."""
    result = skill(scored)
    return (ENSEMBLE if result["median_abs_log_error"] < result["naive_median_abs_log_error"] else NAIVE), result

