"""Trading calendars derived from the data, week windows and period helpers."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tokenwatch.errors import OutOfRangeError
from tokenwatch.market import PriceSource, default_source


def trading_days(market: str, source: PriceSource | None = None) -> pd.DatetimeIndex:
    """Trading days of `market` ('cn', 'cn_index', 'hk_index', 'us') in the source's data."""
    return (source or default_source()).calendar(market)


def last_on_or_before(days: pd.DatetimeIndex, when: object) -> pd.Timestamp:
    """The last day in `days` on or before `when`; OutOfRangeError before the first."""
    ts = pd.Timestamp(when).normalize()
    # past the data, a weekday may have been a session we do not have: only a weekend snaps back
    if ts > days[-1] and len(pd.bdate_range(days[-1] + pd.Timedelta(days=1), ts)):
        raise OutOfRangeError(
            f"{ts.date()} is after the data, which ends {days[-1].date()}; fetch newer prices or pick an earlier date"
        )
    pos = days.searchsorted(ts, side="right") - 1
    if pos < 0:
        raise OutOfRangeError(f"{ts.date()} is before the data, which starts {days[0].date()}")
    return days[pos]


def monday_of(day: pd.Timestamp) -> pd.Timestamp:
    return day - pd.Timedelta(days=day.weekday())


@dataclass(frozen=True)
class WeekWindow:
    """A week return runs from `prev_close` (the previous week's last session) to `end`."""

    requested: pd.Timestamp
    end: pd.Timestamp
    prev_close: pd.Timestamp
    sessions: pd.DatetimeIndex

    @property
    def monday(self) -> pd.Timestamp:
        """The Monday of the week that `end` falls in."""
        return monday_of(self.end)

    @property
    def snapped(self) -> bool:
        return self.end != self.requested

    def notice(self) -> str:
        if not self.snapped:
            return ""
        return f"{self.requested.date()} is not a trading day; using the last trading day before it, {self.end.date()}"


def week_window(week_end: object, days: pd.DatetimeIndex) -> WeekWindow:
    """The week (Monday to Sunday) that holds the last trading day on or before `week_end`.

    The return runs close to close: from the last trading day before that Monday
    to the snapped end.
    """
    requested = pd.Timestamp(week_end).normalize()
    end = last_on_or_before(days, requested)
    monday = monday_of(end)
    before = days[days < monday]
    if before.empty:
        raise OutOfRangeError(
            f"the week ending {end.date()} has no previous close in the data (it starts {days[0].date()}); pick a "
            "later week"
        )
    sessions = days[(days >= monday) & (days <= end)]
    return WeekWindow(requested, end, before[-1], sessions)


def week_ends(start: object, end: object, days: pd.DatetimeIndex) -> list[pd.Timestamp]:
    """The last trading day of every week (Monday to Sunday) whose Sunday falls in [start, end]."""
    periods = days.to_period("W-SUN")
    sundays = periods.end_time.normalize()
    inside = (sundays >= pd.Timestamp(start)) & (sundays <= pd.Timestamp(end))
    span = days[inside]
    return list(pd.Series(span, index=span).groupby(periods[inside]).max())


def period_return(series: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Close-to-close return from `start` to `end` (both must be in the series), in percent."""
    for d in (start, end):
        if d not in series.index or pd.isna(series.loc[d]):
            raise OutOfRangeError(f"{series.name or 'series'} has no value on {pd.Timestamp(d).date()}")
    return (series.loc[end] / series.loc[start] - 1.0) * 100.0


def rolling_high(series: pd.Series, lookback: int | None = None) -> pd.Series:
    """Highest value up to and including each date (over `lookback` rows if given)."""
    return series.cummax() if lookback is None else series.rolling(lookback, min_periods=1).max()
