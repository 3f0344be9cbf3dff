"""The projection notebook's work: the pooled rolling backtest, calibrated and anchored forecasts, the headline
ensemble, caps by a whole, dates to N times and to the overseas leader, and the forecast archive."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, ClassVar

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tokenwatch import params as checks
from tokenwatch import reads
from tokenwatch.artifacts import file_sha256, file_source, read_summary
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.display import fmt_tokens
from tokenwatch.errors import DataNotFoundError, ParameterError
from tokenwatch.imports import PACKAGE, imported
from tokenwatch.methods import backtest as B
from tokenwatch.methods import forecast as F
from tokenwatch.methods import projection as P
from tokenwatch.paths import RUNS_ENV, data_dir, data_file, package_versions
from tokenwatch.plots import finish, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.tokens import as_of, ledger_path, load_ledger
from tokenwatch.tokens.claims import check_claim, load_claims

AUTO = "auto"
LEADER = "google-surfaces"  # the default overseas leader
ROOM_CLAIM = "overseas_30x_room"
CALIBRATION_COLUMNS = ["model", "scenario", "scope", "nominal", "coverage", "n", "series"]
REACH_COLUMNS = ["target", "level_basis", "model", "scenario", "date_q10", "date_q50", "date_q90"]
WIDTH_MONTHS = (3, 6, 12, 18)
CONSISTENCY_COLUMNS = ["date", "quantile", "part_tokens_per_day", "whole_tokens_per_day"]
# what the projection table and its notices are made from, besides the parameters in `projection_key`
PROJECTION_DATA = ("tokens/disclosures.csv", "token_scenarios.csv", "tokens/parts.csv")
KEY_VERSIONS = ("numpy", "pandas", "scipy", "statsmodels")
TABLE = "projection.csv"


def quarter_ends_after(date: pd.Timestamp, count: int = 2, gap_days: int = 90) -> list[pd.Timestamp]:
    """The first `count` quarter ends at least `gap_days` after `date`: the dates a headline is quoted at."""
    return list(pd.date_range(date + pd.Timedelta(days=gap_days), periods=count, freq="QE"))


@dataclass
class ProjectionReport(Report):
    run_name: ClassVar[str] = "token_projection"
    series: str
    cutoff: str | pd.Timestamp | None  # "auto", one date, or None (no per-series backtest shown)
    as_of: pd.Timestamp
    horizon: pd.Timestamp
    multiple: float
    projection: F.Projection  # the series, capped by its whole
    whole: F.Projection | None
    leader: F.Projection | None
    scored: pd.DataFrame  # every pooled backtest cell, each series' band learned from the others
    pool_skipped: pd.DataFrame
    reach: pd.DataFrame
    room: dict
    scenarios: pd.DataFrame
    ledger: pd.DataFrame  # as public on the forecast date
    notices: list[str] = field(default_factory=list)
    uncapped: pd.DataFrame = field(default_factory=pd.DataFrame)  # the projection before any cap by a whole
    skill: dict = field(default_factory=dict)
    pool: B.Cells | None = None
    history: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=F.HISTORY_COLUMNS))
    raised: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows of this series or its whole raised to a part
    key: dict = field(default_factory=dict)  # projection_key: what the projection table was made from

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
        return f"{row['id']} ({fmt_tokens(row['tokens_per_day'])} tokens a day, {pd.Timestamp(row['date']).date()}; " \
               f"{row['source_title']})"

    @property
    def headline_key(self) -> tuple[str, str]:
        return self.projection.headline_key

    @cached_property
    def backtest(self) -> pd.DataFrame:
        """Every pooled forecast cell of every forecaster (all series), quantiles learned leaving its series out."""
        if self.cutoff is None:
            return self.scored.iloc[:0]
        s = self.scored
        if isinstance(self.cutoff, pd.Timestamp):
            s = s[(s["series"] != self.series) | (s["cutoff"] == self.cutoff)]
        return s[B.BACKTEST_COLUMNS].reset_index(drop=True)

    @property
    def headline_backtest(self) -> pd.DataFrame:
        """The headline's pooled backtest cells (every series)."""
        model, scenario = self.headline_key
        s = self.scored
        return s[(s["model"] == model) & (s["scenario"] == scenario)]

    @cached_property
    def scores(self) -> pd.DataFrame:
        """Per forecaster, pooled across series and horizons."""
        return B.model_scores(self.scored)

    @cached_property
    def calibration(self) -> pd.DataFrame:
        """nominal, coverage, n: the headline pooled and per series, naive and each member pooled."""
        frames = []
        head = self.headline_key
        for (model, scenario), g in self.scored.groupby(["model", "scenario"], sort=False):
            scopes = [("pooled", g), *(g.groupby("series", sort=True) if (model, scenario) == head else [])]
            for scope, part in scopes:
                frames.append(B.coverage(part).assign(model=model, scenario=scenario, scope=scope,
                                                      series=part["series"].nunique()))
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CALIBRATION_COLUMNS)
        return out[CALIBRATION_COLUMNS]

    @property
    def pooled_calibration(self) -> pd.DataFrame:
        return self.calibration[self.calibration["scope"] == "pooled"]

    def coverage(self, nominal: float, model: str | None = None, scenario: str | None = None) -> pd.Series:
        """One pooled row of `calibration` (default: the headline's)."""
        m, sc = self.headline_key
        c = self.pooled_calibration
        hit = c[(c["model"] == (model or m)) & (c["scenario"] == (sc if scenario is None else scenario))
                & (c["nominal"] == nominal)]
        return hit.iloc[0] if len(hit) else pd.Series({"coverage": np.nan, "n": 0})

    @cached_property
    def above_median(self) -> dict:
        return B.above_median(self.headline_backtest)

    def band_widths(self) -> pd.DataFrame:
        """The headline band's width, p90/p10 and p75/p25, some months past the latest disclosure."""
        head = self.projection.headline()
        anchor = pd.Timestamp(self.projection.anchor["date"])
        dates = pd.Series([anchor + pd.DateOffset(months=m) for m in WIDTH_MONTHS])
        q = F.interpolate_quantiles(head.sort_values("date"), dates)
        return pd.DataFrame({"months_ahead": WIDTH_MONTHS, "date": dates, "p10": q["p10"], "p50": q["p50"],
                             "p90": q["p90"], "p90_over_p10": q["p90"] / q["p10"],
                             "p75_over_p25": q["p75"] / q["p25"]}).dropna(subset=["p50"])

    def consistency(self) -> pd.DataFrame:
        """Before any cap: where a quantile of this series' headline exceeds the same quantile of its whole's."""
        if self.whole is None or self.uncapped.empty:
            return pd.DataFrame(columns=CONSISTENCY_COLUMNS)
        model, scenario = self.headline_key
        part = self.uncapped[(self.uncapped["model"] == model) & (self.uncapped["scenario"] == scenario)]
        part = part[part["date"] > self.projection.anchor["date"]]
        whole = F.interpolate_quantiles(self.whole.headline().sort_values("date"), part["date"])
        rows = [{"date": d, "quantile": q, "part_tokens_per_day": v, "whole_tokens_per_day": w}
                for q in P.QUANTILES for d, v, w in zip(part["date"], part[q], whole[q], strict=True) if v > w]
        return pd.DataFrame(rows, columns=CONSISTENCY_COLUMNS)

    def consistency_line(self) -> str:
        """Whether the series stays within its whole before any cap, and if not where and why."""
        assert self.whole is not None
        over = self.consistency()
        whole = self.whole.series
        if over.empty:
            return (f"Every quantile of {self.series} stays at or below {whole}'s, the whole it belongs to, before "
                    "any cap." + self.raised_line(whole))
        part_last, whole_last = self.projection.anchor, self.whole.anchor
        model, scenario = self.headline_key
        u = self.uncapped[(self.uncapped["model"] == model) & (self.uncapped["scenario"] == scenario)]
        grow = {name: _yearly(t, pd.Timestamp(a["date"])) for name, t, a in
                ((self.series, u, part_last), (whole, self.whole.headline(), whole_last))}
        share = part_last["tokens_per_day"] / whole_last["tokens_per_day"]
        return (f"Before any cap, {self.series} exceeded {whole} (the whole it belongs to) in {len(over)} "
                f"quantile-dates from {over['date'].min().date()} ({', '.join(sorted(set(over['quantile'])))}); "
                f"why: its latest disclosure is already {share:.0%} of {whole}'s ({part_last['id']} against "
                f"{whole_last['id']}) and its median grows x{grow[self.series]:.2g} a year against "
                f"x{grow[whole]:.2g}. Those quantiles are capped to the whole's ({self.capped_rows} rows flagged "
                "in the capped_by column of projection.csv)." + self.raised_line(whole))

    def raised_line(self, name: str) -> str:
        """' ' and how `name`'s projection was raised to its parts' disclosed levels, or ''."""
        r = self.raised[self.raised["series"] == name] if len(self.raised) else self.raised
        r = r[r["model"] == self.headline_key[0]] if len(r) else r
        if r.empty:
            return ""
        top = r.loc[r["part_tokens_per_day"].idxmax()]
        which = [q for q in P.QUANTILES if r["quantiles"].str.contains(q).any()]
        return (f" A whole is at least its parts: {name}'s headline quantiles ({', '.join(which)}) "
                f"were raised to what its parts had disclosed on {len(r)} dates from {r['date'].min().date()}, up "
                f"to {fmt_tokens(top['part_tokens_per_day'])} ({top['part_id']}); rows in raised_to_parts.csv.")

    def capacity(self) -> pd.DataFrame:
        """The headline's quantiles against the sourced worldwide supply bound (output tokens) on each date."""
        head = self.projection.headline()
        return F.capacity_check(head[head["date"] > self.projection.anchor["date"]], F.load_supply_bounds())

    @cached_property
    def table_csv(self) -> str:
        """projection.csv's text, as `write` writes it."""
        return cols(self.projection.table, F.PROJECTION_COLUMNS, "projection").to_csv(index=False)

    def projected(self) -> Projected:
        """What notebook 05 uses of this projection (the notices are the projection's: build collects no others)."""
        return Projected(self.key, self.projection.table.copy(), self.chosen, tuple(self.notices),
                         self.anchor_source())

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"projection": cols(self.projection.table, F.PROJECTION_COLUMNS, "projection"),
                "forecast": self.forecast(),
                "forecasters": self.projection.forecasters,
                "backtest": self.backtest,
                "scores": self.scores,
                "calibration": self.calibration,
                "errors_by_horizon": B.error_by_horizon(self.scored),
                "band_widths": self.band_widths(),
                "consistency": self.consistency(),
                "capacity": self.capacity(),
                "history": self.history,
                "raised_to_parts": self.raised,
                "reach": self.reach[REACH_COLUMNS]}

    def forecast(self) -> pd.DataFrame:
        return F.archive(self.projection.table, self.as_of, self.ledger, ledger_path())

    # ----- headline numbers
    def headline_at(self, dates: list[pd.Timestamp]) -> pd.DataFrame:
        h = self.projection.headline()
        return h[h["date"].isin(dates)]

    @property
    def quote_dates(self) -> list[pd.Timestamp]:
        return [d for d in quarter_ends_after(pd.Timestamp(self.projection.anchor["date"])) if d <= self.horizon]

    @property
    def chosen(self) -> dict[str, str]:
        model, scenario = self.headline_key
        return {"model": model, "scenario": scenario}

    @property
    def capped_rows(self) -> int:
        return int((self.projection.table["capped_by"] != "").sum())

    @property
    def source_line(self) -> str:
        return (f"Source: tokenwatch token ledger, series {self.series} ({data_file('tokens/disclosures.csv')}, each "
                f"row with its URL); scenarios: {data_file('token_scenarios.csv')} (assumptions, stated there); "
                f"parts of wholes: {data_file('tokens/parts.csv')}. Made from what was public on "
                f"{self.as_of.date()}.")

    def summary(self) -> dict:
        quotes = self.headline_at(self.quote_dates)
        head = {"series": self.series}
        for r in quotes.itertuples():
            head[f"headline {r.date.date()}"] = f"{fmt_tokens(r.p50)} ({fmt_tokens(r.p10)} to {fmt_tokens(r.p90)})"
        head["80% coverage, backtest"] = f"headline {_pct(self.coverage(0.8))}"
        return {
            "notebook": "token_projection", "series": self.series, "as_of": self.as_of,
            "cutoff": self.cutoff if self.cutoff is not None else "", "horizon": self.horizon,
            "observations": len(self.observations), "chosen": self.chosen, "short_series": self.projection.short,
            "headline_members": self.projection.members.get(B.ALL, ""),
            "headline_quotes": quotes[["date", *P.QUANTILES]].to_dict("records"),
            "skill_against_naive": self.skill, "above_median": self.above_median,
            "calibration": self.pooled_calibration.to_dict("records"),
            "forecasters": self.projection.forecasters.to_dict("records"),
            "band_widths": self.band_widths().to_dict("records"),
            "whole": self.whole.series if self.whole else None, "capped_rows": self.capped_rows,
            "leader": self.leader.series if self.leader else None,
            "reach": self.reach.to_dict("records"), "room_claim": self.room,
            "skipped": self.projection.skipped.to_dict("records"), "notices": self.notices, "headline": head,
            # what another notebook checks before it reuses projection.csv instead of projecting again
            "projection_key": self.key, "anchor_source": self.anchor_source(),
            "projection_table": {"file": TABLE, "sha256": hashlib.sha256(self.table_csv.encode()).hexdigest()},
            "sources": [file_source(ledger_path(), len(self.observations), f"disclosures of {self.series}"),
                        file_source(data_dir() / "token_scenarios.csv", len(self.scenarios),
                                    "scenarios (assumptions)"),
                        file_source(data_dir() / "tokens" / "parts.csv", len(F.load_parts()), "parts of wholes"),
                        file_source(data_dir() / "tokens" / "supply_bounds.csv", len(F.load_supply_bounds()),
                                    "worldwide supply bounds")],
        }

    @property
    def findings(self) -> list[str]:
        last = self.projection.anchor
        short = " (short series: growth leans on the pooled prior)" if self.projection.short else ""
        lines = [f"{self.series}: {len(self.observations)} disclosures public on {self.as_of.date()}{short}, the "
                 f"latest {fmt_tokens(last['tokens_per_day'])} tokens a day ({pd.Timestamp(last['date']).date()}, "
                 f"{last['id']})."]
        model, _ = self.headline_key
        what = (f"ensemble of {', '.join(self.projection.members.get(B.ALL, '').split('+'))}, weighted by pooled "
                "out-of-sample CRPS" if model == B.ENSEMBLE else "NAIVE growth with its calibrated band: the "
                "ensemble did not beat it in the pooled backtest")
        quotes = "; ".join(f"{fmt_tokens(r.p50)} tokens a day on {r.date.date()} (80% band {fmt_tokens(r.p10)} to "
                           f"{fmt_tokens(r.p90)})"
                           for r in self.headline_at(self.quote_dates).itertuples())
        if quotes:
            lines.append(f"Headline for {self.series} ({what}): {quotes}.")
        sk = self.skill
        if sk:
            lines.append(f"Skill against naive growth on the same {sk['cells']} pooled cells of {sk['series']} series: "
                         f"median |log error| {sk['median_abs_log_error']:.2f} against naive's "
                         f"{sk['naive_median_abs_log_error']:.2f} (ratio {sk['ratio']:.2f}; closer in {sk['wins']}).")
        c80, c50, am = self.coverage(0.8), self.coverage(0.5), self.above_median
        n_series = self.headline_backtest["series"].nunique()
        lines.append(f"Pooled rolling backtest, forecasts only (targets dated after the cutoff, up to 18 months), "
                     f"each series' band learned from the other series: the headline's 80% intervals covered "
                     f"{_pct(c80)} and its 50% intervals {_pct(c50)} over {n_series} series; "
                     f"{am['share']:.0%} of {am['cells']} actual figures lay above the median (binomial p "
                     f"{am['binomial_p']:.2f}: " + ("a skew the symmetric band does not capture)." if am["binomial_p"]
                                                    < 0.05 else "no evidence of skew, so the band stays symmetric)."))
        widths = self.band_widths()
        if len(widths):
            last = float(self.projection.anchor["tokens_per_day"])
            band = self.projection.calibration.ensemble
            fall = float(np.expm1(band.floors[0.1])) if band is not None else 0.0
            six = widths[widths["months_ahead"] == 6]
            lines.append("Band width p90/p10 of the headline: " + ", ".join(
                f"x{r.p90_over_p10:.1f} at {r.months_ahead} months" for r in widths.itertuples()) + "." + (
                f" Six months out its p10 is {fmt_tokens(six['p10'].iloc[0])} against the last disclosure's "
                f"{fmt_tokens(last)}: a p10 may fall below the last disclosure only as far as one in ten pooled "
                f"figures fell below theirs ({'none fell that often' if fall == 0 else f'{fall:+.1%}'})."
                if len(six) else ""))
        if self.whole is not None:
            lines.append(self.consistency_line())
        cap = self.capacity()
        above = cap[cap["p50"] > cap["bound_high"]]
        if len(cap):
            lines.append(f"Supply check: the headline median passes the top of Epoch's worldwide output-token range "
                         f"(grown {F.SUPPLY_GROWTH_NOTE}) on {above['date'].min().date()}." if len(above) else
                         "Supply check: the headline median stays below the top of Epoch's worldwide output-token "
                         f"capacity range (grown {F.SUPPLY_GROWTH_NOTE}) to {self.horizon.date()}; its p90 passes "
                         f"it on {len(cap[cap['p90'] > cap['bound_high']])} of {len(cap)} dates.")
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
        broken = self.scores.query("ceilings_broken > 0")
        if len(broken):
            lines.append("S-curve ceilings broken by later figures in the backtest (conditional members, kept out "
                         "of the headline, whose ceilings are scenario assumptions): " + "; ".join(
                             f"{r.model}/{r.scenario} in {r.ceilings_broken} of {r.cells} cells"
                             for r in broken.itertuples()) + ".")
        return lines


def _yearly(table: pd.DataFrame, start: pd.Timestamp) -> float:
    """The median's growth multiple over the year after `start` (NaN beyond the table)."""
    q = F.interpolate_quantiles(table.sort_values("date"), pd.Series([start, start + pd.DateOffset(years=1)]))["p50"]
    return float(q.iloc[1] / q.iloc[0])


def _pct(row: pd.Series) -> str:
    """A coverage row as '87% of 172 cells' (or 'no cells')."""
    return f"{row['coverage']:.0%} of {row['n']} cells" if row["n"] else "no cells"


def _month(value: object) -> str:
    return f"{pd.Timestamp(value):%Y-%m}" if pd.notna(value) else "after the horizon"


def load_and_check(series: str, when: pd.Timestamp, horizon: pd.Timestamp, models: list[str],
                   scenario_names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger as public at `when` and the scenarios chosen, with every parameter checked."""
    unknown = sorted(set(models) - set(P.MODELS))
    if unknown:
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
    if len(public) < B.MIN_CUTOFF_POINTS:
        raise ParameterError(f"series {series} has {len(public)} disclosure(s) public on {when.date()} "
                             f"(of {len(obs)} in the ledger); a projection needs two dated disclosures of one "
                             "series to measure growth: add a second, sourced, to data/tokens/disclosures.csv")
    if horizon <= public["date"].max():
        raise ParameterError(f"horizon {horizon.date()} is not after the latest disclosure of {series} "
                             f"({public['date'].max().date()}); pick a later horizon")
    return ledger, scenarios


def backtest_pool(ledger: pd.DataFrame, models: list[str], scenarios: pd.DataFrame) -> tuple[B.Cells, pd.DataFrame]:
    """The pooled backtest on what is public in `ledger`, and its cells scored leaving each series out."""
    pool = B.forecast_cells(ledger, models, scenarios)
    return pool, B.evaluated(pool)


def project_series(series: str, cutoff: str | pd.Timestamp | None, horizon: pd.Timestamp, models: list[str],
                   scenario_names: list[str], when: pd.Timestamp | None = None,
                   multiple: float = 10.0, leader: str = LEADER, vintages: int = 0) -> ProjectionReport:
    """The whole projection of one series as of `when` (default today); see the module docstring. `vintages`:
    how many of the series' latest disclosures the before/after view of the headline steps through."""
    when = when or reads.today()
    if not multiple > 1:
        raise ParameterError(f"multiple={multiple} should be above 1 (how many times the level at the cutoff)")
    ledger, scenarios = load_and_check(series, when, horizon, models, scenario_names)
    pool, scored = backtest_pool(ledger, models, scenarios)
    choice, skill = B.headline_choice(scored)
    if choice == B.NAIVE:
        notice(f"the ensemble did not beat naive growth in the pooled backtest (median |log error| "
               f"{skill['median_abs_log_error']:.2f} against {skill['naive_median_abs_log_error']:.2f}): the "
               "headline is the naive model with its calibrated band")
    if series not in set(pool.cells["series"]):
        notice(f"{series} has no backtest of its own (fewer than {B.MIN_SERIES_POINTS} disclosures or no later "
               "one); its band is learned from the other series' backtests")
    if isinstance(cutoff, pd.Timestamp) and not (pool.cells.query("series == @series")["cutoff"] == cutoff).any():
        feasible = sorted({c.date() for c in pool.cells.query("series == @series")["cutoff"]})
        notice(f"cutoff {cutoff.date()}: no backtest of {series} starts there; its feasible cutoffs are "
               f"{[str(c) for c in feasible] or 'none'} (use 'auto' for all)")
    if cutoff is None:
        notice("cutoff is empty: this series' backtest table is not shown (the pooled backtest still calibrates)")
    observed = P.series_observations(ledger)
    proj = F.project(ledger, series, when, horizon, pool, choice, models, scenarios, observed)
    if proj.short:
        notice(f"short series: {series} has {len(proj.observations)} disclosures; its growth leans on the prior "
               "pooled across series" + (f" ({_prior_line(proj)})" if proj.prior else " (none could be formed)"))
    for s in proj.skipped.itertuples():
        notice(f"{s.model} under {s.scenario} skipped: {s.reason}")

    def other(name: str | None, role: str) -> F.Projection | None:
        if not name or name == series:
            return None
        try:
            return F.project(ledger, name, when, horizon, pool, choice, observed=observed)
        except ParameterError as exc:
            notice(f"{role} {name} cannot be projected, so it is not used: {exc}")
            return None

    parts = F.load_parts()
    whole = other(F.whole_of(series, parts), "whole")
    raised = {}
    for p in (proj, whole):
        if p is not None:  # a whole is at least what its parts disclosed: before any cap by it
            p.table, raised[p.series] = F.raise_to_parts(p.table, p.series, parts, observed,
                                                         pd.Timestamp(p.anchor["date"]))
    uncapped = proj.table.copy()
    if whole is not None:
        capped = F.cap_by(proj.table, whole.headline(), whole.series, pd.Timestamp(proj.anchor["date"]))
        proj.table = capped
        if (capped["capped_by"] != "").any():
            notice(f"{int((capped['capped_by'] != '').sum())} projected rows capped by {whole.series}")
    lead = other(leader, "leader")
    reach = reach_table(proj, multiple, lead)
    dates = [d for d in quarter_ends_after(pd.Timestamp(proj.anchor["date"])) if d <= horizon]
    history = F.headline_history(load_ledger(), series, when, horizon, dates, pool, choice, vintages,
                                 whole.series if whole else None) if vintages else None
    report = ProjectionReport(series, cutoff, when, horizon, multiple, proj, whole, lead, scored, pool.skipped,
                              reach, room_claim(ledger), scenarios, ledger, [])
    report.uncapped = uncapped
    report.raised = pd.concat([r.assign(series=name) for name, r in raised.items()], ignore_index=True)
    report.skill = skill
    report.pool = pool
    report.history = history if history is not None else pd.DataFrame(columns=F.HISTORY_COLUMNS)
    return report


def _prior_line(proj: F.Projection) -> str:
    pr, post = proj.prior, proj.posterior
    assert pr is not None
    line = (f"prior growth x{np.exp(pr.mean):.3g} a year from {', '.join(pr.series)}, between-series sd "
            f"{np.sqrt(pr.tau2):.2f} log a year")
    if post is not None:
        line += (f"; the series' own growth takes {1 - post.shrinkage:.0%} of the weight, posterior "
                 f"x{np.exp(post.mean):.3g} a year (sd {post.sd:.2f} log)")
    return line


def reach_table(proj: F.Projection, multiple: float, leader: F.Projection | None) -> pd.DataFrame:
    """When the headline reaches `multiple` times the anchor, and the leader's projected median."""
    head = proj.headline()
    head = head[head["date"] > proj.anchor["date"]]
    level = multiple * float(proj.anchor["tokens_per_day"])
    rows = [P.reach_dates(head, level, f"{multiple:g}x its level at the cutoff ({fmt_tokens(level)} tokens a day)")
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


def _table(source: str | Path | io.BytesIO) -> pd.DataFrame:
    """projection.csv as written."""
    return pd.read_csv(source, parse_dates=["date"], keep_default_na=False, na_values={q: [""] for q in P.QUANTILES})


def read_run(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """projection.csv and summary.json from an earlier token_projection run."""
    folder = Path(folder)
    if not (folder / TABLE).is_file():
        raise DataNotFoundError(f"{folder} has no projection.csv; point projection_dir at a token_projection run "
                                "(e.g. reports/latest/token_projection) or leave it empty to project here")
    reads.note(folder / TABLE)
    return _table(folder / TABLE), read_summary(folder)


# ----- one projection for notebooks 04 and 05: its key, a memo within the process, the run folder of 04

@dataclass(frozen=True)
class Projected:
    """What notebook 05 needs of a projection: its key, table, headline choice, notices and anchor."""

    key: dict
    table: pd.DataFrame
    chosen: dict[str, str]
    notices: tuple[str, ...]
    anchor_source: str


@cache
def code_checksum() -> str:
    """sha256 of the projection's code: this module and every tokenwatch module it imports."""
    h = hashlib.sha256()
    for path in imported(__name__):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _file_sha(path: Path) -> str:
    try:
        return file_sha256(path)
    except FileNotFoundError:
        return "absent"


def _cutoff(value: str | pd.Timestamp | None) -> str:
    return "" if value is None else value if isinstance(value, str) else pd.Timestamp(value).isoformat()


def projection_key(series: str, cutoff: str | pd.Timestamp | None, when: pd.Timestamp, horizon: pd.Timestamp,
                   models: list[str], scenario_names: list[str], leader: str) -> dict[str, Any]:
    """What the projection table of `project_series` and its notices are made from: the parameters that reach
    them, the checksums of the data files read (ledger, scenarios, parts of wholes), of the code, and the versions
    of the numerical libraries. Two projections with equal keys have equal tables, headlines and notices."""
    return {"series": series, "cutoff": _cutoff(cutoff), "as_of": pd.Timestamp(when).isoformat(),
            "horizon": pd.Timestamp(horizon).isoformat(), "models": list(models),
            "scenarios": list(scenario_names), "leader": leader,
            "data": {name: _file_sha(data_dir() / name) for name in PROJECTION_DATA},
            "code": code_checksum(), "versions": package_versions(KEY_VERSIONS)}


_MEMO: dict[str, Projected] = {}  # by key; emptied with the module at each run's start (reads.start)


def _memo_key(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def remember(projected: Projected) -> None:
    """Keep a projection for this process (notebook 05 after 04 in one process: no second projection)."""
    if projected.key:
        _MEMO[_memo_key(projected.key)] = projected


def remembered(key: dict[str, Any]) -> Projected | None:
    return _MEMO.get(_memo_key(key))


def default_run() -> Path | None:
    """The plain token_projection run of the batch this kernel runs for (the runner names its output folder)."""
    root = os.environ.get(RUNS_ENV, "").strip()
    return Path(root) / ProjectionReport.run_name if root else None


def from_run(folder: Path, key: dict[str, Any]) -> tuple[Projected | None, str]:
    """The projection in a token_projection run folder when its key is `key` and its table is the one it wrote;
    else None and why not. Every file read here is a read of the run (the execution cache records it, so a changed
    or new projection run makes the reader stale), a missing summary.json included."""
    try:
        summary = read_summary(folder)
    except FileNotFoundError:
        return None, "no token_projection run"
    except (OSError, ValueError) as exc:
        return None, f"its summary.json cannot be read ({type(exc).__name__})"
    if not isinstance(summary, dict):
        return None, "its summary.json is not a record"
    if summary.get("projection_key") != json.loads(json.dumps(key, default=str)):
        was = summary.get("projection_key") or {}
        differ = sorted(k for k in set(key) | set(was) if was.get(k) != key.get(k)) if isinstance(was, dict) else []
        return None, f"made from other inputs ({', '.join(differ) or 'no projection_key'})"
    table = summary.get("projection_table") or {}
    path = folder / str(table.get("file", TABLE))
    reads.note(path)
    try:
        data = path.read_bytes()
    except OSError:
        return None, f"its {path.name} cannot be read"
    if hashlib.sha256(data).hexdigest() != table.get("sha256"):
        return None, f"its {path.name} is not the one the run wrote"
    return Projected(summary["projection_key"], _table(io.BytesIO(data)), dict(summary.get("chosen") or {}),
                     tuple(summary.get("notices") or ()), str(summary.get("anchor_source", ""))), ""


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
    return finish(fig, f"{report.series}: the headline from the latest disclosure, with its 50% and 80% bands",
                  report.source_line, xlabel="date", ylabel="tokens per day", data=head)


def models_chart(report: ProjectionReport) -> Figure:
    """Every forecaster's median beside the headline band."""
    fig, ax = new_figure(figsize=(10, 5.4))
    head = report.projection.headline()
    ax.fill_between(head["date"], head["p10"], head["p90"], color="#c0392b", alpha=0.12, label="headline 80% band")
    t = report.projection.table
    for i, ((model, scenario), s) in enumerate(t.groupby(["model", "scenario"], sort=False)):
        conditional = bool(scenario) and model != B.ENSEMBLE
        flag = " (at a bound)" if s["at_bound"].iloc[0] else ""
        label = f"{model}/{scenario}{flag}" if scenario and model != B.ENSEMBLE else model
        ax.plot(s["date"], s["p50"], ls=":" if conditional else "-", color=f"C{i % 10}",
                lw=0.8 if conditional else 1.6, label=label + (" (conditional)" if conditional else ""))
    obs = report.observations
    ax.plot(obs["date"], obs["tokens_per_day"], "o", color="black", ms=4, label="disclosures")
    ax.set_yscale("log")
    ax.legend(fontsize=6, frameon=False, loc="upper left", ncol=2)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    return finish(fig, f"{report.series}: each forecaster's median path from the latest disclosure",
                  report.source_line, xlabel="date", ylabel="tokens per day (log scale)", data=t)


def calibration_chart(report: ProjectionReport) -> Figure:
    """Nominal against actual coverage in the pooled backtest for the headline members and the ensemble, and the
    headline's log errors by horizon."""
    fig, axes = new_figure(ncols=2, figsize=(11, 4.8))
    ax, ax2 = np.asarray(axes).ravel()
    c = report.pooled_calibration
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, label="perfect calibration")
    for (model, scenario), g in c.groupby(["model", "scenario"], sort=False):
        if scenario and model != B.ENSEMBLE:
            continue
        ax.plot(g["nominal"], g["coverage"], "o-", lw=2 if model == B.ENSEMBLE else 1,
                label=f"{model} (n={g['n'].iloc[0]})")
    ax.set_xlim(0.4, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    head = report.headline_backtest
    for i, (series, g) in enumerate(head.groupby("series")):
        ax2.plot(g["horizon_years"] * 12, g["log_error"], "o", ms=4, color=f"C{i % 10}", label=series)
    ax2.axhline(0, color="#999999", lw=1)
    ax2.set_title("Headline: log error of the median by months ahead", fontsize=10)
    ax2.set_xlabel("months past the latest disclosure")
    ax2.set_ylabel("log(actual / median)")
    ax2.legend(fontsize=7, frameon=False)
    return finish(fig, "Pooled rolling backtest: nominal against actual interval coverage", report.source_line,
                  xlabel="nominal coverage of the central interval", ylabel="share of later disclosures inside",
                  data=c)


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
    multiple: float = parsed(checks.number)
    leader: str = parsed(checks.text)
    vintages: int = parsed(lambda name, v: checks.positive_int(name, v + 1) - 1 if isinstance(v, int) else
                           checks.positive_int(name, v))


def build(p: Params, source: object = None) -> ProjectionReport:
    """The pooled backtest, calibrated forecasts and the headline for one ledger series (no prices)."""
    with collect_notices() as notices:
        report = project_series(p.series, p.cutoff, p.horizon, p.models, p.scenarios, p.as_of, p.multiple,
                                p.leader, p.vintages)
    report.notices = notices
    report.key = projection_key(p.series, p.cutoff, report.as_of, p.horizon, p.models, p.scenarios, p.leader)
    remember(report.projected())
    return report
