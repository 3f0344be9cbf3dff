"""The interface every price source implements (snapshot now, akshare and cache next)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import pandas as pd

from tokenwatch.universe import Symbol

# The series whose dates define each market's trading calendar.
CALENDAR_REFERENCE = {
    "cn": Symbol("cn_index", "000300"),
    "cn_index": Symbol("cn_index", "000300"),
    "hk_index": Symbol("hk_index", "HSI"),
    "us": Symbol("us", "GSPC"),
}

FACTOR_COLUMNS = ["ex_date", "factor", "cash_per_share", "bonus_per_share"]


@dataclass(frozen=True)
class SeriesData:
    """One symbol's daily bars as a source holds them, with where they came from.

    `frame` is indexed by date with open, high, low, close, volume, and
    `adj_close` where the source supplies an adjusted close (US files).
    """

    symbol: Symbol
    frame: pd.DataFrame
    source: str
    price_basis: str


class PriceSource(ABC):
    """A place daily prices come from. Subclasses validate what they return."""

    name: str = "source"

    @abstractmethod
    def daily(self, symbol: Symbol) -> SeriesData:
        """All the daily bars held for a symbol; DataNotFoundError when there are none."""

    def daily_in(self, symbol: Symbol, start: pd.Timestamp | None, end: pd.Timestamp | None) -> SeriesData:
        """The bars for a request over [start, end]; a chain of sources picks the one that covers it."""
        return self.daily(symbol)

    @abstractmethod
    def adj_factors(self, symbol: Symbol) -> pd.DataFrame:
        """Ex-rights factors (FACTOR_COLUMNS) for an A-share stock; empty when it had none."""

    @abstractmethod
    def adj_complete_through(self, symbol: Symbol) -> pd.Timestamp | None:
        """Last date through which the factors are known to be complete (None: unknown)."""

    @abstractmethod
    def symbols(self, market: str) -> list[str]:
        """Codes this source holds for a market."""

    def calendar(self, market: str) -> pd.DatetimeIndex:
        """Trading days of a market, taken from its reference series (read once per source)."""
        memo: dict[str, pd.DatetimeIndex] = self.__dict__.setdefault("_calendars", {})
        if market not in memo:  # asked once per symbol by load_prices
            memo[market] = self.daily(CALENDAR_REFERENCE[market]).frame.index
        return memo[market]

    def describe(self) -> str:
        return self.name
