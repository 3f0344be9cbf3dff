"""Inside a kernel: what a run read, for the execution cache.

An audit hook (PEP 578) sees every file the run opens for reading, wherever it lies (a basket given as a path, a
`projection_dir` run folder, a symlinked data file), and the files it tried to open that were not there; C readers
report through `note`. Code that lists a folder to find what exists (the parquet cache) reports the folder, the
pattern and what it found through `looked`, so an entry appearing later makes the run stale. `today` gives the
date of the run and records that the run depended on it. Files of the Python installation, the system and the
tools' own settings (matplotlib, IPython, Jupyter) are not a run's data and are left out.

`start` begins a run's record, `stop` writes it as JSON to the path given, with the tokenwatch modules loaded. The
hook is installed once per kernel and is a no-op between runs.

`parsed` keeps what a data file parses to across the runs of a warm kernel, keyed by the file's bytes: a run still
reads (and so records) every file it uses, and gets a kept result only for the very same content, so the execution
cache's record stays exact while a sweep parses each price file once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

_state: dict[str, Any] = {"on": False, "files": set(), "listings": {}, "today": None, "skip": (),
                          "installed": False}
SYSTEM = ("/proc/", "/sys/", "/dev/", "/usr/", "/lib/", "/lib64/", "/etc/", "/bin/", "/sbin/", "/opt/conda/")
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
ANY = "any:"  # a listing pattern that asks only whether something matches
MEMO_ENTRIES = 4096  # parsed files kept per process (the oldest used goes first)
_memo: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
_digests: dict[str, tuple[tuple[int, int, int], bytes]] = {}  # path -> (its stat, the digest of its bytes)
T = TypeVar("T")
TOOL_DIRS = (".cache", ".config", ".ipython", ".jupyter", ".local", ".matplotlib", ".pyenv", ".conda")


def _hook(event: str, args: tuple) -> None:
    if event != "open" or not _state["on"]:
        return
    path, mode = args[0], args[1] if len(args) > 1 else "r"
    flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
    if not isinstance(path, str | bytes | os.PathLike) or (isinstance(mode, str) and any(c in mode for c in "wax+")):
        return
    if flags & WRITING:  # os.open for writing (a lock file, a temporary file): not a read
        return
    text = os.path.abspath(os.fsdecode(path))
    if not text.startswith(_state["skip"]) and not text.endswith((".pyc", ".pyo")):
        _state["files"].add(text)


def note(path: str | os.PathLike) -> None:
    """Record a read the audit hook cannot see (a file opened by C code, such as pyarrow's parquet reader)."""
    if _state["on"]:
        _hook("open", (os.fspath(path), "r"))


def listing(folder: str | os.PathLike, pattern: str) -> list[str]:
    """The names under `folder` matching `pattern` (relative, sorted; none when the folder is missing). A pattern
    starting with ANY asks only whether one exists: the answer is then one name or none."""
    root = Path(folder)
    if not root.is_dir():
        return []
    if pattern.startswith(ANY):
        return [p.relative_to(root).as_posix() for p in itertools.islice(root.glob(pattern[len(ANY):]), 1)]
    return sorted(p.relative_to(root).as_posix() for p in root.glob(pattern))


def looked_for(folder: str | os.PathLike, pattern: str) -> list[str]:
    """`listing(folder, pattern)`, recorded: when that listing is different later (an entry appeared or went),
    the run is stale."""
    found = listing(folder, pattern)
    if _state["on"]:
        key = f"{os.path.abspath(os.fspath(folder))}\n{pattern}"
        _state["listings"][key] = ["(any)"] if pattern.startswith(ANY) and found else found
    return found


def code_version(*modules: str) -> str:
    """A token naming the version of the code files given (their paths): part of a `parsed` kind, so that a parser
    edited while a kernel lives never serves a result of its earlier version."""
    return ";".join(f"{Path(m).name}@{os.stat(m).st_mtime_ns}" for m in modules)


def parsed(path: str | os.PathLike, kind: str, parse: Callable[[bytes], T]) -> T:
    """`parse(bytes of path)`, parsed once per content in this process and shared: callers must not change it.

    Within a run a file is hashed once (then known by its size, time and inode, as the in-process caches knew it
    before); each new run hashes it again, so a run in a warm kernel uses what a fresh process would. The file
    is recorded as read either way. `kind` names the parsing (with `code_version`) and anything it depends on."""
    name = os.fspath(path)
    st = os.stat(name)
    signature = (st.st_mtime_ns, st.st_size, st.st_ino)
    known = _digests.get(name)
    data = None
    if known is not None and known[0] == signature:
        digest = known[1]
        note(name)
    else:
        with open(name, "rb") as f:
            data = f.read()
        digest = hashlib.blake2b(data, digest_size=20).digest()
        _digests[name] = (signature, digest)
    key = (kind, digest)
    if key in _memo:
        _memo.move_to_end(key)
        return _memo[key]
    if data is None:
        with open(name, "rb") as f:
            data = f.read()
        if hashlib.blake2b(data, digest_size=20).digest() != digest:  # changed within the run: parse what is there
            return parse(data)
    value = _memo[key] = parse(data)
    if len(_memo) > MEMO_ENTRIES:
        _memo.popitem(last=False)
    return value


def today() -> Any:
    """The date of the run (a normalised pandas Timestamp), recorded: a run that used it is stale the next day."""
    import pandas as pd

    day = pd.Timestamp.today().normalize()
    if _state["on"]:
        _state["today"] = day.date().isoformat()
    return day


def skipped_prefixes() -> tuple[str, ...]:
    """Folders whose files are not a run's data: the Python installation, the system, the tools' settings."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    home = Path.home()
    prefixes |= {str(home / name) for name in TOOL_DIRS}
    for env in ("MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        if value := os.environ.get(env, "").strip():
            prefixes.add(value)
    resolved = {str(Path(p).resolve()) for p in prefixes} | {os.path.abspath(p) for p in prefixes}
    return tuple(p.rstrip(os.sep) + os.sep for p in sorted(resolved) if p not in ("", os.sep)) + SYSTEM


def start() -> None:
    """Begin recording this run's reads, with tokenwatch's modules unloaded first: the run imports afresh what it
    uses (so `stop` lists exactly those modules) and no in-process cache from an earlier run hides a file read."""
    for name in [m for m in sys.modules if m == "tokenwatch" or m.startswith("tokenwatch.")]:
        if name != __name__:
            del sys.modules[name]
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True
    _digests.clear()  # each run hashes the files it reads afresh
    _state.update(skip=skipped_prefixes(), files=set(), listings={}, today=None, on=True)


def record() -> dict[str, Any]:
    """What this run read so far: files by the path it opened (absolute, links kept) with the file each resolves
    to, files it looked for and did not find, folder listings, the date if it used today's."""
    package = str(Path(__file__).resolve().parent) + os.sep
    ours = [m for name, m in list(sys.modules.items()) if name == "tokenwatch" or name.startswith("tokenwatch.")]
    loaded = [str(Path(f).resolve()) for m in ours if (f := getattr(m, "__file__", None))]
    files, absent = {}, []
    for f in sorted(_state["files"]):
        if os.path.isfile(f):
            files[f] = os.path.realpath(f)
        elif not os.path.exists(f):
            absent.append(f)
    listings = [{"folder": k.split("\n")[0], "pattern": k.split("\n")[1], "found": v}
                for k, v in sorted(_state["listings"].items())]
    return {"files": files, "absent": absent, "listings": listings, "today": _state["today"],
            "modules": sorted({f for f in loaded if f.startswith(package)})}


def stop(out: str) -> None:
    """Stop recording and write `record()` to `out` as JSON."""
    _state["on"] = False
    Path(out).write_text(json.dumps(record()), encoding="utf-8")
