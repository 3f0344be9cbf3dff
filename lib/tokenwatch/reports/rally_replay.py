"""The rally replay (notebook 02): phases, the event study, break tests and the A-share mirror.

Charts are in `rally_charts`, the A-share mirror in `rally_mirror`. The event study keeps one market model per
symbol, estimated before its first event (and its pre-event window), with the placebo, the session bootstrap and
adjusted p-values of `eventstudy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import pandas as pd

from tokenwatch import params as checks
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.artifacts import sources
from tokenwatch.errors import ParameterError
from tokenwatch.market import Prices, PriceSource, default_source, load_prices
from tokenwatch.methods import breaks, eventpanel, eventstudy
from tokenwatch.methods.baskets import basket_excess
from tokenwatch.methods.breaks import BreakResult
from tokenwatch.methods.eventpanel import p_eq, p_text
from tokenwatch.methods.phases import (
    PHASE_COLUMNS,
    PHASES,
    Boundaries,
    leaders,
    phase_boundaries,
    phase_returns,
    report_break_date,
)
from tokenwatch.paths import data_file
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.reports.rally_events import clock_starts, events_in_window, us_events
from tokenwatch.reports.rally_mirror import CN_BENCHMARK, a_share_mirror
from tokenwatch.universe import names, parse_symbols


@dataclass
class RallyReport(Report):
    run_name: ClassVar[str] = "rally_replay"
    bounds: Boundaries
    symbols: list[str]
    benchmark: str
    panel: pd.DataFrame  # adjusted closes over the window (symbols + benchmark)
    phases: pd.DataFrame
    events: pd.DataFrame  # events in the window with their US session
    study: eventstudy.EventStudy
    breaks: list[BreakResult]
    break_text: str
    multiple: dict[str, list[BreakResult]]  # Bai-Perron per series (empty: no break chosen)
    mirror_bounds: Boundaries
    mirror_panel: pd.DataFrame
    mirror_phases: pd.DataFrame
    mirror_names: dict[str, str]
    notices: list[str] = field(default_factory=list)
    prices: list[Prices] = field(default_factory=list)
    more_breaks: list[BreakResult] = field(default_factory=list)  # Chow at the report's date, CUSUMs
    report_bounds: Boundaries | None = None  # the phases with the report's own phase-2 start (an alternative)
    report_phases: pd.DataFrame = field(default_factory=pd.DataFrame)  # phase returns on report_bounds
    boundary_from: str = "the date given"  # or "the clock rule": phase 2 starts at its first event's session

    def boundary_table(self) -> pd.DataFrame:
        """One row per phase-2 boundary (the one in use, and the report's own date as the alternative): its first
        session and the basket's, the benchmark's and NVDA's returns in phases 1 and 2."""
        rows = []
        for name, bounds, table in ((self.boundary_from, self.bounds, self.phases),
                                    ("the report's own date", self.report_bounds, self.report_phases)):
            if bounds is None or table.empty:
                continue
            row: dict[str, object] = {"boundary": name, "phase2_from_close": bounds.closes[2].date()}
            for phase in PHASES[1:]:
                part = table[table["phase"] == phase]
                key = phase.replace(" ", "")
                row[f"basket_{key}_pct"] = part["return_pct"].mean()
                row[f"benchmark_{key}_pct"] = part["benchmark_pct"].iloc[0]
                nvda = part[part["symbol"] == "NVDA"]["return_pct"]
                row[f"nvda_{key}_pct"] = nvda.iloc[0] if len(nvda) else np.nan
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def leaders(self) -> dict[str, list[str]]:
        return leaders(self.phases)

    @property
    def source_line(self) -> str:
        return self.prices[0].source_line() + f"; events: {data_file('events.csv')} (each row with its source URL)"

    def leaders_table(self) -> pd.DataFrame:
        """The top three by excess return in each phase, US and A-share (by name)."""
        cn = leaders(self.mirror_phases)
        return pd.DataFrame({"phase": list(PHASES),
                             "us": [", ".join(self.leaders[p]) for p in PHASES],
                             "a_share": [", ".join(self.mirror_names.get(c, c) for c in cn[p]) for p in PHASES]})

    @property
    def agrees(self) -> bool:
        """Do the data put a break at the report's phase-2 start? The search must find a significant
        break whose 95% band holds the report's date."""
        given, search = self.breaks[0], self.breaks[1]
        return bool(search.p_value < 0.05 and search.lower <= given.break_date <= search.upper)

    def verdict(self) -> str:
        given, search = self.breaks[0], self.breaks[1]
        day = given.break_date.date()
        where = f"the phase-2 start ({day}, by {self.boundary_from})"
        if self.agrees:
            return (f"Yes: the data support a break at {where} in {search.series}: the searched break "
                    f"{search.break_date.date()} has a 95% band that contains it.")
        return (f"No: the data do not support a break at {where} in {search.series} (searched break p = "
                f"{search.p_value:.2f}; Chow at {day} p = {given.p_value:.2f}).")

    def break_table(self) -> pd.DataFrame:
        """Every break test in one table, each with its verdict at 5%."""
        rows = [b.row() for b in [*self.breaks, *self.more_breaks]]
        for series, found in self.multiple.items():
            rows += [b.row() for b in found] or [{
                "series": series, "method": "Bai-Perron: BIC chooses no break (max 3)", "break_date": None,
                "lower": None, "upper": None, "statistic": np.nan, "critical_value": np.nan, "p_value": np.nan,
                "verdict": "no break (BIC)"}]
        return pd.DataFrame(rows, columns=breaks.BREAK_COLUMNS)

    def summary(self) -> dict:
        given, search = self.breaks[0], self.breaks[1]  # the US basket: Chow at the report's date, the search
        whole = self.phases[self.phases["phase"] == "whole window"].set_index("symbol")["return_pct"]
        return {
            "notebook": "rally_replay",
            "benchmark": self.benchmark,
            "phases": self.bounds.as_dict(),
            "mirror_phases": self.mirror_bounds.as_dict(),
            "detected_breaks": [b.row() for b in self.breaks if b.method.startswith("sup-F")]
            + [b.row() for found in self.multiple.values() for b in found],
            "phase2_start": given.break_date, "phase2_boundary": self.boundary_from,
            "report_break_date": self.report_chow.break_date if self.report_chow else None,
            "phase_boundaries": self.boundary_table().to_dict("records"),
            "event_sessions_confounded": int(self.study.sessions["confounded"].sum()),
            "survivors": {w: self.study.survivors(w).to_dict("records")
                          for w in self.study.decomposition["window"].unique()},
            "event_evidence": self.robust(),
            "p_adjustment": self.study.adjustment,
            "break_agrees_with_report": self.agrees,
            "break_verdict": self.verdict(),
            "break_statement": self.break_text,
            "leaders": self.leaders,
            "mirror_leaders": leaders(self.mirror_phases),
            "events_tested": int(self.events["tested"].sum()),
            "notices": self.notices,
            "headline": {"searched break": f"{search.break_date.date()} (p={search.p_value:.3f})"
                         if search.p_value < 0.05 else f"none significant (p={search.p_value:.2f})",
                         f"Chow p at {given.break_date.date()}": round(given.p_value, 3),
                         **{f"{s} whole %": round(float(v), 1) for s, v in whole.head(3).items()}},
            "sources": sources(*(p.provenance for p in self.prices)),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        phases = pd.concat([self.phases.assign(market="us"), self.mirror_phases.assign(market="cn")])
        return {"phase_returns": cols(phases, [*PHASE_COLUMNS, "market"], "phase_returns"),
                "event_study": cols(self.study.results, eventstudy.EVENT_COLUMNS, "event_study"),
                "event_study_by_category": self.study.by_category,
                "event_tests": cols(self.study.tests, eventstudy.TEST_COLUMNS, "event_tests"),
                "event_placebo": self.study.placebo, "event_models": self.study.models,
                "event_sessions": self.study.session_table(),
                "event_decomposition": cols(self.study.decomposition, eventstudy.DECOMPOSITION_COLUMNS,
                                            "event_decomposition"),
                "phase_boundaries": self.boundary_table(),
                "breaks": cols(self.break_table(), breaks.BREAK_COLUMNS, "breaks"),
                "leaders": self.leaders_table()}

    def by_phase(self, value: str, mirror: bool = False) -> pd.DataFrame:
        """One phase-return column (`return_pct`, `excess_pct`, `max_drawdown_pct`) as symbols x phases;
        the A-share mirror's with its names when `mirror`. Drawdowns have no whole-window column."""
        table = self.mirror_phases.assign(name=self.mirror_phases["symbol"].map(self.mirror_names)) if mirror \
            else self.phases
        wide = table.pivot(index=["symbol", "name"] if mirror else "symbol", columns="phase", values=value)
        return wide[[*PHASES] if value == "max_drawdown_pct" else [*PHASES, "whole window"]]

    @property
    def mirror_labels(self) -> dict[str, str]:
        """Display names of the mirror's members and its benchmark, from the universe."""
        bench = parse_symbols([CN_BENCHMARK])[0]
        return {**self.mirror_names, bench.code: names([bench])[bench]}

    @property
    def report_chow(self) -> BreakResult | None:
        """The Chow test at the report's own phase-2 date, when one is given as the alternative."""
        return next((b for b in self.more_breaks if b.method.startswith("Chow")), None)

    @property
    def report_break(self) -> BreakResult:
        """The Chow test at the report's own phase-2 date, on the US basket's excess return."""
        return self.breaks[0]

    @property
    def searched_break(self) -> BreakResult:
        """The sup-F search for the break date, on the same series."""
        return self.breaks[1]

    @property
    def findings(self) -> list[str]:
        ph = self.phases.set_index(["symbol", "phase"])
        lines = []
        for phase in PHASES[1:]:
            part = self.phases[self.phases["phase"] == phase]
            lines.append(f"{phase} ({self.bounds.as_dict()[phase]['from_close']} to "
                         f"{self.bounds.as_dict()[phase]['to_close']}): the {len(part)} names rose "
                         f"{part['return_pct'].mean():+.1f}% on average against {part['benchmark_pct'].iloc[0]:+.1f}% "
                         f"for {self.benchmark}; leader {part.sort_values('return_pct').iloc[-1]['symbol']}.")
        if ("NVDA", "whole window") in ph.index:
            lines.append(f"NVDA over the whole window: {ph.loc[('NVDA', 'whole window'), 'return_pct']:+.2f}%.")
        table = self.boundary_table()
        if len(table) == 2:
            a, b = table.iloc[0], table.iloc[1]
            lines.append(f"Phase 2 starts after the {a['phase2_from_close']} close by {a['boundary']} (the report's "
                         f"own date gives {b['phase2_from_close']}): NVDA {a['nvda_phase1_pct']:+.1f}% / "
                         f"{a['nvda_phase2_pct']:+.1f}% in phases 1 / 2, against {b['nvda_phase1_pct']:+.1f}% / "
                         f"{b['nvda_phase2_pct']:+.1f}% on the report's date.")
        lines.append(self.verdict())
        lines.append(f"{int(self.events['tested'].sum())} events tested in the market-model event study; "
                     f"{self.confounding()}")
        lines.append(self.robust())
        return lines

    def robust(self) -> str:
        """Per category in the longest window: mean CAR, BMP p and the placebo p, each with its adjusted p; where
        the two disagree at 5% (adjusted), said."""
        st = self.study
        window = self._longest()
        parts, split = [], []
        for cat in sorted(st.placebo.loc[st.placebo["window"] == window, "category"]):
            bmp, plac = st.row("BMP", cat, window), st.row(eventpanel.PLACEBO_CAR, cat, window)
            parts.append(f"{cat} {plac['car_pct']:+.2f}% (BMP p {p_eq(bmp['p_value'])}, adjusted "
                         f"{p_text(bmp['p_adjusted'])}; placebo p {p_eq(plac['p_value'])}, adjusted "
                         f"{p_text(plac['p_adjusted'])})")
            if (bmp["p_adjusted"] < 0.05) != (plac["p_adjusted"] < 0.05):
                split.append(cat)
        model = st.models.iloc[0]
        text = (f"Robust evidence in {window}, one market model per symbol estimated {model['estimation_start']} to "
                f"{model['estimation_end']}, before the first event: " + "; ".join(parts)
                + f". p-values adjusted by {st.adjustment}; the placebo draws non-event sessions after the "
                "estimation window (events are dense in the rally, so their windows may hold event sessions).")
        if split:
            text += (f" BMP and the placebo disagree on {', '.join(split)} (adjusted, at 5%): the evidence rests on "
                     "the placebo, which compares with the rally's other sessions.")
        return text

    def _longest(self) -> str:
        """The longest event window's label (where the verdicts are read)."""
        design = self.study.design
        assert design is not None
        return eventstudy.label(max(design.windows, key=lambda w: w[1] - w[0]))

    def confounding(self) -> str:
        """Which categories survive confounding, in the longest window (a computed sentence)."""
        st = self.study
        if st.decomposition.empty:
            return "no window left for the decomposition."
        window = self._longest()
        surv = st.survivors(window)
        keep = surv[surv["survives"]]
        bad = int(st.sessions["confounded"].sum())
        text = (f"{bad} of {len(st.sessions)} event sessions carry several categories (confounded). In {window}, "
                f"{', '.join(keep['category']) or 'no category'} survive{'s' if len(keep) == 1 else ''} "
                "(decomposition p < 0.05 and, where clean sessions exist, Kolari-Pynnonen on them)")
        notes = [f"{r.category} has no clean session, so rests on the decomposition alone "
                 f"({r.car_pct:+.2f}% CAR, p = {r.p_decomposition:.3f})" for r in keep.itertuples()
                 if r.clean_sessions == 0]
        return text + ("; " + "; ".join(notes) if notes else "") + "."


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def break_tests(series: list[tuple[pd.Series, pd.Timestamp]], max_breaks: int = 3) -> tuple[
        list[BreakResult], dict[str, list[BreakResult]], str]:
    """For each (series, report's date): Chow at the date and the sup-F search; Bai-Perron; the sentences."""
    results = [r for y, day in series for r in (breaks.chow(y, day), breaks.sup_f(y))]
    text = " ".join(breaks.verdict(results[i + 1], results[i], unit=" percentage points")
                    for i in range(0, len(results), 2))
    multiple = {y.name: breaks.bai_perron(y, max_breaks) for y, _ in series}
    chosen = "; ".join(f"{name}: {', '.join(str(b.break_date.date()) for b in found) or 'none'}"
                       for name, found in multiple.items())
    upto = NUMBER_WORDS.get(max_breaks, str(max_breaks))
    return results, multiple, (f"{text} Allowing up to {upto} breaks at once (Bai-Perron, BIC), the breaks chosen "
                               f"are: {chosen}.")


def _boundary(name: str, value: object) -> pd.Timestamp | None:
    """A phase start: a date, or "events" (None) for the first session that can react to the phase's first event."""
    return None if isinstance(value, str) and value.strip() == EVENTS else checks.as_date(name, value)


EVENTS = "events"


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 02's parameters, checked once."""

    start: pd.Timestamp = parsed(checks.as_date)
    end: pd.Timestamp = parsed(checks.as_date)
    phase1_start: pd.Timestamp | None = parsed(_boundary)
    phase2_start: pd.Timestamp | None = parsed(_boundary)
    report_phase2_start: pd.Timestamp | None = parsed(checks.date_or_none)
    symbols: list[str] = parsed(checks.text_list)
    benchmark: str = parsed(checks.text)
    estimation_days: int = parsed(checks.positive_int)
    estimation_end: pd.Timestamp | None = parsed(checks.date_or_none)
    event_windows: list[tuple[int, int]] = parsed(eventstudy.windows_parameter)
    pre_event_window: tuple[int, int] = parsed(eventstudy.window_parameter)
    event_categories: list[str] = parsed(checks.text_list)
    mirror_basket: str = parsed(checks.text)
    placebo_draws: int = parsed(checks.positive_int)
    bootstrap_draws: int = parsed(checks.positive_int)
    seed: int = parsed(checks.positive_int)
    p_adjust: str = parsed(checks.one_of(*eventpanel.ADJUSTMENTS))

    def design(self) -> eventstudy.Design:
        """One model per symbol before the first event (and its pre-event window), with the study's checks."""
        return eventstudy.Design(self.event_windows, None, self.estimation_days, self.estimation_end,
                                 pre_event=self.pre_event_window, placebo_draws=self.placebo_draws,
                                 bootstrap_draws=self.bootstrap_draws, seed=self.seed, p_adjust=self.p_adjust,
                                 placebo_clear=False)


def build(p: Params, source: PriceSource | None = None) -> RallyReport:
    """Everything the rally notebook shows, computed from prices and data/events.csv."""
    source = source or default_source()
    with collect_notices() as notices:
        report = _replay(p, source)
    report.notices = notices
    return report


def _replay(p: Params, source: PriceSource) -> RallyReport:
    design = p.design()
    windows, estimation_length, estimation_end = design.all_windows, p.estimation_days, p.estimation_end
    syms = parse_symbols(p.symbols)
    bench = parse_symbols([p.benchmark])[0]
    if bench.market != "us" or any(s.market != "us" for s in syms):
        raise ParameterError("symbols and benchmark are US symbols (e.g. 'NVDA', 'GSPC' or 'SPY')")
    if bench.code in {s.code for s in syms}:
        raise ParameterError(f"{bench.code} is the benchmark; take it out of symbols")
    us_days = source.calendar("us")
    every = us_events(us_days, p.event_categories)
    by_clock = clock_starts(every)
    starts = []
    for given, phase in ((p.phase1_start, "phase1"), (p.phase2_start, "phase2")):
        if given is None and phase not in by_clock:
            raise ParameterError(f"no event in {data_file('events.csv')} has phase {phase!r}; give the start as a date")
        starts.append(given if given is not None else by_clock[phase])
    bounds = phase_boundaries(us_days, p.start, p.end, starts[0], starts[1])
    alternative = (phase_boundaries(us_days, p.start, p.end, starts[0], p.report_phase2_start)
                   if p.report_phase2_start is not None else None)
    events, all_sessions = events_in_window(bounds, every, p.event_categories)
    study_events = events[events["tested"]]

    # prices from before the estimation window to the end of the last event window
    first_pos = us_days.get_loc(study_events["session_date"].min()) + min(w[0] for w in windows)
    lo_pos = us_days.searchsorted(estimation_end, side="right") if estimation_end is not None else first_pos
    lo = us_days[max(0, lo_pos - estimation_length - 1)]
    hi = us_days[min(len(us_days) - 1, us_days.get_loc(bounds.closes[-1]) + max(w[1] for w in windows))]
    prices = load_prices([*syms, bench], lo, hi, source=source)
    panel = prices.close()[[s.code for s in syms] + [bench.code]]
    returns = panel.pct_change().iloc[1:]
    study = eventstudy.run(returns.drop(columns=[bench.code]), returns[bench.code], study_events, design,
                           all_sessions)
    for row in study.skipped.itertuples():
        notice(f"event {row.event_date} {row.entity} window {row.window}: {row.reason}")
    window_panel = panel.loc[bounds.closes[0]:bounds.closes[-1]]

    mirror = a_share_mirror(bounds, us_days, p.mirror_basket, source)
    report_day = report_break_date(bounds, us_days)
    us_excess = basket_excess(window_panel, bench.code, f"US basket excess over {bench.code}")
    results, multiple, text = break_tests([
        (us_excess, report_day), (mirror.excess, mirror.report_day),
        ((100 * window_panel[bench.code].pct_change().iloc[1:]).rename(f"{bench.code} daily return"), report_day)])
    phases = phase_returns(window_panel, bench.code, bounds)
    extra: list[BreakResult] = []
    report_phases = pd.DataFrame(columns=PHASE_COLUMNS)
    if alternative is not None:
        report_phases = phase_returns(window_panel, bench.code, alternative)
        alt_day = report_break_date(alternative, us_days)
        extra.append(replace(breaks.chow(us_excess, alt_day), method="Chow (the report's own date)"))
    cusums = [t(y) for y in (us_excess, mirror.excess) for t in (breaks.ols_cusum, breaks.recursive_cusum)]
    return RallyReport(bounds, [s.code for s in syms], bench.code, window_panel, phases, events, study, results,
                       text, multiple, mirror.bounds, mirror.panel, mirror.phases, mirror.names, [],
                       [prices, mirror.prices], extra + cusums, alternative, report_phases,
                       "the clock rule" if p.phase2_start is None else "the date given")
