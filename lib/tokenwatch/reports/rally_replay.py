"""The rally replay (notebook 02): phases, the event study, break tests and the A-share mirror, with its charts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from tokenwatch import params as checks
from tokenwatch.artifacts import select_columns as cols
from tokenwatch.artifacts import sources
from tokenwatch.curated import read_curated
from tokenwatch.errors import ParameterError
from tokenwatch.events import load_events, with_sessions
from tokenwatch.market import Prices, PriceSource, default_source, load_prices
from tokenwatch.methods import breaks, eventstudy
from tokenwatch.methods.baskets import basket_excess, cumulative_pct, excess_path
from tokenwatch.methods.breaks import BreakResult
from tokenwatch.methods.phases import (
    PHASE_COLUMNS,
    PHASES,
    Boundaries,
    leaders,
    mirror_boundaries,
    phase_boundaries,
    phase_returns,
    report_break_date,
)
from tokenwatch.paths import data_dir, data_file
from tokenwatch.plots import NEUTRAL, finish, grouped_barh, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.universe import load_basket, names, parse_symbols

CN_BENCHMARK = "cn_index:000300"


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
        return lines

    def confounding(self) -> str:
        """Which categories survive confounding, in the longest window (a computed sentence)."""
        st = self.study
        if st.decomposition.empty:
            return "no window left for the decomposition."
        window = max(st.decomposition["window"].unique(), key=lambda w: int(w.split(",")[1].strip("]+")))
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


def us_events(us_days: pd.DatetimeIndex, categories: list[str]) -> pd.DataFrame:
    """data/events.csv with each event's first US session (day 0), the categories checked."""
    events = load_events()
    known = sorted(events["category"].unique())
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise ParameterError(f"event categories {unknown} are not in {data_file('events.csv')}; categories: {known}")
    events = with_sessions(events, "us", us_days)
    for row in events[events["session_date"].isna()].itertuples():
        notice(f"event {row.date.date()} {row.entity}: {row.session_note}")
    return events


def events_in_window(bounds: Boundaries, events: pd.DataFrame,
                     categories: list[str]) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Events whose US session falls in the window, flagged `tested` (category chosen and confirmed),
    and every event session in the file (left out of the estimation window)."""
    inside = events[(events["session_date"] > bounds.closes[0]) & (events["session_date"] <= bounds.closes[-1])]
    inside = inside.assign(tested=inside["category"].isin(categories) & (inside["confidence"] != "unconfirmed"))
    for row in inside[~inside["tested"] & (inside["confidence"] == "unconfirmed")].itertuples():
        notice(f"event {row.date.date()} {row.entity} is unconfirmed: drawn, not tested")
    if not inside["tested"].any():
        raise ParameterError(f"no event of categories {categories} falls between {bounds.closes[0].date()} and "
                             f"{bounds.closes[-1].date()}; widen the window or add rows to {data_file('events.csv')}")
    return inside, pd.DatetimeIndex(events["session_date"].dropna())


@dataclass
class Mirror:
    bounds: Boundaries
    panel: pd.DataFrame  # adjusted closes of the complete names and CSI 300
    phases: pd.DataFrame
    names: dict[str, str]
    excess: pd.Series  # daily equal-weight excess over CSI 300, percent
    report_day: pd.Timestamp  # the A-share session matching the report's phase-2 start
    prices: Prices


def mirror_segments() -> list[str]:
    """The basket segments taken as overseas-compute suppliers (data/mirror_segments.csv, an assumption)."""
    return list(read_curated(data_dir() / "mirror_segments.csv", ["segment", "basis"], "mirror segments")["segment"])


def a_share_mirror(bounds: Boundaries, us_days: pd.DatetimeIndex, basket_name: str, source: PriceSource) -> Mirror:
    """The same phases for the basket's overseas-compute suppliers against CSI 300, on the A-share clock."""
    basket = load_basket(basket_name)
    segments = mirror_segments()
    if basket["segment"].isin(segments).any():
        basket = basket[basket["segment"].isin(segments)]
    cn_days = source.calendar("cn_index")
    mbounds = mirror_boundaries(bounds, us_days, cn_days)
    prices = load_prices([*basket["symbol"], CN_BENCHMARK], mbounds.closes[0], mbounds.closes[-1],
                         source=source, strict=False)
    for row in prices.missing.itertuples():
        notice(f"A-share mirror leaves out {row.symbol}: {row.reason}")
    panel = prices.close()
    complete = [c for c in panel.columns if panel[c].notna().all()]
    for c in sorted(set(panel.columns) - set(complete)):
        notice(f"A-share mirror leaves out {c}: it did not trade on every session of the window")
    bench = CN_BENCHMARK.split(":")[1]
    if bench not in complete:
        raise ParameterError(f"CSI 300 ({CN_BENCHMARK}) has no complete data for "
                             f"{mbounds.closes[0].date()}..{mbounds.closes[-1].date()}")
    panel = panel[complete]
    return Mirror(mbounds, panel, phase_returns(panel, bench, mbounds),
                  {s.code: n for s, n in names(parse_symbols(basket["symbol"])).items()},
                  basket_excess(panel, bench, "A-share suppliers excess over CSI 300"),
                  report_break_date(mbounds, cn_days), prices)


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


def clock_starts(events: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """The first US session that can react to each phase's first event (data/events.csv's `phase`, on the clock
    rule of event day 0): the boundaries the events themselves give."""
    dated = events.dropna(subset=["session_date"])
    return {str(k): v for k, v in dated.groupby("phase")["session_date"].min().items()}


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
    event_categories: list[str] = parsed(checks.text_list)
    mirror_basket: str = parsed(checks.text)


def build(p: Params, source: PriceSource | None = None) -> RallyReport:
    """Everything the rally notebook shows, computed from prices and data/events.csv."""
    source = source or default_source()
    with collect_notices() as notices:
        report = _replay(p, source)
    report.notices = notices
    return report


def _replay(p: Params, source: PriceSource) -> RallyReport:
    windows, estimation_length, estimation_end = p.event_windows, p.estimation_days, p.estimation_end
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
    study = eventstudy.run(returns.drop(columns=[bench.code]), returns[bench.code], study_events, windows,
                           estimation_length, estimation_end, all_sessions)
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





PHASE_SHADES = {"pre-rally": "#f2f3f4", "phase 1": "#fdebd0", "phase 2": "#d6eaf8"}
CATEGORY_COLORS = {"capex": "#1f77b4", "policy": "#9467bd", "tokens": "#d62728", "earnings": "#2ca02c",
                   "product": "#ff7f0e", "conference": "#17becf", "market": "#7f7f7f"}


def _shade(ax, bounds: Boundaries) -> None:
    for name, a, b in bounds.spans():
        ax.axvspan(a, b, color=PHASE_SHADES[name], zorder=0, lw=0)
        ax.text(a + (b - a) / 2, 0.99, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=8, color=NEUTRAL)


def cumulative_chart(panel: pd.DataFrame, benchmark: str, bounds: Boundaries, events: pd.DataFrame,
                     source: str, labels: dict[str, str] | None = None, title: str | None = None) -> Figure:
    """Cumulative return since the window's first close, phases shaded, event sessions marked."""
    fig, ax = new_figure(figsize=(11, 5.6))
    _shade(ax, bounds)
    cum = cumulative_pct(panel)
    colors = plt.cm.tab20(np.linspace(0, 1, 20))
    for i, col in enumerate(c for c in cum.columns if c != benchmark):
        ax.plot(cum.index, cum[col], lw=1.1, color=colors[(2 * i) % 20 + (i // 10) % 2],
                label=(labels or {}).get(col, col))
    ax.plot(cum.index, cum[benchmark], lw=2.4, color="black", label=f"{(labels or {}).get(benchmark, benchmark)} "
            "(benchmark)")
    handles, names = ax.get_legend_handles_labels()
    for cat, part in events.groupby("category"):
        color = CATEGORY_COLORS.get(cat, NEUTRAL)
        for tested, marker in ((True, "^"), (False, "2")):
            dates = part.loc[part["tested"] == tested, "session_date"]
            ax.scatter(dates, np.full(len(dates), 0.02), marker=marker, s=40, color=color,
                       transform=ax.get_xaxis_transform(), zorder=3, clip_on=False)
        handles.append(Line2D([], [], color=color, marker="^", ls=""))
        names.append(f"event: {cat}")
    ax.legend(handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    return finish(fig, title or "Cumulative return by phase, with dated catalysts", source,
                  xlabel="session (triangles: the session in which each event could first move prices; "
                         "open marks: not tested)", ylabel="return since the first close, %", data=cum)


def leaders_chart(phases: pd.DataFrame, source: str, labels: dict[str, str] | None = None,
                  title: str | None = None) -> Figure:
    """Excess return over the benchmark per phase, one group of bars per symbol."""
    table = phases[phases["phase"].isin(PHASES)].pivot(index="symbol", columns="phase", values="excess_pct")
    table = table[list(PHASES)].sort_values("phase 2")
    fig, ax = new_figure(figsize=(9, max(4.0, 0.45 * len(table) + 1.5)))
    y = np.arange(len(table))
    height = 0.8 / len(PHASES)
    for i, phase in enumerate(PHASES):
        ax.barh(y + (i - 1) * height, table[phase], height, label=phase,
                color={"pre-rally": "#aab7b8", "phase 1": "#e67e22", "phase 2": "#2e86c1"}[phase])
    ax.set_yticks(y, [(labels or {}).get(s, s) for s in table.index])
    ax.axvline(0, color="black", lw=0.8)
    ax.legend(fontsize=8, frameon=False)
    return finish(fig, title or "Who led each phase: excess return over the benchmark", source,
                  xlabel="excess return over the phase, percentage points", ylabel="", data=table)


def break_chart(panel: pd.DataFrame, benchmark: str, search: BreakResult, given: BreakResult, source: str,
                title: str | None = None, alpha: float = 0.05) -> Figure:
    """The basket's cumulative excess return, the searched break with its band and the report's date."""
    fig, ax = new_figure()
    path = excess_path(panel, benchmark)
    ax.plot(path.index, path, color="black", lw=1.5, label=f"equal-weighted basket minus {benchmark}")
    if search.p_value < alpha:
        ax.axvspan(search.lower, search.upper,  # type: ignore[arg-type]  # a significant search has its band
                   color="#d6eaf8", label="95% band of the searched break", zorder=0)
        ax.axvline(search.break_date, color="#2e86c1", lw=1.5,
                   label=f"searched break {search.break_date.date()} (p = {search.p_value:.3f})")
    else:
        ax.axvline(search.break_date, color="#2e86c1", lw=1, ls=":",
                   label=f"largest F at {search.break_date.date()}: not significant (p = {search.p_value:.2f})")
    ax.axvline(given.break_date, color="#c0392b", lw=1.5, ls="--",
               label=f"report's phase 2 start {given.break_date.date()} (Chow p = {given.p_value:.2f})")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    return finish(fig, title or f"Where the phases break: {search.series}", source, xlabel="session",
                  ylabel="cumulative excess return, %", data=path.rename("excess_pct"))


def car_chart(by_category: pd.DataFrame, source: str) -> Figure:
    """Mean cumulative abnormal return by event category and window."""
    table = by_category.pivot(index="category", columns="window", values="mean_car_pct")
    fig, ax = new_figure()
    grouped_barh(ax, table, lambda win: f"window {win}")
    return finish(fig, "Mean cumulative abnormal return by event category (market model)", source,
                  xlabel="mean CAR over events and symbols, %", ylabel="event category", data=table)
