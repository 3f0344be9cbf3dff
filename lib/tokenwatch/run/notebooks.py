"""The notebook collection: discovery by run name and parameter checking (papermill's inspect)."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tokenwatch.errors import ParameterError
from tokenwatch.paths import PROJECT_ROOT

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
_NAME = re.compile(r"^(\d+)_(.+)\.ipynb$")
INJECTED = {"output_dir"}  # set by the runner for every run
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
MAX_TEXT = 1000  # characters in one text parameter: longer is a mistake (and no file name is that long)


@dataclass(frozen=True)
class Parameter:
    """One parameter as papermill reads it: name, declared type, default (as written) and help text."""

    name: str
    type: str
    default: str
    help: str


@dataclass(frozen=True)
class NotebookInfo:
    name: str
    path: Path
    parameters: dict[str, Any]  # name -> default value
    declared: tuple[Parameter, ...] = ()

    @property
    def title(self) -> str:
        """The notebook's first heading (what `tokenwatch list` shows)."""
        nb = json.loads(self.path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                for line in "".join(cell.get("source", "")).splitlines():
                    if line.startswith("#"):
                        return line.lstrip("# ").strip()
        return ""

    def help_text(self) -> str:
        """The parameters with their types, defaults and help, as `--help-params` prints them."""
        rows = [(p.name, p.type, p.default, p.help) for p in self.declared if p.name not in INJECTED]
        widths = [max(len(r[i]) for r in [("name", "type", "default", ""), *rows]) for i in range(3)]
        lines = [f"{self.name}: {self.title}", "",
                 "  ".join(h.ljust(w) for h, w in zip(("name", "type", "default"), widths, strict=True)) + "  help"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + f"  {r[3]}" for r in rows]
        lines += ["", "set one with -p NAME VALUE, several with -f FILE.yaml; output_dir is set by the runner"]
        return "\n".join(lines)


def discover(directory: Path | None = None) -> dict[str, Path]:
    """Run name -> path for every `NN_name.ipynb` in the notebooks folder, in number order."""
    directory = Path(directory or NOTEBOOKS_DIR)
    found = sorted((int(m.group(1)), m.group(2), p) for p in directory.glob("*.ipynb")
                   if (m := _NAME.match(p.name)))
    return {name: path for _, name, path in found}


def resolve(names: list[str], directory: Path | None = None) -> list[Path]:
    """Paths for run names (or paths); an unknown name lists the known ones."""
    known = discover(directory)
    out = []
    for name in names:
        if name in known:
            out.append(known[name])
        elif Path(name).suffix == ".ipynb" and Path(name).exists():
            out.append(Path(name))
        else:
            raise ParameterError(f"no notebook named {name!r}; known: {', '.join(known) or '(none)'}")
    return out


def _inspect_cache() -> Path:
    """Where papermill's reading of each notebook's parameters is kept, by the notebook's checksum (papermill
    takes 1.5 s to import: a rerun that reuses every run should not pay it)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tokenwatch" / "inspect"


def _papermill_parameters(path: str) -> dict[str, dict[str, Any]]:
    key = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    kept = _inspect_cache() / f"{key}.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(kept.read_text(encoding="utf-8"))
    import papermill

    raw = {n: dict(p) for n, p in papermill.inspect_notebook(path).items()}
    with contextlib.suppress(OSError):  # no cache folder: inspect again next time
        kept.parent.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_name(f".{kept.name}.{os.getpid()}")
        tmp.write_text(json.dumps(raw, default=str), encoding="utf-8")
        os.replace(tmp, kept)
    return raw


@lru_cache(maxsize=64)
def _inspect(path: str, _mtime: float) -> NotebookInfo:
    raw = _papermill_parameters(path)
    defaults = {}
    for name, p in raw.items():
        try:
            defaults[name] = ast.literal_eval(p["default"])
        except (ValueError, SyntaxError):
            defaults[name] = p["default"]
    m = _NAME.match(Path(path).name)
    declared = tuple(Parameter(n, p.get("inferred_type_name") or "None", p["default"], p.get("help") or "")
                     for n, p in raw.items())
    return NotebookInfo(m.group(2) if m else Path(path).stem, Path(path), defaults, declared)


def inspect(path: Path) -> NotebookInfo:
    path = Path(path)
    return _inspect(str(path), path.stat().st_mtime)


def parse_cli_value(text: str, default: Any) -> Any:
    """A `-p`/`--sweep` value: kept as text where the default is text (so '002463' stays), else YAML.

    Where the default is a list of text, `A,B` (or a single `002463`) stays text too: YAML would read
    002463 as the octal number 1331.
    """
    if isinstance(default, str):
        return text
    if isinstance(default, list) and default and all(isinstance(d, str) for d in default) \
            and not text.lstrip().startswith("["):
        return [v.strip() for v in text.split(",") if v.strip()]
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # not YAML: the type check names what was expected
    if isinstance(default, list) and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()] if "," in value else [value]
    if isinstance(default, int | float) and not isinstance(default, bool):
        return _as_number(value, whole=isinstance(default, int))
    return value


def _as_number(value: Any, whole: bool) -> Any:
    """A number typed as a number: '1e5' (text to YAML) is 100000.0, and a whole float where the default is a
    whole number (1e5, 100000.0) is that int. Anything else is returned as it is, for the type check."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            if _NUMBER.match(value.strip()):
                value = float(value)
    if whole and isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _kind(value: Any) -> str:
    """A type name a user reads: 'a list of int' rather than 'list'."""
    if isinstance(value, list | tuple):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a list of {' and '.join(kinds)}" if kinds else "an empty list"
    return type(value).__name__


def _type_ok(value: Any, default: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, list | tuple):
        if not isinstance(value, list | tuple):
            return False
        kinds = {type(d) for d in default}
        return not (kinds == {str} and not all(isinstance(v, str) for v in value))
    return isinstance(value, type(default))


def check_parameters(info: NotebookInfo, params: dict[str, Any]) -> dict[str, Any]:
    """Refuse unknown names and values whose type differs from the default's, listing the parameters."""
    listing = "; ".join(f"{k} ({type(v).__name__}, default {v!r})" for k, v in info.parameters.items())
    for name, value in params.items():
        if name not in info.parameters:
            raise ParameterError(f"{info.name}: no parameter {name!r}. Its parameters: {listing}")
        longest = max((len(v) for v in (value if isinstance(value, list | tuple) else [value]) if isinstance(v, str)),
                      default=0)
        if longest > MAX_TEXT:
            raise ParameterError(f"{info.name}: parameter {name} is {longest:,} characters long; a value (a date, a "
                                 f"name, a path) has at most {MAX_TEXT:,}")
        default = info.parameters[name]
        if isinstance(value, float) and not math.isfinite(value) and isinstance(default, int | float):
            raise ParameterError(f"{info.name}: parameter {name}={value!r} is not a finite number; give a number "
                                 f"like the default {default!r}")
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            raise ParameterError(f"{info.name}: parameter {name}={value!r} should be a whole number like the default "
                                 f"{default!r}")
        if not _type_ok(value, default):
            hint = " (quote codes so they stay strings, e.g. '002463')" if isinstance(default, list | str) else ""
            raise ParameterError(
                f"{info.name}: parameter {name}={value!r} is {_kind(value)}, expected "
                f"{_kind(default)} like the default {default!r}{hint}. Its parameters: {listing}"
            )
    return params
