"""Charts of the token ledger."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..plots import finish, new_figure
from .ledger import in_unit


def ledger_chart(table: pd.DataFrame, unit: str, source: str, title: str | None = None) -> Figure:
    """Log-scale tokens by series over time: a marker at each period's midpoint, a horizontal bar over
    the period it describes and a vertical bar over the per-day range when the period is vague."""
    fig, ax = new_figure(figsize=(10, 5.6))
    for i, (series, part) in enumerate(table.groupby("series", sort=True)):
        start, end = pd.to_datetime(part["as_of_start"]), pd.to_datetime(part["as_of_end"])
        mid = start + (end - start) / 2
        low = in_unit(part["tokens_per_day_low"].to_numpy(), unit)
        high = in_unit(part["tokens_per_day_high"].to_numpy(), unit)
        central = np.sqrt(low * high)
        color = plt.cm.tab20(i % 20)
        marker = "os^Dv"[i // 20 % 5]
        ax.errorbar(mid, central, xerr=[mid - start, end - mid], yerr=[central - low, high - central],
                    fmt=marker, color=color, ms=5, capsize=2, elinewidth=1, label=series)
        if len(part) > 1:
            ax.plot(mid, central, color=color, lw=0.8, alpha=0.5)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.legend(fontsize=7, ncol=2, loc="upper left", frameon=False)
    return finish(fig, title or f"Disclosed token consumption by series, tokens {unit} (log scale)", source,
                  xlabel="period the figure describes (bar: its span)", ylabel=f"tokens {unit}")
