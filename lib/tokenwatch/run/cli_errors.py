"""The `papermill` and `jupyter nbconvert --execute` commands, when a notebook stops on one of the project's own
errors (a bad parameter, missing data): one line, no stack of the command's frames with the machine's paths.

- papermill loads every `papermill.engine` entry point when it is imported; tokenwatch registers this module's
  `TokenwatchEngine` (papermill's own nbclient engine under the name "tokenwatch"), and importing it in the
  papermill command sets the exception hook.
- nbconvert reads `jupyter_nbconvert_config.py` from the environment's `etc/jupyter/`; `make venv` installs one
  there (`python -m tokenwatch.run.cli_errors`) that sets the same hook.

The hook prints `papermill: ParameterError in cell In [3]: ...` (or `nbconvert: ...`) and the command still exits 1.
Any other error keeps its traceback, as does every error in another program.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import tokenwatch.errors

NBCONVERT_CONFIG = "jupyter_nbconvert_config.py"


def __getattr__(name: str) -> Any:
    """`TokenwatchEngine` is papermill's nbclient engine, looked up when papermill loads the entry point (this
    module imports nothing of papermill itself: papermill may be importing it from its own engines module)."""
    if name == "TokenwatchEngine":
        from papermill.engines import NBClientEngine

        return NBClientEngine
    raise AttributeError(name)


def _own_error(ename: str) -> bool:
    found = getattr(tokenwatch.errors, ename, None)
    return isinstance(found, type) and issubclass(found, tokenwatch.errors.TokenwatchError)


def short_errors(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook for the papermill and nbconvert commands: a cell that failed on a TokenwatchError in one line
    (papermill's PapermillExecutionError and nbclient's CellExecutionError carry its name and message)."""
    ename = str(getattr(value, "ename", ""))
    if etype.__name__ in {"PapermillExecutionError", "CellExecutionError"} and _own_error(ename):
        evalue = tokenwatch.errors.scrubbed(str(getattr(value, "evalue", "")))
        count = getattr(value, "exec_count", None)
        where = f" in cell In [{count}]" if count is not None else ""
        print(f"{_command()}: {ename}{where}: {evalue}", file=sys.stderr)
        return
    sys.__excepthook__(etype, value, tb)


def _command() -> str:
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return "papermill" if "papermill" in (argv0.name, argv0.parent.name) else argv0.name.removeprefix("jupyter-")


def install_hook() -> None:
    """Set `short_errors` as the exception hook of this process (the papermill or nbconvert command)."""
    sys.excepthook = short_errors


def write_nbconvert_config(prefix: Path) -> Path:
    """Install `etc/jupyter/jupyter_nbconvert_config.py` under `prefix` (the environment), which sets the hook."""
    path = prefix / "etc" / "jupyter" / NBCONVERT_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by `make venv` (tokenwatch.run.cli_errors): the project's errors in one line\n"
                    "try:\n    from tokenwatch.run.cli_errors import install_hook\nexcept ImportError:\n"
                    "    pass\nelse:\n    install_hook()\n", encoding="utf-8")
    return path


if _command() == "papermill":
    install_hook()

if __name__ == "__main__":
    print(write_nbconvert_config(Path(sys.prefix)))
