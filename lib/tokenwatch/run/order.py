"""The order a batch's runs start in.

A run starts after the runs of the notebooks it reads, named in its notebook's metadata
(`"tokenwatch": {"after": ["token_projection"]}`: tokens_to_compute reads the batch's token_projection run), when
they are in the same batch. Otherwise the longest first: each run's priority is the seconds it took last time
(kept in the user's cache folder, `durations.json`) plus the longest chain of runs waiting for it, so the batch
ends as early as its longest chain allows and no worker is left with a long run at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import lru_cache
from pathlib import Path

from tokenwatch.run.spec import RunResult, RunSpec

DURATIONS = "durations.json"


@lru_cache(maxsize=64)
def _after(path: str, _mtime: float) -> tuple[str, ...]:
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata") or {}
    except (OSError, ValueError):
        return ()
    names = (meta.get("tokenwatch") or {}).get("after") or []
    return tuple(str(n) for n in names) if isinstance(names, list) else ()


def after(path: Path) -> tuple[str, ...]:
    """The run names a notebook's runs start after (its metadata's `tokenwatch.after`)."""
    try:
        return _after(str(path), Path(path).stat().st_mtime)
    except OSError:
        return ()


def waits(specs: list[RunSpec]) -> dict[int, set[int]]:
    """For each run (by index), the runs of the same batch it starts after."""
    return {i: {j for j, other in enumerate(specs) if j != i and other.notebook in after(spec.path)}
            for i, spec in enumerate(specs)}


def ranked(specs: list[RunSpec], seconds: dict[str, float]) -> list[int]:
    """Run indices, highest priority first: the longest chain (a run's expected seconds, from `seconds` by run
    folder, plus the longest chain of the runs waiting for it); ties and unknown durations keep the batch's order
    (an unknown duration counts as the mean of the known ones)."""
    known = [seconds[s.folder] for s in specs if s.folder in seconds]
    guess = sum(known) / len(known) if known else 0.0
    own = [float(seconds.get(s.folder, guess)) for s in specs]
    waiting: dict[int, list[int]] = {i: [] for i in range(len(specs))}
    for i, deps in waits(specs).items():
        for j in deps:
            waiting[j].append(i)
    chain: dict[int, float] = {}

    def length(i: int, path: frozenset[int]) -> float:
        if i not in chain:
            chain[i] = own[i] + max((length(k, path | {i}) for k in waiting[i] if k not in path), default=0.0)
        return chain[i]

    return sorted(range(len(specs)), key=lambda i: (-length(i, frozenset()), i))


class Schedule:
    """Which run to start next: by `ranked`, each only once the runs it waits for are done (or waived: a worker
    died, or nothing running could ever free it)."""

    def __init__(self, specs: list[RunSpec], seconds: dict[str, float]) -> None:
        self.order = ranked(specs, seconds)
        self.deps = waits(specs)
        self.started: set[int] = set()
        self.done: set[int] = set()
        self.waived = False

    def ready(self) -> int | None:
        for i in self.order:
            if i not in self.started and (self.waived or self.deps[i] <= self.done):
                return i
        return None

    def start(self) -> int | None:
        """The next run to start (marked started), or None when none may start now."""
        i = self.ready()
        if i is None and not self.started - self.done and len(self.started) < len(self.order):
            self.waived = True  # nothing running: what it waits for cannot come (a cycle)
            i = self.ready()
        if i is not None:
            self.started.add(i)
        return i

    def finished(self, i: int) -> None:
        self.done.add(i)

    @property
    def all_started(self) -> bool:
        return len(self.started) == len(self.order)


def durations_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tokenwatch" / DURATIONS


def load_durations() -> dict[str, float]:
    """Seconds each run folder took when it last ran (empty when none is known)."""
    with contextlib.suppress(OSError, ValueError):
        found = json.loads(durations_file().read_text(encoding="utf-8"))
        if isinstance(found, dict):
            return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float)}
    return {}


def record_durations(results: list[RunResult]) -> None:
    """Keep the seconds of each run that ran (not reused) and succeeded, less any spent starting its kernel, for
    the next batch's order."""
    ran = {r.spec.folder: round(max(r.seconds - r.startup, 0.0), 2) for r in results
           if r.status == "ok" and not r.cached}
    if not ran:
        return
    path = durations_file()
    with contextlib.suppress(OSError):  # no cache folder: the next batch keeps the collection's order
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({**load_durations(), **ran}, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
