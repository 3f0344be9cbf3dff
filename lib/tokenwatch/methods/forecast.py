"""The live token forecast: calibrated draws of every forecaster, the ensembles, caps by a whole, the archive.

A forecast is made from what was public on its date (`as_of`), its band learned from the other series' backtest
cells (backtest.calibration_for), its members mixed into the headline ensemble. A part (Doubao) is capped
quantile by quantile by the headline of a whole it belongs to (China, National Data Administration): that is
the quantile of min(part, whole) when the two move together, and every capped row says so in `capped_by`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tokenwatch.curated import read_curated
from tokenwatch.errors import ParameterError
from tokenwatch.methods import backtest as B
from tokenwatch.methods import projection as P
from tokenwatch.paths import data_dir
from tokenwatch.tokens import as_of

PROJECTION_COLUMNS = ["series", "model", "scenario", "date", *P.QUANTILES, "calibrated", "at_bound", "capped_by"]
FORECAST_COLUMNS = ["cutoff", "vintage", "ledger_sha256", *PROJECTION_COLUMNS]
FORECASTER_COLUMNS = ["model", "scenario", "points", "anchor_id", "at_bound", "centre", "half_50", "half_80",
                      "calibration_cells", "weight", "in_headline"]
BYTES_PER_VALUE = 8 * 3  # conditional fits' draws, float64 (kept for the memory check)
SHORT_SERIES = "short series"


@dataclass
class Projection:
    """One series' forecast: a quantile table per forecaster and the ensemble, and how each was made."""

    series: str
    as_of: pd.Timestamp
    observations: pd.DataFrame
    table: pd.DataFrame  # PROJECTION_COLUMNS
    forecasters: pd.DataFrame  # FORECASTER_COLUMNS
    skipped: pd.DataFrame
    calibration: B.Calibration
    prior: P.Prior | None
    posterior: P.Posterior | None
    headline_model: str = B.ENSEMBLE
    members: dict[str, str] = field(default_factory=dict)  # ensemble scenario -> its members
    weighting: str = "inverse pooled CRPS, leaving the series out"

    @property
    def headline_key(self) -> tuple[str, str]:
        return (B.ENSEMBLE, B.ALL) if self.headline_model == B.ENSEMBLE else (B.NAIVE, "")

    def headline(self) -> pd.DataFrame:
        """The headline's rows: the ensemble when it beat naive in the pooled backtest, else naive."""
        t = self.table
        model, scenario = self.headline_key
        return t[(t["model"] == model) & (t["scenario"] == scenario)].reset_index(drop=True)

    @property
    def anchor(self) -> pd.Series:
        return self.observations.iloc[-1]

    @property
    def short(self) -> bool:
        """Fewer than three disclosures: growth from the pooled prior, flagged 'short series'."""
        return len(self.observations) < B.MIN_SERIES_POINTS


def project(ledger: pd.DataFrame, series: str, when: pd.Timestamp, horizon: pd.Timestamp, pool: B.Cells,
            headline_model: str = B.ENSEMBLE, models: list[str] | None = None,
            scenarios: pd.DataFrame | None = None, observed: dict[str, pd.DataFrame] | None = None) -> Projection:
    """Every member fitted on what was public at `when`, calibrated on the other series' backtest cells; the
    ensemble of the headline members and, with `scenarios`, each model under each as a conditional member.
    `observed`: every series' observations public at `when` (P.series_observations), when already at hand."""
    public = as_of(ledger, when)
    obs = P.observations(public, series)
    if len(obs) < B.MIN_CUTOFF_POINTS:
        raise ParameterError(
            f"{series} has {len(obs)} disclosure public on {when.date()} ({obs['id'].iloc[0]}): a projection needs "
            "a second dated disclosure of the same series to measure growth. Add it to data/tokens/disclosures.csv "
            "with its source (check it with 'tokenwatch ledger check'), or pick another series")
    anchor_date = obs["date"].iloc[-1]
    if horizon <= anchor_date:
        raise ParameterError(f"horizon {horizon.date()} is not after the last disclosure of {series} "
                             f"({anchor_date.date()}); pick a later horizon")
    cal = B.calibration_for(pool, series)
    if cal is None:
        others = int((pool.cells["series"] != series).sum())
        raise ParameterError(f"the backtest has {others} cells of series other than {series} on {when.date()}, "
                             f"fewer than the {B.MIN_CALIBRATION_CELLS} needed to calibrate a band; pick a later "
                             "as_of or add disclosures")
    grid = P.month_grid(obs["date"].iloc[0], horizon)
    h = P.years(grid, anchor_date)
    disclosed = np.interp(grid.asi8.astype(float), pd.DatetimeIndex(obs["date"]).asi8.astype(float),
                          np.log(obs["tokens_per_day"].to_numpy(float)))  # up to the anchor: the disclosures
    observed = observed if observed is not None else P.series_observations(public)
    prior = P.pooled_prior(observed, exclude=series)
    posterior = P.pooled_growth(obs, prior) if prior is not None else None
    paths = B.member_paths(obs, h, prior)
    paths["damped"] = paths[f"damped@{cal.damping}"]
    skipped = pd.DataFrame(columns=["model", "scenario", "reason"])
    at_bound: dict[str, str] = {}
    if scenarios is not None and models:
        fits, skipped = P.fit_specs(obs, models, scenarios, public)
        for f in fits:
            paths[f"{f.model}/{f.scenario}"] = np.log(f.median_path(grid))
            at_bound[f"{f.model}/{f.scenario}"] = f.at_bound
    anchor = float(np.log(obs["tokens_per_day"].iloc[-1]))
    tables, rows = [], []
    for member, band in cal.bands.items():
        x = paths.get(member)
        if x is None or not np.isfinite(x).all():
            continue
        model, _, scenario = member.partition("/")
        q = band.quantiles(x, h, anchor)
        tables.append(_quantiles(q, grid, series, model, scenario, at_bound.get(member, ""), h, disclosed))
        rows.append({"model": model, "scenario": scenario, "points": len(obs), "anchor_id": obs["id"].iloc[-1],
                     "at_bound": at_bound.get(member, ""), "centre": band.centre, "half_50": band.half[0.5],
                     "half_80": band.half[0.8], "calibration_cells": band.n,
                     "weight": float(cal.weights.get(member, np.nan))})
    frame = pd.DataFrame(paths).drop(columns=[c for c in paths if c.startswith("damped@")])
    weights = cal.weights[[m for m in cal.weights.index if np.isfinite(frame[m]).all()]]
    cal_live = B.Calibration(cal.bands, weights / weights.sum(), cal.damping, cal.ensemble, cal.cells, cal.series)
    assert cal.ensemble is not None
    mix = cal.ensemble.quantiles(cal_live.ensemble_median(frame, h, anchor), h, anchor)
    tables.append(_quantiles(mix, grid, series, B.ENSEMBLE, B.ALL, "", h, disclosed))
    specs = pd.DataFrame(rows)
    specs["weight"] = specs["model"].map(weights / weights.sum()).where(specs["scenario"] == "")
    specs["in_headline"] = specs["weight"].notna()
    members = {B.ALL: "+".join(f"{m} {w:.0%}" for m, w in (weights / weights.sum()).items())}
    return Projection(series, when, obs, pd.concat(tables, ignore_index=True), specs[FORECASTER_COLUMNS], skipped,
                      cal_live, prior, posterior, headline_model, members)


def _quantiles(log_q: np.ndarray, grid: pd.DatetimeIndex, series: str, model: str, scenario: str,
               at_bound: str, h: np.ndarray, disclosed: np.ndarray) -> pd.DataFrame:
    """A quantile table; up to the anchor (h <= 0) every quantile is the disclosed path (log-linear between
    disclosures), marked calibrated=False: it is history, not a forecast."""
    past = h <= 0
    log_q = np.where(past[:, None], disclosed[:, None], log_q)
    out = pd.DataFrame(np.exp(log_q), columns=list(P.QUANTILES)).assign(
        date=grid, series=series, model=model, scenario=scenario, calibrated=~past, at_bound=at_bound, capped_by="")
    return out[PROJECTION_COLUMNS]


def load_parts(path: Path | None = None) -> pd.DataFrame:
    """data/tokens/parts.csv: which series is a part of which whole, and why."""
    path = path or data_dir() / "tokens" / "parts.csv"
    return read_curated(path, ["part", "whole", "basis", "source"], "parts of wholes")


def whole_of(series: str, parts: pd.DataFrame) -> str | None:
    hit = parts.loc[parts["part"] == series, "whole"]
    return str(hit.iloc[0]) if len(hit) else None


def cap_by(part: pd.DataFrame, whole: pd.DataFrame, whole_name: str, after: pd.Timestamp) -> pd.DataFrame:
    """Cap each quantile of `part` after `after` (its latest disclosure) by the same quantile of the whole's
    headline on that date; flag the rows."""
    out = part.copy()
    limit = interpolate_quantiles(whole.sort_values("date"), out["date"])
    over = (out[list(P.QUANTILES)] > limit).fillna(False) & (out["date"] > after).to_numpy()[:, None]
    capped = over.any(axis=1)
    for q in P.QUANTILES:
        out[q] = out[q].where(~over[q], limit[q])
    out.loc[capped, "capped_by"] = whole_name
    return out


def raise_to_parts(table: pd.DataFrame, whole: str, parts: pd.DataFrame, observed: dict[str, pd.DataFrame],
                   after: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A whole is at least each of its parts: every quantile of the whole's projection `table` dated after
    `after` (its latest disclosure) is raised to the largest level any of its parts (parts.csv) disclosed on or
    before that date, among `observed` (what was public). Returns the table and the raised rows: date, model,
    part disclosure id, its level, and the quantiles raised."""
    names = [str(n) for n in parts.loc[parts["whole"] == whole, "part"] if str(n) in observed]
    if not names:
        return table, pd.DataFrame(columns=["date", "model", "part_id", "part_tokens_per_day", "quantiles"])
    levels = pd.concat([observed[n][["id", "date", "tokens_per_day"]] for n in names]).sort_values("date")
    levels = levels[levels["tokens_per_day"] >= levels["tokens_per_day"].cummax()]  # each date's largest so far
    out = table.copy()
    at = np.searchsorted(levels["date"].to_numpy(), out["date"].to_numpy(), side="right") - 1  # latest on or before
    low = np.where(at >= 0, levels["tokens_per_day"].to_numpy(float)[np.maximum(at, 0)], 0.0)
    q = list(P.QUANTILES)
    below = (out[q].to_numpy(float) < low[:, None]) & (out["date"] > after).to_numpy()[:, None]
    out[q] = np.where(below, low[:, None], out[q].to_numpy(float))
    hit = below.any(axis=1)
    raised = pd.DataFrame({"date": out["date"].to_numpy()[hit], "model": out["model"].to_numpy()[hit],
                           "part_id": levels["id"].to_numpy()[np.maximum(at, 0)][hit],
                           "part_tokens_per_day": low[hit],
                           "quantiles": [", ".join(np.array(q)[row]) for row in below[hit]]})
    return out, raised


def interpolate_quantiles(table: pd.DataFrame, dates: pd.Series) -> pd.DataFrame:
    """Forecast quantiles at arbitrary dates, linear in log tokens per day between grid dates (NaN outside)."""
    grid = pd.DatetimeIndex(table["date"]).asi8.astype(float)
    at = pd.DatetimeIndex(dates).asi8.astype(float)
    out = {q: np.exp(np.interp(at, grid, np.log(table[q].to_numpy(float)), left=np.nan, right=np.nan))
           for q in P.QUANTILES}
    return pd.DataFrame(out, index=dates.index)


def ledger_hash(path: Path) -> str:
    """The first 16 hex digits of the ledger file's SHA-256: which ledger a forecast was made from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def archive(table: pd.DataFrame, when: pd.Timestamp, ledger: pd.DataFrame, ledger_path: Path) -> pd.DataFrame:
    """forecast.csv: the projection with its cutoff and ledger vintage (last disclosure public, file hash)."""
    vintage = pd.Timestamp(as_of(ledger, when)["public_from"].max())
    return table.assign(cutoff=when.date(), vintage=vintage.date(), ledger_sha256=ledger_hash(ledger_path))[
        FORECAST_COLUMNS]


def score_forecasts(forecast: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """Score an archived forecast.csv on every disclosure made public after its vintage and dated after its
    cutoff (log space).

    CRPS is approximated from the quantiles: twice the mean pinball loss over them.
    """
    missing = sorted(set(FORECAST_COLUMNS) - set(forecast.columns))
    if missing:
        raise ParameterError(f"not a tokenwatch forecast.csv: columns {missing} are missing")
    forecast = forecast.assign(date=pd.to_datetime(forecast["date"]))
    rows = []
    keys = ["series", "model", "scenario", "cutoff", "vintage"]
    tau = np.array(list(P.QUANTILES.values()))
    for key, part in forecast.groupby(keys, sort=False):
        series, vintage = str(key[0]), pd.Timestamp(key[4])
        try:
            later = P.observations(ledger, series)
        except ParameterError:
            continue
        later = later[(later["public_from"] > vintage) & (later["date"] > pd.Timestamp(key[3]))]  # forecasts only
        q = interpolate_quantiles(part.sort_values("date"), later["date"])
        for (_, obs), (_, qq) in zip(later.iterrows(), q.iterrows(), strict=True):
            if qq.isna().any():
                continue
            y, lq = np.log(obs["tokens_per_day"]), np.log(qq.to_numpy(float))
            pinball = np.mean(np.maximum(tau * (y - lq), (tau - 1) * (y - lq)))
            row = dict(zip(keys, key, strict=True)) | {
                "target_id": obs["id"], "target_date": obs["date"].date(), "actual": obs["tokens_per_day"],
                "p50": qq["p50"], "log_error": float(y - np.log(qq["p50"])), "crps_approx": float(2 * pinball)}
            for nominal, (lo, hi) in P.INTERVALS.items():
                row[f"in_{round(nominal * 100)}"] = bool(qq[lo] <= obs["tokens_per_day"] <= qq[hi])
            rows.append(row)
    return pd.DataFrame(rows)


def score_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Per forecaster of a scored archive: cells, coverage of each interval, mean log error, CRPS (approx.)."""
    g = scored.groupby(["series", "model", "scenario", "cutoff"], sort=False)
    return g.agg(cells=("target_id", "size"), coverage_50=("in_50", "mean"), coverage_80=("in_80", "mean"),
                 coverage_90=("in_90", "mean"), mean_log_error=("log_error", "mean"),
                 crps_approx=("crps_approx", "mean")).reset_index()


def check_memory(paths: int, months: int, forecasters: int) -> None:
    """Refuse, before any draw, a number of paths whose arrays would not fit in memory."""
    need, budget = paths * months * forecasters * BYTES_PER_VALUE, memory_budget()
    if need > budget:
        most = budget // (months * forecasters * BYTES_PER_VALUE)
        raise ParameterError(
            f"paths={paths:,} over {months} months and {forecasters} forecasters needs about {need / 2**30:.1f} GiB, "
            f"more than the {budget / 2**30:.1f} GiB allowed; use at most {most:,} paths (10,000 already gives "
            "quantiles to about 1%), an earlier horizon or fewer scenarios")


def memory_budget() -> int:
    """Bytes one projection may use: half the machine's memory, at most 4 GiB."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 * 2**30
    return min(4 * 2**30, physical // 2)


SUPPLY_COLUMNS = ["bound", "period", "date", "low", "high", "unit", "growth_per_year", "source_title", "source_url",
                  "quote", "published", "notes"]
SUPPLY_GROWTH_NOTE = "at Epoch's 'more than tripling each year', read as x3"
SECONDS_PER_DAY = 86_400


def load_supply_bounds(path: Path | None = None) -> pd.DataFrame:
    """data/tokens/supply_bounds.csv: sourced worldwide token supply ranges (per second), dated."""
    path = path or data_dir() / "tokens" / "supply_bounds.csv"
    table = read_curated(path, SUPPLY_COLUMNS, "supply bounds")
    for col in ("low", "high", "growth_per_year"):
        table[col] = pd.to_numeric(table[col], errors="raise")
    table["date"] = pd.to_datetime(table["date"])
    return table


def capacity_check(head: pd.DataFrame, bounds: pd.DataFrame) -> pd.DataFrame:
    """Each date of a headline against each supply bound grown from its date: bound_low/high in tokens per day,
    and whether p50 and p90 pass the high end."""
    rows = []
    for b in bounds.itertuples():
        yrs = P.years(head["date"], b.date)
        grow = float(b.growth_per_year) ** yrs
        rows.append(pd.DataFrame({"date": head["date"].to_numpy(), "bound": b.bound,
                                  "bound_low": b.low * SECONDS_PER_DAY * grow,
                                  "bound_high": b.high * SECONDS_PER_DAY * grow,
                                  "p50": head["p50"].to_numpy(), "p90": head["p90"].to_numpy()}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["date", "bound", "bound_low", "bound_high", "p50", "p90"])
    return out.assign(p50_above=out["p50"] > out["bound_high"], p90_above=out["p90"] > out["bound_high"])


HISTORY_COLUMNS = ["vintage", "added", "headline_model", "quoted_date", "p10", "p50", "p90", "later_disclosures",
                   "mean_log_error", "coverage_80", "note"]


def headline_history(full: pd.DataFrame, series: str, when: pd.Timestamp, horizon: pd.Timestamp,
                     dates: list[pd.Timestamp], pool: B.Cells, headline_model: str, count: int = 3,
                     whole: str | None = None) -> pd.DataFrame:
    """How the headline moves as disclosures are added: the headline made from what was public the day before
    each of the series' last `count` disclosures became public, and on `when`, quoted at `dates`.

    The members and the pooled prior use only what was public at each vintage; the band and weights are the
    ones learned on `pool` (today's backtest, leaving the series out), so that the moves are those of the rows
    added; with `whole`, each vintage's headline is capped by the whole's made the same day, as the live one is.
    Each earlier headline is scored, as `tokenwatch score` scores an archived forecast.csv, on the series'
    disclosures made public since (its band used later errors: the leak-free score is the backtest's).
    """
    public_dates = sorted(P.observations(as_of(full, when), series)["public_from"].unique())[-count:]
    vintages = [pd.Timestamp(d) - pd.Timedelta(days=1) for d in public_dates] + [when]
    rows: list[dict] = []
    seen: set[str] | None = None
    everything = P.series_observations(full)
    for v in vintages:
        public = as_of(full, v)
        observed = P.public_at(everything, v)
        ids = set(observed[series]["id"]) if series in observed else set()
        added = ", ".join(sorted(ids - seen)) if seen is not None else ""
        seen = ids
        try:
            proj = project(public, series, v, horizon, pool, headline_model, observed=observed)
            head = proj.headline()
            if whole:
                limit = project(public, whole, v, horizon, pool, headline_model, observed=observed).headline()
                head = cap_by(head, limit, whole, pd.Timestamp(proj.anchor["date"]))
        except ParameterError as exc:
            rows.append({"vintage": v, "added": added, "note": str(exc)})
            continue
        quoted = interpolate_quantiles(head.sort_values("date"), pd.Series(dates))
        scored = score_forecasts(head.assign(cutoff=v.date(), vintage=v.date(), ledger_sha256=""), full)
        for d, q in zip(dates, quoted.itertuples(), strict=True):
            rows.append({"vintage": v, "added": added, "headline_model": headline_model, "quoted_date": d,
                         "p10": q.p10, "p50": q.p50, "p90": q.p90, "later_disclosures": len(scored),
                         "mean_log_error": scored["log_error"].mean() if len(scored) else np.nan,
                         "coverage_80": scored["in_80"].mean() if len(scored) else np.nan, "note": ""})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
