"""Batch runs of the notebooks: the plan (parameters, sweeps), putting runs in place, the index. Executing them
(kernels, workers) is run/execute.py's.

Nothing good is lost: every invocation stages its runs under its own `.staging/<id>/`, and a run's
folder is swapped into place whole, in one rename, only when the run succeeded completely (its
notebook, its summary.json and both exports are there). A failed run goes beside the good one, to
`<run>.failed/`, and the good one stays. Each run folder carries `run.json`, so the index
(`runs.csv`, `index.html`) is rebuilt from what is on disk, under a lock, by every invocation.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha1
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from filelock import FileLock
from filelock import Timeout as LockTimeout

from tokenwatch.artifacts import atomic_write_text
from tokenwatch.errors import ParameterError, TokenwatchError
from tokenwatch.run import cache
from tokenwatch.run.notebooks import INJECTED, check_parameters, discover, inspect

RUNS_COLUMNS = ["notebook", "run_id", "parameters", "status", "seconds", "output_folder", "error", "ran_at",
                "last_good_folder", "cached", "finished"]
RUN_RECORD = "run.json"
FAILED_SUFFIX = ".failed"
STAGING = ".staging"
REQUIRED = ("summary.json", "report.html")  # besides the executed notebook


@dataclass
class RunSpec:
    notebook: str
    path: Path
    params: dict[str, Any]
    folder: str  # relative to the output root: '<notebook>' or '<notebook>/<slug>'
    cwd: Path = field(default_factory=Path.cwd)  # the kernel's working folder: where `tokenwatch run` was
    # started, so a relative path parameter (-p projection_dir reports/latest/...) means what it says

    @property
    def run_id(self) -> str:
        return self.folder.replace("/", "__")


RunStatus = Literal["ok", "failed"]


@dataclass
class RunResult:
    spec: RunSpec
    status: RunStatus
    seconds: float
    error: str = ""
    folder: str = ""  # where this attempt's files are, relative to the output root
    last_good_folder: str = ""  # a failed rerun leaves the good run here
    cached: bool = False  # reused: nothing it depends on changed since it ran


def slug(params: dict[str, Any]) -> str:
    """A safe, unique folder name for a parameter set."""
    text = "__".join(f"{k}={json.dumps(v, ensure_ascii=True) if not isinstance(v, str) else v}"
                     for k, v in sorted(params.items()))
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-.") or "run"
    if len(safe) > 80 or safe != text:
        safe = f"{safe[:64]}-{sha1(text.encode()).hexdigest()[:8]}"
    return safe


def plan(paths: list[Path], params: dict[str, Any], sweeps: dict[str, list[Any]]) -> list[RunSpec]:
    """Check parameters against each notebook before any kernel starts; expand sweeps."""
    specs = []
    both = sorted(set(params) & set(sweeps))
    if both:
        raise ParameterError(f"{', '.join(both)} is given both with -p (or -f) and with --sweep; keep one")
    grid = [dict(zip(sweeps, combo, strict=True)) for combo in itertools.product(*sweeps.values())] or [{}]
    for path in paths:
        info = inspect(path)
        if "output_dir" not in info.parameters:
            raise ParameterError(f"{path.name} has no 'output_dir' parameter; the runner needs it to collect results")
        for name in INJECTED & (set(params) | set(sweeps)):
            raise ParameterError(f"{name} is set by the runner (use --out for the output folder)")
        for point in grid:
            merged = check_parameters(info, {**params, **point})
            folder = info.name if not point else f"{info.name}/{slug(point)}"
            specs.append(RunSpec(info.name, Path(path).resolve(), merged, folder))
    folders = [s.folder for s in specs]
    if len(set(folders)) != len(folders):
        raise ParameterError("two runs would share an output folder; check the sweep values for repeats")
    return specs


# --- putting a run in place --------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(new: Path, final: Path) -> None:
    """Make the folder `new` the folder `final` whole; the folder it replaces is then removed.

    A reader sees the old run or the new one, never a mix: one atomic exchange where the system
    has it, else two renames with no moment in which a half-written folder is visible. Folders
    inside the old one (a notebook's sweep runs sit inside its plain run's folder) move across.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(new, final)  # nothing there yet
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    carried = [d.name for d in final.iterdir() if d.is_dir() and not (new / d.name).exists()]
    for name in carried:
        os.rename(final / name, new / name)
    try:
        exchanged = _exchange(new, final)
    except OSError:
        for name in carried:
            os.rename(new / name, final / name)
        raise
    if exchanged:
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old run
        return
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(final, old)
    os.rename(new, final)
    shutil.rmtree(old, ignore_errors=True)


def _complete(folder: Path, notebook: str) -> str:
    """'' when a staged run has everything a finished run needs, else what is missing."""
    missing = [f for f in (f"{notebook}.ipynb", *REQUIRED) if not (folder / f).is_file()]
    if not missing:
        return ""
    if "summary.json" in missing:
        return ("the notebook finished but wrote no summary.json to its output folder (does it pass "
                "output_dir to artifacts.output_dir and write its summary?)")
    return f"the run left no {', '.join(missing)}"


def _record(result: RunResult, ran_at: str) -> dict[str, Any]:
    s = result.spec
    return {"notebook": s.notebook, "run_id": s.run_id,
            "parameters": json.dumps(s.params, ensure_ascii=False, sort_keys=True, default=str),
            "status": result.status, "seconds": round(result.seconds, 2), "output_folder": result.folder,
            "error": result.error, "ran_at": ran_at, "last_good_folder": result.last_good_folder,
            "cached": result.cached, "finished": time.time()}  # orders two attempts of one run, even within a second


def _locks(out_root: Path) -> Path:
    folder = out_root / ".locks"
    folder.mkdir(exist_ok=True)
    return folder


def finish_run(result: RunResult, staging: Path, out_root: Path, ran_at: str) -> RunResult:
    """Swap a staged run into place: `<folder>/` when it succeeded, else `<folder>.failed/`."""
    if result.status == "ok" and (missing := _complete(staging, result.spec.notebook)):
        result.status, result.error = "failed", missing
    good = out_root / result.spec.folder
    if result.status == "ok":
        result.folder = result.spec.folder
    else:
        result.folder = result.spec.folder + FAILED_SUFFIX
        result.last_good_folder = result.spec.folder if (good / RUN_RECORD).is_file() else ""
    atomic_write_text(staging / RUN_RECORD, json.dumps(_record(result, ran_at), ensure_ascii=False, indent=1))
    # one swap at a time per notebook: a plain run's folder holds that notebook's sweep runs
    with FileLock(str(_locks(out_root) / f"{result.spec.notebook}.lock")):
        swap_into_place(staging, out_root / result.folder)
        if result.status == "ok":  # an earlier failure of this run is no longer news
            shutil.rmtree(out_root / (result.spec.folder + FAILED_SUFFIX), ignore_errors=True)
    return result


# --- driver side -------------------------------------------------------------------------

def check_output_root(out_root: Path) -> Path:
    """The output folder as an absolute path, made and proven writable before any kernel starts."""
    out_root = Path(out_root).expanduser().resolve()
    if out_root.exists() and not out_root.is_dir():
        raise TokenwatchError(f"--out {out_root} is a file, not a folder; give a folder (it is made if missing)")
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        probe = out_root / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TokenwatchError(f"cannot write to the output folder {out_root} ({exc.strerror or exc}); "
                              "choose another with --out, or make it writable") from None
    return out_root


def reuse(spec: RunSpec, out_root: Path) -> RunResult | None:
    """The finished run of `spec` as a cached result when nothing it depends on changed (run.json says so)."""
    started = time.perf_counter()
    folder = out_root / spec.folder
    try:
        if cache.stale(folder, cache.run_key(spec.path, spec.params)):
            return None
    except OSError:  # an input that cannot be read is not proven unchanged
        return None
    record = json.loads((folder / RUN_RECORD).read_text(encoding="utf-8"))
    result = RunResult(spec, "ok", time.perf_counter() - started, folder=spec.folder, cached=True)
    record.update(cached=True, seconds=round(result.seconds, 3), finished=time.time(),
                  reused_at=datetime.now(UTC).isoformat(timespec="seconds"))
    with FileLock(str(_locks(out_root) / f"{spec.notebook}.lock")):
        atomic_write_text(folder / RUN_RECORD, json.dumps(record, ensure_ascii=False, indent=1))
    return result


def scan_runs(out_root: Path) -> pd.DataFrame:
    """One row per run, from the run.json of every run folder on disk (the failed attempt where the
    latest one failed, pointing at the good run it left in place)."""
    records = []
    for path in [*out_root.glob(f"*/{RUN_RECORD}"), *out_root.glob(f"*/*/{RUN_RECORD}")]:
        if any(part.startswith(".") for part in path.relative_to(out_root).parts):
            continue
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rec["output_folder"] = path.parent.relative_to(out_root).as_posix()  # where it is now
        records.append(rec)
    runs = pd.DataFrame(records, columns=RUNS_COLUMNS).fillna("")
    if runs.empty:
        return runs
    runs["seconds"] = pd.to_numeric(runs["seconds"], errors="coerce").fillna(0.0)
    runs["finished"] = pd.to_numeric(runs["finished"], errors="coerce").fillna(0.0)
    runs = runs.sort_values(["finished", "ran_at"], kind="stable").drop_duplicates("run_id", keep="last")
    runs["last_good_folder"] = [f if f and (out_root / f / RUN_RECORD).is_file() else ""
                                for f in runs["last_good_folder"]]
    order = {name: i for i, name in enumerate(discover())}  # the collection's own order: 01, 02, ...
    return (runs.assign(_order=runs["notebook"].map(order).fillna(len(order)))
            .sort_values(["_order", "notebook", "run_id"], kind="stable").drop(columns="_order")
            .reset_index(drop=True))


def write_index(out_root: Path, lock_timeout: float = 60) -> pd.DataFrame:
    """Rebuild runs.csv and index.html from the run folders on disk, one writer at a time."""
    from tokenwatch.run.export import index_html

    lock = FileLock(str(_locks(out_root) / "index.lock"))
    try:
        with lock.acquire(timeout=lock_timeout):
            runs = scan_runs(out_root)
            atomic_write_text(out_root / "runs.csv", runs.to_csv(index=False))
            atomic_write_text(out_root / "index.html", index_html(runs, out_root))
    except LockTimeout:
        raise TokenwatchError(f"waited {lock_timeout:g} s for {_locks(out_root) / 'index.lock'}: another tokenwatch "
                              "run "
                              "is writing this index; the runs are in place, rerun to rebuild the index") from None
    return runs


def results_table(results: list[RunResult]) -> str:
    rows = [(r.spec.folder, json.dumps(r.spec.params, ensure_ascii=False, default=str)[:60],
             r.status + (" (cached)" if r.cached else ""), f"{r.seconds:.1f}") for r in results]
    head = ("run", "parameters", "status", "seconds")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows]]
    for r in results:
        if r.status != "ok":
            kept = f" (the last good run stays in {r.last_good_folder}/)" if r.last_good_folder else ""
            lines.append(f"FAILED {r.spec.folder}: {r.error}{kept}")
    return "\n".join(lines)

