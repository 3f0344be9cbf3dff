"""Ex-rights adjustment from per-ex-date factors.

A factor is the raw previous close over the exchange's reference previous close on an
ex-date, so the adjusted return across that date is close * factor / prev_close - 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cumulative_factor(dates: pd.DatetimeIndex, factors: pd.DataFrame) -> np.ndarray:
    """Product of all factors with ex_date on or before each date (1.0 before the first)."""
    if factors.empty:
        return np.ones(len(dates))
    f = factors.sort_values("ex_date")
    steps = np.concatenate([[1.0], np.cumprod(f["factor"].to_numpy(dtype=float))])
    pos = np.searchsorted(f["ex_date"].to_numpy(dtype="datetime64[ns]"),
                          dates.to_numpy(dtype="datetime64[ns]"), side="right")
    return steps[pos]


def describe_actions(factors: pd.DataFrame, after: pd.Timestamp, through: pd.Timestamp) -> str:
    """Human-readable corporate actions with after < ex_date <= through ('' if none)."""
    inside = factors.loc[(factors["ex_date"] > after) & (factors["ex_date"] <= through)]
    parts = []
    for r in inside.itertuples(index=False):
        terms = []
        if pd.notna(r.cash_per_share) and r.cash_per_share:
            terms.append(f"cash {r.cash_per_share:g}/share")
        if pd.notna(r.bonus_per_share) and r.bonus_per_share:
            terms.append(f"bonus {r.bonus_per_share:g} shares/share")
        detail = ", ".join(terms) or "terms unknown"
        parts.append(f"ex-date {r.ex_date.date()}: {detail} (factor {r.factor:.4f})")
    return "; ".join(parts)
