"""A shared chart style: a real CJK font, titles, units and a source line."""

from __future__ import annotations

import textwrap
from importlib.resources import files

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure

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
        "savefig.dpi": 110,
        "figure.figsize": (9, 4.8),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titleweight": "normal",  # the CJK font ships one weight; bold would fall back with a warning
        "figure.titleweight": "normal",
        "axes.titlesize": "large",
    })


def finish(fig: Figure, title: str, source: str, *, xlabel: str | None = None,
           ylabel: str | None = None) -> Figure:
    """Title the figure, label the first axes' units and add a source line at the bottom."""
    ax = fig.axes[0]
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    source_note(fig, source)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


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
