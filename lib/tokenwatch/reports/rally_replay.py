"""The rally replay (notebook 02): phases, the event study, break tests and the A-share mirror, with its charts."""

from __future__ import annotations

from dataclasses import dataclass, field
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
from tokenwatch.plots import NEUTRAL, finish, new_figure
from tokenwatch.reports._base import Params as NotebookParams
from tokenwatch.reports._base import Report, collect_notices, notice, parsed
from tokenwatch.universe import load_basket, names, parse_symbols

CN_BENCHMARK = "cn_index:000300"


@dataclass
class RallyReport(Report):
    run_name: ClassVar[str] = "rally_replay"
    formats: ClassVar[dict[str, str]] = {"alpha_bp": "{:+.1f}", "beta": "{:.2f}", "resid_sd_pct": "{:.2f}",
                                         "share_positive": "{:.0%}", "t_stat": "{:.2f}", "p_value": "{:.3f}",
                                         "statistic": "{:.2f}", "critical_value": "{:.2f}"}
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
        if self.agrees:
            return (f"Yes: the data support a break at the report's phase-2 start ({day}) in {search.series}: the "
                    f"searched break {search.break_date.date()} has a 95% band that contains it.")
        return (f"No: the data do not support a break at the report's phase-2 start ({day}) in {search.series} "
                f"(searched break p = {search.p_value:.2f}; Chow at {day} p = {given.p_value:.2f}).")

    def break_table(self) -> pd.DataFrame:
        rows = [b.row() for b in self.breaks]
        for series, found in self.multiple.items():
            rows += [b.row() for b in found] or [{
                "series": series, "method": "Bai-Perron: BIC chooses no break (max 3)", "break_date": None,
                "lower": None, "upper": None, "statistic": np.nan, "critical_value": np.nan, "p_value": np.nan}]
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
            "report_break_date": given.break_date,
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
        lines.append(self.verdict())
        lines.append(f"{int(self.events['tested'].sum())} events tested in the market-model event study.")
        return lines


def events_in_window(bounds: Boundaries, us_days: pd.DatetimeIndex,
                     categories: list[str]) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Events whose US session falls in the window, flagged `tested` (category chosen and confirmed),
    and every event session in the file (left out of the estimation window)."""
    events = load_events()
    known = sorted(events["category"].unique())
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise ParameterError(f"event categories {unknown} are not in {data_file('events.csv')}; categories: {known}")
    events = with_sessions(events, "us", us_days)
    for row in events[events["session_date"].isna()].itertuples():
        notice(f"event {row.date.date()} {row.entity}: {row.session_note}")
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


def _windows(name: str, value: object) -> list[tuple[int, int]]:
    return eventstudy.parse_windows(checks.as_list(name, value))


@dataclass(frozen=True)
class Params(NotebookParams):
    """Notebook 02's parameters, checked once."""

    start: pd.Timestamp = parsed(checks.as_date)
    end: pd.Timestamp = parsed(checks.as_date)
    phase1_start: pd.Timestamp = parsed(checks.as_date)
    phase2_start: pd.Timestamp = parsed(checks.as_date)
    symbols: list[str] = parsed(checks.text_list)
    benchmark: str = parsed(checks.text)
    estimation_days: int = parsed(checks.positive_int)
    estimation_end: pd.Timestamp | None = parsed(checks.date_or_none)
    event_windows: list[tuple[int, int]] = parsed(_windows)
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
    bounds = phase_boundaries(us_days, p.start, p.end, p.phase1_start, p.phase2_start)
    events, all_sessions = events_in_window(bounds, us_days, p.event_categories)
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
    results, multiple, text = break_tests([
        (basket_excess(window_panel, bench.code, f"US basket excess over {bench.code}"), report_day),
        (mirror.excess, mirror.report_day),
        ((100 * window_panel[bench.code].pct_change().iloc[1:]).rename(f"{bench.code} daily return"), report_day)])
    return RallyReport(bounds, [s.code for s in syms], bench.code, window_panel,
                       phase_returns(window_panel, bench.code, bounds), events, study, results, text, multiple,
                       mirror.bounds, mirror.panel, mirror.phases, mirror.names, [], [prices, mirror.prices])





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
                         "open marks: not tested)", ylabel="return since the first close, %")


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
                  xlabel="excess return over the phase, percentage points", ylabel="")


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
                  ylabel="cumulative excess return, %")


def car_chart(by_category: pd.DataFrame, source: str) -> Figure:
    """Mean cumulative abnormal return by event category and window."""
    table = by_category.pivot(index="category", columns="window", values="mean_car_pct")
    fig, ax = new_figure()
    y = np.arange(len(table))
    height = 0.8 / max(1, len(table.columns))
    for i, win in enumerate(table.columns):
        ax.barh(y + (i - (len(table.columns) - 1) / 2) * height, table[win], height, label=f"window {win}")
    ax.set_yticks(y, table.index)
    ax.axvline(0, color="black", lw=0.8)
    ax.legend(fontsize=8, frameon=False)
    return finish(fig, "Mean cumulative abnormal return by event category (market model)", source,
                  xlabel="mean CAR over events and symbols, %", ylabel="event category")
