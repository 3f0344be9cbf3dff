"""The papermill command line, when a notebook stops on one of the project's own errors: one line, no frames.

papermill loads every `papermill.engine` entry point when it is imported; tokenwatch registers this module's
`TokenwatchEngine` (papermill's own nbclient engine under the name "tokenwatch"), and importing it in the
papermill command sets an exception hook. A `PapermillExecutionError` whose error is a TokenwatchError (a bad
parameter, missing data) prints as `papermill: ParameterError in cell In [3]: ...` and exits 1, instead of the
command's own stack of click and papermill frames with the machine's paths. Every other error keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import tokenwatch.errors


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


def short_papermill_errors(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook for the papermill command: the project's errors in one line, others as Python shows them."""
    ename = getattr(value, "ename", "")
    if etype.__name__ == "PapermillExecutionError" and _own_error(ename):
        evalue = tokenwatch.errors.scrubbed(str(getattr(value, "evalue", "")))
        print(f"papermill: {ename} in cell In [{getattr(value, 'exec_count', '?')}]: {evalue}", file=sys.stderr)
        return
    sys.__excepthook__(etype, value, tb)


def _is_papermill_command() -> bool:
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name == "papermill" or argv0.parent.name == "papermill"


if _is_papermill_command():
    sys.excepthook = short_papermill_errors
