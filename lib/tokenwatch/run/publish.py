"""Putting runs in place: the swap of a finished run into its folder, its record, locks. (Reuse from the execution
cache and holding run folders: run/reuse.py.)

A run's folder is swapped into place whole, in one rename, only when the run succeeded completely (its notebook,
its summary.json and its report are there); a failed run goes beside the good one, to `<run>.failed/`. Files a
user put in a run folder (anything its last run did not write, by the list in its run.json) are carried across
the swap; a new run that would write a file of the same name is refused with a message instead. One invocation at
a time writes a run folder: another waits for it, and refuses to replace a run that finished, with other
parameters, while it waited. A run folder that is a symbolic link is refused, never written through.

Every text a shared file shows (errors in run.json, runs.csv and index.html; a parameter path in the report, the
executed notebook and summary.json) names paths relatively: the project's as relative paths, the snapshot, the
cache and the output folder by name, a parameter path outside the project by its file name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from tokenwatch.artifacts import atomic_write_text
from tokenwatch.paths import PROJECT_ROOT, scrub_paths
from tokenwatch.run import cache

if TYPE_CHECKING:
    from tokenwatch.run.spec import RunResult

RUN_RECORD = "run.json"
FAILED_SUFFIX = ".failed"
REQUIRED = ("summary.json", "report.html")  # besides the executed notebook
DERIVED = ("run.json", cache.CACHE_RECORD, "report.pdf")  # written for a run by the runner or --pdf
RUN_SUFFIXES = (".csv", ".json", ".html", ".ipynb", ".md", ".pdf", ".png", ".svg")  # of a run without a file list
TEXT_SUFFIXES = (".html", ".ipynb", ".json", ".md", ".csv", ".txt")


# --- paths as a shared file shows them -----------------------------------------------------

def named_paths(out_root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This machine's folders a run may name, and how shared files show them."""
    from tokenwatch.market.cache import cache_dir
    from tokenwatch.paths import SNAPSHOT_ENV, data_dir

    named = {str(Path(out_root).resolve()): "$OUT", str(cache_dir().resolve()): "$TOKENWATCH_CACHE"}
    if snap := os.environ.get(SNAPSHOT_ENV, "").strip():
        named[str(Path(snap).expanduser().resolve())] = f"${SNAPSHOT_ENV}"
    data = data_dir().resolve()
    if not data.is_relative_to(PROJECT_ROOT):
        named[str(data)] = "$TOKENWATCH_DATA"
    return {**named, **(extra or {})}


def _outside_folders(params: dict[str, Any], cwd: Path | None) -> dict[str, str]:
    """The folders of parameter paths outside the project, shown as nothing: such a path shows as its file name."""
    found: dict[str, str] = {}
    for value in params.values():
        if not isinstance(value, str) or os.sep not in value:
            continue
        path = Path(value).expanduser()
        full = path if path.is_absolute() else (cwd or Path.cwd()) / path
        outside = False
        for form in {Path(os.path.abspath(full)), full.resolve()}:
            parent = form.parent
            if str(parent) not in ("", os.sep) and not parent.is_relative_to(PROJECT_ROOT) and parent != Path.home():
                found[str(parent) + os.sep] = ""
                if parent.is_relative_to(Path.home()):  # as a kernel shows it once home is written ~
                    found[str(Path("~") / parent.relative_to(Path.home())) + os.sep] = ""
                outside = True
        if outside and not path.is_absolute() and str(path.parent) not in ("", "."):  # ../../x/mine.csv as given
            found[str(path.parent) + os.sep] = ""
    return found


def scrubbed(text: str, out_root: Path, params: dict[str, Any] | None = None, cwd: Path | None = None,
             extra: dict[str, str] | None = None) -> str:
    """`text` with no absolute path of this machine: see the module docstring."""
    return scrub_paths(text, {**named_paths(out_root, extra), **_outside_folders(params or {}, cwd)})


def shown_params(params: dict[str, Any], cwd: Path | None = None) -> dict[str, Any]:
    """Parameters as a shared record shows them: a path inside the project relative to it, else its file name."""
    hidden = _outside_folders(params, cwd)
    return {k: scrub_paths(v, hidden) if isinstance(v, str) and hidden else v for k, v in params.items()}


def _scrub_folder(folder: Path, params: dict[str, Any], cwd: Path) -> None:
    """Parameter paths outside the project, in a staged run's text files, shown by their file names."""
    hidden = _outside_folders(params, cwd)
    if not hidden:
        return
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.name not in DERIVED:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            if (clean := scrub_paths(text, hidden)) != text:
                atomic_write_text(path, clean)


def params_key(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- what is in a run folder ---------------------------------------------------------------

def read_record(folder: Path) -> dict[str, Any] | None:
    """A run folder's run.json, or None when it is missing or damaged."""
    try:
        found = json.loads((folder / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def user_files(folder: Path) -> list[str]:
    """Files in a run folder that no run wrote: not in its run.json's list of files (a run without one: names not
    like a run's outputs; a folder without run.json: every file)."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if (p.is_file() or p.is_symlink()) and not p.name.endswith(".tmp")]
    record = read_record(folder)
    if record is not None and isinstance(record.get("files"), list):
        ours = set(record["files"])
    elif (folder / RUN_RECORD).exists():
        ours = {n for n in names if n.endswith(RUN_SUFFIXES)}
    else:
        ours = set()
    return sorted(set(names) - ours - set(DERIVED))


def _link_on_way(out_root: Path, folder: str) -> Path | None:
    """The first symbolic link between the output folder and a run folder (that folder included), if any."""
    path = out_root
    for part in Path(folder).parts:
        path = path / part
        if path.is_symlink():
            return path
    return None


def refuse_link(out_root: Path, folder: str) -> str:
    link = _link_on_way(out_root, folder)
    if link is None:
        return ""
    return (f"{link.relative_to(out_root).as_posix()}/ in the output folder is a symbolic link; tokenwatch does not "
            "write through a link or replace it (its target is untouched): remove the link, or choose another --out")


# --- putting a run in place ----------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where the system cannot."""
    import ctypes

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

    A reader sees the old run or the new one, never a mix: one atomic exchange where the system has it, else two
    renames with no moment in which a half-written folder is visible. Folders inside the old one (a notebook's
    sweep runs sit inside its plain run's folder) and files a user put there move across; a user's file that the
    new run would replace stops the swap (FileExistsError), with both left as they were.
    """
    if final.is_symlink():
        raise NotADirectoryError(errno.ENOTDIR, "a symbolic link is not replaced", str(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(new, final)  # nothing there yet
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    users = user_files(final)
    if clash := [name for name in users if (new / name).exists()]:
        raise FileExistsError(errno.EEXIST, f"{', '.join(clash)} in the run folder was not written by a run, and "
                                            "the new run writes a file of that name", str(final))
    carried = [d.name for d in final.iterdir() if d.is_dir() and not d.is_symlink() and not (new / d.name).exists()]
    carried += users
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


def complete(folder: Path, notebook: str) -> str:
    """'' when a staged run has everything a finished run needs, else what is missing."""
    missing = [f for f in (f"{notebook}.ipynb", *REQUIRED) if not (folder / f).is_file()]
    if not missing:
        return ""
    if "summary.json" in missing:
        return ("the notebook finished but wrote no summary.json to its output folder (does it pass "
                "output_dir to artifacts.output_dir and write its summary?)")
    return f"the run left no {', '.join(missing)}"


def make_record(result: RunResult, ran_at: str, out_root: Path, files: list[str]) -> dict[str, Any]:
    s = result.spec
    return {"notebook": s.notebook, "run_id": s.run_id,
            "parameters": json.dumps(shown_params(s.params, s.cwd), ensure_ascii=False, sort_keys=True, default=str),
            "params_key": params_key(s.params), "status": result.status, "seconds": round(result.seconds, 2),
            "output_folder": result.folder, "error": scrubbed(result.error, out_root, s.params, s.cwd),
            "ran_at": ran_at, "last_good_folder": result.last_good_folder, "cached": result.cached,
            "reason": result.reason, "files": files,
            "finished": time.time()}  # orders two attempts of one run, even within a second


def locks(out_root: Path) -> Path:
    folder = out_root / ".locks"
    folder.mkdir(exist_ok=True)
    return folder


def _disk_message(exc: OSError, result: RunResult) -> str:
    where = result.spec.folder
    if exc.errno == errno.ENOSPC:
        return (f"no space left on the device of the output folder while putting {where}/ in place: free some "
                "space (or choose another --out) and rerun")
    return f"could not put {where}/ in place ({exc.strerror or exc})"


def finish_run(result: RunResult, staging: Path, out_root: Path, ran_at: str) -> RunResult:
    """Swap a staged run into place: `<folder>/` when it succeeded, else `<folder>.failed/`."""
    spec = result.spec
    good = out_root / spec.folder
    if result.status == "ok" and (problem := complete(staging, spec.notebook) or refuse_link(out_root, spec.folder)):
        result.status, result.error = "failed", problem
    if "[Errno 28]" in result.error or "No space left on device" in result.error:
        result.error += "; the output folder's disk is full: free some space (or choose another --out) and rerun"
    try:
        _scrub_folder(staging, spec.params, spec.cwd)
        if result.status == "ok" and (clash := [n for n in user_files(good) if (staging / n).exists()]):
            result.status, result.error = "failed", (
                f"{spec.folder}/ holds {', '.join(clash)}, which no run wrote, and this run writes a file of that "
                f"name: move it out of {spec.folder}/ and rerun (this run is in {spec.folder}{FAILED_SUFFIX}/)")
        if result.status == "ok" and (staging / cache.CACHE_RECORD).is_file():
            cache.seal(staging, spec.path, spec.params, out_root, lambda p: shown_params(p, spec.cwd))
        result.folder = spec.folder if result.status == "ok" else spec.folder + FAILED_SUFFIX
        if result.status != "ok":
            result.last_good_folder = spec.folder if (read_record(good) or {}).get("status") == "ok" else ""
        files = sorted(p.name for p in staging.iterdir() if p.is_file())
        atomic_write_text(staging / RUN_RECORD, json.dumps(make_record(result, ran_at, out_root, files),
                                                           ensure_ascii=False, indent=1))
        # one swap at a time per notebook: a plain run's folder holds that notebook's sweep runs
        with FileLock(str(locks(out_root) / f"{spec.notebook}.lock")):
            swap_into_place(staging, out_root / result.folder)
            if result.status == "ok":  # an earlier failure of this run is no longer news
                shutil.rmtree(out_root / (spec.folder + FAILED_SUFFIX), ignore_errors=True)
    except OSError as exc:
        return _not_placed(result, staging, out_root, ran_at, exc)
    return result


def _not_placed(result: RunResult, staging: Path, out_root: Path, ran_at: str, exc: OSError) -> RunResult:
    """A run that could not be put in place (a full disk, a link where its folder goes): said, and recorded in a
    small `<folder>.failed/run.json` when the disk allows, so the index shows it."""
    spec = result.spec
    link = refuse_link(out_root, spec.folder + FAILED_SUFFIX) or refuse_link(out_root, spec.folder)
    result.status, result.folder = "failed", spec.folder + FAILED_SUFFIX
    result.last_good_folder = spec.folder if (read_record(out_root / spec.folder) or {}).get("status") == "ok" else ""
    if isinstance(exc, FileExistsError):
        result.error = (f"{spec.folder}/ holds {exc.strerror}: move it out of {spec.folder}/ and rerun "
                        f"(this run is in {result.folder}/)")
    else:
        result.error = link or _disk_message(exc, result)
    if link:  # keep the finished run where a reader finds it, beside the link
        kept = out_root / f"{spec.folder}.refused-{uuid.uuid4().hex[:6]}"
        with contextlib.suppress(OSError):
            os.rename(staging, kept)
            result.error += f"; this run is kept in {kept.relative_to(out_root).as_posix()}/"
            result.folder = kept.relative_to(out_root).as_posix()
        return result
    if isinstance(exc, FileExistsError):  # the user's file stays; the run goes beside it
        with contextlib.suppress(OSError):
            finish_run(result, staging, out_root, ran_at)
        return result
    shutil.rmtree(staging, ignore_errors=True)  # frees the space the record needs
    small = staging.with_name(staging.name + "-record")
    try:
        small.mkdir(parents=True)
        atomic_write_text(small / RUN_RECORD, json.dumps(make_record(result, ran_at, out_root, [RUN_RECORD]),
                                                         ensure_ascii=False, indent=1))
        with FileLock(str(locks(out_root) / f"{spec.notebook}.lock")):
            swap_into_place(small, out_root / result.folder)
    except OSError:
        shutil.rmtree(small, ignore_errors=True)
    return result
