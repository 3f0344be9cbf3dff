"""The US and A-share clocks: which US sessions an A-share session can see.

Clock rule: an A-share session on date t (closing 15:00 Beijing) sees the US sessions dated before t
(a US close on date d is at 04:00/05:00 Beijing on d+1). The overseas series aligned to t is the
overseas index at the last US close before t; "lag k" pairs the A-share return on t with the US
session k steps back from the first US session that closes after t (lag 1 = the night before)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tokenwatch.errors import ParameterError


def us_position(cn_days: pd.DatetimeIndex, us_days: pd.DatetimeIndex) -> np.ndarray:
    """For each A-share date, the position in `us_days` of the last US session dated before it (-1: none)."""
    return us_days.searchsorted(cn_days, side="left") - 1


def align_overseas(level: pd.Series, cn_days: pd.DatetimeIndex, us_days: pd.DatetimeIndex) -> pd.Series:
    """The overseas level known at each A-share close: the last US close dated before that day.

    `us_days` is the US trading calendar; an A-share date whose previous US session is missing from
    `level` (before its start or after its end) is refused rather than given a stale value.
    """
    pos = us_position(cn_days, us_days)
    need = us_days[pos.clip(min=0)]
    absent = ~need.isin(level.index) | (pos < 0)
    if absent.any():
        first = cn_days[absent][0]
        span = f"({level.index[0].date()}..{level.index[-1].date()})"
        early = (pos < 0) | (need < level.index[0])
        if early[absent][0]:  # the window starts before the overseas prices do
            usable = cn_days[~early]
            start = f"start the window on or after {usable[0].date()}" if len(usable) else "start the window later"
            raise ParameterError(f"the A-share session {first.date()} needs the US close before it, which the "
                                 f"overseas prices {span} do not reach back to; {start} or fetch older US prices")
        raise ParameterError(f"the A-share session {first.date()} needs the US close before it, which the overseas "
                             f"prices {span} do not have; end the window by "
                             f"{(level.index[-1] + pd.Timedelta(days=1)).date()} or fetch newer US prices")
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
