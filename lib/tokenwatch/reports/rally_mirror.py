"""The rally replay's A-share mirror (notebook 02): the same phases for the overseas-compute suppliers against
CSI 300, on the A-share clock."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tokenwatch.curated import read_curated
from tokenwatch.errors import ParameterError
from tokenwatch.market import Prices, PriceSource, load_prices
from tokenwatch.methods.baskets import basket_excess
from tokenwatch.methods.phases import Boundaries, mirror_boundaries, phase_returns, report_break_date
from tokenwatch.paths import data_dir
from tokenwatch.reports._base import notice
from tokenwatch.universe import load_basket, names, parse_symbols

CN_BENCHMARK = "cn_index:000300"


@dataclass
class Mirror:
    bounds: Boundaries
    panel: pd.DataFrame  # adjusted closes of the complete names and CSI 300
    phases: pd.DataFrame
    names: dict[str, str]
    excess: pd.Series  # daily equal-weight excess over CSI 300, percent
    report_day: pd.Timestamp  # the A-share session matching the report's phase-2 start
    prices: Prices


def mirror_segments() -> list[str]:
    """The basket segments taken as overseas-compute suppliers (data/mirror_segments.csv, an assumption)."""
    return list(read_curated(data_dir() / "mirror_segments.csv", ["segment", "basis"], "mirror segments")["segment"])


def a_share_mirror(bounds: Boundaries, us_days: pd.DatetimeIndex, basket_name: str, source: PriceSource) -> Mirror:
    """The same phases for the basket's overseas-compute suppliers against CSI 300, on the A-share clock."""
    basket = load_basket(basket_name)
    segments = mirror_segments()
    if basket["segment"].isin(segments).any():
        basket = basket[basket["segment"].isin(segments)]
    cn_days = source.calendar("cn_index")
    mbounds = mirror_boundaries(bounds, us_days, cn_days)
    prices = load_prices([*basket["symbol"], CN_BENCHMARK], mbounds.closes[0], mbounds.closes[-1],
                         source=source, strict=False)
    for row in prices.missing.itertuples():
        notice(f"A-share mirror leaves out {row.symbol}: {row.reason}")
    panel = prices.close()
    complete = [c for c in panel.columns if panel[c].notna().all()]
    for c in sorted(set(panel.columns) - set(complete)):
        notice(f"A-share mirror leaves out {c}: it did not trade on every session of the window")
    bench = CN_BENCHMARK.split(":")[1]
    if bench not in complete:
        raise ParameterError(f"CSI 300 ({CN_BENCHMARK}) has no complete data for "
                             f"{mbounds.closes[0].date()}..{mbounds.closes[-1].date()}")
    panel = panel[complete]
    return Mirror(mbounds, panel, phase_returns(panel, bench, mbounds),
                  {s.code: n for s, n in names(parse_symbols(basket["symbol"])).items()},
                  basket_excess(panel, bench, "A-share suppliers excess over CSI 300"),
                  report_break_date(mbounds, cn_days), prices)
