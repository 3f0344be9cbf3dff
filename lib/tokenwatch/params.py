"""Checks for notebook parameters, with messages a user can act on."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from tokenwatch import reads
from tokenwatch.errors import ParameterError


def as_date(name: str, value: object) -> pd.Timestamp:
    """A date parameter given as 'YYYY-MM-DD' (or a date)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ParameterError(f"{_label(name)} is empty; give a date as 'YYYY-MM-DD'")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ParameterError(f"{_label(name)}={value!r} is not a date; write it as 'YYYY-MM-DD'") from None
    if pd.isna(ts):
        raise ParameterError(f"{_label(name)}={value!r} is not a date; write it as 'YYYY-MM-DD'")
    return ts.normalize()


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
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"parameter {name}={value!r} should be a positive whole number")
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


def one_of(*options: str) -> Callable[[str, object], str]:
    def parse(name: str, value: object) -> str:
        return str(as_choice(name, value, options))
    return parse


def positive_int(name: str, value: object) -> int:
    out = as_positive_int(name, value)
    assert out is not None
    return out


def number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"parameter {name}={value!r} should be a number")
    return float(value)


def mapping(name: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise ParameterError(f"parameter {name}={value!r} should be a dict, e.g. {{\"H200\": 1.0}}")
    return dict(value)
