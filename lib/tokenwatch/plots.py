"""A shared chart style: a real CJK font, titles, units, a key for the red-up colours and a source line.
Each chart carries its data: `finish(..., data=frame)` writes the table behind it as a CSV into the run's folder
and, in a notebook, shows the chart (PNG at twice the pixels) with a "data (CSV)" link beside it."""

from __future__ import annotations

import re
import sys
import textwrap
from importlib.resources import files
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.colors import same_color
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tokenwatch.artifacts import current_output, write_table
from tokenwatch.markup import chart_data_link

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"
CJK_FAMILY = "Noto Sans CJK SC"
POSITIVE, NEGATIVE, NEUTRAL = "#c0392b", "#1e8449", "#566573"  # Chinese convention: red is up


def cjk_font_path() -> str:
    """Path of the Noto Sans CJK SC font shipped by the `mplfonts` package."""
    path = files("mplfonts") / "fonts" / CJK_FONT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with `pip install mplfonts==0.0.11`")
    return str(path)


def use_style() -> None:
    """Register the CJK font and set the house style (idempotent)."""
    if CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(cjk_font_path())
    mpl.rcParams.update({
        "font.family": "sans-serif",
        "font.sans-serif": [CJK_FAMILY, "DejaVu Sans"],
        "axes.unicode_minus": False,
        "figure.dpi": 110,
        "savefig.dpi": 220,  # twice the pixels: crisp on screens and in the PDF
        "figure.figsize": (9, 4.8),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titleweight": "normal",  # the CJK font ships one weight; bold would fall back with a warning
        "figure.titleweight": "normal",
        "axes.titlesize": "large",
    })


def finish(fig: Figure, title: str, source: str, *, xlabel: str | None = None, ylabel: str | None = None,
           data: pd.DataFrame | pd.Series | None = None, name: str | None = None) -> Figure:
    """Title the figure, label the first axes' units, key the red-up/green-down colours where bars use them,
    add a source line at the bottom; with `data` (the table behind the chart), write it as
    chart_<name>.csv into the run's folder and show the chart with a link to it (`name`: the calling
    function's, e.g. chart_segment_chart.csv)."""
    ax = fig.axes[0]
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    for each in fig.axes:
        sign_key(each)
    source_note(fig, source)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    if data is not None:
        caller = sys._getframe(1).f_code.co_name
        publish(fig, data, name or (title if caller.startswith("<") else caller), title)
    return fig


def publish(fig: Figure, data: pd.DataFrame | pd.Series, name: str, title: str) -> Figure:
    """Write the table behind `fig` as chart_<name>.csv into the run's folder and, in a notebook, show the
    chart with its "data (CSV)" link (for a chart finished without `finish`)."""
    _show_in_notebook(fig, chart_data(data, name, title))
    return fig


_WRITTEN: dict[tuple[Path, str], list[str]] = {}


def chart_data(data: pd.DataFrame | pd.Series, name: str, title: str) -> Path | None:
    """Write the table behind a chart as chart_<name>.csv in the run's folder (a second chart of the same
    name and another title in one run gets _2, _3...); None outside a run (no output folder yet)."""
    out = current_output()
    if out is None:
        return None
    stem = "chart_" + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40] or "data")
    titles = _WRITTEN.setdefault((out, stem), [])
    if title not in titles:
        titles.append(title)
    n = titles.index(title) + 1
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    frame = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    return write_table(frame, out, stem if n == 1 else f"{stem}_{n}")


def data_link(csv: Path) -> str:
    """The link shown under a chart: relative to the run's folder, where report.html sits."""
    return chart_data_link(csv.name, csv.name)


def _show_in_notebook(fig: Figure, csv: Path | None) -> None:
    """In a running notebook: the chart now (PNG at twice the pixels), then its CSV link; closed so that
    the inline backend does not show it a second time. Elsewhere nothing is shown."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython ships with the notebook dependencies
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("retina")
    display(fig)
    plt.close(fig)
    if csv is not None:
        display(HTML(data_link(csv)))


def sign_key(ax: plt.Axes) -> None:
    """Where bars are coloured red for gains and green for losses (the Chinese convention), say so in a key."""
    colours = [p.get_facecolor() for p in ax.patches]
    used = [c for c in (POSITIVE, NEGATIVE) if any(same_color(c, f) for f in colours)]
    if not used:
        return
    key = [Patch(color=POSITIVE, label="gain (red, Chinese convention)"), Patch(color=NEGATIVE, label="loss (green)")]
    legend = ax.get_legend()
    handles, labels = ([], []) if legend is None else (list(legend.legend_handles), [t.get_text() for t in
                                                                                      legend.get_texts()])
    if any(isinstance(h, Patch) and any(same_color(h.get_facecolor(), c) for c in (POSITIVE, NEGATIVE))
           for h in handles):
        return  # the chart's own key already says what its red or green means
    shown: list[Any] = [*handles, *key]
    ax.legend(shown, [*labels, *(str(k.get_label()) for k in key)], fontsize=8, frameon=False)


def source_note(fig: Figure, source: str) -> None:
    """The source line at the bottom left, wrapped to the figure's width."""
    width = max(40, int(fig.get_figwidth() * 17))
    fig.text(0.01, 0.005, textwrap.fill(source, width), fontsize=7, color=NEUTRAL, ha="left", va="bottom")


def bar_colors(values) -> list[str]:
    """Red for gains, green for losses (A-share convention)."""
    return [POSITIVE if v >= 0 else NEGATIVE for v in values]


def new_figure(**kwargs) -> tuple[Figure, plt.Axes]:
    use_style()
    return plt.subplots(**kwargs)


def grouped_barh(ax: plt.Axes, table, label=str) -> None:
    """One group of horizontal bars per row of `table` (a DataFrame), one bar per column, a zero line, a legend."""
    y = np.arange(len(table))
    height = 0.8 / max(1, len(table.columns))
    for i, col in enumerate(table.columns):
        ax.barh(y + (i - (len(table.columns) - 1) / 2) * height, table[col], height, label=label(col))
    ax.set_yticks(y, table.index)
    ax.axvline(0, color="black", lw=0.8)
    ax.legend(fontsize=8, frameon=False)
