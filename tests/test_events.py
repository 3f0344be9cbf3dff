"""Events: the session an event affects, by the clock, and the curated file's checks."""

import pandas as pd
import pytest

from tokenwatch.errors import DataValidationError, OutOfRangeError
from tokenwatch.events import load_events, reacting_session
from tokenwatch.paths import data_dir

US_DAYS = pd.DatetimeIndex(["2025-05-16", "2025-05-19", "2025-05-20", "2025-05-21", "2025-05-22", "2025-05-23",
                            "2025-05-27"])  # Memorial Day 2025-05-26


@pytest.mark.parametrize(("local", "tz", "market", "expected"), [
    ("2025-05-20 13:00", "America/New_York", "us", "2025-05-20"),   # intraday: the same session
    ("2025-05-20 16:00", "America/New_York", "us", "2025-05-21"),   # at the close: the next session
    ("2025-05-20 10:00", "America/Los_Angeles", "us", "2025-05-20"),  # Google I/O keynote, 13:00 ET
    ("2025-05-21 01:00", "Asia/Shanghai", "us", "2025-05-20"),       # the same moment in Beijing time
    ("2025-05-21 09:00", "Asia/Shanghai", "us", "2025-05-21"),       # 21:00 ET on the 20th: after the close
    ("2025-05-19 11:00", "Asia/Taipei", "us", "2025-05-19"),          # Computex: Sunday night in New York
    ("2025-05-23 17:00", "America/New_York", "us", "2025-05-27"),   # Friday after the close, over a holiday
    ("2025-05-20 17:00", "America/New_York", "cn", "2025-05-21"),   # a US evening reaches Shanghai next day
])
def test_an_event_maps_to_the_first_session_that_closes_after_it(local, tz, market, expected):
    moment = pd.Timestamp(local).tz_localize(tz)
    days = US_DAYS if market == "us" else pd.DatetimeIndex(["2025-05-20", "2025-05-21", "2025-05-22"])
    assert reacting_session(moment, market, days) == pd.Timestamp(expected)


def test_an_event_after_the_data_is_refused():
    with pytest.raises(OutOfRangeError, match="no us session after"):
        reacting_session(pd.Timestamp("2025-06-02 12:00").tz_localize("America/New_York"), "us", US_DAYS)


def test_the_shipped_events_load_and_a_bad_row_is_named(tmp_path):
    events = load_events()
    assert events["source_url"].str.startswith("http").all()
    post = events[(events["session"] == "post") & (events["time_local"] == "")]
    assert len(post) and all(m.tz_convert("America/New_York").hour == 16 for m in post["moment"])
    frame = pd.read_csv(data_dir() / "events.csv", dtype=str, keep_default_na=False)
    frame.loc[3, "tz"] = "Beijing"
    frame.to_csv(tmp_path / "events.csv", index=False)
    with pytest.raises(DataValidationError, match="line 5 .*time zone 'Beijing'"):
        load_events(tmp_path / "events.csv")
