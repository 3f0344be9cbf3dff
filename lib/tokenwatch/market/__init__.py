"""Daily prices for several symbols through one interface, with provenance.

    from tokenwatch.market import load_prices
    p = load_prices(["603228", "NVDA", "cn_index:000300"], "2025-01-01", "2025-06-30")
    p.frame        # tidy: date, symbol, market, open, high, low, close, volume, adj_close, adj_complete
    p.close()      # wide panel of ex-rights-adjusted closes (raw with adjusted=False)
    p.provenance   # per symbol: source, price basis, first/last date, adjustment basis
"""

from tokenwatch.market.base import CALENDAR_REFERENCE, PriceSource, SeriesData
from tokenwatch.market.prices import (
           LIVE_ENV,
           SNAPSHOT_ENV,
           Prices,
           default_source,
           load_prices,
           load_series,
)
from tokenwatch.market.snapshot import SnapshotSource

__all__ = ["CALENDAR_REFERENCE", "LIVE_ENV", "SNAPSHOT_ENV", "PriceSource", "Prices", "SeriesData", "SnapshotSource",
           "default_source", "load_prices", "load_series"]
