"""Units and period descriptions of token disclosures, and conversion to tokens per day.

Period grammar (the `period` column of data/tokens/disclosures.csv):

- `2025-05-31` a day, `2025-05` a month, `2025-Q1` a quarter, `2025-H1` a half-year, `2025` a year;
- `FY2025@06` a fiscal year ending in June 2025, `FY2025-Q3@06` its third quarter (2025-01..2025-03);
- `A..B` a span from the start of A to the end of B (`2025-10-01..2025-10-06`);
- `A/B` one unknown period of A's kind from A to B (`2025-04/2025-05`: April or May).

A figure "per month" for the period `2025-04/2025-05` is April's or May's total: per day it is a range
(value/31 to value/30). Conversion always uses the real number of days in the period described.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tokenwatch.errors import DataValidationError

PER_DAY = "per day"
# Units that describe a rate: name -> (kind of calendar period, or None for a fixed length; nominal days)
RATE_UNITS: dict[str, tuple[str | None, float, float]] = {
    "per minute": (None, 1 / 1440, 1 / 1440),
    "per day": (None, 1.0, 1.0),
    "per week": (None, 7.0, 7.0),
    "per month": ("month", 28.0, 31.0),
    "per quarter": ("quarter", 89.0, 92.0),
    "per half-year": ("half", 181.0, 184.0),
    "per year": ("year", 365.0, 366.0),
}
RATIO_UNITS = ("ratio (YoY)",)
UNITS = (*RATE_UNITS, *RATIO_UNITS)

# Display units: fixed lengths only, so a per-day figure converts without knowing which month it is.
DISPLAY_UNITS: dict[str, float] = {
    "per minute": 1 / 1440, "per day": 1.0, "per week": 7.0,
    "per month (average)": 365.25 / 12, "per year (average)": 365.25,
}

_FREQ = {"month": "M", "quarter": "Q", "half": "6M", "year": "Y"}


@dataclass(frozen=True)
class Period:
    """A parsed period: its bounds and, for a vague period, the candidates it may be."""

    text: str
    kind: str  # day, month, quarter, half, year, fiscal_year, fiscal_quarter, span, one_of
    start: pd.Timestamp
    end: pd.Timestamp  # inclusive
    candidates: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def midpoint(self) -> pd.Timestamp:
        return self.start + (self.end - self.start) / 2


_ATOM = re.compile(
    r"^(?:(?P<day>\d{4}-\d{2}-\d{2})|(?P<month>\d{4}-\d{2})|(?P<qy>\d{4})-Q(?P<q>[1-4])|(?P<hy>\d{4})-H(?P<h>[12])"
    r"|(?P<year>\d{4})|FY(?P<fy>\d{4})(?:-Q(?P<fq>[1-4]))?@(?P<fm>\d{2}))$")


def central(low, high):
    """The central value of a low-high range: its geometric midpoint (scalars, arrays or series)."""
    return np.sqrt(low * high)


def _atom(text: str) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    m = _ATOM.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a period (write 2025-05-31, 2025-05, 2025-Q1, 2025-H1, 2025, "
                         "FY2025@06, FY2025-Q3@06, A..B or A/B)")
    g = m.groupdict()
    if g["day"]:
        day = pd.Timestamp(g["day"])
        return "day", day, day
    if g["month"]:
        start = pd.Timestamp(g["month"] + "-01")
        return "month", start, start + pd.offsets.MonthEnd(0)
    if g["qy"]:
        start = pd.Timestamp(year=int(g["qy"]), month=3 * int(g["q"]) - 2, day=1)
        return "quarter", start, start + pd.offsets.QuarterEnd(0)
    if g["hy"]:
        start = pd.Timestamp(year=int(g["hy"]), month=6 * int(g["h"]) - 5, day=1)
        return "half", start, start + pd.DateOffset(months=6) - pd.Timedelta(days=1)
    if g["year"]:
        year = int(g["year"])
        return "year", pd.Timestamp(year=year, month=1, day=1), pd.Timestamp(year=year, month=12, day=31)
    end_month = int(g["fm"])
    if not 1 <= end_month <= 12:
        raise ValueError(f"{text!r}: the fiscal year's last month @{g['fm']} is not a month")
    fy_end = pd.Timestamp(year=int(g["fy"]), month=end_month, day=1) + pd.offsets.MonthEnd(0)
    fy_start = fy_end - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    if not g["fq"]:
        return "fiscal_year", fy_start.normalize(), fy_end
    q_start = fy_start + pd.DateOffset(months=3 * (int(g["fq"]) - 1))
    return "fiscal_quarter", q_start, q_start + pd.DateOffset(months=3) - pd.Timedelta(days=1)


def parse_period(text: str) -> Period:
    """Parse a period description; a ValueError says what is wrong."""
    text = str(text).strip()
    if ".." in text:
        a, b = text.split("..", 1)
        (_, start, _), (_, _, end) = _atom(a), _atom(b)
        if end < start:
            raise ValueError(f"{text!r}: the span ends before it starts")
        return Period(text, "span", start, end, ((start, end),))
    if "/" in text:
        a, b = text.split("/", 1)
        kind_a, start, _ = _atom(a)
        kind_b, _, end = _atom(b)
        if kind_a != kind_b or kind_a not in _FREQ:
            raise ValueError(f"{text!r}: 'A/B' needs two months, quarters, half-years or years of the same kind")
        if end < start:
            raise ValueError(f"{text!r}: the range ends before it starts")
        return Period(text, "one_of", start, end, tuple(_units_within(start, end, kind_a)))
    kind, start, end = _atom(text)
    return Period(text, kind, start, end, ((start, end),))


def _units_within(start: pd.Timestamp, end: pd.Timestamp, kind: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The whole calendar months (quarters, ...) that lie inside start..end."""
    out = []
    for p in pd.period_range(start, end, freq=_FREQ[kind] if kind != "half" else "Q"):
        s, e = p.start_time.normalize(), p.end_time.normalize()
        if kind == "half":
            if p.quarter not in (1, 3):
                continue
            e = (p + 1).end_time.normalize()
        if s >= start and e <= end:
            out.append((s, e))
    return out


def _unit_containing(day: pd.Timestamp, kind: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    if kind == "half":
        start = pd.Timestamp(year=day.year, month=1 if day.month <= 6 else 7, day=1)
        return start, start + pd.DateOffset(months=6) - pd.Timedelta(days=1)
    p = pd.Period(day, freq=_FREQ[kind])
    return p.start_time.normalize(), p.end_time.normalize()


def days_per_unit(unit: str, period: Period) -> tuple[float, float]:
    """How many days one `unit` covers for a figure about `period`: (fewest, most).

    A candidate period whose length fits the unit is that unit (a fiscal quarter is a quarter); a
    shorter one states a run rate, taken over the calendar unit that contains it; a longer one holds
    several units, any of which the figure may describe.
    """
    if unit not in RATE_UNITS:
        raise ValueError(f"unit {unit!r} is not a rate; rates are {list(RATE_UNITS)}")
    kind, lo, hi = RATE_UNITS[unit]
    if kind is None:
        return lo, hi
    lengths: list[int] = []
    for start, end in period.candidates:
        days = (end - start).days + 1
        if lo <= days <= hi:
            lengths.append(days)
        elif days < lo:
            s, e = _unit_containing(start, kind)
            lengths.append((e - s).days + 1)
        else:
            inside = _units_within(start, end, kind)
            if not inside:
                raise ValueError(f"period {period.text} holds no whole {kind} for a figure {unit}")
            lengths.extend((e - s).days + 1 for s, e in inside)
    return float(min(lengths)), float(max(lengths))


def per_day(value: float, unit: str, period: Period) -> tuple[float, float]:
    """A figure `value` `unit` about `period` as tokens per day: (low, high)."""
    fewest, most = days_per_unit(unit, period)
    return value / most, value / fewest


def check_period(text: str, start: object, end: object) -> Period:
    """Parse `text` and require it to match the stated start and end dates."""
    period = parse_period(text)
    stated = (pd.Timestamp(start), pd.Timestamp(end))
    if (period.start, period.end) != stated:
        raise DataValidationError(
            f"period {text!r} covers {period.start.date()}..{period.end.date()} but the row states "
            f"{stated[0].date()}..{stated[1].date()}")
    return period
