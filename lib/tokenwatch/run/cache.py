"""The execution cache: a finished, successful run is reused only when nothing it depends on has changed.

A run's key covers its notebook's source without outputs, its parameters (a value "today" as the date it means),
whether it may fetch live (`--live`/TOKENWATCH_LIVE), the versions of Python and of the libraries that compute or
export (pandas, numpy, scipy, statsmodels, akshare, matplotlib, papermill, nbformat, nbconvert, mistune, nh3), and
the code that exports and publishes outside the kernel (`lib/tokenwatch/run/`, `paths.py`). Beside the key,
`cache.json` holds

- a checksum (sha256) of every file the run read, wherever it lies, by the path it opened and the file that path
  resolves to (a symlink and its target), and of every tokenwatch module it loaded;
- the files it looked for and did not find, and the folder listings it relied on (the parquet cache's entries):
  when one appears, the run is stale;
- the date, when the run used today's date;
- a checksum of every file the run wrote: a missing or changed output means a rerun.

Paths are stored by named root ($DATA, $SNAPSHOT, $CACHE, $LIB, $OUT for the output folder, $PROJECT), so no
machine path is written into a run folder. A file outside all of them is named `$EXTERNAL/<hash>/<file name>`;
its absolute path lives only in the output folder's private `.cache/external-paths.json`. Whatever the cache
cannot check (a damaged record, a file it cannot read) means a rerun, and `why_rerun` says why in words.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from filelock import FileLock

from tokenwatch import reads
from tokenwatch.artifacts import atomic_write_text, file_sha256
from tokenwatch.paths import PROJECT_ROOT, package_versions

CACHE_RECORD = "cache.json"
PRIVATE = ".cache"  # under the output folder: what must not be shared (absolute paths outside the project)
EXTERNAL = "$EXTERNAL"
VERSIONED = ("pandas", "numpy", "scipy", "statsmodels", "akshare", "matplotlib", "papermill", "nbformat",
             "nbconvert", "mistune", "nh3")
NOT_OUTPUTS = ("run.json", CACHE_RECORD)  # rewritten on reuse / the record itself
LIVE_VALUES = {"1", "true", "yes"}
RUN_CODE = Path(__file__).resolve().parent
PUBLISHING = (RUN_CODE, RUN_CODE.parent / "paths.py")
Shown = Callable[[dict[str, Any]], dict[str, Any]]


def versions() -> dict[str, str]:
    """The versions that enter every key ('absent' for a package not installed)."""
    return dict(package_versions(VERSIONED))


def notebook_digest(path: Path) -> str:
    """The notebook's cells (type and source) without outputs or metadata."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [(c.get("cell_type"), "".join(c.get("source", ""))) for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def code_digest() -> str:
    """The export and publishing code that runs outside the kernel (`run/*.py`, `paths.py`)."""
    h = hashlib.sha256()
    files = [p for where in PUBLISHING for p in ([where] if where.is_file() else sorted(where.rglob("*")))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.relative_to(RUN_CODE.parent).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def live() -> bool:
    from tokenwatch.paths import LIVE_ENV

    return os.environ.get(LIVE_ENV, "").strip().lower() in LIVE_VALUES


def key_parts(path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """What a run's key is made of, each part by name (so a changed key can be explained)."""
    today = date.today().isoformat()
    given = {k: today if isinstance(v, str) and v.strip().lower() == "today" else v
             for k, v in params.items() if k != "output_dir"}
    return {"notebook": notebook_digest(path),
            "params": json.loads(json.dumps(given, ensure_ascii=False, sort_keys=True, default=str)),
            "versions": versions(), "live": live(), "code": code_digest()}


def _key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def run_key(path: Path, params: dict[str, Any]) -> str:
    """The key of a run before it runs (see `key_parts`)."""
    return _key(key_parts(path, params))


def roots() -> dict[str, Path]:
    """The named folders a recorded input lives under."""
    from tokenwatch.market.cache import cache_dir
    from tokenwatch.paths import SNAPSHOT_ENV, data_dir

    named = {"$LIB": Path(__file__).resolve().parents[1], "$DATA": data_dir().resolve(),
             "$CACHE": cache_dir().resolve(), "$PROJECT": PROJECT_ROOT}
    if snap := os.environ.get(SNAPSHOT_ENV, "").strip():
        named["$SNAPSHOT"] = Path(snap).expanduser().resolve()
    return named


def check_roots() -> dict[str, Path]:
    """Where `why_rerun` looks for the recorded inputs: the same roots (a test points one at a private copy)."""
    return roots()


def _forms(where: dict[str, Path]) -> list[tuple[str, str]]:
    """Each root as resolved and as written (a root reached through a link), longest first."""
    pairs = {(name, str(p)) for name, p in where.items()} | {(name, os.path.abspath(p)) for name, p in where.items()}
    return sorted(pairs, key=lambda kv: -len(kv[1]))


def named(path: str, where: dict[str, Path]) -> str | None:
    """`path` as '$ROOT/relative', or None outside every root (the longest root wins)."""
    for name, root in _forms(where):
        if path == root:
            return name
        if path.startswith(root.rstrip(os.sep) + os.sep):
            return f"{name}/{Path(path).relative_to(root).as_posix()}"
    return None


def external_name(path: str) -> str:
    return f"{EXTERNAL}/{hashlib.sha256(path.encode()).hexdigest()[:12]}/{Path(path).name}"


def located(text: str, where: dict[str, Path], external: dict[str, str] | None = None) -> Path | None:
    if text.startswith(EXTERNAL + "/"):
        found = (external or {}).get(text)
        return Path(found) if found else None
    name, _, rest = text.partition("/")
    return (where[name] / rest if rest else where[name]) if name in where else None


def digest(path: Path) -> str:
    return file_sha256(path)


def _under(path: str, folder: Path) -> bool:
    return path == str(folder) or path.startswith(str(folder) + os.sep)


# --- writing a record ---------------------------------------------------------------------

def write_record(folder: Path, key: str, reads_file: Path) -> None:
    """cache.json for a successful run, by absolute path for now: the checksum of every file the kernel recorded,
    what it looked for and did not find, its listings and date. `seal` names the paths once the output folder is
    known and adds the outputs; a record that was never sealed is not reused."""
    recorded = json.loads(reads_file.read_text(encoding="utf-8"))
    staged = [folder.resolve(), Path(os.path.abspath(folder))]
    files: dict[str, str] = {}
    for path in [*recorded.get("files", {}).keys(), *recorded.get("files", {}).values(), *recorded.get("modules", [])]:
        if not any(_under(path, s) for s in staged) and Path(path).is_file():
            files[path] = digest(Path(path))
    raw = {"files": files, "absent": [p for p in recorded.get("absent", []) if not any(_under(p, s) for s in staged)],
           "listings": recorded.get("listings", []), "today": recorded.get("today")}
    atomic_write_text(folder / CACHE_RECORD, json.dumps({"key": key, "raw": raw}, indent=1))


def _external_store(out_root: Path) -> Path:
    return out_root / PRIVATE / "external-paths.json"


def read_external(out_root: Path) -> dict[str, str]:
    try:
        found = json.loads(_external_store(out_root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def outputs(folder: Path) -> dict[str, str]:
    """The checksum of every file a run wrote (run.json and cache.json aside), by path within its folder."""
    return {p.relative_to(folder).as_posix(): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).as_posix() not in NOT_OUTPUTS}


def seal(folder: Path, path: Path, params: dict[str, Any], out_root: Path, shown: Shown = dict) -> None:
    """Finish the record of a staged, successful run: paths named by root, the key's parts (parameters as `shown`
    gives them: no machine path), the outputs."""
    record_path = folder / CACHE_RECORD
    record = json.loads(record_path.read_text(encoding="utf-8"))
    raw = record.get("raw")
    if not isinstance(raw, dict):
        return
    where = {**roots(), "$OUT": out_root.resolve()}
    external: dict[str, str] = {}

    def name(p: str) -> str:
        found = named(p, where)
        if found is None:
            found = external_name(p)
            external[found] = p
        return found

    def ours(p: str) -> bool:  # the output folder's own working files (.staging, .locks): never an input
        return (named(p, {"$OUT": out_root.resolve()}) or "$OUT/x").startswith("$OUT/.")

    inputs = {name(p): sha for p, sha in raw["files"].items() if not ours(p)}
    absent = sorted({name(p) for p in raw["absent"] if not ours(p)})
    listings = [{"folder": name(item["folder"]), "pattern": item["pattern"], "found": item["found"]}
                for item in raw["listings"]]
    parts = key_parts(path, params)
    sealed = {"key": _key(parts), "parts": {**parts, "params": shown(parts["params"])},
              "inputs": dict(sorted(inputs.items())), "absent": absent,
              "listings": listings, "today": raw.get("today"), "outputs": outputs(folder)}
    if external:
        store = _external_store(out_root)
        store.parent.mkdir(exist_ok=True)
        with FileLock(str(store) + ".lock"):
            atomic_write_text(store, json.dumps({**read_external(out_root), **external}, indent=1, sort_keys=True))
    atomic_write_text(record_path, json.dumps(sealed, indent=1, ensure_ascii=False))


# --- checking a record --------------------------------------------------------------------

def shown(name: str) -> str:
    """A recorded name as a reader knows it: data/..., lib/tokenwatch/..., a cache entry, a file's name."""
    root, _, rest = name.partition("/")
    where = {"$DATA": "data", "$LIB": "lib/tokenwatch"}
    if root == "$PROJECT":
        return rest
    if root == "$CACHE":
        return f"cache entry {rest}"
    if root == "$OUT":
        return f"{rest} (in the output folder)"
    if root == EXTERNAL:
        return f"{Path(rest).name} (outside the project)"
    if root in where and located(name, check_roots()) == PROJECT_ROOT / where[root] / rest:
        return f"{where[root]}/{rest}"
    return name


def _load(path: Path, what: str) -> tuple[dict[str, Any] | None, str]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no {what}"
    except (OSError, ValueError) as exc:
        return None, f"{what} is damaged ({type(exc).__name__}); the record is replaced"
    if not isinstance(found, dict):
        return None, f"{what} is damaged (not a record); the record is replaced"
    return found, ""


def _changed_part(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old.get("notebook") != new["notebook"]:
        return "the notebook's code changed"
    if old.get("params") != new["params"]:
        was, now = old.get("params") or {}, new["params"]
        diff = [f"{k} {was.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(was) | set(now))
                if was.get(k) != now.get(k)]
        return "parameters changed: " + ", ".join(diff)
    if old.get("live") != new["live"]:
        return "--live (TOKENWATCH_LIVE) is " + ("on" if new["live"] else "off") + " now"
    if old.get("versions") != new["versions"]:
        was = old.get("versions") or {}
        diff = [f"{k} {was.get(k, '?')} -> {v}" for k, v in new["versions"].items() if was.get(k) != v]
        return "versions changed: " + ", ".join(diff)
    if old.get("code") != new["code"]:
        return "the export and publishing code (lib/tokenwatch/run/, paths.py) changed"
    return "its key changed"


def _inputs_changed(record: dict[str, Any], where: dict[str, Path], external: dict[str, str]) -> str:
    for name, checksum in (record.get("inputs") or {}).items():
        path = located(name, where, external)
        if path is None:
            return f"{shown(name)} cannot be located on this machine"
        if not path.is_file():
            return f"{shown(name)} is gone"
        if digest(path) != checksum:
            return f"{shown(name)} changed"
    for name in record.get("absent") or []:
        path = located(name, where, external)
        if path is None or path.exists():
            return f"{shown(name)} appeared"
    for item in record.get("listings") or []:
        folder = located(item["folder"], where, external)
        if folder is None:
            return f"{shown(item['folder'])} cannot be located on this machine"
        listed = reads.listing(folder, item["pattern"])
        now = ["(any)"] if listed and item["pattern"].startswith(reads.ANY) else listed
        if now != item["found"]:
            new, gone = sorted(set(now) - set(item["found"])), sorted(set(item["found"]) - set(now))
            place = shown(item["folder"])
            if new:
                return f"{place}/{listed[0] if new[0] == '(any)' else new[0]} appeared"
            return f"{place} is empty now" if gone[0] == "(any)" else f"{place}/{gone[0]} went"
    return ""


def why_rerun(folder: Path, path: Path, params: dict[str, Any], out_root: Path, shown: Shown = dict) -> str:
    """'' when the finished run in `folder` can be reused for this notebook and parameters, else why not."""
    run, problem = _load(folder / "run.json", "run.json")
    if run is None:
        return "no finished run here" if problem == "no run.json" else problem
    if run.get("status") != "ok":
        return "the last run failed"
    record, problem = _load(folder / CACHE_RECORD, CACHE_RECORD)
    if record is None:
        return problem
    if not isinstance(record.get("parts"), dict) or not isinstance(record.get("outputs"), dict):
        return f"{CACHE_RECORD} was written by an older tokenwatch (no list of outputs)"
    parts = key_parts(path, params)
    if record.get("key") != _key(parts):
        return _changed_part(record["parts"], {**parts, "params": shown(parts["params"])})
    if (day := record.get("today")) and day != date.today().isoformat():
        return f"the run used today's date ({day}); today is {date.today().isoformat()}"
    for name, checksum in record["outputs"].items():
        out = folder / name
        if not out.is_file():
            return f"{name} missing"
        if digest(out) != checksum:
            return f"{name} changed since the run wrote it"
    try:
        return _inputs_changed(record, {**check_roots(), "$OUT": out_root.resolve()}, read_external(out_root))
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a record the cache cannot check: rerun
        return f"{CACHE_RECORD} cannot be checked ({type(exc).__name__}: {exc})"
