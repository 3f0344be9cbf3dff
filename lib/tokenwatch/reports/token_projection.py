"""The projection notebook's work: backtest at a cutoff, projection from all data, dates to 30x, charts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch.artifacts import file_source, read_summary
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.errors import DataNotFoundError, ParameterError
from tokenwatch.methods import projection as P
from tokenwatch.paths import data_dir, data_file
from tokenwatch.plots import finish, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.tokens import as_of, ledger_path, load_ledger

ROOM_MULTIPLE = 30  # the weekly's "30x room"


@dataclass
class ProjectionReport(Report):
    run_name: ClassVar[str] = "token_projection"
    formats: ClassVar[dict[str, str]] = {
        **dict.fromkeys(["tokens_per_day", "low", "high", "actual", "p50", "level"], "{:.3g}"),
        "log_error": "{:+.2f}", "mean_abs_log_error": "{:.2f}", "bias_log": "{:+.2f}", "coverage_50": "{:.0%}",
        "coverage_80": "{:.0%}", **dict.fromkeys(["date_p90", "date_p50", "date_p10"], "{:%Y-%m}")}
    series: str
    cutoff: pd.Timestamp | None
    horizon: pd.Timestamp
    observations: pd.DataFrame
    backtest: pd.DataFrame
    scores: pd.DataFrame
    projection: P.Projection
    reference_level: float
    reference_id: str
    reach: pd.DataFrame
    scenarios: pd.DataFrame  # the scenario rows used
    notices: list[str] = field(default_factory=list)

    def observations_table(self) -> pd.DataFrame:
        """The series' disclosures, flagged by whether they were public at the cutoff."""
        public = self.observations["public_from"] <= self.cutoff if self.cutoff is not None else None
        return self.observations.assign(public_at_cutoff=public)

    @property
    def chosen(self) -> dict[str, str] | None:
        if self.scores.empty:
            return None
        best = self.scores.iloc[0]
        return {"model": best["model"], "scenario": best["scenario"]}

    @property
    def source_line(self) -> str:
        return (f"Source: tokenwatch token ledger, series {self.series} ({data_file('tokens/disclosures.csv')}, each "
                "row with "
                f"its URL); scenarios: {data_file('token_scenarios.csv')} (assumptions, stated there).")

    def summary(self) -> dict:
        chosen = self.chosen
        cov = (self.scores.groupby("model")[["coverage_50", "coverage_80", "mean_abs_log_error"]].mean()
               .to_dict("index") if len(self.scores) else {})
        reach = self.reach.copy()
        for c in ("date_p90", "date_p50", "date_p10"):
            reach[c] = reach[c].dt.date.astype(object).where(reach[c].notna(), None)
        head = {"series": self.series}
        if chosen:
            head["best out-of-sample"] = f"{chosen['model']} / {chosen['scenario']}"
            r = reach[(reach["model"] == chosen["model"]) & (reach["scenario"] == chosen["scenario"])].iloc[0]
            head[f"{ROOM_MULTIPLE}x by (p50)"] = str(r["date_p50"] or "not by horizon")
        return {
            "notebook": "token_projection", "series": self.series,
            "cutoff": self.cutoff, "horizon": self.horizon, "observations": len(self.observations),
            "chosen": chosen, "backtest_by_model": cov, "scores": self.scores.to_dict("records"),
            "reference": {"id": self.reference_id, "tokens_per_day": self.reference_level,
                          "multiple": ROOM_MULTIPLE, "level": ROOM_MULTIPLE * self.reference_level},
            "reach": reach.to_dict("records"), "skipped": self.projection.skipped.to_dict("records"),
            "notices": self.notices, "headline": head,
            "sources": [file_source(ledger_path(), len(self.observations), f"disclosures of {self.series}"),
                        file_source(data_dir() / "token_scenarios.csv", len(self.scenarios),
                                    "scenarios (assumptions)")],
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"projection": cols(self.projection.table, P.PROJECTION_COLUMNS, "projection")}
        if len(self.backtest):
            out["backtest"] = cols(self.backtest, [*P.BACKTEST_COLUMNS, "scenario"], "backtest")
            out["scores"] = self.scores
        out["thirty_x"] = self.reach
        return out

    @property
    def findings(self) -> list[str]:
        last = self.observations.iloc[-1]
        lines = [f"{self.series}: {len(self.observations)} disclosures, the latest {last['tokens_per_day']:.3g} tokens "
                 f"a day ({pd.Timestamp(last['date']).date()})."]
        if self.chosen:
            c = self.chosen
            t = self.projection.table
            at = t[(t["model"] == c["model"]) & (t["scenario"] == c["scenario"])].iloc[-1]
            lines.append(f"Best out of sample at the {self.cutoff.date() if self.cutoff is not None else ''} cutoff: "
                         f"{c['model']} under {c['scenario']}, {at['p50']:.3g} tokens a day at "
                         f"{pd.Timestamp(at['date']).date()} (80% band {at['p10']:.3g} to {at['p90']:.3g}).")
        if len(self.scores):
            s = self.scores
            lines.append(f"Backtest: {len(self.backtest)} scored cells, 80% interval coverage "
                         f"{s['coverage_80'].mean():.0%} on average across model-scenario pairs.")
        else:
            lines.append("No backtest ran, so no model is chosen out of sample.")
        return lines


BYTES_PER_DRAW = 3 * 8  # measured peak: about 2.1 float64 arrays of paths x months per fit


def memory_budget() -> int:
    """Bytes one fit may use: half the machine's memory, at most 4 GiB."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 * 2**30
    return min(4 * 2**30, physical // 2)


def check_memory(paths: int, months: int) -> None:
    """Refuse, before any draw, a number of paths whose arrays would not fit in memory."""
    need, budget = paths * months * BYTES_PER_DRAW, memory_budget()
    if need > budget:
        raise ParameterError(
            f"paths={paths:,} over {months} months needs about {need / 2**30:.1f} GiB per fit, more than the "
            f"{budget / 2**30:.1f} GiB allowed; use at most {budget // (months * BYTES_PER_DRAW):,} paths "
            "(10,000 already gives quantiles to about 1%), or an earlier horizon")


def project_series(series: str, cutoff: pd.Timestamp | None, horizon: pd.Timestamp, models: list[str],
                   scenario_names: list[str], paths: int = 10_000,
                   today: pd.Timestamp | None = None) -> ProjectionReport:
    ledger = load_ledger()
    today = today or pd.Timestamp.today().normalize()
    unknown = sorted(set(models) - set(P.MODELS))
    if unknown or not models:
        raise ParameterError(f"models {models} should be among {list(P.MODELS)}")
    scenarios = P.load_scenarios()
    missing = sorted(set(scenario_names) - set(scenarios.index))
    if missing:
        raise ParameterError(f"scenarios {missing} are not in {data_file('token_scenarios.csv')}: "
                             f"{list(scenarios.index)}")
    scenarios = scenarios.loc[scenario_names] if scenario_names else scenarios
    obs = P.observations(ledger, series)
    if cutoff is not None:
        P.check_cutoff(ledger, series, cutoff)
        if horizon <= cutoff:
            raise ParameterError(f"horizon {horizon.date()} is not after the cutoff {cutoff.date()}")
    if len(obs) < 3:
        raise ParameterError(f"series {series} has {len(obs)} disclosure(s); every model needs at least 3")
    check_memory(paths, len(P.month_grid(obs["date"].iloc[0], horizon)))
    backtest, score = pd.DataFrame(columns=[*P.BACKTEST_COLUMNS, "scenario"]), pd.DataFrame()
    if cutoff is None:
        notice("cutoff is empty: no backtest, so no model is chosen out of sample")
    else:
        try:
            backtest, _ = P.backtest(ledger, series, models, scenarios, cutoff, paths)
            score = P.scores(backtest)
        except ParameterError as exc:
            notice(f"backtest at {cutoff.date()} not possible: {exc}")
    proj = P.project(ledger, series, models, scenarios, today, horizon, paths)
    for s in proj.skipped.itertuples():
        notice(f"{s.model} under {s.scenario} skipped: {s.reason}")
    ref_at = cutoff if cutoff is not None else today
    ref = P.observations(as_of(ledger, ref_at), series).iloc[-1]
    reach = P.reach_dates(proj.table, ROOM_MULTIPLE * ref["tokens_per_day"])
    return ProjectionReport(series, cutoff, horizon, obs, backtest, score, proj, float(ref["tokens_per_day"]),
                            str(ref["id"]), reach, scenarios, [])


def read_run(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """projection.csv and summary.json from an earlier token_projection run."""
    folder = Path(folder)
    if not (folder / "projection.csv").is_file():
        raise DataNotFoundError(f"{folder} has no projection.csv; point projection_dir at a token_projection run "
                                "(e.g. reports/latest/token_projection) or leave it empty to project here")
    table = pd.read_csv(folder / "projection.csv", parse_dates=["date"])
    return table, read_summary(folder)


def fan_chart(report: ProjectionReport, model: str) -> Figure:
    """One model: each scenario's median and 10-90% band, with the disclosures."""
    fig, ax = new_figure(figsize=(10, 5.4))
    part = report.projection.table[report.projection.table["model"] == model]
    for i, (scenario, s) in enumerate(part.groupby("scenario", sort=False)):
        color = f"C{i}"
        ax.fill_between(s["date"], s["p10"], s["p90"], color=color, alpha=0.15)
        ax.plot(s["date"], s["p50"], color=color, lw=1.6, label=f"{scenario} (median; band 10-90%)")
    obs = report.observations
    ax.errorbar(obs["date"], obs["tokens_per_day"], yerr=[obs["tokens_per_day"] - obs["low"],
                                                         obs["high"] - obs["tokens_per_day"]],
                fmt="o", color="black", ms=4, label="disclosures")
    ax.axhline(ROOM_MULTIPLE * report.reference_level, color="#c0392b", ls="--", lw=1,
               label=f"{ROOM_MULTIPLE}x {report.reference_id}")
    ax.set_yscale("log")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    return finish(fig, f"{report.series}: {model} projection by scenario, tokens per day (log scale)",
                  report.source_line, xlabel="date", ylabel="tokens per day")


def backtest_chart(report: ProjectionReport) -> Figure:
    """Each model's median error on the disclosures made after the cutoff (log scale: 0 is a hit)."""
    fig, ax = new_figure()
    bt = report.backtest
    labels = [f"{m} / {s}" for m, s in zip(report.scores["model"], report.scores["scenario"], strict=True)]
    y = np.arange(len(labels))
    ax.barh(y, report.scores["mean_abs_log_error"], color="#2e86c1")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    targets = ", ".join(sorted({str(d) for d in bt["target_date"]}))
    cutoff = report.cutoff.date() if report.cutoff is not None else "no cutoff"
    return finish(fig, f"Backtest from {cutoff}: mean absolute log error on {targets}",
                  report.source_line, xlabel="mean |log(actual / median)| (0 = exact; 0.69 = off by 2x)",
                  ylabel="model / scenario")


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 04's parameters, checked once."""

    series: str = parsed(checks.text)
    cutoff: pd.Timestamp | None = parsed(checks.date_or_none)
    horizon: pd.Timestamp = parsed(checks.as_date)
    models: list[str] = parsed(checks.text_list)
    scenarios: list[str] = parsed(checks.text_list)
    paths: int = parsed(checks.positive_int)


def build(p: Params, source: object = None) -> ProjectionReport:
    """Fits, intervals, scenarios and the as-of backtest for one ledger series (no prices)."""
    with collect_notices() as notices:
        report = project_series(p.series, p.cutoff, p.horizon, p.models, p.scenarios, p.paths)
    report.notices = notices
    return report
