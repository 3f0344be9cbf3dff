"""The execution cache: a finished, successful run is reused when nothing it depends on has changed.

A run's key covers its notebook's source without outputs, its parameters, and the versions of Python, pandas,
numpy, scipy, statsmodels and akshare. Beside the key, `cache.json` holds a checksum (sha256) of every file the run
read (curated data, snapshot files, parquet cache entries: recorded in the kernel by `tokenwatch.reads`) and of
every tokenwatch module it had loaded. A run is reused only when its key and every checksum match, so one changed
data file, parameter or library file invalidates exactly the runs that read it. Paths are stored by named root
($DATA, $SNAPSHOT, $CACHE, $LIB), so no machine path is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

CACHE_RECORD = "cache.json"
VERSIONED = ("pandas", "numpy", "scipy", "statsmodels", "akshare")


def versions() -> dict[str, str]:
    """The versions that enter every key ('absent' for a package not installed)."""
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def notebook_digest(path: Path) -> str:
    """The notebook's cells (type and source) without outputs or metadata."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [(c.get("cell_type"), "".join(c.get("source", ""))) for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def run_key(path: Path, params: dict[str, Any]) -> str:
    """The key of a run before it runs: notebook source, parameters (the runner's output_dir aside), versions."""
    given = {k: v for k, v in params.items() if k != "output_dir"}
    text = json.dumps({"notebook": notebook_digest(path), "params": given, "versions": versions()},
                      ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def roots() -> dict[str, Path]:
    """The named folders a recorded input lives under."""
    from tokenwatch.market import SNAPSHOT_ENV
    from tokenwatch.market.cache import cache_dir
    from tokenwatch.paths import data_dir

    named = {"$LIB": Path(__file__).resolve().parents[1], "$DATA": data_dir().resolve(),
             "$CACHE": cache_dir().resolve()}
    if snap := os.environ.get(SNAPSHOT_ENV, "").strip():
        named["$SNAPSHOT"] = Path(snap).expanduser().resolve()
    return named


def check_roots() -> dict[str, Path]:
    """Where `stale` looks for the recorded inputs: the same roots (a test points one at a private copy)."""
    return roots()


def named(path: str, where: dict[str, Path]) -> str | None:
    """`path` as '$ROOT/relative', or None outside every root (the longest root wins)."""
    p = Path(path)
    for name, root in sorted(where.items(), key=lambda kv: -len(str(kv[1]))):
        try:
            return f"{name}/{p.relative_to(root).as_posix()}"
        except ValueError:
            continue
    return None


def located(text: str, where: dict[str, Path]) -> Path | None:
    name, _, rest = text.partition("/")
    return where[name] / rest if name in where else None


def digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def write_record(folder: Path, key: str, reads_file: Path) -> None:
    """cache.json for a successful run: its key and the checksum of every input it recorded."""
    recorded = json.loads(reads_file.read_text(encoding="utf-8"))
    where = roots()
    inputs: dict[str, str] = {}
    for path in [*recorded.get("files", []), *recorded.get("modules", [])]:
        name = named(path, where)
        if name is not None and Path(path).is_file():
            inputs[name] = digest(Path(path))
    (folder / CACHE_RECORD).write_text(json.dumps({"key": key, "inputs": dict(sorted(inputs.items()))}, indent=1),
                                       encoding="utf-8")


def stale(folder: Path, key: str) -> str:
    """'' when the finished run in `folder` can be reused for `key`, else why not."""
    record_path = folder / CACHE_RECORD
    try:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no finished run with a cache record"
    if run.get("status") != "ok":
        return "the last run failed"
    if record.get("key") != key:
        return "the notebook, its parameters or the package versions changed"
    where = check_roots()
    for name, checksum in (record.get("inputs") or {}).items():
        path = located(name, where)
        if path is None or not path.is_file():
            return f"{name} is gone"
        if digest(path) != checksum:
            return f"{name} changed"
    return ""
