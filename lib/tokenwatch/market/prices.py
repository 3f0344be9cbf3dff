"""Daily prices for several symbols through one interface, with provenance.

    from tokenwatch.market import load_prices
    p = load_prices(["603228", "NVDA", "cn_index:000300"], "2025-01-01", "2025-06-30")
    p.frame        # tidy: date, symbol, market, open, high, low, close, volume, adj_close, adj_complete
    p.close()      # wide panel of ex-rights-adjusted closes (raw with adjusted=False)
    p.provenance   # per symbol: source, price basis, first/last date, adjustment basis
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd

from tokenwatch.errors import DataNotFoundError, DataValidationError, NoSourceError, OutOfRangeError
from tokenwatch.market.adjust import cumulative_factor
from tokenwatch.market.base import PriceSource, SeriesData
from tokenwatch.market.cache import Cache
from tokenwatch.market.fetch import Fetcher
from tokenwatch.market.snapshot import SnapshotSource
from tokenwatch.market.sources import CachedSource, ChainSource
from tokenwatch.paths import LIVE_ENV, SNAPSHOT_ENV
from tokenwatch.universe import Symbol, parse_symbols

TIDY_COLUMNS = ["date", "symbol", "market", "open", "high", "low", "close", "volume", "adj_close", "adj_complete"]
_SOURCES: dict[str, PriceSource] = {}


def default_source() -> PriceSource:
    """The configured sources, in order: the local cache (when it holds data, or always when live),
    then the snapshot named by TOKENWATCH_SNAPSHOT. TOKENWATCH_LIVE=1 lets the cache fetch what it lacks."""
    snap = os.environ.get(SNAPSHOT_ENV, "").strip()
    live = os.environ.get(LIVE_ENV, "").strip() in {"1", "true", "yes"}
    cache = Cache()
    key = f"{cache.root}|{snap}|{live}"
    if key in _SOURCES:
        return _SOURCES[key]
    sources: list[PriceSource] = []
    if live or cache.has_data():
        sources.append(CachedSource(cache, Fetcher(cache) if live else None))
    if snap:
        sources.append(SnapshotSource(snap))
    if not sources:
        raise NoSourceError(
            f"no market-data source is configured: fetch prices into the cache (`tokenwatch data fetch "
            f"--universe compute_chain`), set {LIVE_ENV}=1 to fetch on demand, or point {SNAPSHOT_ENV} at an "
            f"offline snapshot (export {SNAPSHOT_ENV}=../shared/market)"
        )
    _SOURCES[key] = sources[0] if len(sources) == 1 else ChainSource(sources)
    return _SOURCES[key]


@dataclass
class Prices:
    """Daily prices for several symbols, where they came from, and what is missing."""

    frame: pd.DataFrame
    provenance: pd.DataFrame
    missing: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["symbol", "reason"]))

    def close(self, adjusted: bool = True) -> pd.DataFrame:
        """Wide panel of closes (dates x symbols); ex-rights adjusted by default."""
        col = "adj_close" if adjusted else "close"
        return self.frame.pivot(index="date", columns="symbol", values=col)

    def series(self, symbol: str) -> pd.DataFrame:
        """One symbol's rows, indexed by date."""
        rows = self.frame.loc[self.frame["symbol"] == symbol]
        if rows.empty:
            raise DataNotFoundError(f"{symbol} is not in these prices; loaded: {sorted(self.frame['symbol'].unique())}")
        return rows.set_index("date")

    def source_line(self) -> str:
        """A short line naming the sources, for chart footers (full detail is in `provenance`)."""
        groups: dict[str, tuple[set, set]] = {}
        for src, basis in zip(self.provenance["source"], self.provenance["price_basis"], strict=True):
            label, _, repos = src.partition(" (")
            g = groups.setdefault(label, (set(), set()))
            g[0].update(r.strip(" )") for r in repos.split(" + ") if r.strip(" )"))
            g[1].add(basis.split(";")[0].split(" | ")[0])
        parts = [f"{label} ({len(repos)} upstream repositories; {', '.join(sorted(bases))})"
                 for label, (repos, bases) in groups.items()]
        return "Data: " + "; ".join(parts)


def load_series(symbol: Symbol, source: PriceSource | None = None) -> pd.DataFrame:
    """One symbol's full validated history with `adj_close` and `adj_complete` columns."""
    source = source or default_source()
    return _with_adjustment(source.daily(symbol), source)


def _with_adjustment(data: SeriesData, source: PriceSource) -> pd.DataFrame:
    symbol = data.symbol
    frame = data.frame.copy()
    if symbol.market == "cn":
        factors = source.adj_factors(symbol)
        frame["adj_close"] = frame["close"] * cumulative_factor(frame.index, factors)
        through = source.adj_complete_through(symbol)
        frame["adj_complete"] = frame.index <= through if through is not None else False
    else:
        if "adj_close" not in frame.columns:
            if symbol.market == "us":
                raise DataValidationError(f"{symbol}: {data.source} gave no adj_close, so adjusted returns cannot be "
                                          "computed; fetch it again or restore the column")
            frame["adj_close"] = frame["close"]  # an index level needs no adjustment
        frame["adj_complete"] = True
    return frame


def _adj_basis(symbol: Symbol, source: PriceSource) -> str:
    if symbol.market == "cn":
        through = source.adj_complete_through(symbol)
        n = len(source.adj_factors(symbol))
        when = f"complete through {through.date()}" if through is not None else "completeness unknown"
        return f"ex-rights factors ({n} ex-dates), {when}"
    if symbol.market == "us":
        return "adj_close from source (split + dividend)"
    return "none needed (index level)"


def load_prices(symbols: object, start: object = None, end: object = None, *,
                source: PriceSource | None = None, strict: bool = True) -> Prices:
    """Daily prices for several symbols over [start, end] as a tidy frame with provenance.

    strict=True raises when a symbol is unknown or its data does not cover the range;
    strict=False returns what exists and lists every shortfall in `Prices.missing`.
    """
    source = source or default_source()
    syms = parse_symbols(symbols)
    codes = [s.code for s in syms]
    if len(set(codes)) < len(codes):
        raise OutOfRangeError(f"two symbols share a code in {[str(s) for s in syms]}; load them in separate calls")
    lo = pd.Timestamp(start) if start is not None else None
    hi = pd.Timestamp(end) if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise OutOfRangeError(f"start {lo.date()} is after end {hi.date()}")
    frames, prov, missing = [], [], []
    for sym in syms:
        try:
            data = source.daily_in(sym, lo, hi)
        except DataNotFoundError as exc:
            if strict:
                raise
            missing.append({"symbol": sym.code, "reason": str(exc)})
            continue
        full = _with_adjustment(data, source)
        problem = _coverage_problem(sym, full.index, lo, hi, source)
        if problem:
            if strict:
                raise OutOfRangeError(problem)
            missing.append({"symbol": sym.code, "reason": problem})
        part = full.loc[lo:hi]
        if part.empty:
            continue
        prov.append({"symbol": sym.code, "market": sym.market, "source": data.source,
                     "price_basis": data.price_basis, "first_date": part.index[0].date(),
                     "last_date": part.index[-1].date(), "rows": len(part), "adjustment": _adj_basis(sym, source)})
        frames.append(part.reset_index().assign(symbol=sym.code, market=sym.market))
    frame = (pd.concat(frames, ignore_index=True)[TIDY_COLUMNS] if frames
             else pd.DataFrame(columns=TIDY_COLUMNS))
    return Prices(frame, pd.DataFrame(prov), pd.DataFrame(missing, columns=["symbol", "reason"]))


def _coverage_problem(sym: Symbol, dates: pd.DatetimeIndex, lo: pd.Timestamp | None,
                      hi: pd.Timestamp | None, source: PriceSource) -> str:
    """Why a symbol's data does not cover [lo, hi] of its market's calendar ('' when it does)."""
    have = f"{sym} has data from {dates[0].date()} to {dates[-1].date()}"
    fix = "choose dates inside that range, or fetch more history"
    if lo is not None and lo > dates[-1]:
        return f"{have}; nothing on or after {lo.date()}: {fix}"
    if hi is not None and hi < dates[0]:
        return f"{have}; nothing on or before {hi.date()}: {fix}"
    cal = source.calendar(sym.market)
    if lo is not None:
        if lo < cal[0]:
            return (f"{have}; the market calendar in {source.describe()} starts {cal[0].date()}, "
                    f"after {lo.date()}: {fix}")
        first_day = cal[cal.searchsorted(lo)] if lo <= cal[-1] else None
        if first_day is not None and dates[0] > first_day:
            return f"{have}; it starts after {first_day.date()}, the first trading day of the range (listed later?)"
    if hi is not None:
        if hi > cal[-1]:
            return (f"{have}; the market calendar in {source.describe()} ends {cal[-1].date()}, "
                    f"before {hi.date()}: {fix}")
        last_day = cal[cal.searchsorted(hi, side="right") - 1]
        if dates[-1] < last_day:
            return f"{have}; it ends before {last_day.date()}, the last trading day of the range: {fix}"
    return ""
