"""Where the project's curated data and run outputs live."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The curated `data/` folder (override with TOKENWATCH_DATA)."""
    return Path(os.environ.get("TOKENWATCH_DATA", PROJECT_ROOT / "data"))


def reports_dir() -> Path:
    """Default parent of run outputs (git-ignored)."""
    return Path(os.environ.get("TOKENWATCH_REPORTS", PROJECT_ROOT / "reports"))
