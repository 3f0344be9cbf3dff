"""Tokens per day to sustained FLOP/s, accelerators and capex.

Per token a transformer spends about 2 x active parameters FLOPs in its matrix multiplies, both when it
reads a prompt (prefill) and when it writes (decode). The two phases use hardware very differently:
prefill is compute-bound and runs at a high utilisation, decode is memory-bound and runs at a low one,
so the share of prefill tokens matters. Accelerators needed:

    peak_to_average x 2 N x tokens_per_day / 86,400 x (s / u_prefill + (1 - s) / u_decode) / peak_mix

with N active parameters, s the prefill share of counted tokens, u the utilisations and peak_mix the
mix-weighted peak dense BF16 FLOP/s of one accelerator; capex is that count times the mix-weighted price.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from tokenwatch.curated import read_curated, with_numbers
from tokenwatch.errors import ParameterError
from tokenwatch.paths import data_dir, data_file

SECONDS_PER_DAY = 86_400
ACCELERATOR_NUMBERS = ["peak_dense_bf16_tflops", "memory_gb", "price_cny"]
DEMAND_COLUMNS = ["scenario", "date", "tokens_per_day", "flops_per_s", "accelerators", "capex_cny"]


def load_accelerators(path: str | PathLike | None = None) -> pd.DataFrame:
    """data/accelerators.csv: peak throughput, memory and (where sourced) price per accelerator, with sources."""
    path = Path(path) if path else data_dir() / "accelerators.csv"
    raw = read_curated(path, ["accelerator", "vendor", *ACCELERATOR_NUMBERS, "spec_source", "price_source"],
                       "accelerator table")
    table = with_numbers(raw, ACCELERATOR_NUMBERS, path)
    table["price_source"] = table["price_source"].replace("", None)
    return table.set_index("accelerator", drop=False)


@dataclass(frozen=True)
class Assumptions:
    active_params: float
    prefill_share: float
    util_prefill: float
    util_decode: float
    peak_to_average: float
    mix: dict[str, float]
    prices_cny: dict[str, float]

    def check(self, table: pd.DataFrame) -> Assumptions:
        """Validate and fill each accelerator's price from the table where the user gave none."""
        if self.active_params <= 0:
            raise ParameterError(f"active_params={self.active_params} must be positive (e.g. 37e9)")
        if not 0 <= self.prefill_share <= 1:
            raise ParameterError(f"prefill_share={self.prefill_share} must be between 0 and 1")
        for name in ("util_prefill", "util_decode"):
            if not 0 < getattr(self, name) <= 1:
                raise ParameterError(f"{name}={getattr(self, name)} must be in (0, 1]")
        if self.peak_to_average < 1:
            raise ParameterError(f"peak_to_average={self.peak_to_average} must be at least 1")
        unknown = sorted(set(self.mix) - set(table.index))
        if unknown or not self.mix:
            raise ParameterError(f"accelerator mix {self.mix} names unknown accelerators {unknown}; "
                                 f"{data_file('accelerators.csv')} has {list(table.index)}")
        if any(w < 0 for w in self.mix.values()) or not np.isclose(sum(self.mix.values()), 1.0):
            raise ParameterError(f"mix weights {self.mix} must be non-negative and sum to 1")
        unknown = sorted(set(self.prices_cny) - set(table.index))
        if unknown:
            raise ParameterError(f"prices_cny names {unknown}, which are not in {data_file('accelerators.csv')}; "
                                 f"use names from {list(table.index)}")
        prices = dict(self.prices_cny)
        for name in self.mix:
            if name not in prices:
                listed = table.loc[name, "price_cny"]
                if pd.isna(listed):
                    raise ParameterError(f"no sourced price for {name} in {data_file('accelerators.csv')}; give one in "
                                         f"prices_cny, e.g. {{'{name}': 100000}}, stating where it comes from")
                prices[name] = float(listed)
        return replace(self, prices_cny=prices)


def flops_per_second(tokens_per_day, active_params: float):
    """Sustained FLOP/s: 2 x active parameters per token, averaged over the day."""
    return 2.0 * active_params * np.asarray(tokens_per_day, dtype=float) / SECONDS_PER_DAY


def demand(tokens_per_day, a: Assumptions, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """FLOP/s, accelerators and capex (CNY) for tokens per day (scalars or arrays)."""
    flops = flops_per_second(tokens_per_day, a.active_params)
    peak = sum(w * table.loc[n, "peak_dense_bf16_tflops"] * 1e12 for n, w in a.mix.items())
    price = sum(w * a.prices_cny[n] for n, w in a.mix.items())
    per_phase = a.prefill_share / a.util_prefill + (1 - a.prefill_share) / a.util_decode
    accelerators = a.peak_to_average * flops * per_phase / peak
    return {"flops_per_s": flops, "accelerators": accelerators, "capex_cny": accelerators * price}


def demand_table(projection: pd.DataFrame, a: Assumptions, table: pd.DataFrame, quantile: str = "p50") -> pd.DataFrame:
    """compute_demand.csv from projection rows (one model): the chosen quantile per scenario and date."""
    tokens = projection[quantile].to_numpy()
    d = demand(tokens, a, table)
    return pd.DataFrame({"scenario": projection["scenario"].to_numpy(),
                         "date": pd.to_datetime(projection["date"]).dt.date,
                         "tokens_per_day": tokens, **d})[DEMAND_COLUMNS]


def sensitivity(tokens_per_day: float, a: Assumptions, table: pd.DataFrame,
                ranges: dict[str, list[float]]) -> pd.DataFrame:
    """Accelerators at each assumption's low and high value, the others at base (for a tornado chart).

    `ranges` maps an assumption name (or 'price_scale' for all prices) to [low, high].
    """
    at_base = demand(tokens_per_day, a, table)
    base, base_capex = float(at_base["accelerators"]), float(at_base["capex_cny"])
    rows = []
    fields = asdict(a)
    for name, (low, high) in ranges.items():
        if name not in fields and name != "price_scale":
            raise ParameterError(f"sensitivity to {name!r}: not an assumption; choose from {sorted(fields)}")
        out = {"assumption": name, "low_value": low, "high_value": high}
        for end, value in (("low", low), ("high", high)):
            if name == "price_scale":
                alt = replace(a, prices_cny={k: v * value for k, v in a.prices_cny.items()})
            else:
                alt = replace(a, **{name: value})  # type: ignore[arg-type]  # name is a float field, checked above
            alt = alt.check(table)
            d = demand(tokens_per_day, alt, table)
            out[f"accelerators_{end}"] = float(d["accelerators"])
            out[f"capex_{end}"] = float(d["capex_cny"])
        rows.append(out)
    frame = pd.DataFrame(rows).assign(base_accelerators=base, base_capex=base_capex)
    frame["swing"] = (frame["capex_high"] - frame["capex_low"]).abs()
    return frame.sort_values("swing").reset_index(drop=True)
