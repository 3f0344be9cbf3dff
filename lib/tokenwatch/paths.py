"""Where the project's curated data and run outputs live."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_ENV = "TOKENWATCH_SNAPSHOT"  # the offline snapshot's folder (here, not in market/: reads.py needs it too)
LIVE_ENV = "TOKENWATCH_LIVE"  # "1": notebooks may fetch what the cache lacks
RUNS_ENV = "TOKENWATCH_RUNS"  # the batch's output folder (the runner sets it): where a notebook finds another's run


def data_dir() -> Path:
    """The curated `data/` folder (override with TOKENWATCH_DATA)."""
    return Path(os.environ.get("TOKENWATCH_DATA", PROJECT_ROOT / "data"))


def reports_dir() -> Path:
    """Default parent of run outputs (git-ignored)."""
    return Path(os.environ.get("TOKENWATCH_REPORTS", PROJECT_ROOT / "reports"))


def data_file(name: str) -> str:
    """A curated file as a message names it: `data/<name>` in this project, else `$TOKENWATCH_DATA/<name>`
    (the file actually read, never a machine's absolute path)."""
    try:
        return (data_dir() / name).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return f"$TOKENWATCH_DATA/{name}"


def shown_path(path: Path | str) -> str:
    """A path as a shared report may show it: relative to the project, else its folder name."""
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_ROOT).as_posix() + "/"
    except ValueError:
        return f"{path.name}/"


def scrub_paths(text: str, named: dict[str, str]) -> str:
    """`text` with this machine's absolute paths replaced: each of `named` (path -> shown as), then the
    project root (paths inside it become relative), then the home folder (~)."""
    pairs = {**named, str(PROJECT_ROOT) + "/": "", str(PROJECT_ROOT): ".", str(Path.home()): "~"}
    for path, shown in sorted(pairs.items(), key=lambda kv: -len(kv[0])):
        if path and path not in ("/", "~"):
            text = text.replace(path, shown)
    return text


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The checkout's commit, with '+dirty' when files differ from it ('unknown' outside git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, text=True,
                                capture_output=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               text=True, capture_output=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


@lru_cache(maxsize=8)
def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Python's version and each named package's ('absent' when it is not installed); read once a process (the
    execution cache asks for every run it checks). Shared: callers must not change it."""
    from importlib import metadata

    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
