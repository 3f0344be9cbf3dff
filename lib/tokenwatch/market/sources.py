"""Price sources over the cache: read-only by default, fetch-on-miss when live, and a chain of sources.

Notebooks read the cache and the snapshot and never touch the network, unless TOKENWATCH_LIVE=1
(or `tokenwatch run --live`) lets a missing symbol be fetched into the cache first.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from tokenwatch import reads
from tokenwatch.errors import DataNotFoundError, LiveFetchFailed, TokenwatchNotice
from tokenwatch.market.akshare_adapters import ADAPTERS, chain, us_adjusted_close
from tokenwatch.market.base import FACTOR_COLUMNS, PriceSource, SeriesData
from tokenwatch.market.cache import Cache
from tokenwatch.market.fetch import Fetcher
from tokenwatch.paths import shown_path
from tokenwatch.universe import Symbol


class CachedSource(PriceSource):
    """Daily bars and factors from the local cache; with a fetcher, a miss is fetched first."""

    name = "cache"

    def __init__(self, cache: Cache | None = None, fetcher: Fetcher | None = None,
                 live_start: str = "2024-01-01") -> None:
        self.cache = cache or Cache()
        self.fetcher = fetcher
        self.live_start = pd.Timestamp(live_start)
        self._factors: dict[Symbol, tuple[pd.DataFrame, pd.Timestamp | None]] = {}

    def describe(self) -> str:
        return f"cache {shown_path(self.cache.root)}" + (" (live: fetches what it lacks)" if self.fetcher else "")

    def _best(self, symbol: Symbol) -> tuple[pd.DataFrame, Any]:
        """The entry reaching the latest date (ties: the source earlier in the symbol's chain)."""
        order = {name: i for i, name in enumerate(chain(symbol))}
        found = []
        for name in self.cache.sources("daily", symbol):
            frame, entry = self.cache.read("daily", symbol, name)
            found.append((entry.last or pd.Timestamp.min, -order.get(name, 99), frame, entry))
        if not found:
            raise DataNotFoundError(f"{symbol} is not in the cache ({self.cache.root}); fetch it with "
                                    f"`tokenwatch data fetch {symbol}`")
        found.sort(key=lambda x: (x[0], x[1]))
        return found[-1][2], found[-1][3]

    def daily(self, symbol: Symbol) -> SeriesData:
        if self.fetcher is not None and not self.cache.sources("daily", symbol):
            result = self.fetcher.daily(symbol, self.live_start, reads.today())
            if result.status == "failed":
                raise LiveFetchFailed(f"live fetch of {symbol} failed ({'; '.join(result.attempts) or result.message})")
            self.fetcher.factors(symbol)
        frame, entry = self._best(symbol)
        frame = frame.copy()
        if symbol.market == "us" and entry.source == "sina_us_daily":
            frame["adj_close"] = us_adjusted_close(frame, self._factor_frame(symbol))
        basis = f"{entry.price_basis}; fetched {entry.vintage:%Y-%m-%d %H:%M} UTC"
        return SeriesData(symbol, frame, f"cache ({ADAPTERS[entry.source].describe()})", basis)

    def _factor_entry(self, symbol: Symbol) -> tuple[pd.DataFrame, pd.Timestamp | None]:
        """The cached factors and the day they were fetched, read once per symbol."""
        if symbol not in self._factors:
            names = self.cache.sources("factors", symbol)
            if not names:
                self._factors[symbol] = (pd.DataFrame(), None)
            else:
                frame, entry = self.cache.read("factors", symbol, names[0])
                self._factors[symbol] = (frame, entry.vintage.tz_convert(None).normalize())
        return self._factors[symbol]

    def _factor_frame(self, symbol: Symbol) -> pd.DataFrame:
        return self._factor_entry(symbol)[0]

    def adj_factors(self, symbol: Symbol) -> pd.DataFrame:
        if symbol.market != "cn":
            return pd.DataFrame(columns=FACTOR_COLUMNS)
        frame = self._factor_frame(symbol)
        return frame[FACTOR_COLUMNS] if len(frame) else pd.DataFrame(columns=FACTOR_COLUMNS)

    def adj_complete_through(self, symbol: Symbol) -> pd.Timestamp | None:
        return self._factor_entry(symbol)[1]  # complete as of the day they were fetched

    def symbols(self, market: str) -> list[str]:
        return self.cache.symbols("daily", market)


class ChainSource(PriceSource):
    """The first source that holds a symbol serves it (and its factors); e.g. the cache, then the snapshot."""

    name = "chain"

    def __init__(self, sources: list[PriceSource]) -> None:
        self.sources = sources
        self._served: dict[Symbol, PriceSource] = {}

    def describe(self) -> str:
        return " then ".join(s.describe() for s in self.sources)

    def _source_for(self, symbol: Symbol) -> PriceSource:
        if symbol not in self._served:
            self.daily(symbol)
        return self._served[symbol]

    def daily(self, symbol: Symbol) -> SeriesData:
        return self.daily_in(symbol, None, None)

    def daily_in(self, symbol: Symbol, start: pd.Timestamp | None, end: pd.Timestamp | None) -> SeriesData:
        """The source holding the most days of [start, end] (all history when open) serves the symbol;
        ties go to the source earlier in the chain. Days another source holds in the range but the
        chosen one lacks (a partial or old cache entry) are named in its price basis."""
        reasons, found, live_failed = [], [], []
        for source in self.sources:
            try:
                found.append((source, source.daily(symbol)))
            except DataNotFoundError as exc:
                reasons.append(str(exc))
                if isinstance(exc, LiveFetchFailed):
                    live_failed.append(str(exc))
        if not found:
            raise DataNotFoundError(f"{symbol} is in none of the sources: " + "; ".join(reasons))
        lo = start if start is not None else min(d.frame.index[0] for _, d in found)
        hi = end if end is not None else max(d.frame.index[-1] for _, d in found)
        inside = [d.frame.index[(d.frame.index >= lo) & (d.frame.index <= hi)] for _, d in found]
        best = max(range(len(found)), key=lambda i: (len(inside[i]), -i))
        source, data = found[best]
        notes = []
        for i, (other, _) in enumerate(found):
            extra = inside[i].difference(inside[best])
            if i != best and len(extra):
                notes.append(f"{other.describe()} holds {len(extra)} day(s) of the range that this source lacks "
                             f"({extra[0].date()}..{extra[-1].date()}), not used")
        self._served[symbol] = source
        notes = live_failed + notes
        if notes:
            warnings.warn(TokenwatchNotice(f"{symbol}: served by {source.describe()}; " + "; ".join(notes)),
                          stacklevel=2)
            data = SeriesData(data.symbol, data.frame, data.source, data.price_basis + "; " + "; ".join(notes))
        return data

    def adj_factors(self, symbol: Symbol) -> pd.DataFrame:
        return self._source_for(symbol).adj_factors(symbol)

    def adj_complete_through(self, symbol: Symbol) -> pd.Timestamp | None:
        return self._source_for(symbol).adj_complete_through(symbol)

    def symbols(self, market: str) -> list[str]:
        return sorted({c for s in self.sources for c in s.symbols(market)})

    def __getattr__(self, name: str) -> Any:
        """Whole-market helpers (all_cn, ...) come from the first source that has them."""
        for source in self.__dict__.get("sources", []):
            if hasattr(source, name):
                return getattr(source, name)
        raise AttributeError(name)
