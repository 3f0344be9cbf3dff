"""The domestic compute chain against CSI 300 and the overseas chain, on a clock that respects time zones.

Basket rule: equal weight, rebalanced every session. The basket's return on a session is the mean
return of the members that have a close that day and an earlier one; a member without a price that
day (not yet listed, suspended, or past its data) sits out and is counted in `members`, and one that
resumes after a suspension earns the move across the suspension on its first session back.

Clock rule: an A-share session on date t (closing 15:00 Beijing) sees the US sessions dated before t
(a US close on date d is at 04:00/05:00 Beijing on d+1). The overseas series aligned to t is the
overseas index at the last US close before t; "lag k" pairs the A-share return on t with the US
session k steps back from the first US session that closes after t (lag 1 = the night before).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .errors import ParameterError

LEAD_LAG_COLUMNS = ["lag_days", "correlation", "granger_p_value"]


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


def us_position(cn_days: pd.DatetimeIndex, us_days: pd.DatetimeIndex) -> np.ndarray:
    """For each A-share date, the position in `us_days` of the last US session dated before it (-1: none)."""
    return us_days.searchsorted(cn_days, side="left") - 1


def align_overseas(level: pd.Series, cn_days: pd.DatetimeIndex, us_days: pd.DatetimeIndex) -> pd.Series:
    """The overseas level known at each A-share close: the last US close dated before that day.

    `us_days` is the US trading calendar; an A-share date whose previous US session is missing from
    `level` (before its start or after its end) is refused rather than given a stale value.
    """
    need = us_days[us_position(cn_days, us_days).clip(min=0)]
    absent = ~need.isin(level.index) | (us_position(cn_days, us_days) < 0)
    if absent.any():
        first = cn_days[absent][0]
        raise ParameterError(f"the A-share session {first.date()} needs the US close before it, which the overseas "
                             f"prices ({level.index[0].date()}..{level.index[-1].date()}) do not have; end the "
                             f"window by {(level.index[-1] + pd.Timedelta(days=1)).date()} or fetch newer US prices")
    return pd.Series(level.loc[need].to_numpy(), index=cn_days, name=level.name)


def last_aligned_day(cn_days: pd.DatetimeIndex, us_days: pd.DatetimeIndex, us_last: pd.Timestamp) -> pd.Timestamp:
    """The last A-share date whose previous US session lies within overseas data ending `us_last`."""
    ok = us_days[us_position(cn_days, us_days).clip(min=0)] <= us_last
    return cn_days[ok][-1]


def lagged_us(us_returns: pd.Series, cn_days: pd.DatetimeIndex, lag: int) -> pd.Series:
    """The US return paired with each A-share date at `lag` (1 = the US session the night before;
    0 = the next US session, which closes after the A-share session; negative = further ahead)."""
    pos = us_position(cn_days, us_returns.index) + 1 - lag
    values = np.full(len(cn_days), np.nan)
    ok = (pos >= 0) & (pos < len(us_returns))
    values[ok] = us_returns.to_numpy()[pos[ok]]
    return pd.Series(values, index=cn_days)


def granger_p(cn: pd.Series, us_returns: pd.Series, lags: int) -> float:
    """F-test p-value that US returns at lags 1..`lags` (clock-aligned) help predict A-share returns beyond
    the A-share series' own `lags` lags (the ssr F-test of statsmodels' grangercausalitytests)."""
    frame = pd.DataFrame({"y": cn})
    for k in range(1, lags + 1):
        frame[f"y_{k}"] = cn.shift(k)
        frame[f"x_{k}"] = lagged_us(us_returns, cn.index, k)
    frame = frame.dropna()
    if len(frame) < 3 * lags + 10:
        raise ParameterError(f"{len(frame)} sessions are too few for a Granger test with {lags} lags")
    fit = sm.OLS(frame["y"], sm.add_constant(frame.drop(columns="y"))).fit()
    test = fit.f_test(" = 0, ".join(f"x_{k}" for k in range(1, lags + 1)) + " = 0")
    return float(test.pvalue)


def lead_lag(cn: pd.Series, us_returns: pd.Series, lags: range = range(-3, 6)) -> pd.DataFrame:
    """Cross-correlation of A-share basket returns with clock-aligned US returns, and Granger p-values
    for lags 1 and up (a test on lag 0 or below would use the future)."""
    rows = []
    for k in lags:
        pair = pd.concat([cn, lagged_us(us_returns, cn.index, k)], axis=1).dropna()
        rows.append({"lag_days": k, "correlation": float(pair.iloc[:, 0].corr(pair.iloc[:, 1])),
                     "granger_p_value": granger_p(cn, us_returns, k) if k >= 1 else np.nan})
    return pd.DataFrame(rows, columns=LEAD_LAG_COLUMNS)


def rolling_beta(cn: pd.Series, overseas: pd.Series, window: int) -> pd.DataFrame:
    """Rolling correlation and beta of A-share returns on the overseas returns they could see (lag 1)."""
    frame = pd.concat({"cn": cn, "us": overseas}, axis=1).dropna()
    cov = frame["cn"].rolling(window).cov(frame["us"])
    return pd.DataFrame({"correlation": frame["cn"].rolling(window).corr(frame["us"]),
                         "beta": cov / frame["us"].rolling(window).var()})


def lag_that_matters(table: pd.DataFrame, alpha: float = 0.05) -> str:
    """A sentence naming the lag with the strongest correlation and what the Granger tests say."""
    best = table.loc[table["correlation"].abs().idxmax()]
    sig = table[(table["granger_p_value"] < alpha)]
    text = (f"The strongest correlation is at lag {int(best['lag_days'])} "
            f"({best['correlation']:+.2f}; lag 1 is the US session the night before).")
    if len(sig):
        first = sig.iloc[0]
        text += (f" US returns Granger-cause the A-share basket from {int(first['lag_days'])} lag(s) "
                 f"(p = {first['granger_p_value']:.3g}).")
    else:
        text += " No Granger test up to the lags shown rejects at 5%."
    return text
