"""The rally replay's charts (notebook 02): cumulative returns by phase, leaders, the break, CAR by category."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from tokenwatch.methods.baskets import cumulative_pct, excess_path
from tokenwatch.methods.breaks import BreakResult
from tokenwatch.methods.phases import PHASES, Boundaries
from tokenwatch.plots import NEUTRAL, finish, grouped_barh, new_figure

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
