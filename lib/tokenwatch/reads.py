"""Inside a kernel: which files a run read, for the execution cache.

An audit hook (PEP 578) sees every file the run opens for reading; C readers report through `note`. `start`
begins a run's record, `stop` writes the files under the watched folders (the curated data, the snapshot, the
parquet cache) and the tokenwatch modules loaded, as JSON, to the path given. The hook is installed once per
kernel and is a no-op between runs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

_state: dict[str, object] = {"on": False, "files": set(), "roots": (), "installed": False}


def _hook(event: str, args: tuple) -> None:
    if event != "open" or not _state["on"]:
        return
    path, mode = args[0], args[1] if len(args) > 1 else "r"
    if not isinstance(path, str | bytes | os.PathLike) or (isinstance(mode, str) and any(c in mode for c in "wax+")):
        return
    text = os.fsdecode(path)
    if text.startswith(_state["roots"]):  # type: ignore[arg-type]  # a tuple of folder prefixes
        _state["files"].add(text)  # type: ignore[attr-defined]


def note(path: str | os.PathLike) -> None:
    """Record a read the audit hook cannot see (a file opened by C code, such as pyarrow's parquet reader)."""
    if _state["on"]:
        _hook("open", (os.fspath(path), "r"))


def watched_roots() -> tuple[str, ...]:
    """The folders whose files count as a run's data: data/, the snapshot and the parquet cache."""
    from tokenwatch.market.cache import cache_dir
    from tokenwatch.paths import SNAPSHOT_ENV, data_dir

    roots = [data_dir(), cache_dir()]
    if snap := os.environ.get(SNAPSHOT_ENV, "").strip():
        roots.append(Path(snap).expanduser())
    return tuple(str(r.resolve()) + os.sep for r in roots) + tuple(str(r.absolute()) + os.sep for r in roots)


def start() -> None:
    """Begin recording this run's reads, with tokenwatch's modules unloaded first: the run imports afresh what it
    uses (so `stop` lists exactly those modules) and no in-process cache from an earlier run hides a file read."""
    for name in [m for m in sys.modules if m == "tokenwatch" or m.startswith("tokenwatch.")]:
        if name != __name__:
            del sys.modules[name]
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True
    _state["roots"], _state["files"], _state["on"] = watched_roots(), set(), True


def stop(out: str) -> None:
    """Stop recording and write the files read and the tokenwatch modules loaded to `out`."""
    _state["on"] = False
    package = str(Path(__file__).resolve().parent) + os.sep
    loaded = [str(Path(f).resolve()) for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))]
    modules = sorted({f for f in loaded if f.startswith(package)})
    files = sorted({str(Path(f).resolve()) for f in _state["files"] if Path(f).is_file()})  # type: ignore[attr-defined]
    Path(out).write_text(json.dumps({"files": files, "modules": modules}), encoding="utf-8")
