"""The live token forecast: calibrated draws of every forecaster, the ensembles, caps by a whole, the archive.

A forecast is fitted on what was public on its date (`as_of`), widened as its series' backtest cells were
(the same Calibrator), and mixed into the headline ensemble. A part (Doubao) is capped quantile by quantile
by the headline of a whole it belongs to (China, National Data Administration): that is the quantile of
min(part, whole) when the two move together, and every capped row says so in `capped_by`.
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
FORECASTER_COLUMNS = ["model", "scenario", "points", "anchor_id", "at_bound", "kappa_up", "kappa_down",
                      "kappa_targets", "weight", "in_headline"]
BYTES_PER_VALUE = 8 * 3  # draws, their widening and the ensemble copies, float64


@dataclass
class Projection:
    """One series' forecast: a quantile table per forecaster and ensemble, and how each was made."""

    series: str
    as_of: pd.Timestamp
    observations: pd.DataFrame
    table: pd.DataFrame  # PROJECTION_COLUMNS
    forecasters: pd.DataFrame  # FORECASTER_COLUMNS
    skipped: pd.DataFrame
    members: dict[str, str] = field(default_factory=dict)  # ensemble scenario -> its members
    weighting: str = "inverse backtest CRPS"

    def headline(self) -> pd.DataFrame:
        """The headline ensemble's rows."""
        t = self.table
        return t[(t["model"] == B.ENSEMBLE) & (t["scenario"] == B.ALL)].reset_index(drop=True)

    @property
    def anchor(self) -> pd.Series:
        return self.observations.iloc[-1]


def project(ledger: pd.DataFrame, series: str, models: list[str], scenarios: pd.DataFrame, when: pd.Timestamp,
            horizon: pd.Timestamp, cal: B.Calibrator, paths: int = 10_000, seed: int = 0) -> Projection:
    """Fit every model under every scenario on what was public at `when`; calibrated quantiles to `horizon`."""
    public = as_of(ledger, when)
    obs = P.observations(public, series)
    if horizon <= obs["date"].iloc[-1]:
        raise ParameterError(f"horizon {horizon.date()} is not after the last disclosure of {series} "
                             f"({obs['date'].iloc[-1].date()}); pick a later horizon")
    fits, skipped = P.fit_specs(obs, models, scenarios, public)
    if not fits:
        reasons = "; ".join(sorted(set(skipped["reason"])))
        raise ParameterError(f"no model could be fitted to {series} as of {when.date()}: {reasons}")
    grid = P.month_grid(obs["date"].iloc[0], horizon)
    rng = np.random.default_rng(seed)
    draws = np.empty((len(fits), paths, len(grid)))
    rows = []
    terms, _ = cal.terms(series, when)
    for i, f in enumerate(fits):
        up, down = cal.kappa(series, when, f.model)
        h = np.clip(P.years(grid, f.origin) - f.anchor_t, 0.0, None)
        draws[i] = f.log_draws(grid, paths, rng)
        if np.isfinite(up):
            draws[i] += np.sqrt(h)[None, :] * B.widening(rng.standard_normal((paths, 1)), up, down)
            np.minimum(draws[i], f.log_cap, out=draws[i])
        rows.append({"model": f.model, "scenario": f.scenario, "points": f.n, "anchor_id": f.anchor_id,
                     "at_bound": f.at_bound, "kappa_up": up, "kappa_down": down,
                     "kappa_targets": int(terms["n_targets"].get(f.model, 0)),
                     "weight": cal.weight(series, when, f.model, f.scenario)})
    specs = pd.DataFrame(rows)
    weighting = "inverse backtest CRPS"
    if not specs["weight"].notna().any():  # nothing to weigh by: said, and flagged in the table
        specs["weight"] = 1.0
        weighting = "equal (no other series' backtest cells to weigh by)"
    tables = [_quantiles(draws[i], grid, series, r["model"], r["scenario"], np.isfinite(r["kappa_up"]),
                         r["at_bound"])
              for i, r in specs.iterrows()]
    members = {}
    for name, who, mixed in B.ensembles(specs, draws, specs["weight"].to_numpy(float), paths):
        members[name] = who
        calibrated = bool(specs["kappa_up"].notna().all())
        tables.append(_quantiles(mixed, grid, series, B.ENSEMBLE, name, calibrated, ""))
    weights = specs["weight"].where((specs["at_bound"] == "") & specs["weight"].notna())
    specs["in_headline"] = weights.notna()
    specs["weight"] = weights / weights.sum() if weights.notna().any() else weights
    table = pd.concat(tables, ignore_index=True)
    return Projection(series, when, obs, table, specs[FORECASTER_COLUMNS], skipped, members, weighting)


def _quantiles(log_paths: np.ndarray, grid: pd.DatetimeIndex, series: str, model: str, scenario: str,
               calibrated: bool, at_bound: str) -> pd.DataFrame:
    return P.quantile_table(log_paths, grid).assign(series=series, model=model, scenario=scenario,
                                                     calibrated=calibrated, at_bound=at_bound, capped_by="")[
        PROJECTION_COLUMNS]


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
    """Score an archived forecast.csv on every disclosure made public after its vintage (log space).

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
        later = later[later["public_from"] > vintage]
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
