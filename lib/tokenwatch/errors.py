"""Errors that say what is wrong and what to do about it."""


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
