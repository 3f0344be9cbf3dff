"""Tokens per day to sustained FLOP/s, accelerators and capex.

Per token a transformer spends about 2 x active parameters FLOPs in its matrix multiplies, both when it
reads a prompt (prefill) and when it writes (decode), plus its attention over the context:
2 x layers x context x heads x (query-key + value width per head) (Kaplan et al. 2020, "Scaling Laws for
Neural Language Models", table 1, written per head). The two phases use hardware very differently:
prefill is compute-bound and runs at a high utilisation, decode is memory-bound and runs at a low one,
so the share of prefill tokens matters. Accelerators needed:

    peak_to_average x 2 N x tokens_per_day / 86,400 x (s / u_prefill + (1 - s) / u_decode) / peak_mix

with 2 N replaced by the FLOPs per token above, s the prefill share of counted tokens, u the utilisations
and peak_mix the mix-weighted dense peak of one accelerator at the serving precision (BF16, FP8 or INT8, as
published; a precision an accelerator lacks is an error). Capex per year buys the fleet's
growth over the year plus the replacement of last year's fleet over its service life (straight line):

    bought(y) = max(fleet(y) - fleet(y - 1), 0) + fleet(y - 1) / service_life

chips only at the mix-weighted price, and all-in with server, network and data-centre spending as fractions
of chip spending (assumptions, set as parameters); in CNY and in USD at a dated rate.

A second route skips FLOPs and utilisations: measured serving throughput (tokens a second per accelerator,
prefill and decode, at a stated interactivity; data/serving_throughput.csv), moved from the accelerator it was
measured on to the mix by peak at the serving precision for prefill (compute-bound) and by memory bandwidth
for decode (memory-bound).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from tokenwatch.curated import read_curated, with_numbers
from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.paths import data_dir, data_file

SECONDS_PER_DAY = 86_400
PRECISIONS = {"bf16": "peak_dense_bf16_tflops", "fp8": "peak_dense_fp8_tflops", "int8": "peak_dense_int8_tops"}
ACCELERATOR_NUMBERS = [*PRECISIONS.values(), "memory_gb", "memory_bandwidth_tbs", "price_cny"]
MIX_COLUMNS = ["mix", "accelerator", "units", "included", "source", "confidence", "notes"]
THROUGHPUT_COLUMNS = ["accelerator", "model", "precision", "phase", "tokens_per_s_per_accelerator", "interactivity",
                      "measured_from", "measured_to", "source"]
ROUTE_COLUMNS = ["scenario", "date", "tokens_per_day", "accelerators_flops", "accelerators_measured", "ratio"]
DEMAND_COLUMNS = ["scenario", "date", "tokens_per_day", "flops_per_s", "accelerators", "capex_cny"]


def load_accelerators(path: str | PathLike | None = None) -> pd.DataFrame:
    """data/accelerators.csv: dense peaks by precision, memory, bandwidth and (where sourced) price per
    accelerator; every row names its source or says "no source found"."""
    path = Path(path) if path else data_dir() / "accelerators.csv"
    raw = read_curated(path, ["accelerator", "vendor", *ACCELERATOR_NUMBERS, "spec_source", "price_source"],
                       "accelerator table")
    unsourced = raw.loc[(raw["spec_source"].str.strip() == "") | (raw["price_source"].str.strip() == ""),
                        "accelerator"].tolist()
    if unsourced:
        raise DataValidationError(f"{path}: {unsourced} have an empty spec_source or price_source; give the source "
                                  "or write 'no source found'")
    table = with_numbers(raw, ACCELERATOR_NUMBERS, path)
    priced = table["price_source"] != "no source found"
    if (table["price_cny"].notna() != priced).any():
        bad = table.loc[table["price_cny"].notna() != priced, "accelerator"].tolist()
        raise DataValidationError(f"{path}: {bad} have a price without a source or a source without a price")
    return table.set_index("accelerator", drop=False)


def load_mixes(path: str | PathLike | None = None) -> pd.DataFrame:
    """data/accelerator_mixes.csv: named mixes as units per accelerator with sources; `included` says which rows
    weigh in (a row left out says why in its notes)."""
    path = Path(path) if path else data_dir() / "accelerator_mixes.csv"
    table = with_numbers(read_curated(path, MIX_COLUMNS, "accelerator mixes"), ["units"], path)
    bad = ~table["included"].isin(["yes", "no"])
    if bad.any():
        raise DataValidationError(f"{path} line {int(bad.to_numpy().argmax()) + 2}: included must be yes or no")
    return table


def named_mix(name: str, table: pd.DataFrame, mixes: pd.DataFrame | None = None) -> dict[str, float]:
    """Shares by count of the rows of mix `name` that are included, from their units."""
    mixes = load_mixes() if mixes is None else mixes
    rows = mixes[(mixes["mix"] == name) & (mixes["included"] == "yes")]
    if rows.empty:
        raise ParameterError(f"mix_name={name!r} is not in {data_file('accelerator_mixes.csv')}; named mixes: "
                             f"{sorted(mixes['mix'].unique())}, or give mix as shares")
    unknown = sorted(set(rows["accelerator"]) - set(table.index))
    if unknown or rows["units"].isna().any() or (rows["units"] <= 0).any():
        raise DataValidationError(f"{data_file('accelerator_mixes.csv')}: mix {name!r} includes {unknown or 'rows'} "
                                  "without an accelerator row or without positive units")
    return {str(r.accelerator): float(r.units) / float(rows["units"].sum()) for r in rows.itertuples()}


@dataclass(frozen=True)
class Measured:
    """Measured serving throughput on one accelerator: tokens a second per accelerator in each phase."""

    accelerator: str
    model: str
    precision: str
    prefill: float
    decode: float
    interactivity: str
    period: str
    source: str


def load_throughput(path: str | PathLike | None = None) -> pd.DataFrame:
    """data/serving_throughput.csv: published tokens a second per accelerator, by phase, with sources."""
    path = Path(path) if path else data_dir() / "serving_throughput.csv"
    return with_numbers(read_curated(path, THROUGHPUT_COLUMNS, "serving throughput"),
                        ["tokens_per_s_per_accelerator"], path)


def measured(accelerator: str, model: str = "", table: pd.DataFrame | None = None) -> Measured:
    """The prefill and decode rows of one accelerator (and model, if given) in data/serving_throughput.csv."""
    table = load_throughput() if table is None else table
    rows = table[(table["accelerator"] == accelerator) & ((table["model"] == model) if model else True)]
    phases = rows.set_index("phase")
    if not {"prefill", "decode"} <= set(phases.index) or phases.index.duplicated().any():
        found = rows[["accelerator", "model", "phase"]].to_dict("records")
        raise ParameterError(f"{data_file('serving_throughput.csv')} needs one prefill and one decode row for "
                             f"{accelerator} {model}; it has {found}")
    pre, dec = phases.loc["prefill"], phases.loc["decode"]
    return Measured(accelerator, str(pre["model"]), str(pre["precision"]), float(pre["tokens_per_s_per_accelerator"]),
                    float(dec["tokens_per_s_per_accelerator"]), str(dec["interactivity"]),
                    f"{pre['measured_from']} to {pre['measured_to']}", str(pre["source"]))


def measured_accelerators(tokens_per_day, a: Assumptions, table: pd.DataFrame, ref: Measured) -> np.ndarray:
    """Route 2: accelerators from measured tokens a second, moved from the reference accelerator to the mix by
    peak at the serving precision (prefill) and by memory bandwidth (decode), at the same peak-to-average."""
    scale = route_scales(ref, a, table)
    per_second = np.asarray(tokens_per_day, dtype=float) / SECONDS_PER_DAY
    per_phase = (a.prefill_share / (ref.prefill * scale["prefill"])
                 + (1 - a.prefill_share) / (ref.decode * scale["decode"]))
    return a.peak_to_average * per_second * per_phase


def route_scales(ref: Measured, a: Assumptions, table: pd.DataFrame) -> dict[str, float]:
    """How much faster one accelerator of the mix is than the measured one: by peak at the serving precision
    against the measured precision (prefill, compute-bound) and by memory bandwidth (decode, memory-bound)."""
    if ref.precision not in PRECISIONS:
        raise ParameterError(f"measured throughput on {ref.accelerator} is at {ref.precision!r}, not one of "
                             f"{list(PRECISIONS)}")
    return {"prefill": peak(a, table) / (float(table.loc[ref.accelerator, PRECISIONS[ref.precision]]) * 1e12),
            "decode": (mix_weighted(a, table, "memory_bandwidth_tbs")
                       / float(table.loc[ref.accelerator, "memory_bandwidth_tbs"]))}


def implied_utilisation(ref: Measured, a: Assumptions, table: pd.DataFrame) -> dict[str, float]:
    """The share of the reference accelerator's peak that its measured throughput uses at this FLOPs per token:
    what route 1's utilisations would have to be for the two routes to agree on that accelerator."""
    ref_peak = float(table.loc[ref.accelerator, PRECISIONS[ref.precision]]) * 1e12
    return {"prefill": ref.prefill * a.flops_per_token / ref_peak, "decode": ref.decode * a.flops_per_token / ref_peak}


def routes(projection: pd.DataFrame, a: Assumptions, table: pd.DataFrame, ref: Measured,
           quantile: str = "p50") -> pd.DataFrame:
    """Both routes at each scenario's year ends and last date: accelerators from FLOPs at the assumed
    utilisations, from measured throughput, and their ratio (route 1 over route 2)."""
    frame = projection.assign(date=pd.to_datetime(projection["date"]))
    last = frame.sort_values("date").groupby("scenario", sort=False).tail(1)
    rows = pd.concat([year_ends(frame), last]).drop_duplicates(["scenario", "date"])
    order = {s: i for i, s in enumerate(dict.fromkeys(projection["scenario"]))}
    rows = rows.sort_values(["scenario", "date"], key=lambda c: c.map(order) if c.name == "scenario" else c)
    tokens = rows[quantile].to_numpy(dtype=float)
    flops_route = demand(tokens, a, table)["accelerators"]
    measured_route = measured_accelerators(tokens, a, table, ref)
    return pd.DataFrame({"scenario": rows["scenario"].to_numpy(), "date": rows["date"].dt.date.to_numpy(),
                         "tokens_per_day": tokens, "accelerators_flops": flops_route,
                         "accelerators_measured": measured_route, "ratio": flops_route / measured_route},
                        columns=ROUTE_COLUMNS)


@dataclass(frozen=True)
class Assumptions:
    active_params: float
    prefill_share: float
    util_prefill: float
    util_decode: float
    peak_to_average: float
    mix: dict[str, float]
    prices_cny: dict[str, float]
    layers: int = 0  # attention: 0 leaves it out
    heads: int = 0
    qk_dim: int = 0  # query-key width per head
    v_dim: int = 0  # value width per head
    context: float = 0.0  # tokens attended to, on average, per counted token
    service_life: float = 4.0  # years an accelerator serves before it is replaced
    server_overhead: float = 0.0  # server, network and data-centre spending as a fraction of chip spending
    network_overhead: float = 0.0
    datacentre_overhead: float = 0.0
    usd_cny: float = 0.0  # CNY per USD; 0 leaves USD out
    precision: str = "bf16"  # serving precision: bf16, fp8 or int8 (a column of data/accelerators.csv)

    @property
    def flops_per_token(self) -> float:
        """2 x active parameters plus attention over the context (forward pass, FLOPs)."""
        return flops_per_token(self.active_params, self.layers, self.heads, self.qk_dim, self.v_dim, self.context)

    @property
    def all_in_multiple(self) -> float:
        return 1.0 + self.server_overhead + self.network_overhead + self.datacentre_overhead

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
        for name in ("layers", "heads", "qk_dim", "v_dim", "context", "server_overhead", "network_overhead",
                     "datacentre_overhead", "usd_cny"):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name}={getattr(self, name)} must not be negative")
        if self.service_life <= 0:
            raise ParameterError(f"service_life={self.service_life} must be positive (years, e.g. 4)")
        if self.precision not in PRECISIONS:
            raise ParameterError(f"precision={self.precision!r} is not one of {list(PRECISIONS)}")
        unknown = sorted(set(self.mix) - set(table.index))
        if unknown or not self.mix:
            raise ParameterError(f"accelerator mix {self.mix} names unknown accelerators {unknown}; "
                                 f"{data_file('accelerators.csv')} has {list(table.index)}")
        if any(w < 0 for w in self.mix.values()) or not np.isclose(sum(self.mix.values()), 1.0):
            raise ParameterError(f"mix weights {self.mix} must be non-negative and sum to 1")
        lacking = [n for n in self.mix if pd.isna(table.loc[n, PRECISIONS[self.precision]])]
        if lacking:
            common = [k for k, c in PRECISIONS.items() if table.loc[list(self.mix), c].notna().all()]
            raise ParameterError(f"{', '.join(lacking)}: no published {self.precision.upper()} peak in "
                                 f"{data_file('accelerators.csv')}; set precision to one the whole mix has ({common}) "
                                 "or take them out of the mix")
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


def flops_per_token(active_params: float, layers: int = 0, heads: int = 0, qk_dim: int = 0, v_dim: int = 0,
                    context: float = 0.0) -> float:
    """Forward FLOPs per token: 2 x active parameters plus 2 x layers x context x heads x (qk_dim + v_dim)."""
    return 2.0 * active_params + 2.0 * layers * context * heads * (qk_dim + v_dim)


def flops_per_second(tokens_per_day, per_token: float):
    """Sustained FLOP/s: FLOPs per token times tokens, averaged over the day."""
    return per_token * np.asarray(tokens_per_day, dtype=float) / SECONDS_PER_DAY


def price(a: Assumptions) -> float:
    """The mix-weighted price of one accelerator, CNY."""
    return sum(w * a.prices_cny[n] for n, w in a.mix.items())


def mix_weighted(a: Assumptions, table: pd.DataFrame, column: str) -> float:
    """A column of data/accelerators.csv averaged over the mix by count; a missing value names its accelerator."""
    missing = [n for n in a.mix if pd.isna(table.loc[n, column])]
    if missing:
        raise ParameterError(f"{column} is missing for {missing} in {data_file('accelerators.csv')}; add a sourced "
                             "value or take them out of the mix")
    return float(sum(w * table.loc[n, column] for n, w in a.mix.items()))


def peak(a: Assumptions, table: pd.DataFrame) -> float:
    """The mix-weighted dense peak of one accelerator at the serving precision, FLOP/s (or OP/s for INT8)."""
    return mix_weighted(a, table, PRECISIONS[a.precision]) * 1e12


def demand(tokens_per_day, a: Assumptions, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """FLOP/s, accelerators and the fleet's chip value (CNY) for tokens per day (scalars or arrays)."""
    flops = flops_per_second(tokens_per_day, a.flops_per_token)
    per_phase = a.prefill_share / a.util_prefill + (1 - a.prefill_share) / a.util_decode
    accelerators = a.peak_to_average * flops * per_phase / peak(a, table)
    return {"flops_per_s": flops, "accelerators": accelerators, "capex_cny": accelerators * price(a)}


def bought(fleet_before, fleet_after, service_life: float):
    """Accelerators bought in a year: the fleet's growth plus replacing last year's fleet over its life."""
    before, after = np.asarray(fleet_before, dtype=float), np.asarray(fleet_after, dtype=float)
    return np.clip(after - before, 0.0, None) + before / service_life


def capex_per_year(tokens_before, tokens_after, a: Assumptions, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The year's fleet at its end, accelerators bought, chip and all-in capex (CNY) from year-end tokens."""
    before = demand(tokens_before, a, table)["accelerators"]
    after = demand(tokens_after, a, table)["accelerators"]
    units = bought(before, after, a.service_life)
    chips = units * price(a)
    return {"accelerators": after, "bought": units, "capex_chips_cny": chips,
            "capex_all_in_cny": chips * a.all_in_multiple}


def year_ends(projection: pd.DataFrame) -> pd.DataFrame:
    """The rows dated 31 December, with `date` as timestamps: where a calendar year's fleet is read."""
    frame = projection.assign(date=pd.to_datetime(projection["date"]))
    return frame[(frame["date"].dt.month == 12) & (frame["date"].dt.day == 31)]


def capex_by_year(projection: pd.DataFrame, a: Assumptions, table: pd.DataFrame,
                  quantiles: tuple[str, ...] = ("p10", "p50", "p90")) -> pd.DataFrame:
    """capex_by_year.csv: per calendar year with a year-end before and after it on the grid, and scenario.

    Each quantile is costed along its own path (the p90 year-end fleet against the p90 one a year earlier):
    what the tokens' quantiles imply if the paths keep their rank, as the projection's quantile paths do.
    """
    ends = year_ends(projection)
    rows = []
    for scenario, part in ends.groupby("scenario", sort=False):
        part = part.set_index(part["date"].dt.year).sort_index()
        for year in part.index[1:]:
            if year - 1 not in part.index:
                continue
            row: dict[str, object] = {"year": int(year), "scenario": scenario}
            for q in quantiles:
                c = capex_per_year(part.at[year - 1, q], part.at[year, q], a, table)
                row[f"accelerators_{q}"] = float(c["accelerators"])
                row[f"bought_{q}"] = float(c["bought"])
                for kind in ("chips", "all_in"):
                    cny = float(c[f"capex_{kind}_cny"])
                    row[f"capex_{kind}_cny_{q}"] = cny
                    row[f"capex_{kind}_usd_{q}"] = cny / a.usd_cny if a.usd_cny else np.nan
            rows.append(row)
    columns = ["year", "scenario", *(f"accelerators_{q}" for q in quantiles), *(f"bought_{q}" for q in quantiles),
               *(f"capex_{k}_{c}_{q}" for k in ("chips", "all_in") for c in ("cny", "usd") for q in quantiles)]
    return pd.DataFrame(rows, columns=columns)


def demand_table(projection: pd.DataFrame, a: Assumptions, table: pd.DataFrame, quantile: str = "p50") -> pd.DataFrame:
    """compute_demand.csv from projection rows (one model): the chosen quantile per scenario and date."""
    tokens = projection[quantile].to_numpy()
    d = demand(tokens, a, table)
    return pd.DataFrame({"scenario": projection["scenario"].to_numpy(),
                         "date": pd.to_datetime(projection["date"]).dt.date,
                         "tokens_per_day": tokens, **d})[DEMAND_COLUMNS]


def sensitivity(tokens_before: float, tokens_after: float, a: Assumptions, table: pd.DataFrame,
                ranges: dict[str, list[float]]) -> pd.DataFrame:
    """All-in capex in one year (tokens at its start and end) and the year-end fleet, at each assumption's low and
    high value with the others at base, ranked by the swing in capex (for a tornado chart).

    `ranges` maps an assumption name (or 'price_scale' for all prices) to [low, high].
    """
    at_base = capex_per_year(tokens_before, tokens_after, a, table)
    base, base_capex = float(at_base["accelerators"]), float(at_base["capex_all_in_cny"])
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
                alt = replace(a, **{name: value})  # type: ignore[arg-type]  # name is a number field, checked above
            alt = alt.check(table)
            d = capex_per_year(tokens_before, tokens_after, alt, table)
            out[f"accelerators_{end}"] = float(d["accelerators"])
            out[f"capex_{end}"] = float(d["capex_all_in_cny"])
        rows.append(out)
    frame = pd.DataFrame(rows).assign(base_accelerators=base, base_capex=base_capex)
    frame["swing"] = (frame["capex_high"] - frame["capex_low"]).abs()
    return frame.sort_values("swing").reset_index(drop=True)
