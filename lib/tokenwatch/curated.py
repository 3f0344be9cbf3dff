"""Reading the curated CSV files in data/: present, as text, with the columns they need."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tokenwatch.errors import DataNotFoundError, DataValidationError


def read_curated(path: Path, required: list[str], what: str) -> pd.DataFrame:
    """`path` as text columns (empty cells stay ''), refusing a missing file or missing columns."""
    if not path.is_file():
        raise DataNotFoundError(f"{what} {path} is missing; it ships with the repository in data/")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataValidationError(f"{what} {path} is not a readable CSV ({exc})") from None
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise DataValidationError(f"{path}: columns {missing} are missing (needed: {required})")
    return raw


def with_numbers(frame: pd.DataFrame, columns: list[str], path: Path) -> pd.DataFrame:
    """`columns` of a `read_curated` frame as floats (an empty cell is NaN, 'inf' is infinity); a cell that is
    not a number is named by its line."""
    out = frame.copy()
    for col in columns:
        text = out[col].str.strip()
        values = pd.to_numeric(text.replace("", None), errors="coerce")
        bad = values.isna() & (text != "")
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise DataValidationError(f"{path} line {row + 2}: {col} {text.iloc[row]!r} is not a number")
        out[col] = values.astype(float)
    return out
