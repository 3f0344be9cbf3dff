"""The tokens-to-compute notebook's work: a projection (or a level) turned into FLOP/s, accelerators, capex."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch import reads
from tokenwatch.artifacts import file_source
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.display import fmt_number, fmt_tokens
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
    series: str
    model: str
    quantile: str
    assumptions: compute.Assumptions
    demand: pd.DataFrame  # compute.DEMAND_COLUMNS
    sensitivity: pd.DataFrame
    sensitivity_at: str
    basis: str  # where the token path came from
    accelerators: pd.DataFrame  # data/accelerators.csv as loaded for this run
    by_year: pd.DataFrame = field(default_factory=pd.DataFrame)  # compute.capex_by_year
    usd_cny_date: str = ""
    mix_name: str = ""  # the named mix in data/accelerator_mixes.csv, or "" for shares given as a parameter
    mixes: pd.DataFrame = field(default_factory=pd.DataFrame)  # that mix's rows, left-out ones included
    reference: compute.Measured | None = None  # route 2's measured throughput
    routes: pd.DataFrame = field(default_factory=pd.DataFrame)  # compute.ROUTE_COLUMNS
    notices: list[str] = field(default_factory=list)

    @property
    def headline_scenario(self) -> str:
        return str(self.demand["scenario"].iloc[0])

    def at_horizon(self) -> pd.DataFrame:
        """Each scenario's last date: tokens, FLOP/s, accelerators, capex (in the order given: the headline first)."""
        last = self.demand.sort_values("date").groupby("scenario").tail(1).set_index("scenario", drop=False)
        return last.loc[list(dict.fromkeys(self.demand["scenario"]))].reset_index(drop=True)

    def mix_table(self) -> pd.DataFrame:
        """The accelerators in the mix with their share, specifications and sources."""
        table = self.accelerators.loc[list(self.assumptions.mix), [
            "accelerator", "vendor", *compute.PRECISIONS.values(), "memory_bandwidth_tbs", "memory_gb", "price_cny",
            "confidence", "spec_source", "price_source"]]
        return table.assign(share=[self.assumptions.mix[n] for n in table.index]).reset_index(drop=True)

    def left_out(self) -> pd.DataFrame:
        """Rows of the named mix that carry no weight, each with the reason in its notes."""
        if self.mixes.empty:
            return self.mixes
        return self.mixes[self.mixes["included"] == "no"][["accelerator", "units", "source", "notes"]]

    @property
    def utilisation(self) -> dict[str, float]:
        """What route 1's utilisations would be on the measured accelerator for the two routes to agree."""
        return compute.implied_utilisation(self.reference, self.assumptions, self.accelerators) if self.reference \
            else {}

    @property
    def source_line(self) -> str:
        return (f"Tokens: {self.basis}. Accelerators: {data_file('accelerators.csv')} (dense "
                f"{self.assumptions.precision.upper()} peaks, sourced per row); utilisations, model size, prefill "
                "share and peak-to-average are assumptions set as parameters.")

    def summary(self) -> dict:
        last = self.at_horizon()
        head = {f"{r.scenario} accelerators {r.date}": f"{r.accelerators:,.0f}" for r in last.itertuples()}
        return {
            "notebook": "tokens_to_compute", "series": self.series, "model": self.model, "quantile": self.quantile,
            "basis": self.basis, "assumptions": asdict(self.assumptions),
            "at_horizon": last.to_dict("records"), "sensitivity_at": self.sensitivity_at, "mix_name": self.mix_name,
            "routes": self.routes.to_dict("records"), "implied_utilisation": self.utilisation,
            "measured": asdict(self.reference) if self.reference else None,
            "sensitivity": self.sensitivity.to_dict("records"), "notices": self.notices,
            "headline": dict(list(head.items())[:4]),
            "sources": [file_source(data_dir() / "accelerators.csv", len(self.accelerators),
                                    "accelerator peak throughput and memory, each row with its source"),
                        file_source(data_dir() / "accelerator_mixes.csv", len(self.mixes),
                                    f"the {self.mix_name or 'given'} mix's units, with sources"),
                        file_source(data_dir() / "serving_throughput.csv", 2, "measured serving throughput")],
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"compute_demand": cols(self.demand, compute.DEMAND_COLUMNS, "compute_demand"),
               "sensitivity": self.sensitivity}
        if len(self.by_year):
            out["capex_by_year"] = self.by_year
        if len(self.routes):
            out["routes"] = self.routes
        out["mix"] = self.mix_table()
        return out

    @property
    def findings(self) -> list[str]:
        a = self.assumptions
        attention = a.flops_per_token - 2 * a.active_params
        lines = [f"{fmt_number(a.flops_per_token)} FLOPs per token: {fmt_number(2 * a.active_params)} for the "
                 f"weights and {fmt_number(attention)} ({attention / a.flops_per_token:.0%}) for attention over "
                 f"{a.context:,.0f} tokens of context."]
        head = self.by_year[self.by_year["scenario"] == self.headline_scenario] if len(self.by_year) else self.by_year
        # a year whose band has no width rests on disclosed levels only: said as such, after the forecast years
        settled = head["capex_all_in_cny_p10"] >= head["capex_all_in_cny_p90"] if len(head) else head.index == 0
        for r, past in sorted(zip(head.itertuples(), settled, strict=True), key=lambda pair: bool(pair[1])):
            usd = (f", {r.capex_all_in_usd_p50 / 1e9:,.1f} bn USD at {a.usd_cny:g} CNY/USD ({self.usd_cny_date})"
                   if a.usd_cny else "")
            capex_band = "" if past else (f" (80% band {r.capex_all_in_cny_p10 / 1e9:,.1f} to "
                                          f"{r.capex_all_in_cny_p90 / 1e9:,.1f})")
            fleet_band = "" if past else f" (80% band {r.accelerators_p10:,.0f} to {r.accelerators_p90:,.0f})"
            basis = ", from disclosed token levels, not a forecast" if past else ""
            lines.append(f"{r.year} ({r.scenario}{basis}): {r.bought_p50:,.0f} accelerators bought, all-in capex "
                         f"{r.capex_all_in_cny_p50 / 1e9:,.1f} bn CNY{capex_band}{usd}; chips alone "
                         f"{r.capex_chips_cny_p50 / 1e9:,.1f} bn CNY; fleet at year end {r.accelerators_p50:,.0f}"
                         f"{fleet_band}.")
        if not len(head):
            lines += [f"{r.scenario}: {r.accelerators:,.0f} accelerators and {r.capex_cny / 1e9:,.1f} bn CNY of chips "
                      f"in service on {r.date}" for r in self.at_horizon().itertuples()][:3]
        lines += self.route_findings()
        if len(self.sensitivity):
            top = self.sensitivity.iloc[-1]
            lines.append(f"The assumption that moves all-in capex ({self.sensitivity_at}) most is {top['assumption']}: "
                         f"{top['capex_low'] / 1e9:,.1f} to {top['capex_high'] / 1e9:,.1f} bn CNY over "
                         f"{top['low_value']:g} to {top['high_value']:g}.")
        lines.append(f"Tokens: {self.basis}.")
        return lines

    def route_findings(self) -> list[str]:
        """The two routes at the headline's last year end (or last date), their gap and what explains it."""
        if self.routes.empty or self.reference is None:
            return []
        head = self.routes[self.routes["scenario"] == self.headline_scenario]
        ends = head[pd.to_datetime(head["date"]).dt.strftime("%m-%d") == "12-31"]
        r = (ends if len(ends) else head).iloc[-1]
        ref, u, a = self.reference, self.utilisation, self.assumptions
        k = compute.route_scales(ref, a, self.accelerators)
        return [f"Two routes on {r['date']} ({r['scenario']}): {r['accelerators_flops']:,.0f} accelerators from FLOPs "
                f"at {a.util_prefill:.0%} prefill and {a.util_decode:.0%} decode utilisation of the mix's "
                f"{a.precision.upper()} peak against {r['accelerators_measured']:,.0f} from {ref.model}'s measured "
                f"throughput on the {ref.accelerator} ({ref.prefill:,.0f} prefill and {ref.decode:,.0f} decode tokens "
                f"a second per accelerator, {ref.interactivity}), a ratio of {r['ratio']:.2f}.",
                f"The gap: one accelerator of the mix counts as {k['prefill']:.2f} {ref.accelerator} when prefilling "
                f"(peak) but {k['decode']:.2f} when decoding (memory bandwidth), and the {ref.accelerator}'s measured "
                f"rates use {u['prefill']:.0%} (prefill) and {u['decode']:.0%} (decode) of its {ref.precision.upper()} "
                f"peak at {fmt_number(a.flops_per_token)} FLOPs a token, the utilisations at which the routes would "
                "agree on that accelerator."]


def projection_of(series: str, horizon: pd.Timestamp) -> token_projection.Projected:
    """The projection notebook 04 makes with its defaults, made once: kept from earlier in this process, else read
    from the batch's token_projection run when that run's projection_key is this one's (the same inputs, code and
    parameters: the same table, headline and notices), else projected here."""
    T, when = token_projection, reads.today()
    key = T.projection_key(series, T.AUTO, when, horizon, [], [], T.LEADER)
    if (kept := T.remembered(key)) is not None:
        return kept
    if (folder := T.default_run()) is not None:
        found, _ = T.from_run(folder, key)
        if found is not None:
            T.remember(found)
            return found
    with collect_notices() as notices:
        report = T.project_series(series, T.AUTO, horizon, [], [], when, leader=T.LEADER)
    report.notices, report.key = notices, key
    found = report.projected()
    T.remember(found)
    return found


def token_path(projection_dir: str, series: str, model: str,
               horizon: pd.Timestamp) -> tuple[pd.DataFrame, str, str, str | None]:
    """Projection rows of one model (all scenarios), the model, where they came from, the chosen scenario."""
    if projection_dir:
        table, summary = token_projection.read_run(projection_dir)
        series = summary.get("series", series)
        best = summary.get("chosen") or {}
        basis = f"token_projection run in {projection_dir}"
    else:
        found = projection_of(series, horizon)
        table, best = found.table, found.chosen or {}
        for line in found.notices:
            notice(line)
        basis = (f"projection of {series} with token_projection's defaults (fit on every disclosure public today; "
                 f"anchored on {found.anchor_source})")
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
                   horizon: pd.Timestamp, a: compute.Assumptions, ranges: dict[str, list[float]],
                   mix_name: str = "", measured_on: str = "") -> ComputeReport:
    table = compute.load_accelerators()
    mixes = compute.load_mixes()
    if not a.mix:
        a = replace(a, mix=compute.named_mix(mix_name, table, mixes))
        mixes = mixes[mixes["mix"] == mix_name]
        if (mixes["included"] == "no").any():
            left = mixes[mixes["included"] == "no"]
            notice(f"mix {mix_name}: {', '.join(left['accelerator'])} left out of the weights "
                   f"({left['units'].sum():,.0f} units; reasons in {data_file('accelerator_mixes.csv')})")
    else:
        mixes, mix_name = mixes.iloc[:0], ""
    a = a.check(table)
    if quantile not in token_projection.P.QUANTILES:
        raise ParameterError(f"quantile={quantile!r} is not one of {list(token_projection.P.QUANTILES)}")
    if tokens_per_day > 0:
        rows = pd.DataFrame({"scenario": ["given level"], "date": [reads.today()],
                             quantile: [tokens_per_day]})
        model, basis, scenario = "", f"a given level of {fmt_tokens(tokens_per_day)} tokens per day", None
    else:
        rows, model, basis, scenario = token_path(projection_dir, series, model, horizon)
    demand = compute.demand_table(rows, a, table, quantile)
    scenario = scenario or demand["scenario"].iloc[0]
    has_band = {"p10", "p50", "p90"} <= set(rows.columns)
    by_year = compute.capex_by_year(rows, a, table) if has_band else pd.DataFrame()
    if not has_band:
        notice("a single level has no quantiles: no capex_by_year.csv; the sensitivity is of a steady state "
               "(no growth, replacements only)")
    ends = compute.year_ends(rows)
    ends = ends[ends["scenario"] == scenario]
    last = by_year[by_year["scenario"] == scenario]["year"].max() if len(by_year) else None
    if last is not None and not pd.isna(last):
        level = ends.set_index(ends["date"].dt.year)[quantile]
        before, after, at = float(level[last - 1]), float(level[last]), f"{scenario}, {last}"
    else:
        at_row = demand[demand["scenario"] == scenario].sort_values("date").iloc[-1]
        before = after = float(at_row["tokens_per_day"])
        at = f"{scenario} steady state at {at_row['date']}"
    sens = compute.sensitivity(before, after, a, table, ranges)
    reference = compute.measured(measured_on) if measured_on else None
    paths = compute.routes(rows, a, table, reference, quantile) if reference else pd.DataFrame()
    return ComputeReport(series, model, quantile, a, demand, sens, at, basis, table, by_year, mix_name=mix_name,
                         mixes=mixes, reference=reference, routes=paths)


def demand_chart(r: ComputeReport) -> Figure:
    fig, ax = new_figure()
    for i, (scenario, part) in enumerate(r.demand.groupby("scenario", sort=False)):
        ax.plot(pd.to_datetime(part["date"]), part["accelerators"], color=f"C{i}", lw=1.6, label=scenario)
    ax.set_yscale("log")
    ax.legend(fontsize=8, frameon=False)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    mix = ", ".join(f"{k} {v:.0%}" for k, v in r.assumptions.mix.items())
    return finish(fig, f"Accelerators implied by {r.series} tokens ({r.model or 'given level'}, {r.quantile}; "
                  f"mix {mix})", r.source_line, xlabel="date", ylabel="accelerators in service (log scale)",
                  data=r.demand)


def routes_chart(r: ComputeReport) -> Figure:
    """The headline's accelerators by both routes at each year end and the last date."""
    head = r.routes[r.routes["scenario"] == r.headline_scenario]
    fig, ax = new_figure()
    x = np.arange(len(head))
    ax.bar(x - 0.2, head["accelerators_flops"], 0.4, color="C0", label="route 1: FLOPs at assumed utilisation")
    ax.bar(x + 0.2, head["accelerators_measured"], 0.4, color="C1",
           label=f"route 2: measured throughput ({r.reference.model if r.reference else ''})")
    ax.set_xticks(x, [str(d) for d in head["date"]])
    ax.legend(fontsize=8, frameon=False)
    ref = r.reference
    source = (f"{r.source_line} Measured: {ref.accelerator}, {ref.period}, {ref.source}" if ref else r.source_line)
    return finish(fig, f"Accelerators by two routes ({r.headline_scenario}, {r.quantile})", source,
                  xlabel="date", ylabel="accelerators in service", data=head)


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
    top = s.iloc[-1]
    return finish(fig, f"{top['assumption']} moves all-in capex in a year ({r.sensitivity_at}) most: "
                  f"{top['capex_low'] / 1e9:,.1f} to {top['capex_high'] / 1e9:,.1f} bn CNY", r.source_line,
                  xlabel="all-in capex in the year, billion CNY (base at the grey line)",
                  ylabel="assumption [low, high]", data=s)


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
    layers: int = parsed(checks.number)
    heads: int = parsed(checks.number)
    qk_dim: int = parsed(checks.number)
    v_dim: int = parsed(checks.number)
    context: float = parsed(checks.number)
    service_life: float = parsed(checks.number)
    server_overhead: float = parsed(checks.number)
    network_overhead: float = parsed(checks.number)
    datacentre_overhead: float = parsed(checks.number)
    usd_cny: float = parsed(checks.number)
    usd_cny_date: pd.Timestamp | None = parsed(checks.date_or_none)
    mix_name: str = parsed(checks.text)
    precision: str = parsed(checks.text)
    measured_on: str = parsed(checks.text)

    @property
    def assumptions(self) -> compute.Assumptions:
        return compute.Assumptions(self.active_params, self.prefill_share, self.util_prefill, self.util_decode,
                                   self.peak_to_average, dict(self.mix), dict(self.prices_cny), int(self.layers),
                                   int(self.heads), int(self.qk_dim), int(self.v_dim), self.context, self.service_life,
                                   self.server_overhead, self.network_overhead, self.datacentre_overhead, self.usd_cny,
                                   self.precision)


def build(p: Params, source: object = None) -> ComputeReport:
    """A token path (or a given level) in FLOP/s, accelerators and capex, with a sensitivity (no prices)."""
    with collect_notices() as notices:
        if p.usd_cny and p.usd_cny_date is None:
            raise ParameterError(f"usd_cny={p.usd_cny} needs usd_cny_date, the day the rate is from (a rate without "
                                 "a date cannot be checked)")
        report = compute_report(p.projection_dir, p.series, p.model, p.quantile, p.tokens_per_day,
                                p.horizon, p.assumptions, dict(p.sensitivity), p.mix_name, p.measured_on)
        report.usd_cny_date = str(p.usd_cny_date.date()) if p.usd_cny_date is not None else ""
    report.notices = notices
    return report
