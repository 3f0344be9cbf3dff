"""Checks for notebook parameters, with messages a user can act on."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable

import pandas as pd

from tokenwatch import reads
from tokenwatch.errors import ParameterError

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMERIC_DATE = re.compile(r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})$")


def as_date(name: str, value: object) -> pd.Timestamp:
    """A date parameter written 'YYYY-MM-DD' (or a date object); any other form is refused with the ISO
    form(s) it could mean, since 07/06/2025 reads as 7 June or 6 July depending on the reader."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ParameterError(f"{_label(name)} is empty; give a date as 'YYYY-MM-DD'")
    if isinstance(value, str) and not _ISO.match(value.strip()):
        readings = _iso_readings(value.strip())
        hint = (f"write {' or '.join(readings)} as YYYY-MM-DD" if readings
                else "write it as 'YYYY-MM-DD', e.g. '2025-06-27'")
        raise ParameterError(f"{_label(name)}={value!r} is not an ISO date; {hint}")
    if not isinstance(value, str | dt.date | pd.Timestamp):
        raise ParameterError(f"{_label(name)}={value!r} is not a date; write it as 'YYYY-MM-DD'")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ParameterError(f"{_label(name)}={value!r} is not a date; write it as 'YYYY-MM-DD'") from None
    if pd.isna(ts):
        raise ParameterError(f"{_label(name)}={value!r} is not a date; write it as 'YYYY-MM-DD'")
    return ts.normalize()


def _iso_readings(text: str) -> list[str]:
    """The ISO dates a non-ISO numeric date could mean ('07/06/2025' -> 2025-06-07 and 2025-07-06)."""
    found = _NUMERIC_DATE.match(text)
    if not found:
        return []
    a, b, c = found.groups()
    orders = [(a, b, c)] if len(a) == 4 else [(c, b, a), (c, a, b)]  # Y-M-D; D-M-Y and M-D-Y
    out = []
    for y, m, d in orders:
        if len(y) != 4:
            continue
        with contextlib.suppress(ValueError):
            iso = dt.date(int(y), int(m), int(d)).isoformat()
            if iso not in out:
                out.append(iso)
    return out


def _label(name: str) -> str:
    """'parameter week_end' for a notebook parameter, '--start' for a command-line option."""
    return name if name.startswith("-") else f"parameter {name}"


def as_date_or_today(name: str, value: object) -> pd.Timestamp:
    """A date parameter that also accepts 'today' (the date of the run)."""
    if isinstance(value, str) and value.strip().lower() == "today":
        return reads.today()  # recorded: the execution cache reruns a run that used today's date
    return as_date(name, value)


def as_list(name: str, value: object) -> list:
    """A list parameter; a single string becomes a one-item list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise ParameterError(f"parameter {name}={value!r} should be a list, e.g. ['NVDA', 'AVGO']")


def as_choice(name: str, value: object, choices: Iterable) -> object:
    options = list(choices)
    if value not in options:
        raise ParameterError(f"parameter {name}={value!r} is not one of {options}")
    return value


def as_positive_int(name: str, value: object, allow_none: bool = False) -> int | None:
    """A positive whole number; a whole float such as 1e5 or 100000.0 is taken as that number."""
    if value is None and allow_none:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"parameter {name}={value!r} should be a positive whole number, e.g. 10000")
    return value


# --- parsers for Params fields: (name, raw notebook value) -> checked value ------------------

def date_or_none(name: str, value: object) -> pd.Timestamp | None:
    """A date, or None where the parameter is left empty."""
    return None if value is None or (isinstance(value, str) and not value.strip()) else as_date(name, value)


def text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"parameter {name}={value!r} should be text (in quotes), e.g. {name} = \"...\"")
    return value


def text_list(name: str, value: object) -> list[str]:
    """A list of text; a single text becomes a one-item list; numbers are refused (quote codes)."""
    items = as_list(name, value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise ParameterError(f"parameter {name} holds {bad!r}, not text; quote each item, e.g. ['002463']")
    return items


def nonempty_text_list(name: str, value: object) -> list[str]:
    """A list of text with at least one item."""
    items = text_list(name, value)
    if not items:
        raise ParameterError(f"parameter {name} is an empty list; give at least one item, e.g. ['NVDA']")
    return items


def one_of(*options: str) -> Callable[[str, object], str]:
    def parse(name: str, value: object) -> str:
        return str(as_choice(name, value, options))
    return parse


def positive_int(name: str, value: object) -> int:
    out = as_positive_int(name, value)
    assert out is not None
    return out


def number(name: str, value: object) -> float:
    """A finite number: NaN and infinity are refused, never read as 'not given'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"parameter {name}={value!r} should be a number")
    if not math.isfinite(value):
        raise ParameterError(f"parameter {name}={value!r} is not a finite number; give a number such as 1.5")
    return float(value)


def mapping(name: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise ParameterError(f"parameter {name}={value!r} should be a dict, e.g. {{\"H200\": 1.0}}")
    return dict(value)
