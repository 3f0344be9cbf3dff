"""Baskets: the equal-weight index rebalanced every session, drawdowns and excess paths.

Basket rule: equal weight, rebalanced every session. The basket's return on a session is the mean
return of the members that have a close that day and an earlier one; a member without a price that
day (not yet listed, suspended, or past its data) sits out and is counted in `members`, and one that
resumes after a suspension earns the move across the suspension on its first session back."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tokenwatch.errors import ParameterError


@dataclass
class BasketIndex:
    level: pd.Series  # rebased to 100 on the first date
    returns: pd.Series  # daily basket returns (fractions), from the second date
    members: pd.Series  # members with a return each session
    contributions: pd.Series  # per member, percentage points of the total return (they sum to it)
    gaps: pd.DataFrame  # member, first_missing, last_missing, sessions_missing


def equal_weight_index(closes: pd.DataFrame) -> BasketIndex:
    """Daily-rebalanced equal-weight index of the columns of `closes` (adjusted closes, NaN where absent)."""
    if closes.shape[1] == 0:
        raise ParameterError("the basket has no member with prices in the window")
    rets = (closes / closes.ffill().shift(1) - 1).iloc[1:]
    members = rets.notna().sum(axis=1)
    if (members == 0).any():
        day = members.index[members == 0][0]
        raise ParameterError(f"no basket member has a return on {day.date()}; start the window later")
    basket = rets.mean(axis=1, skipna=True)
    level = 100 * pd.concat([pd.Series([1.0], index=closes.index[:1]), (1 + basket).cumprod()])
    prev_level = level.iloc[:-1].to_numpy() / 100
    weights = rets.notna().div(members, axis=0).mul(prev_level, axis=0)
    contributions = 100 * (rets.fillna(0.0) * weights).sum()
    gaps = []
    for col in closes.columns:
        miss = closes.index[closes[col].isna()]
        if len(miss):
            gaps.append({"member": col, "first_missing": miss[0].date(), "last_missing": miss[-1].date(),
                         "sessions_missing": len(miss)})
    return BasketIndex(level, basket, members, contributions,
                       pd.DataFrame(gaps, columns=["member", "first_missing", "last_missing", "sessions_missing"]))






def basket_excess(closes: pd.DataFrame, benchmark: str, name: str) -> pd.Series:
    """Daily return of the equal-weighted basket (`domestic.equal_weight_index`) minus the benchmark's, in percent."""
    basket = equal_weight_index(closes.drop(columns=[benchmark])).returns
    return (100 * (basket - closes[benchmark].pct_change().iloc[1:])).rename(name)


def excess_path(panel: pd.DataFrame, benchmark: str) -> pd.Series:
    """Cumulative excess of the equal-weighted basket over the benchmark, in percent."""
    level = equal_weight_index(panel.drop(columns=[benchmark])).level
    return 100 * (level / 100 / (panel[benchmark] / panel[benchmark].iloc[0]) - 1)


def rebased(level: pd.Series, base: float = 100) -> pd.Series:
    """A price or index level rebased to `base` on its first date."""
    return base * level / level.iloc[0]


def cumulative_pct(level: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Cumulative return since the first date, in percent (each column of a frame on its own)."""
    return 100 * (level / level.iloc[0] - 1)
