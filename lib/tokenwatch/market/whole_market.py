"""Week returns for every A-share in the whole-market snapshot, vectorised."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tokenwatch.errors import DataNotFoundError
from tokenwatch.market import PriceSource, default_source
from tokenwatch.sessions import trading_days, week_window


def week_returns_all(week_end: object, source: PriceSource | None = None) -> pd.DataFrame:
    """Ex-rights-adjusted week returns of every stock in `cn_all/` for the week ending `week_end`.

    Columns: code, prev_close_date, prev_close, close_date, close, factor, return_pct,
    raw_return_pct, status ('ok', 'no trade in the week', 'no previous close').
    """
    source = source or default_source()
    if not hasattr(source, "all_cn"):
        raise DataNotFoundError(f"{source.describe()} has no whole-market table; use an offline snapshot with cn_all/")
    whole: Any = source  # a snapshot, or a chain that hands these calls to its snapshot
    window = week_window(week_end, trading_days("cn", source))
    bars = whole.all_cn(end=window.end, columns=["close"])
    bars = bars.sort_values(["symbol", "date"], kind="stable")
    before = bars.loc[bars["date"] <= window.prev_close].groupby("symbol", sort=True).tail(1)
    latest = bars.groupby("symbol", sort=True).tail(1)
    table = latest.rename(columns={"symbol": "code", "date": "close_date"}).merge(
        before.rename(columns={"symbol": "code", "date": "prev_close_date", "close": "prev_close"}),
        on="code", how="left")
    table["close"] = table["close"].astype("float64").round(4)
    table["prev_close"] = table["prev_close"].astype("float64").round(4)

    factors = whole.all_cn_factors()
    inside = factors.merge(table[["code", "prev_close_date", "close_date"]], on="code")
    inside = inside.loc[(inside["ex_date"] > inside["prev_close_date"]) & (inside["ex_date"] <= inside["close_date"])]
    product = inside.groupby("code")["factor"].prod()
    table["factor"] = table["code"].map(product).fillna(1.0)

    table["raw_return_pct"] = (table["close"] / table["prev_close"] - 1.0) * 100.0
    table["return_pct"] = (table["close"] * table["factor"] / table["prev_close"] - 1.0) * 100.0
    table["status"] = np.select(
        [table["prev_close"].isna(), table["close_date"] < window.monday],
        ["no previous close", "no trade in the week"], default="ok")
    stale = table["status"] != "ok"
    table.loc[stale, ["return_pct", "raw_return_pct"]] = np.nan
    cols = ["code", "prev_close_date", "prev_close", "close_date", "close", "factor", "return_pct",
            "raw_return_pct", "status"]
    return table[cols].reset_index(drop=True)
