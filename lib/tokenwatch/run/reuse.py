"""Reuse from the execution cache, and one invocation at a time per run folder.

A finished run is reused only when nothing it depends on changed (`cache.why_rerun`). An invocation holds every run
folder it will write; another waits for it, and refuses to replace a run the first finished with other parameters.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock
from filelock import Timeout as LockTimeout

from tokenwatch.artifacts import atomic_write_text
from tokenwatch.errors import TokenwatchError
from tokenwatch.run import cache
from tokenwatch.run.publish import RUN_RECORD, locks, params_key, read_record, refuse_link, shown_params

if TYPE_CHECKING:
    from tokenwatch.run.spec import RunResult, RunSpec

FOLDER_WAIT = 3600.0  # seconds to wait for another invocation writing the same run folder


def why_rerun(spec: RunSpec, out_root: Path) -> str:
    """'' when the finished run of `spec` can be reused, else why it must run (see cache.why_rerun)."""
    if link := refuse_link(out_root, spec.folder):
        return link
    try:
        return cache.why_rerun(out_root / spec.folder, spec.path, spec.params, out_root,
                               lambda p: shown_params(p, spec.cwd))
    except OSError as exc:  # an input that cannot be read is not proven unchanged
        return f"an input cannot be read ({exc.strerror or exc})"


def reuse(spec: RunSpec, out_root: Path) -> RunResult | None:
    """The finished run of `spec` as a cached result when nothing it depends on changed, else None."""
    return reuse_or_reason(spec, out_root)[0]


def reuse_or_reason(spec: RunSpec, out_root: Path) -> tuple[RunResult | None, str]:
    """The cached result (None when it must rerun) and the reason, in words."""
    from tokenwatch.run.spec import RunResult

    started = time.perf_counter()
    if reason := why_rerun(spec, out_root):
        return None, reason
    folder = out_root / spec.folder
    record = read_record(folder) or {}
    result = RunResult(spec, "ok", time.perf_counter() - started, folder=spec.folder, cached=True,
                       reason="nothing it read or wrote changed")
    record.update(cached=True, seconds=round(result.seconds, 3), finished=time.time(), reason=result.reason,
                  reused_at=datetime.now(UTC).isoformat(timespec="seconds"))
    try:
        with FileLock(str(locks(out_root) / f"{spec.notebook}.lock")):
            atomic_write_text(folder / RUN_RECORD, json.dumps(record, ensure_ascii=False, indent=1))
    except OSError:  # a full disk: the run is still whole and reused; its record keeps the last time it ran
        pass
    return result, result.reason


def reuse_all(specs: list[RunSpec], out_root: Path, force: bool,
              skip: dict[int, RunResult]) -> tuple[dict[int, RunResult], dict[int, str]]:
    """Reused results by index, and for every other run (`skip` aside) why it runs."""
    reused: dict[int, RunResult] = {}
    reasons: dict[int, str] = {}
    for i, spec in enumerate(specs):
        if i in skip:
            continue
        if force:
            reasons[i] = "--force"
            continue
        result, reasons[i] = reuse_or_reason(spec, out_root)
        if result is not None:
            reused[i] = result
    return reused, reasons


# --- one invocation at a time per run folder -----------------------------------------------

def _written_meanwhile(spec: RunSpec, out_root: Path, since: float) -> str:
    record = read_record(out_root / spec.folder) or {}
    finished = record.get("finished")
    if not isinstance(finished, int | float) or finished < since or record.get("params_key") == params_key(spec.params):
        return ""
    return (f"{spec.folder}/ was written by another tokenwatch run, with other parameters "
            f"({record.get('parameters', '?')}), while this one waited for it; not replaced: rerun this command to "
            "replace it, or give another --out")


@contextlib.contextmanager
def hold(specs: list[RunSpec], out_root: Path, wait: float = FOLDER_WAIT) -> Iterator[dict[int, RunResult]]:
    """Hold every run folder of `specs` for this invocation; yields the runs refused (a link where the folder goes,
    or a run another invocation finished with other parameters while this one waited)."""
    from tokenwatch.run.spec import RunResult

    since = time.time()
    refused: dict[int, RunResult] = {}
    held: list[FileLock] = []
    try:
        for i, spec in sorted(enumerate(specs), key=lambda item: item[1].folder):
            if link := refuse_link(out_root, spec.folder):
                refused[i] = RunResult(spec, "failed", 0.0, link, reason="refused")
                continue
            lock = FileLock(str(locks(out_root) / f"run-{spec.run_id}.lock"))
            try:
                lock.acquire(timeout=0)
            except LockTimeout:
                print(f"tokenwatch: waiting for another tokenwatch run writing {spec.folder}/ in this output folder",
                      file=sys.stderr)
                try:
                    lock.acquire(timeout=wait)
                except LockTimeout:
                    raise TokenwatchError(f"waited {wait:g} s for another tokenwatch run writing {spec.folder}/ in "
                                          f"{out_root}; try again when it is done, or give another --out") from None
                if message := _written_meanwhile(spec, out_root, since):
                    refused[i] = RunResult(spec, "failed", 0.0, message, reason="refused")
            held.append(lock)
        yield refused
    finally:
        for lock in held:
            lock.release()
