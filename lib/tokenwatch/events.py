"""Dated catalysts (data/events.csv) and the trading session in which each market could first react.

An event's moment is its local date and time in its own time zone. Where the time is not recorded,
the `session` column stands in (pre: 08:00, intraday: 12:00, post: 16:30, non-trading or blank:
12:00 local) and the row is flagged `time_assumed`. The reacting session is the first session of
the market whose close comes after the event: a US announcement after the 16:00 close counts from the
next US session, and an event on a Beijing date maps to the US session that follows it.
"""

from __future__ import annotations

from datetime import time
from os import PathLike
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from tokenwatch.curated import read_curated
from tokenwatch.errors import DataValidationError, OutOfRangeError
from tokenwatch.paths import data_dir

REQUIRED = ["date", "time_local", "tz", "session", "category", "entity", "headline", "figure", "source_url",
            "confidence"]
SESSIONS = ("pre", "intraday", "post", "non-trading", "")
ASSUMED_TIME = {"pre": time(8, 0), "intraday": time(12, 0), "post": time(16, 30), "non-trading": time(12, 0),
                "": time(12, 0)}
MARKET_CLOSE = {"us": ("America/New_York", time(16, 0)), "cn": ("Asia/Shanghai", time(15, 0))}


def events_path() -> Path:
    return data_dir() / "events.csv"


def load_events(path: str | PathLike | None = None) -> pd.DataFrame:
    """Read and check the events file; adds `moment` (an aware timestamp) and `time_assumed`."""
    path = Path(path) if path else events_path()
    raw = read_curated(path, REQUIRED, "events file")
    moments, assumed = [], []
    for line, row in enumerate(raw.to_dict("records"), start=2):
        where = f"{path}, line {line} ({row['entity'] or '?'}, {row['date'] or '?'})"
        if not row["source_url"].startswith(("http://", "https://")):
            raise DataValidationError(f"{where}: source_url is missing; every event needs its source")
        if row["session"] not in SESSIONS:
            raise DataValidationError(f"{where}: session {row['session']!r} is not one of {list(SESSIONS)}")
        try:
            tz = ZoneInfo(row["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            raise DataValidationError(f"{where}: time zone {row['tz']!r} is not an IANA name such as "
                                      "'America/New_York'") from None
        try:
            day = pd.Timestamp(row["date"])
            at = time.fromisoformat(row["time_local"]) if row["time_local"] else ASSUMED_TIME[row["session"]]
        except ValueError as exc:
            raise DataValidationError(f"{where}: {exc}; write date as YYYY-MM-DD and time as HH:MM") from None
        moments.append(pd.Timestamp.combine(day.date(), at).tz_localize(tz))
        assumed.append(not row["time_local"])
    return raw.assign(date=pd.to_datetime(raw["date"]), moment=moments, time_assumed=assumed)


def reacting_session(moment: pd.Timestamp, market: str, days: pd.DatetimeIndex) -> pd.Timestamp:
    """The first session of `market` (trading days `days`) whose close comes after `moment`."""
    zone, close = MARKET_CLOSE[market]
    local = moment.tz_convert(zone)
    day = pd.Timestamp(local.date())
    if local.time() >= close:
        day += pd.Timedelta(days=1)
    pos = days.searchsorted(day)
    if pos >= len(days):
        raise OutOfRangeError(f"no {market} session after {moment} in the data (it ends {days[-1].date()}); "
                              "fetch newer prices or drop the event")
    if pos == 0 and day < days[0]:
        raise OutOfRangeError(f"the event at {moment} is before the {market} data, which starts {days[0].date()}")
    return days[pos]


def with_sessions(events: pd.DataFrame, market: str, days: pd.DatetimeIndex) -> pd.DataFrame:
    """Events with `session_date` in `market`; events beyond the data get NaT and a `session_note`."""
    dates, notes = [], []
    for moment in events["moment"]:
        try:
            dates.append(reacting_session(moment, market, days))
            notes.append("")
        except OutOfRangeError as exc:
            dates.append(pd.NaT)
            notes.append(str(exc))
    return events.assign(session_date=pd.to_datetime(dates), session_note=notes)
