"""The tokens-to-compute notebook's work: a projection (or a level) turned into FLOP/s, accelerators, capex."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch.artifacts import file_source
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.errors import ParameterError
from tokenwatch.methods import compute
from tokenwatch.paths import data_dir, data_file
from tokenwatch.plots import NEUTRAL, finish, new_figure
from tokenwatch.reports import token_projection
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed


@dataclass
class ComputeReport(Report):
    run_name: ClassVar[str] = "tokens_to_compute"
    formats: ClassVar[dict[str, str]] = {
        "peak_dense_bf16_tflops": "{:,.1f}", "price_cny": "{:,.0f}", "accelerators": "{:,.0f}",
        **dict.fromkeys(["tokens_per_day", "flops_per_s", "capex_cny", "low_value", "high_value", "accelerators_low",
                         "accelerators_high", "capex_low", "capex_high"], "{:.3g}")}
    series: str
    model: str
    quantile: str
    assumptions: compute.Assumptions
    demand: pd.DataFrame  # compute.DEMAND_COLUMNS
    sensitivity: pd.DataFrame
    sensitivity_at: str
    basis: str  # where the token path came from
    accelerators: pd.DataFrame  # data/accelerators.csv as loaded for this run
    notices: list[str] = field(default_factory=list)

    def at_horizon(self) -> pd.DataFrame:
        """Each scenario's last date: tokens, FLOP/s, accelerators, capex (in the order given: the headline first)."""
        last = self.demand.sort_values("date").groupby("scenario").tail(1).set_index("scenario", drop=False)
        return last.loc[list(dict.fromkeys(self.demand["scenario"]))].reset_index(drop=True)

    def mix_table(self) -> pd.DataFrame:
        """The accelerators in the mix with their specifications and sources."""
        return self.accelerators.loc[list(self.assumptions.mix), [
            "accelerator", "vendor", "peak_dense_bf16_tflops", "memory_gb", "price_cny", "confidence", "spec_source",
            "price_source"]]

    @property
    def source_line(self) -> str:
        return (f"Tokens: {self.basis}. Accelerators: {data_file('accelerators.csv')} (peak dense BF16, sourced per "
                "row); "
                "utilisations, model size, prefill share and peak-to-average are assumptions set as parameters.")

    def summary(self) -> dict:
        last = self.at_horizon()
        head = {f"{r.scenario} accelerators {r.date}": f"{r.accelerators:,.0f}" for r in last.itertuples()}
        return {
            "notebook": "tokens_to_compute", "series": self.series, "model": self.model, "quantile": self.quantile,
            "basis": self.basis, "assumptions": asdict(self.assumptions),
            "at_horizon": last.to_dict("records"), "sensitivity_at": self.sensitivity_at,
            "sensitivity": self.sensitivity.to_dict("records"), "notices": self.notices,
            "headline": dict(list(head.items())[:4]),
            "sources": [file_source(data_dir() / "accelerators.csv", len(self.accelerators),
                                    "accelerator peak throughput and memory, each row with its source")],
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"compute_demand": cols(self.demand, compute.DEMAND_COLUMNS, "compute_demand"),
                "sensitivity": self.sensitivity}

    @property
    def findings(self) -> list[str]:
        lines = [f"{r.scenario}: {r.accelerators:,.0f} accelerators and {r.capex_cny / 1e9:,.1f} bn CNY of chips in "
                 f"service on {r.date}" for r in self.at_horizon().itertuples()][:3]
        if len(self.sensitivity):
            s = self.sensitivity
            top = s.assign(span=(s["accelerators_high"] - s["accelerators_low"]).abs()).sort_values("span").iloc[-1]
            lines.append(f"The assumption that moves the count most is {top['assumption']} "
                         f"({top['accelerators_low']:,.0f} to {top['accelerators_high']:,.0f} accelerators "
                         f"over {top['low_value']:g} to {top['high_value']:g}).")
        lines.append(f"Tokens: {self.basis}.")
        return lines


def token_path(projection_dir: str, series: str, model: str,
               horizon: pd.Timestamp) -> tuple[pd.DataFrame, str, str, str | None]:
    """Projection rows of one model (all scenarios), the model, where they came from, the chosen scenario."""
    if projection_dir:
        table, summary = token_projection.read_run(projection_dir)
        series = summary.get("series", series)
        best = summary.get("chosen") or {}
        basis = f"token_projection run in {projection_dir}"
    else:
        report = token_projection.project_series(series, token_projection.AUTO, horizon,
                                                 list(token_projection.P.MODELS), [])
        table, best = report.projection.table, report.chosen or {}
        for line in report.notices:
            notice(line)
        basis = f"projection of {series} computed here (fit on every disclosure public today)"
    chosen = best.get("model")
    if not model:
        if not chosen:
            raise ParameterError("no model was chosen out of sample (no backtest); set model to one of "
                                 f"{sorted(table['model'].unique())}")
        model = chosen
        notice(f"model {model}, scenario {best.get('scenario')}: the projection's headline forecast")
    part = table[table["model"] == model]
    head = best.get("scenario") if best.get("model") == model else None
    part = pd.concat([part[part["scenario"] == head], part[part["scenario"] != head]])  # the headline first
    if part.empty:
        raise ParameterError(f"model {model!r} is not in the projection; models: {sorted(table['model'].unique())}")
    return part, model, f"{basis}, model {model}", best.get("scenario") if best.get("model") == model else None


def compute_report(projection_dir: str, series: str, model: str, quantile: str, tokens_per_day: float,
                   horizon: pd.Timestamp, a: compute.Assumptions,
                   ranges: dict[str, list[float]]) -> ComputeReport:
    table = compute.load_accelerators()
    a = a.check(table)
    if quantile not in token_projection.P.QUANTILES:
        raise ParameterError(f"quantile={quantile!r} is not one of {list(token_projection.P.QUANTILES)}")
    if tokens_per_day > 0:
        rows = pd.DataFrame({"scenario": ["given level"], "date": [pd.Timestamp.today().normalize()],
                             quantile: [tokens_per_day]})
        model, basis, scenario = "", f"a given level of {tokens_per_day:.3g} tokens per day", None
    else:
        rows, model, basis, scenario = token_path(projection_dir, series, model, horizon)
    demand = compute.demand_table(rows, a, table, quantile)
    scenario = scenario or demand["scenario"].iloc[0]
    at = demand[demand["scenario"] == scenario].sort_values("date").iloc[-1]
    sens = compute.sensitivity(float(at["tokens_per_day"]), a, table, ranges)
    return ComputeReport(series, model, quantile, a, demand, sens, f"{at['scenario']} on {at['date']}", basis,
                         table, [])


def demand_chart(r: ComputeReport) -> Figure:
    fig, ax = new_figure()
    for i, (scenario, part) in enumerate(r.demand.groupby("scenario", sort=False)):
        ax.plot(pd.to_datetime(part["date"]), part["accelerators"], color=f"C{i}", lw=1.6, label=scenario)
    ax.set_yscale("log")
    ax.legend(fontsize=8, frameon=False)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    mix = ", ".join(f"{k} {v:.0%}" for k, v in r.assumptions.mix.items())
    return finish(fig, f"Accelerators implied by {r.series} tokens ({r.model or 'given level'}, {r.quantile}; "
                  f"mix {mix})", r.source_line, xlabel="date", ylabel="accelerators in service (log scale)")


def tornado_chart(r: ComputeReport) -> Figure:
    s = r.sensitivity
    fig, ax = new_figure()
    base = s["base_capex"].iloc[0] / 1e9
    y = np.arange(len(s))
    low, high = s["capex_low"] / 1e9, s["capex_high"] / 1e9
    ax.barh(y, high - base, left=base, color="#c0392b", label="high value of the assumption")
    ax.barh(y, low - base, left=base, color="#2e86c1", label="low value of the assumption")
    ax.axvline(base, color=NEUTRAL, lw=1)
    ax.set_yticks(y, [f"{n} [{lo:g}, {hi:g}]" for n, lo, hi in zip(s["assumption"], s["low_value"], s["high_value"],
                                                                    strict=True)])
    ax.legend(fontsize=8, frameon=False)
    return finish(fig, f"Sensitivity of capex at {r.sensitivity_at}", r.source_line,
                  xlabel="capex, billion CNY (base at the grey line)", ylabel="assumption [low, high]")


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 05's parameters, checked once."""

    projection_dir: str = parsed(checks.text)
    series: str = parsed(checks.text)
    model: str = parsed(checks.text)
    horizon: pd.Timestamp = parsed(checks.as_date)
    quantile: str = parsed(checks.text)
    tokens_per_day: float = parsed(checks.number)
    active_params: float = parsed(checks.number)
    prefill_share: float = parsed(checks.number)
    util_prefill: float = parsed(checks.number)
    util_decode: float = parsed(checks.number)
    peak_to_average: float = parsed(checks.number)
    mix: dict = parsed(checks.mapping)
    prices_cny: dict = parsed(checks.mapping)
    sensitivity: dict = parsed(checks.mapping)

    @property
    def assumptions(self) -> compute.Assumptions:
        return compute.Assumptions(self.active_params, self.prefill_share, self.util_prefill, self.util_decode,
                                   self.peak_to_average, dict(self.mix), dict(self.prices_cny))


def build(p: Params, source: object = None) -> ComputeReport:
    """A token path (or a given level) in FLOP/s, accelerators and capex, with a sensitivity (no prices)."""
    with collect_notices() as notices:
        report = compute_report(p.projection_dir, p.series, p.model, p.quantile, p.tokens_per_day,
                                p.horizon, p.assumptions, dict(p.sensitivity))
    report.notices = notices
    return report
