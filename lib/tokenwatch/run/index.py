"""The index of an output folder (`runs.csv`, `index.html`), rebuilt from the run.json files on disk.

Every invocation rebuilds it under a lock, so a killed run leaves nothing an index cannot recover. A damaged
run.json never blocks the index: its run shows as failed, with what to do. Error texts are shown without machine
paths (see `publish.scrubbed`).
"""

from __future__ import annotations

import errno
import json
import uuid
from pathlib import Path

import pandas as pd
from filelock import FileLock
from filelock import Timeout as LockTimeout

from tokenwatch.artifacts import atomic_write_text
from tokenwatch.errors import TokenwatchError
from tokenwatch.run.notebooks import discover
from tokenwatch.run.publish import RUN_RECORD, locks, scrubbed


class IndexNotWritten(TokenwatchError):
    """The runs are done, the index could not be rebuilt: carries the results, so they are still shown."""

    def __init__(self, message: str, results: list | None = None) -> None:
        super().__init__(message)
        self.results = results or []


RUNS_COLUMNS = ["notebook", "run_id", "parameters", "status", "seconds", "output_folder", "error", "ran_at",
                "last_good_folder", "cached", "finished"]


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


def _damaged(path: Path, out_root: Path, problem: str) -> dict:
    folder = path.parent.relative_to(out_root).as_posix()
    name = folder.split("/")[0].removesuffix(".failed")
    return {"notebook": name, "run_id": folder.removesuffix(".failed").replace("/", "__"), "parameters": "",
            "status": "failed", "seconds": 0.0, "output_folder": folder, "ran_at": "", "last_good_folder": "",
            "cached": False, "finished": 0.0,
            "error": f"{folder}/run.json is damaged ({problem}); rerun this notebook to replace the record"}


def scan_runs(out_root: Path) -> pd.DataFrame:
    """One row per run, from the run.json of every run folder on disk (the failed attempt where the
    latest one failed, pointing at the good run it left in place)."""
    records = []
    for path in [*out_root.glob(f"*/{RUN_RECORD}"), *out_root.glob(f"*/*/{RUN_RECORD}")]:
        if any(part.startswith(".") for part in path.relative_to(out_root).parts):
            continue
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            records.append(_damaged(path, out_root, type(exc).__name__))
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("notebook"), str):
            records.append(_damaged(path, out_root, "not a run record"))
            continue
        rec["output_folder"] = path.parent.relative_to(out_root).as_posix()  # where it is now
        rec["error"] = scrubbed(str(rec.get("error") or ""), out_root)  # records of older versions too
        records.append(rec)
    runs = pd.DataFrame(records, columns=RUNS_COLUMNS).fillna("")
    if runs.empty:
        return runs
    runs["seconds"] = pd.to_numeric(runs["seconds"], errors="coerce").fillna(0.0)
    runs["finished"] = pd.to_numeric(runs["finished"], errors="coerce").fillna(0.0)
    runs = runs.sort_values(["finished", "ran_at"], kind="stable").drop_duplicates("run_id", keep="last")
    runs["last_good_folder"] = [f if f and (out_root / str(f) / RUN_RECORD).is_file() else ""
                                for f in runs["last_good_folder"]]
    order = {name: i for i, name in enumerate(discover())}  # the collection's own order: 01, 02, ...
    return (runs.assign(_order=runs["notebook"].map(order).fillna(len(order)))
            .sort_values(["_order", "notebook", "run_id"], kind="stable").drop(columns="_order")
            .reset_index(drop=True))


def write_index(out_root: Path, lock_timeout: float = 60) -> pd.DataFrame:
    """Rebuild runs.csv and index.html from the run folders on disk, one writer at a time."""
    from tokenwatch.run.export import index_html

    try:
        lock = FileLock(str(locks(out_root) / "index.lock"))
        with lock.acquire(timeout=lock_timeout):
            runs = scan_runs(out_root)
            atomic_write_text(out_root / "runs.csv", runs.to_csv(index=False))
            atomic_write_text(out_root / "index.html", index_html(runs, out_root))
    except LockTimeout:
        raise TokenwatchError(f"waited {lock_timeout:g} s for {locks(out_root) / 'index.lock'}: another tokenwatch "
                              "run is writing this index; the runs are in place, rerun to rebuild the index") from None
    except OSError as exc:
        full = exc.errno == errno.ENOSPC
        raise IndexNotWritten(
            f"the index of {out_root} (runs.csv, index.html) could not be rebuilt: "
            f"{'no space left on the device' if full else exc.strerror or exc}; the runs' own folders are as their "
            "run.json files say and the last index stays: " + ("free some space and rerun" if full else "rerun")
        ) from None
    return runs
