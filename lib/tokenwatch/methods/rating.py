"""Rating bands (data/rating_bands.csv) and whether a call held.

A rating is scored on the subject's return minus the benchmark's, from the close on (or before) the
call date to the close on (or before) the end of the horizon. The bands come from the report's
rating standard; where two bands meet, the edge belongs to the milder rating (exactly +5% is neutral
for an industry, exactly -15% is underweight for a company), as the file's inclusive flags say.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from tokenwatch.curated import read_curated, with_numbers
from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.methods.baskets import cumulative_pct
from tokenwatch.paths import data_dir

SCORE_COLUMNS = ["subject", "call_date", "horizon_end", "subject_return_pct", "benchmark_return_pct", "relative_pct",
                 "band", "rating", "held"]


def load_bands(path: str | PathLike | None = None) -> pd.DataFrame:
    """The bands, checked to cover every relative return exactly once for each kind."""
    path = Path(path) if path else data_dir() / "rating_bands.csv"
    bands = with_numbers(read_curated(path, ["kind", "rating", "rating_en", "lower_pct", "upper_pct", "lower_inclusive",
                                             "upper_inclusive", "source"], "rating bands"),
                         ["lower_pct", "upper_pct"], path)
    if "colour" not in bands:  # a chart colour per band; a file without them draws the bands plain
        bands["colour"] = "#ffffff"
    for col in ("lower_inclusive", "upper_inclusive"):
        bands[col] = bands[col].astype(str).str.lower().map({"true": True, "false": False})
        if bands[col].isna().any():
            raise DataValidationError(f"{path}: {col} must be true or false")
    for kind, part in bands.groupby("kind"):
        part = part.sort_values("lower_pct")
        if part["lower_pct"].iloc[0] != -np.inf or part["upper_pct"].iloc[-1] != np.inf:
            raise DataValidationError(f"{path}: the {kind} bands must run from -inf to inf")
        for a, b in zip(part.iloc[:-1].itertuples(), part.iloc[1:].itertuples(), strict=True):
            if a.upper_pct != b.lower_pct or a.upper_inclusive == b.lower_inclusive:
                raise DataValidationError(f"{path}: {kind} bands {a.rating} and {b.rating} must meet at one edge "
                                          "that exactly one of them includes")
    return bands


def band_of(relative_pct: float, kind: str, bands: pd.DataFrame) -> str:
    """The rating whose band holds `relative_pct` (percentage points over the benchmark)."""
    part = bands[bands["kind"] == kind]
    if part.empty:
        raise ParameterError(f"kind={kind!r} is not one of {sorted(bands['kind'].unique())}")
    for b in part.itertuples():
        above = relative_pct > b.lower_pct or (b.lower_inclusive and relative_pct == b.lower_pct)
        below = relative_pct < b.upper_pct or (b.upper_inclusive and relative_pct == b.upper_pct)
        if above and below:
            return b.rating
    raise ParameterError(f"relative return {relative_pct!r} falls in no {kind} band")


def rating_name(rating: str, kind: str, bands: pd.DataFrame) -> str:
    """Accept a rating in Chinese or English ('增持' or 'overweight'); return the Chinese name."""
    part = bands[bands["kind"] == kind]
    for b in part.itertuples():
        if rating in (b.rating, b.rating_en):
            return b.rating
    options = ", ".join(f"{b.rating} ({b.rating_en})" for b in part.itertuples())
    raise ParameterError(f"rating {rating!r} is not among the {kind} ratings; use one of {options}")


@dataclass(frozen=True)
class Score:
    row: dict
    path: pd.DataFrame  # date, subject_pct, benchmark_pct, relative_pct from the call
    partial: str  # "" when the horizon is complete in the data, else why not


def score(subject: pd.Series, benchmark: pd.Series, call_date: pd.Timestamp, months: int, rating: str, kind: str,
          bands: pd.DataFrame, name: str) -> Score:
    """Score one subject (closes indexed by date) against the benchmark's closes."""
    both = pd.concat({"s": subject, "b": benchmark}, axis=1).dropna()
    if both.empty or call_date < both.index[0]:
        raise ParameterError(f"{name}: no close on or before the call date {call_date.date()} "
                             f"(data from {both.index[0].date() if len(both) else 'nowhere'})")
    start = both.index[both.index.searchsorted(call_date, side="right") - 1]
    horizon_end = call_date + pd.DateOffset(months=months)
    window = both.loc[start:horizon_end]
    partial = ""
    if horizon_end > both.index[-1]:
        partial = (f"the horizon runs to {horizon_end.date()} but the data end {both.index[-1].date()}: "
                   f"scored on {len(window) - 1} sessions")
    if len(window) < 2:
        raise ParameterError(f"{name}: no session after the call date {call_date.date()} in the data")
    path = pd.DataFrame({"subject_pct": cumulative_pct(window["s"]), "benchmark_pct": cumulative_pct(window["b"])})
    path["relative_pct"] = path["subject_pct"] - path["benchmark_pct"]
    last = path.iloc[-1]
    band = band_of(float(last["relative_pct"]), kind, bands)
    row = {"subject": name, "call_date": start.date(), "horizon_end": window.index[-1].date(),
           "subject_return_pct": last["subject_pct"], "benchmark_return_pct": last["benchmark_pct"],
           "relative_pct": last["relative_pct"], "band": band, "rating": rating, "held": band == rating,
           "kind": kind, "best_relative_pct": path["relative_pct"].max(),
           "worst_relative_pct": path["relative_pct"].min(), "complete": not partial}
    return Score(row, path.rename_axis("date").reset_index(), partial)
