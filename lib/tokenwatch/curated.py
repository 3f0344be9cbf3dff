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
