"""What a run leaves: tables as CSV and summary.json in its output folder, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tokenwatch.paths import PROJECT_ROOT, reports_dir

_UMASK = os.umask(0)
os.umask(_UMASK)


_CURRENT: dict[str, Path] = {}


def output_dir(path: str | os.PathLike | None, notebook: str) -> Path:
    """The run's output folder: `path` when given (the runner injects it), else reports/manual/<notebook>.
    It becomes the folder charts write their data into (`current_output`)."""
    out = Path(path) if path else reports_dir() / "manual" / notebook
    out.mkdir(parents=True, exist_ok=True)
    _CURRENT["out"] = out
    return out


def current_output() -> Path | None:
    """The output folder of the notebook running in this process, once it called `output_dir`."""
    return _CURRENT.get("out")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write to a temporary file beside `path`, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; shared reports should be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_table(frame: pd.DataFrame, out: Path, name: str, columns: list[str] | None = None) -> Path:
    """Write `frame` (optionally checked to have exactly `columns`, in order) as out/name.csv."""
    if columns is not None:
        frame = select_columns(frame, columns, name)
    return atomic_write_text(Path(out) / f"{name}.csv", frame.to_csv(index=False))


def select_columns(frame: pd.DataFrame, columns: list[str], table: str) -> pd.DataFrame:
    """`frame` in exactly these columns, in order, refusing a table that lacks one."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"table {table}: columns {missing} are missing")
    return frame[columns]


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()[:10] if isinstance(value, date) and not isinstance(value, datetime) or (
            isinstance(value, pd.Timestamp) and value == value.normalize()) else value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to summary.json")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def write_summary(out: Path, summary: dict[str, Any]) -> Path:
    """Write summary.json (dates as ISO strings, NaN as null)."""
    text = json.dumps(_clean(summary), ensure_ascii=False, indent=2, default=_jsonable)
    return atomic_write_text(Path(out) / "summary.json", text + "\n")


def read_summary(out: Path) -> dict[str, Any]:
    return json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))


def sources(*provenance: pd.DataFrame) -> list[dict[str, Any]]:
    """Provenance tables (from `Prices.provenance`) folded into one entry per source and price basis."""
    frames = [p for p in provenance if p is not None and len(p)]
    if not frames:
        return []
    table = pd.concat(frames, ignore_index=True)
    out = []
    for (src, basis), part in table.groupby(["source", "price_basis"], sort=False):
        out.append({"symbols": ", ".join(dict.fromkeys(part["symbol"])), "source": src, "price_basis": basis,
                    "first_date": str(min(part["first_date"])), "last_date": str(max(part["last_date"]))})
    return out


def prices_line(prices: list, *more: str) -> str:
    """A chart's source line: the sources of these `Prices`, then the curated files it also used."""
    return "; ".join([" ".join(p.source_line() for p in prices), *more])


def file_source(path: Path, rows: int, note: str) -> dict[str, Any]:
    """A curated data file as a source entry: its path in the repository, row count and what it holds."""
    path = Path(path).resolve()
    try:
        shown = str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        shown = str(path)
    return {"file": shown, "rows": rows, "note": note}


def wrote_line(files: list[str], out: Path, output_dir: str) -> str:
    """What a notebook's last cell prints: the files, and the folder unless the runner chose it."""
    where = "this run's folder (see the runner's index)" if output_dir else str(out)
    return f"Wrote {', '.join(files)} to {where}"

