"""Checks run on every load of daily prices."""

from __future__ import annotations

import pandas as pd

from tokenwatch.errors import DataValidationError

PRICE_COLUMNS = ["open", "high", "low", "close"]
DAILY_COLUMNS = ["open", "high", "low", "close", "volume"]


def validate_daily(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Check one symbol's daily bars (index: date); raise naming the symbol and date.

    Rules: dates unique and sorted, prices present and positive,
    high >= max(open, close) and low <= min(open, close).
    """
    missing = [c for c in DAILY_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{label}: columns {missing} are missing (have {list(frame.columns)})")
    idx = frame.index
    if idx.hasnans:
        raise DataValidationError(f"{label}: a row has no date")
    dup = idx[idx.duplicated()]
    if len(dup):
        raise DataValidationError(f"{label}: date {dup[0].date()} appears more than once")
    if not idx.is_monotonic_increasing:
        pos = int((idx[1:] < idx[:-1]).argmax()) + 1
        raise DataValidationError(f"{label}: dates are not sorted ({idx[pos].date()} follows {idx[pos - 1].date()})")
    prices = frame[PRICE_COLUMNS]
    _first_bad(label, frame, prices.isna().any(axis=1), "a price is missing")
    _first_bad(label, frame, (prices <= 0).any(axis=1), "a price is zero or negative")
    _first_bad(label, frame, frame["high"] < prices[["open", "close"]].max(axis=1), "high is below open or close")
    _first_bad(label, frame, frame["low"] > prices[["open", "close"]].min(axis=1), "low is above open or close")
    if "adj_close" in frame.columns:  # returns are computed from it: held to the same rules as close
        _first_bad(label, frame, frame["adj_close"].isna(), "adj_close is missing")
        _first_bad(label, frame, frame["adj_close"] <= 0, "adj_close is zero or negative")
    return frame


def _first_bad(label: str, frame: pd.DataFrame, mask: pd.Series, problem: str) -> None:
    if mask.any():
        day = mask.index[mask.to_numpy().argmax()]
        row = frame.loc[day, [c for c in [*PRICE_COLUMNS, "adj_close"] if c in frame.columns]].to_dict()
        raise DataValidationError(f"{label} on {day.date()}: {problem} {row}")
