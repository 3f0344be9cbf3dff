"""The rally replay's events (notebook 02): data/events.csv on the US clock, the ones in the window, and the phase
starts the events themselves give."""

from __future__ import annotations

import pandas as pd

from tokenwatch.errors import ParameterError
from tokenwatch.events import load_events, with_sessions
from tokenwatch.methods.phases import Boundaries
from tokenwatch.paths import data_file
from tokenwatch.reports._base import notice


def us_events(us_days: pd.DatetimeIndex, categories: list[str]) -> pd.DataFrame:
    """data/events.csv with each event's first US session (day 0), the categories checked."""
    events = load_events()
    known = sorted(events["category"].unique())
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise ParameterError(f"event categories {unknown} are not in {data_file('events.csv')}; categories: {known}")
    events = with_sessions(events, "us", us_days)
    for row in events[events["session_date"].isna()].itertuples():
        notice(f"event {row.date.date()} {row.entity}: {row.session_note}")
    return events


def events_in_window(bounds: Boundaries, events: pd.DataFrame,
                     categories: list[str]) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Events whose US session falls in the window, flagged `tested` (category chosen and confirmed),
    and every event session in the file (left out of the estimation window)."""
    inside = events[(events["session_date"] > bounds.closes[0]) & (events["session_date"] <= bounds.closes[-1])]
    inside = inside.assign(tested=inside["category"].isin(categories) & (inside["confidence"] != "unconfirmed"))
    for row in inside[~inside["tested"] & (inside["confidence"] == "unconfirmed")].itertuples():
        notice(f"event {row.date.date()} {row.entity} is unconfirmed: drawn, not tested")
    if not inside["tested"].any():
        raise ParameterError(f"no event of categories {categories} falls between {bounds.closes[0].date()} and "
                             f"{bounds.closes[-1].date()}; widen the window or add rows to {data_file('events.csv')}")
    return inside, pd.DatetimeIndex(events["session_date"].dropna())


def clock_starts(events: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """The first US session that can react to each phase's first event (data/events.csv's `phase`, on the clock
    rule of event day 0): the boundaries the events themselves give."""
    dated = events.dropna(subset=["session_date"])
    return {str(k): v for k, v in dated.groupby("phase")["session_date"].min().items()}
