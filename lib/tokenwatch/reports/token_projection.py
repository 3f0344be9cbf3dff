"""The projection notebook's work: the pooled rolling backtest, calibrated and anchored forecasts, the headline
ensemble, caps by a whole, dates to N times and to the overseas leader, and the forecast archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch import reads
from tokenwatch.artifacts import file_source, read_summary
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.errors import DataNotFoundError, ParameterError
from tokenwatch.methods import backtest as B
from tokenwatch.methods import forecast as F
from tokenwatch.methods import projection as P
from tokenwatch.paths import data_dir, data_file
from tokenwatch.plots import finish, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.tokens import as_of, ledger_path, load_ledger
from tokenwatch.tokens.claims import check_claim, load_claims

AUTO = "auto"
ROOM_CLAIM = "overseas_30x_room"
BACKTEST_COLUMNS = ["series", "model", "scenario", "cutoff", "points", "anchor_id", "target_id", "target_date",
                    "horizon_years", "actual", "p50", "log_error", "crps", "pit", "in_50", "in_80", "in_90",
                    "calibrated", "at_bound"]
CALIBRATION_COLUMNS = ["nominal", "coverage", "n", "scope", "targets", "model", "scenario", "scheme", "calibrated"]
REACH_COLUMNS = ["target", "level_basis", "model", "scenario", "date_q10", "date_q50", "date_q90"]


def quarter_ends_after(date: pd.Timestamp, count: int = 2, gap_days: int = 90) -> list[pd.Timestamp]:
    """The first `count` quarter ends at least `gap_days` after `date`: the dates a headline is quoted at."""
    return list(pd.date_range(date + pd.Timedelta(days=gap_days), periods=count, freq="QE"))


@dataclass
class ProjectionReport(Report):
    run_name: ClassVar[str] = "token_projection"
    formats: ClassVar[dict[str, str]] = {
        **dict.fromkeys(["tokens_per_day", "low", "high", "actual", "p50", *P.QUANTILES], "{:.3g}"),
        **dict.fromkeys(["log_error", "bias_log", "mean_log_error"], "{:+.2f}"),
        **dict.fromkeys(["crps", "mean_abs_log_error", "kappa_up", "kappa_down", "horizon_years", "pit"], "{:.2f}"),
        **dict.fromkeys(["coverage", "coverage_50", "coverage_80", "coverage_90", "weight", "nominal"], "{:.0%}"),
        **dict.fromkeys(["interval_score_50", "interval_score_80", "interval_score_90"], "{:.2f}"),
        **dict.fromkeys(["date_q10", "date_q50", "date_q90"], "{:%Y-%m}"),
        **dict.fromkeys(["date", "public_from", "cutoff", "target_date"], "{:%Y-%m-%d}")}
    series: str
    cutoff: str | pd.Timestamp | None  # "auto", one date, or None (no per-series backtest shown)
    as_of: pd.Timestamp
    horizon: pd.Timestamp
    multiple: float
    projection: F.Projection  # the series, capped by its whole
    whole: F.Projection | None
    leader: F.Projection | None
    scored: pd.DataFrame  # every pooled backtest cell, leave-one-series-out
    scored_as_of: pd.DataFrame  # the same under the real-time (as-of) scheme
    pool_skipped: pd.DataFrame
    reach: pd.DataFrame
    room: dict
    scenarios: pd.DataFrame
    ledger: pd.DataFrame  # as public on the forecast date
    notices: list[str] = field(default_factory=list)

    # ----- tables
    @property
    def observations(self) -> pd.DataFrame:
        return self.projection.observations

    def disclosures(self) -> pd.DataFrame:
        """The series' disclosures as fitted, each with who disclosed it and its source (title and link)."""
        sources = self.ledger[["id", "disclosed_by", "source_title", "source_url"]].drop_duplicates("id")
        return self.observations.merge(sources, on="id", how="left")

    def anchor_source(self) -> str:
        """The latest disclosure the projection is anchored on: its id, value, date and source title."""
        row = self.disclosures().iloc[-1]
        return f"{row['id']} ({row['tokens_per_day']:.3g} tokens a day, {pd.Timestamp(row['date']).date()}; " \
               f"{row['source_title']})"

    @cached_property
    def backtest(self) -> pd.DataFrame:
        """This series' scored cells at the chosen cutoff(s), every forecaster, calibrated."""
        s = self.scored
        s = s[(s["series"] == self.series) & s["calibrated"]]
        if self.cutoff is None:
            s = s.iloc[:0]
        elif isinstance(self.cutoff, pd.Timestamp):
            s = s[s["cutoff"] == self.cutoff]
        return s.assign(p50=np.exp(s["actual"] - s["log_error"]), actual=np.exp(s["actual"]))[BACKTEST_COLUMNS]

    @cached_property
    def scores(self) -> pd.DataFrame:
        """Per forecaster, pooled across series and horizons: calibrated and before widening."""
        return B.model_scores(self.scored)

    @cached_property
    def calibration(self) -> pd.DataFrame:
        """nominal, coverage, n, scope: the headline (pooled and per series), each model pooled; both schemes."""
        frames = []
        for scheme, scored in ((B.LOSO, self.scored), (B.AS_OF, self.scored_as_of)):
            head = scored[(scored["model"] == B.ENSEMBLE) & (scored["scenario"] == B.ALL)]
            models = scored[scored["model"] != B.ENSEMBLE]
            parts = [(head, "ensemble", B.ALL, True), *((models[models["calibrated"] == c], "each model", "every", c)
                                                         for c in (True, False))]
            for frame, model, scenario, calibrated in parts:
                for scope, g in [("pooled", frame), *frame.groupby("series", sort=True)]:
                    t = B.coverage(g)
                    targets = g[["series", "target_id"]].drop_duplicates().shape[0]
                    frames.append(t.assign(scope=scope, targets=targets, model=model, scenario=scenario,
                                           scheme=scheme, calibrated=calibrated))
        return pd.concat(frames, ignore_index=True)[CALIBRATION_COLUMNS]

    @property
    def pooled_calibration(self) -> pd.DataFrame:
        return self.calibration[self.calibration["scope"] == "pooled"]

    def coverage(self, nominal: float, model: str = "ensemble", calibrated: bool = True,
                 scheme: str = B.LOSO) -> pd.Series:
        """One pooled row of `calibration`: the headline ('ensemble') or 'each model', by scheme."""
        c = self.pooled_calibration
        return c[(c["model"] == model) & (c["scheme"] == scheme) & (c["nominal"] == nominal)
                 & (c["calibrated"] == calibrated)].iloc[0]

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"projection": cols(self.projection.table, F.PROJECTION_COLUMNS, "projection"),
                "forecast": self.forecast(),
                "forecasters": self.projection.forecasters,
                "backtest": self.backtest,
                "scores": self.scores,
                "calibration": self.calibration,
                "errors_by_horizon": B.error_by_horizon(self.scored),
                "reach": self.reach[REACH_COLUMNS]}

    def forecast(self) -> pd.DataFrame:
        return F.archive(self.projection.table, self.as_of, self.ledger, ledger_path())

    @property
    def headline_backtest(self) -> pd.DataFrame:
        """This series' backtest cells of the headline ensemble."""
        bt = self.backtest
        return bt[(bt["model"] == B.ENSEMBLE) & (bt["scenario"] == B.ALL)]

    # ----- headline numbers
    def headline_at(self, dates: list[pd.Timestamp]) -> pd.DataFrame:
        h = self.projection.headline()
        return h[h["date"].isin(dates)]

    @property
    def quote_dates(self) -> list[pd.Timestamp]:
        return [d for d in quarter_ends_after(pd.Timestamp(self.projection.anchor["date"])) if d <= self.horizon]

    @property
    def chosen(self) -> dict[str, str]:
        return {"model": B.ENSEMBLE, "scenario": B.ALL}

    @property
    def capped_rows(self) -> int:
        return int((self.projection.table["capped_by"] != "").sum())

    @property
    def source_line(self) -> str:
        return (f"Source: tokenwatch token ledger, series {self.series} ({data_file('tokens/disclosures.csv')}, each "
                f"row with its URL); scenarios: {data_file('token_scenarios.csv')} (assumptions, stated there); "
                f"parts of wholes: {data_file('tokens/parts.csv')}. Fitted on what was public on "
                f"{self.as_of.date()}.")

    def summary(self) -> dict:
        quotes = self.headline_at(self.quote_dates)
        cov80 = self.coverage(0.8)
        head = {"series": self.series}
        for r in quotes.itertuples():
            head[f"headline {r.date.date()}"] = f"{r.p50:.3g} ({r.p10:.3g}-{r.p90:.3g})"
        head["80% coverage, backtest"] = (f"models {_pct(self.coverage(0.8, 'each model'))}; "
                                          f"headline {_pct(cov80)}")
        return {
            "notebook": "token_projection", "series": self.series, "as_of": self.as_of,
            "cutoff": self.cutoff if self.cutoff is not None else "", "horizon": self.horizon,
            "observations": len(self.observations), "chosen": self.chosen,
            "headline_members": self.projection.members.get(B.ALL, ""),
            "headline_quotes": quotes[["date", *P.QUANTILES]].to_dict("records"),
            "calibration": self.calibration.to_dict("records"),
            "forecasters": self.projection.forecasters.to_dict("records"),
            "whole": self.whole.series if self.whole else None, "capped_rows": self.capped_rows,
            "leader": self.leader.series if self.leader else None,
            "reach": self.reach.to_dict("records"), "room_claim": self.room,
            "skipped": self.projection.skipped.to_dict("records"), "notices": self.notices, "headline": head,
            "sources": [file_source(ledger_path(), len(self.observations), f"disclosures of {self.series}"),
                        file_source(data_dir() / "token_scenarios.csv", len(self.scenarios),
                                    "scenarios (assumptions)"),
                        file_source(data_dir() / "tokens" / "parts.csv", len(F.load_parts()), "parts of wholes")],
        }

    @property
    def findings(self) -> list[str]:
        last = self.projection.anchor
        lines = [f"{self.series}: {len(self.observations)} disclosures public on {self.as_of.date()}, the latest "
                 f"{last['tokens_per_day']:.3g} tokens a day ({pd.Timestamp(last['date']).date()}, {last['id']})."]
        n_fc = int(self.projection.forecasters["in_headline"].sum())
        quotes = "; ".join(f"{r.p50:.3g} tokens a day on {r.date.date()} (80% band {r.p10:.3g} to {r.p90:.3g})"
                           for r in self.headline_at(self.quote_dates).itertuples())
        if quotes:
            lines.append(f"Headline (ensemble of {n_fc} forecasters, weighted {self.projection.weighting}): {quotes}.")
        c80, c50 = self.coverage(0.8), self.coverage(0.5)
        m80, m50, b80 = (self.coverage(n, "each model", c) for n, c in ((0.8, True), (0.5, True), (0.8, False)))
        lines.append(f"Rolling backtest, pooled over {c80['targets']} later disclosures of "
                     f"{self.scored['series'].nunique()} series and every cutoff: calibrated leave-one-series-out, "
                     f"the models' 80% intervals covered {_pct(m80)} and their 50% intervals {_pct(m50)} "
                     f"({_pct(b80)} at 80% before widening); the headline's covered {_pct(c80)} and {_pct(c50)}.")
        lines.append(f"Real-time check (widened only by errors already public at each cutoff): the headline's 80% "
                     f"intervals covered {_pct(self.coverage(0.8, scheme=B.AS_OF))}.")
        fc = self.projection.forecasters.drop_duplicates("model").dropna(subset=["kappa_up"])
        if len(fc):
            lines.append("Widening learned from the other series' backtest, log tokens per sqrt-year: " + ", ".join(
                f"{r.model} up {r.kappa_up:.2f}, down {r.kappa_down:.2f}" for r in fc.itertuples())
                + f" (from {int(fc['kappa_targets'].max())} later disclosure(s)).")
        if self.whole is not None:
            lines.append(f"Capped by {self.whole.series} (the whole it belongs to) on {self.capped_rows} of "
                         f"{len(self.projection.table)} projected rows." if self.capped_rows else
                         f"No projected quantile exceeds {self.whole.series}'s headline, the whole it belongs to.")
        first = self.projection.headline().query("date > @self.projection.anchor.date")["date"].min()
        for r in self.reach.itertuples():
            if r.date_q90 == first:
                lines.append(f"The headline is already at or above {r.target} at {first.date()}.")
                continue
            when = (f"by {r.date_q50:%Y-%m} (10-90%: {_month(r.date_q10)} to {_month(r.date_q90)})"
                    if pd.notna(r.date_q50) else f"not by {self.horizon.date()} at the median "
                    f"(10%: {_month(r.date_q10)})")
            lines.append(f"The headline reaches {r.target} {when}.")
        if self.room:
            lines.append(f"The weekly's '30x room' is a unit error: {self.room['reason']}.")
        bound = self.projection.forecasters.query("at_bound != ''")
        if len(bound):
            lines.append("Kept out of the headline, fitted at a parameter bound: " + "; ".join(
                f"{r.model}/{r.scenario} ({r.at_bound})" for r in bound.itertuples()) + ".")
        return lines


def _pct(row: pd.Series) -> str:
    """A coverage row as '87% of 172 cells' (or 'no cells')."""
    return f"{row['coverage']:.0%} of {row['n']} cells" if row["n"] else "no cells"


def _month(value: object) -> str:
    return f"{pd.Timestamp(value):%Y-%m}" if pd.notna(value) else "after the horizon"


def load_and_check(series: str, when: pd.Timestamp, horizon: pd.Timestamp, models: list[str],
                   scenario_names: list[str], paths: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger as public at `when` and the scenarios chosen, with every parameter checked."""
    unknown = sorted(set(models) - set(P.MODELS))
    if unknown or not models:
        raise ParameterError(f"models {models} should be among {list(P.MODELS)}")
    scenarios = P.load_scenarios()
    missing = sorted(set(scenario_names) - set(scenarios.index))
    if missing:
        raise ParameterError(f"scenarios {missing} are not in {data_file('token_scenarios.csv')}: "
                             f"{list(scenarios.index)}")
    scenarios = scenarios.loc[scenario_names] if scenario_names else scenarios
    full = load_ledger()
    ledger = as_of(full, when)
    obs = P.observations(full, series)
    public = obs[obs["public_from"] <= when]
    if len(public) < P.min_points("exponential", False):
        raise ParameterError(f"series {series} has {len(public)} disclosure(s) public on {when.date()} "
                             f"(of {len(obs)} in the ledger); every model needs at least 3")
    if horizon <= public["date"].max():
        raise ParameterError(f"horizon {horizon.date()} is not after the latest disclosure of {series} "
                             f"({public['date'].max().date()}); pick a later horizon")
    F.check_memory(paths, len(P.month_grid(public["date"].iloc[0], horizon)), len(models) * len(scenarios))
    return ledger, scenarios


def project_series(series: str, cutoff: str | pd.Timestamp | None, horizon: pd.Timestamp, models: list[str],
                   scenario_names: list[str], paths: int = 10_000, when: pd.Timestamp | None = None,
                   multiple: float = 10.0, leader: str = "google-surfaces") -> ProjectionReport:
    """The whole projection of one series as of `when` (default today); see the module docstring."""
    when = when or reads.today()
    if not multiple > 1:
        raise ParameterError(f"multiple={multiple} should be above 1 (how many times the level at the cutoff)")
    ledger, scenarios = load_and_check(series, when, horizon, models, scenario_names, paths)
    pool = B.rolling_origin(ledger, models, scenarios)
    public = ledger.set_index("id")["public_from"]
    loso, real_time = B.Calibrator(pool, public, B.LOSO), B.Calibrator(pool, public, B.AS_OF)
    if series not in set(pool.cells["series"]):
        notice(f"{series} has no backtest of its own (no cutoff with 3 public disclosures and a later one); its "
               "intervals are widened by what the other series' backtests learned")
    if isinstance(cutoff, pd.Timestamp) and not (pool.cells.query("series == @series")["cutoff"] == cutoff).any():
        feasible = sorted({c.date() for c in pool.cells.query("series == @series")["cutoff"]})
        notice(f"cutoff {cutoff.date()}: no backtest of {series} starts there; its feasible cutoffs are "
               f"{[str(c) for c in feasible] or 'none'} (use 'auto' for all)")
    if cutoff is None:
        notice("cutoff is empty: this series' backtest table is not shown (the pooled backtest still calibrates)")
    proj = F.project(ledger, series, models, scenarios, when, horizon, loso, paths)
    if proj.weighting.startswith("equal"):
        notice(f"the headline weighs its forecasters equally and is not widened: on {when.date()} no other series "
               "had backtest cells to learn from")
    for s in proj.skipped.itertuples():
        notice(f"{s.model} under {s.scenario} skipped: {s.reason}")

    def other(name: str | None, role: str) -> F.Projection | None:
        if not name or name == series:
            return None
        try:
            return F.project(ledger, name, models, scenarios, when, horizon, loso, paths)
        except ParameterError as exc:
            notice(f"{role} {name} cannot be projected, so it is not used: {exc}")
            return None

    whole = other(F.whole_of(series, F.load_parts()), "whole")
    if whole is not None:
        capped = F.cap_by(proj.table, whole.headline(), whole.series, pd.Timestamp(proj.anchor["date"]))
        proj.table = capped
        if (capped["capped_by"] != "").any():
            notice(f"{int((capped['capped_by'] != '').sum())} projected rows capped by {whole.series}")
    lead = other(leader, "leader")
    reach = reach_table(proj, multiple, lead)
    return ProjectionReport(series, cutoff, when, horizon, multiple, proj, whole, lead,
                            B.evaluated(pool, loso), B.evaluated(pool, real_time), pool.skipped, reach,
                            room_claim(ledger), scenarios, ledger, [])


def reach_table(proj: F.Projection, multiple: float, leader: F.Projection | None) -> pd.DataFrame:
    """When the headline reaches `multiple` times the anchor, and the leader's projected median."""
    head = proj.headline()
    head = head[head["date"] > proj.anchor["date"]]
    level = multiple * float(proj.anchor["tokens_per_day"])
    rows = [P.reach_dates(head, level, f"{multiple:g}x its level at the cutoff ({level:.3g} tokens a day)")
            .assign(level_basis=f"{multiple:g} x {proj.anchor['id']}")]
    if leader is not None:
        lead = F.interpolate_quantiles(leader.headline(), head["date"])["p50"]
        rows.append(P.reach_dates(head, pd.Series(lead.to_numpy(), index=head["date"]),
                                  f"{leader.series}'s projected median")
                    .assign(level_basis=f"{leader.series} headline p50 on each date"))
    return pd.concat(rows, ignore_index=True)


def room_claim(ledger: pd.DataFrame) -> dict:
    """The weekly's '30x room' checked in one unit (from data/tokens/report_claims.csv)."""
    claims = load_claims().set_index("claim_id", drop=False)
    if ROOM_CLAIM not in claims.index:
        return {}
    try:
        row = check_claim(claims.loc[ROOM_CLAIM], ledger)
    except (KeyError, ParameterError):
        return {}
    return {k: row[k] for k in ("claim", "report_value", "verified_value", "verified_unit", "per_day_verified",
                                "verdict", "reason")}


def read_run(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """projection.csv and summary.json from an earlier token_projection run."""
    folder = Path(folder)
    if not (folder / "projection.csv").is_file():
        raise DataNotFoundError(f"{folder} has no projection.csv; point projection_dir at a token_projection run "
                                "(e.g. reports/latest/token_projection) or leave it empty to project here")
    table = pd.read_csv(folder / "projection.csv", parse_dates=["date"], keep_default_na=False,
                        na_values={q: [""] for q in P.QUANTILES})
    return table, read_summary(folder)


def fan_chart(report: ProjectionReport) -> Figure:
    """The headline's 50% and 80% bands, each scenario's ensemble median, the whole and the disclosures."""
    fig, ax = new_figure(figsize=(10, 5.6))
    head = report.projection.headline()
    ax.fill_between(head["date"], head["p10"], head["p90"], color="#c0392b", alpha=0.12, label="headline 80% band")
    ax.fill_between(head["date"], head["p25"], head["p75"], color="#c0392b", alpha=0.22, label="headline 50% band")
    ax.plot(head["date"], head["p50"], color="#c0392b", lw=2, label="headline median (ensemble, all)")
    t = report.projection.table
    for i, (name, s) in enumerate(t[(t["model"] == B.ENSEMBLE) & (t["scenario"] != B.ALL)].groupby("scenario")):
        ax.plot(s["date"], s["p50"], color=f"C{i}", lw=1, ls="--", label=f"if {name} (median)")
    if report.whole is not None:
        w = report.whole.headline()
        ax.plot(w["date"], w["p50"], color="#555555", lw=1.2, ls=":", label=f"{report.whole.series} (whole) median")
    obs = report.observations
    ax.errorbar(obs["date"], obs["tokens_per_day"], yerr=[obs["tokens_per_day"] - obs["low"],
                                                         obs["high"] - obs["tokens_per_day"]],
                fmt="o", color="black", ms=4, label="disclosures")
    ax.set_yscale("log")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    return finish(fig, f"{report.series}: headline forecast and conditional scenarios, tokens per day (log scale)",
                  report.source_line, xlabel="date", ylabel="tokens per day")


def models_chart(report: ProjectionReport) -> Figure:
    """Every forecaster's median beside the headline band."""
    fig, ax = new_figure(figsize=(10, 5.4))
    head = report.projection.headline()
    ax.fill_between(head["date"], head["p10"], head["p90"], color="#c0392b", alpha=0.12, label="headline 80% band")
    t = report.projection.table
    styles = {"exponential": "-", "logistic": "--", "gompertz": ":"}
    for i, ((model, scenario), s) in enumerate(t[t["model"] != B.ENSEMBLE].groupby(["model", "scenario"],
                                                                                   sort=False)):
        flag = " (at a bound, not in the headline)" if s["at_bound"].iloc[0] else ""
        ax.plot(s["date"], s["p50"], ls=styles[model], color=f"C{i % 10}", lw=1, label=f"{model}/{scenario}{flag}")
    obs = report.observations
    ax.plot(obs["date"], obs["tokens_per_day"], "o", color="black", ms=4, label="disclosures")
    ax.set_yscale("log")
    ax.legend(fontsize=6, frameon=False, loc="upper left", ncol=2)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    return finish(fig, f"{report.series}: each forecaster's median path (anchored on the latest disclosure)",
                  report.source_line, xlabel="date", ylabel="tokens per day (log scale)")


def calibration_chart(report: ProjectionReport) -> Figure:
    """Nominal against actual coverage in the pooled backtest, and the headline's PIT histogram."""
    fig, axes = new_figure(ncols=2, figsize=(11, 4.8))
    ax, ax2 = np.asarray(axes).ravel()
    c = report.pooled_calibration
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, label="perfect calibration")
    for (model, scheme, calibrated), g in c.groupby(["model", "scheme", "calibrated"], sort=False):
        what = "headline ensemble" if model == "ensemble" else ("models" if calibrated else "models, before widening")
        label = f"{what}, {scheme.replace('_', ' ')} (n={g['n'].iloc[0]})"
        ax.plot(g["nominal"], g["coverage"], "o-", lw=1.2, label=label)
    ax.set_xlim(0.4, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    s = report.scored
    pit = s[(s["model"] == B.ENSEMBLE) & (s["scenario"] == B.ALL)]["pit"]
    ax2.hist(pit, bins=np.linspace(0, 1, 11), color="#2e86c1", edgecolor="white")
    ax2.axhline(len(pit) / 10, color="#999999", lw=1, ls="--")
    ax2.set_title("PIT of the headline (flat if calibrated)", fontsize=10)
    ax2.set_xlabel("share of forecast draws below the disclosure")
    ax2.set_ylabel("backtest cells")
    return finish(fig, "Pooled rolling backtest: nominal against actual interval coverage", report.source_line,
                  xlabel="nominal coverage of the central interval", ylabel="share of later disclosures inside")


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 04's parameters, checked once."""

    series: str = parsed(checks.text)
    cutoff: str | pd.Timestamp | None = parsed(lambda name, v: AUTO if str(v).strip().lower() == AUTO
                                               else checks.date_or_none(name, v))
    as_of: pd.Timestamp | None = parsed(checks.date_or_none)
    horizon: pd.Timestamp = parsed(checks.as_date)
    models: list[str] = parsed(checks.text_list)
    scenarios: list[str] = parsed(checks.text_list)
    paths: int = parsed(checks.positive_int)
    multiple: float = parsed(checks.number)
    leader: str = parsed(checks.text)


def build(p: Params, source: object = None) -> ProjectionReport:
    """The pooled backtest, calibrated forecasts and the headline for one ledger series (no prices)."""
    with collect_notices() as notices:
        report = project_series(p.series, p.cutoff, p.horizon, p.models, p.scenarios, p.paths, p.as_of,
                                p.multiple, p.leader)
    report.notices = notices
    return report
