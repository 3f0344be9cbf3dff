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
