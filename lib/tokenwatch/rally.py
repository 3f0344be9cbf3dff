"""The April to June 2025 rally replayed: phase returns, an event study, and where the phases break.

Phases are close to close and partition start..end: pre-rally runs from the close on `start` to the
last close before `phase1_start`, phase 1 from there to the last close before `phase2_start`, and
phase 2 from there to the close on `end`, so compounding the three gives the whole window.

The A-share mirror keeps the clock: an A-share session trades on the US session of the night before,
so each A-share boundary is the last A-share close before the first US session after the US boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import breaks, eventstudy
from .artifacts import sources, write_summary, write_table
from .calendar import last_on_or_before, period_return
from .domestic import equal_weight_index
from .errors import ParameterError
from .events import load_events, with_sessions
from .market import Prices, PriceSource, load_prices
from .universe import load_basket, names, parse_symbols

PHASES = ("pre-rally", "phase 1", "phase 2")
PHASE_COLUMNS = ["symbol", "phase", "start", "end", "return_pct", "benchmark_pct", "excess_pct", "max_drawdown_pct"]
MIRROR_SEGMENTS = ("PCB/CCL", "optical chips/modules")
CN_BENCHMARK = "cn_index:000300"


@dataclass(frozen=True)
class Boundaries:
    """The four closes that delimit the three phases (dates of sessions in one market)."""

    closes: tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp, pd.Timestamp]

    def spans(self) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
        c = self.closes
        return [(PHASES[i], c[i], c[i + 1]) for i in range(3)]

    def as_dict(self) -> dict:
        return {name: {"from_close": a.date(), "to_close": b.date()} for name, a, b in self.spans()}


def phase_boundaries(days: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp, phase1_start: pd.Timestamp,
                     phase2_start: pd.Timestamp) -> Boundaries:
    """US closes that start and end each phase; each phase must hold at least one session."""
    if not start < phase1_start <= phase2_start <= end:
        raise ParameterError(f"dates must run start < phase1_start <= phase2_start <= end; got {start.date()}, "
                             f"{phase1_start.date()}, {phase2_start.date()}, {end.date()}")
    closes = (last_on_or_before(days, start), last_on_or_before(days, phase1_start - pd.Timedelta(days=1)),
              last_on_or_before(days, phase2_start - pd.Timedelta(days=1)), last_on_or_before(days, end))
    for (name, a, b) in Boundaries(closes).spans():
        if b <= a:
            raise ParameterError(f"{name} holds no session ({a.date()} to {b.date()}); move the phase dates apart")
    return Boundaries(closes)


def mirror_boundaries(us: Boundaries, us_days: pd.DatetimeIndex, cn_days: pd.DatetimeIndex) -> Boundaries:
    """A-share closes matching US boundaries: the last A-share close before the next US session."""
    out = []
    for close in us.closes:
        pos = us_days.searchsorted(close, side="right")
        nxt = us_days[pos] if pos < len(us_days) else close + pd.Timedelta(days=1)
        out.append(last_on_or_before(cn_days, nxt))
    return Boundaries(tuple(out))


def max_drawdown(closes: pd.Series) -> float:
    """Largest fall from a running peak, in percent (<= 0)."""
    return float(100 * (closes / closes.cummax() - 1).min())


def phase_returns(panel: pd.DataFrame, benchmark: str, bounds: Boundaries) -> pd.DataFrame:
    """Each symbol's return, the benchmark's, the excess and max drawdown per phase and for the whole window."""
    spans = [*bounds.spans(), ("whole window", bounds.closes[0], bounds.closes[-1])]
    rows = []
    for sym in [c for c in panel.columns if c != benchmark]:
        for name, a, b in spans:
            px, bench = panel[sym].loc[a:b], panel[benchmark].loc[a:b]
            if px.isna().any() or bench.isna().any():
                gap = px.index[px.isna() | bench.isna()][0]
                raise ParameterError(f"{sym} or {benchmark} has no close on {gap.date()} inside {name}")
            ret, bret = period_return(px, a, b), period_return(bench, a, b)
            rows.append({"symbol": sym, "phase": name, "start": a.date(), "end": b.date(), "return_pct": ret,
                         "benchmark_pct": bret, "excess_pct": ret - bret, "max_drawdown_pct": max_drawdown(px)})
    return pd.DataFrame(rows, columns=PHASE_COLUMNS)


def leaders(table: pd.DataFrame, top: int = 3) -> dict[str, list[str]]:
    """The `top` symbols by excess return in each phase."""
    part = table[table["phase"].isin(PHASES)]
    return {phase: g.nlargest(top, "excess_pct")["symbol"].tolist() for phase, g in part.groupby("phase", sort=False)}


def basket_excess(closes: pd.DataFrame, benchmark: str, name: str) -> pd.Series:
    """Daily return of the equal-weighted basket (`domestic.equal_weight_index`) minus the benchmark's, in percent."""
    basket = equal_weight_index(closes.drop(columns=[benchmark])).returns
    return (100 * (basket - closes[benchmark].pct_change().iloc[1:])).rename(name)


@dataclass
class RallyReport:
    bounds: Boundaries
    symbols: list[str]
    benchmark: str
    panel: pd.DataFrame  # adjusted closes over the window (symbols + benchmark)
    phases: pd.DataFrame
    events: pd.DataFrame  # events in the window with their US session
    study: eventstudy.EventStudy
    breaks: list[breaks.BreakResult]
    break_text: str
    multiple: dict[str, list[breaks.BreakResult]]  # Bai-Perron per series (empty: no break chosen)
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
        return self.prices[0].source_line() + "; events: data/events.csv (each row with its source URL)"

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

    def write(self, out) -> list[str]:
        phases = pd.concat([self.phases.assign(market="us"), self.mirror_phases.assign(market="cn")])
        write_table(phases, out, "phase_returns", [*PHASE_COLUMNS, "market"])
        write_table(self.study.results, out, "event_study", eventstudy.EVENT_COLUMNS)
        write_table(self.study.by_category, out, "event_study_by_category")
        write_table(self.break_table(), out, "breaks", breaks.BREAK_COLUMNS)
        write_table(self.leaders_table(), out, "leaders")
        write_summary(out, self.summary())
        return sorted(p.name for p in out.iterdir())


def events_in_window(bounds: Boundaries, us_days: pd.DatetimeIndex, categories: list[str],
                     notices: list[str]) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Events whose US session falls in the window, flagged `tested` (category chosen and confirmed),
    and every event session in the file (left out of the estimation window)."""
    events = load_events()
    known = sorted(events["category"].unique())
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise ParameterError(f"event categories {unknown} are not in data/events.csv; categories: {known}")
    events = with_sessions(events, "us", us_days)
    for row in events[events["session_date"].isna()].itertuples():
        notices.append(f"event {row.date.date()} {row.entity}: {row.session_note}")
    inside = events[(events["session_date"] > bounds.closes[0]) & (events["session_date"] <= bounds.closes[-1])]
    inside = inside.assign(tested=inside["category"].isin(categories) & (inside["confidence"] != "unconfirmed"))
    for row in inside[~inside["tested"] & (inside["confidence"] == "unconfirmed")].itertuples():
        notices.append(f"event {row.date.date()} {row.entity} is unconfirmed: drawn, not tested")
    if not inside["tested"].any():
        raise ParameterError(f"no event of categories {categories} falls between {bounds.closes[0].date()} and "
                             f"{bounds.closes[-1].date()}; widen the window or add rows to data/events.csv")
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


def a_share_mirror(bounds: Boundaries, us_days: pd.DatetimeIndex, basket_name: str, source: PriceSource,
                   notices: list[str]) -> Mirror:
    """The same phases for the basket's overseas-compute suppliers against CSI 300, on the A-share clock."""
    basket = load_basket(basket_name)
    if basket["segment"].isin(MIRROR_SEGMENTS).any():
        basket = basket[basket["segment"].isin(MIRROR_SEGMENTS)]
    cn_days = source.calendar("cn_index")
    mbounds = mirror_boundaries(bounds, us_days, cn_days)
    prices = load_prices([*basket["symbol"], CN_BENCHMARK], mbounds.closes[0], mbounds.closes[-1],
                         source=source, strict=False)
    for row in prices.missing.itertuples():
        notices.append(f"A-share mirror leaves out {row.symbol}: {row.reason}")
    panel = prices.close()
    complete = [c for c in panel.columns if panel[c].notna().all()]
    for c in sorted(set(panel.columns) - set(complete)):
        notices.append(f"A-share mirror leaves out {c}: it did not trade on every session of the window")
    bench = CN_BENCHMARK.split(":")[1]
    if bench not in complete:
        raise ParameterError(f"CSI 300 ({CN_BENCHMARK}) has no complete data for "
                             f"{mbounds.closes[0].date()}..{mbounds.closes[-1].date()}")
    panel = panel[complete]
    return Mirror(mbounds, panel, phase_returns(panel, bench, mbounds),
                  {s.code: n for s, n in names(parse_symbols(basket["symbol"])).items()},
                  basket_excess(panel, bench, "A-share suppliers excess over CSI 300"),
                  report_break_date(mbounds, cn_days), prices)


def break_tests(series: list[tuple[pd.Series, pd.Timestamp]]) -> tuple[list[breaks.BreakResult],
                                                                       dict[str, list[breaks.BreakResult]], str]:
    """For each (series, report's date): Chow at the date and the sup-F search; Bai-Perron; the sentences."""
    results = [r for y, day in series for r in (breaks.chow(y, day), breaks.sup_f(y))]
    text = " ".join(breaks.verdict(results[i + 1], results[i], unit=" percentage points")
                    for i in range(0, len(results), 2))
    multiple = {y.name: breaks.bai_perron(y) for y, _ in series}
    chosen = "; ".join(f"{name}: {', '.join(str(b.break_date.date()) for b in found) or 'none'}"
                       for name, found in multiple.items())
    return results, multiple, f"{text} Allowing up to three breaks at once (Bai-Perron, BIC), the breaks chosen " \
                              f"are: {chosen}."


def replay(symbols: list[str], benchmark: str, start: pd.Timestamp, end: pd.Timestamp, phase1_start: pd.Timestamp,
           phase2_start: pd.Timestamp, windows: list[tuple[int, int]], estimation_length: int,
           estimation_end: pd.Timestamp | None, categories: list[str], mirror_basket: str,
           source: PriceSource) -> RallyReport:
    """Everything the rally notebook shows, computed from prices and data/events.csv."""
    syms = parse_symbols(symbols)
    bench = parse_symbols([benchmark])[0]
    if bench.market != "us" or any(s.market != "us" for s in syms):
        raise ParameterError("symbols and benchmark are US symbols (e.g. 'NVDA', 'GSPC' or 'SPY')")
    if bench.code in {s.code for s in syms}:
        raise ParameterError(f"{bench.code} is the benchmark; take it out of symbols")
    us_days = source.calendar("us")
    bounds = phase_boundaries(us_days, start, end, phase1_start, phase2_start)
    notices: list[str] = []
    events, all_sessions = events_in_window(bounds, us_days, categories, notices)
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
        notices.append(f"event {row.event_date} {row.entity} window {row.window}: {row.reason}")
    window_panel = panel.loc[bounds.closes[0]:bounds.closes[-1]]

    mirror = a_share_mirror(bounds, us_days, mirror_basket, source, notices)
    report_day = report_break_date(bounds, us_days)
    results, multiple, text = break_tests([
        (basket_excess(window_panel, bench.code, f"US basket excess over {bench.code}"), report_day),
        (mirror.excess, mirror.report_day),
        ((100 * window_panel[bench.code].pct_change().iloc[1:]).rename(f"{bench.code} daily return"), report_day)])
    return RallyReport(bounds, [s.code for s in syms], bench.code, window_panel,
                       phase_returns(window_panel, bench.code, bounds), events, study, results, text, multiple,
                       mirror.bounds, mirror.panel, mirror.phases, mirror.names, notices, [prices, mirror.prices])


def report_break_date(bounds: Boundaries, days: pd.DatetimeIndex) -> pd.Timestamp:
    """The first session of phase 2 in `days`."""
    return days[days.searchsorted(bounds.closes[2], side="right")]


def excess_path(panel: pd.DataFrame, benchmark: str) -> pd.Series:
    """Cumulative excess of the equal-weighted basket over the benchmark, in percent."""
    level = equal_weight_index(panel.drop(columns=[benchmark])).level
    return 100 * (level / 100 / (panel[benchmark] / panel[benchmark].iloc[0]) - 1)
