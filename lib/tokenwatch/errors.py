"""Errors that say what is wrong and what to do about it."""

from __future__ import annotations

from typing import Any


class TokenwatchError(Exception):
    """Base class: every message names the problem and a way out."""


class NoSourceError(TokenwatchError):
    """No market-data source is configured."""


class DataNotFoundError(TokenwatchError, LookupError):
    """A symbol, file or folder that was asked for is not there."""


class OutOfRangeError(TokenwatchError, ValueError):
    """A date or range lies outside the data."""


class DataValidationError(TokenwatchError, ValueError):
    """Loaded data breaks a rule (unsorted dates, negative prices, a malformed row...)."""


class ParameterError(TokenwatchError, ValueError):
    """A notebook or function parameter has a value that cannot be used."""


class TokenwatchNotice(UserWarning):
    """Something a reader of the results must know (a substituted source, a caveat on the data)."""


class FitError(TokenwatchError):
    """A model cannot be fitted to this series (too few points, no convergence, no uncertainty)."""


class LiveFetchFailed(DataNotFoundError):
    """A live fetch found nothing: the next source serves the symbol, and says so."""


class UpstreamSchemaError(DataValidationError):
    """An akshare function returned a frame that does not look like its documented output."""


class CacheCorruptError(DataValidationError):
    """A cache file could not be read back as written."""


class FetchTimeout(TokenwatchError):
    """A call took longer than its timeout."""


def scrubbed(text: str) -> str:
    """`text` without this machine's paths (the project's become relative, the home folder ~)."""
    from tokenwatch.paths import scrub_paths

    return scrub_paths(text, {})


def short_message(exc: BaseException) -> str:
    """The one line a user reads for one of the project's errors: its class and message, no machine paths."""
    return scrubbed(f"{type(exc).__name__}: {exc}")


def _short_traceback(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
    """IPython's custom exception handler: a TokenwatchError is shown as its message alone (no frames, no paths),
    and the cell still fails, so papermill and nbconvert stop there as before."""
    stb = [f"\x1b[0;31m{short_message(value)}\x1b[0m"]
    shell._showtraceback(etype, value, stb)  # what IPython shows for any error, with this one line as the traceback
    return stb


def show_short_errors() -> bool:
    """In an IPython kernel, show the project's own errors (TokenwatchError) as one short line; every other error
    keeps its traceback. Called when tokenwatch is imported in a kernel; False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((TokenwatchError,), _short_traceback)
    return True
