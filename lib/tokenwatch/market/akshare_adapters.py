"""One adapter per akshare function: how to call it for a symbol, and how to map what it returns.

akshare returns Chinese or English column names, dates as strings, `datetime.date` objects or an
index, volumes in lots (手) or shares, and names the close several ways. Each adapter turns that into
the tidy daily schema (date index; open, high, low, close, volume in shares) and says where the data
came from. A frame without the columns an adapter expects raises UpstreamSchemaError with the akshare
version, so a renamed column upstream is reported as what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tokenwatch.errors import UpstreamSchemaError
from tokenwatch.universe import Symbol

AKSHARE_VERSION = "1.19.5"  # pinned in pyproject.toml; the registry test checks every function exists there

# Every name akshare uses for a column we need.
COLUMN_ALIASES = {
    "date": ("date", "日期", "bargaindate", "trade_date", "时间"),
    "open": ("open", "开盘", "开盘价", "openindex"),
    "high": ("high", "最高", "最高价", "maxindex"),
    "low": ("low", "最低", "最低价", "minindex"),
    "close": ("close", "收盘", "收盘价", "closeindex", "最新价"),
    "volume": ("volume", "成交量", "bargainamount"),
}




@dataclass(frozen=True)
class Adapter:
    """How one akshare function is called and read."""

    name: str  # our name, also the cache key's source part
    function: str  # the akshare function
    upstream: str  # whose servers it reads
    kwargs: Callable[[Symbol, str, str], dict]  # symbol, start YYYYMMDD, end YYYYMMDD -> keyword arguments
    volume_in_lots: bool = False
    price_basis: str = "raw (unadjusted)"

    def describe(self) -> str:
        return f"akshare {self.function} ({self.upstream})"

    def tidy(self, raw: pd.DataFrame, symbol: Symbol) -> pd.DataFrame:
        """Map akshare's frame to the tidy schema; UpstreamSchemaError if it is not shaped as expected."""
        return tidy_daily(raw, self, symbol)


def _pick(columns: pd.Index, wanted: str) -> str | None:
    for alias in COLUMN_ALIASES[wanted]:
        if alias in columns:
            return alias
    return None


def tidy_daily(raw: pd.DataFrame, adapter: Adapter, symbol: Symbol) -> pd.DataFrame:
    if not isinstance(raw, pd.DataFrame):
        raise UpstreamSchemaError(f"{adapter.describe()} returned {type(raw).__name__}, not a table "
                                  f"(akshare {AKSHARE_VERSION})")
    frame = raw.copy()
    if _pick(frame.columns, "date") is None and not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # some functions put the date in the index
    found = {k: _pick(frame.columns, k) for k in COLUMN_ALIASES}
    missing = [k for k, v in found.items() if v is None and k != "volume"]
    if missing:
        raise UpstreamSchemaError(
            f"{adapter.describe()} for {symbol}: no column for {missing} in {list(raw.columns)}; the upstream "
            f"schema changed (akshare {AKSHARE_VERSION}): update the adapter or pin another akshare")
    out = pd.DataFrame({k: frame[v] for k, v in found.items() if v is not None})
    out["date"] = pd.to_datetime(out["date"].astype(str), errors="coerce").dt.tz_localize(None).dt.normalize()
    for col in ("open", "high", "low", "close", "volume"):
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce")
    if "volume" not in out:
        out["volume"] = np.nan
    if adapter.volume_in_lots:
        out["volume"] = out["volume"] * 100
    if out["date"].isna().any():
        bad = frame.loc[out["date"].isna().to_numpy(), found["date"]].iloc[0]
        raise UpstreamSchemaError(f"{adapter.describe()} for {symbol}: date {bad!r} cannot be read "
                                  f"(akshare {AKSHARE_VERSION})")
    out = out.dropna(subset=["close"]).drop_duplicates("date", keep="last").sort_values("date")
    return out.set_index("date")[["open", "high", "low", "close", "volume"]]


def _index_prefix(code: str) -> str:
    return "sz" if code.startswith("399") else "sh"


def _stock_prefix(code: str) -> str:
    if code.startswith(("6", "9", "5")):
        return "sh"
    if code.startswith(("4", "8")):
        return "bj"
    return "sz"


US_INDEX_SINA = {"GSPC": ".INX", "IXIC": ".IXIC", "NDX": ".NDX", "DJI": ".DJI"}

ADAPTERS: dict[str, Adapter] = {a.name: a for a in [
    Adapter("em_a_hist", "stock_zh_a_hist", "Eastmoney",
            lambda s, a, b: {"symbol": s.code, "period": "daily", "start_date": a, "end_date": b, "adjust": ""},
            volume_in_lots=True),
    Adapter("tx_a_hist", "stock_zh_a_hist_tx", "Tencent",
            lambda s, a, b: {"symbol": _stock_prefix(s.code) + s.code, "start_date": a, "end_date": b, "adjust": ""}),
    Adapter("sina_a_daily", "stock_zh_a_daily", "Sina",
            lambda s, a, b: {"symbol": _stock_prefix(s.code) + s.code, "start_date": a, "end_date": b, "adjust": ""}),
    Adapter("em_index_hist", "index_zh_a_hist", "Eastmoney",
            lambda s, a, b: {"symbol": s.code, "period": "daily", "start_date": a, "end_date": b},
            volume_in_lots=True, price_basis="index points"),
    Adapter("sina_index_daily", "stock_zh_index_daily", "Sina",
            lambda s, a, b: {"symbol": _index_prefix(s.code) + s.code}, price_basis="index points"),
    Adapter("sw_index_hist", "index_hist_sw", "Shenwan Hongyuan",
            lambda s, a, b: {"symbol": s.code, "period": "day"}, price_basis="index points"),
    Adapter("sina_etf_hist", "fund_etf_hist_sina", "Sina",
            lambda s, a, b: {"symbol": _stock_prefix(s.code) + s.code}, price_basis="ETF price (unadjusted)"),
    Adapter("sina_hk_index", "stock_hk_index_daily_sina", "Sina",
            lambda s, a, b: {"symbol": s.code}, price_basis="index points"),
    Adapter("sina_us_daily", "stock_us_daily", "Sina",
            lambda s, a, b: {"symbol": s.code, "adjust": ""},
            price_basis="raw OHLC (not split-adjusted); adj_close = Sina forward-adjusted (split + dividend)"),
    # Eastmoney wants its own code ("105.NVDA"); the fetcher looks it up with US_CODE_LOOKUP first
    # back-adjusted ("hfq"): past values never change, so appending new days stays consistent
    Adapter("em_us_hist", "stock_us_hist", "Eastmoney",
            lambda s, a, b: {"symbol": s.code, "period": "daily", "start_date": a, "end_date": b, "adjust": "hfq"},
            price_basis="back-adjusted by Eastmoney (split + dividend): levels are not market prices, "
                        "returns are total returns"),
    Adapter("sina_us_index", "index_us_stock_sina", "Sina",
            lambda s, a, b: {"symbol": US_INDEX_SINA[s.code]}, price_basis="index points"),
]}

# Eastmoney's US code table: 代码 is "<market number>.<ticker>", as stock_us_hist's docstring says to use.
US_CODE_LOOKUP = "stock_us_spot_em"

# Factor functions (not daily bars): A-share ex-rights steps, US forward-adjustment factors.
FACTOR_FUNCTIONS = {
    "sina_a_hfq_factor": ("stock_zh_a_daily", "Sina",
                          lambda s: {"symbol": _stock_prefix(s.code) + s.code, "adjust": "hfq-factor"}),
    "sina_us_qfq_factor": ("stock_us_daily", "Sina", lambda s: {"symbol": s.code, "adjust": "qfq-factor"}),
}


def chain(symbol: Symbol) -> list[str]:
    """The adapters tried, in order, for a symbol's daily bars."""
    if symbol.market == "cn":
        return ["em_a_hist", "tx_a_hist", "sina_a_daily"]
    if symbol.market == "cn_index":
        if symbol.code.startswith("8"):
            return ["sw_index_hist"]
        if symbol.code.startswith(("5", "1")):
            return ["sina_etf_hist"]
        return ["em_index_hist", "sina_index_daily"]
    if symbol.market == "hk_index":
        return ["sina_hk_index"]
    if symbol.code in US_INDEX_SINA:
        return ["sina_us_index"]
    return ["sina_us_daily", "em_us_hist"]


def factor_steps(raw: pd.DataFrame, symbol: Symbol) -> pd.DataFrame:
    """Sina's cumulative back-adjustment factors as per-ex-date steps (the snapshot's ADJ_FACTORS form).

    adjusted = raw x the product of the steps on or before each date, as `adjust.cumulative_factor` does.
    """
    if not {"date", "hfq_factor"} <= set(raw.columns):
        raise UpstreamSchemaError(f"akshare stock_zh_a_daily(adjust='hfq-factor') for {symbol}: expected columns "
                                  f"date, hfq_factor; got {list(raw.columns)} (akshare {AKSHARE_VERSION})")
    f = pd.DataFrame({"date": pd.to_datetime(raw["date"].astype(str), errors="coerce"),
                      "cum": pd.to_numeric(raw["hfq_factor"], errors="coerce")}).dropna().sort_values("date")
    steps = f["cum"] / f["cum"].shift(1, fill_value=1.0)  # Sina's first row is a 1900-01-01 base of 1
    out = pd.DataFrame({"ex_date": f["date"], "factor": steps, "cash_per_share": np.nan,
                        "bonus_per_share": np.nan}).dropna(subset=["factor"])
    return out[~np.isclose(out["factor"], 1.0)].reset_index(drop=True)


def us_adjusted_close(daily: pd.DataFrame, factors: pd.DataFrame) -> pd.Series:
    """Sina's forward adjustment applied to raw closes: close x qfq_factor + adjust, where each factor row
    holds from its date on (earlier dates take the first row), as akshare's stock_us_daily(adjust='qfq')."""
    if factors.empty:
        return daily["close"].copy()
    if not {"date", "qfq_factor", "adjust"} <= set(factors.columns):
        raise UpstreamSchemaError(f"akshare stock_us_daily(adjust='qfq-factor'): expected date, qfq_factor, adjust; "
                                  f"got {list(factors.columns)} (akshare {AKSHARE_VERSION})")
    f = pd.DataFrame({"date": pd.to_datetime(factors["date"].astype(str)),
                      "f": pd.to_numeric(factors["qfq_factor"]), "c": pd.to_numeric(factors["adjust"])})
    f = f.sort_values("date").set_index("date")
    aligned = f.reindex(f.index.union(daily.index)).ffill().bfill().loc[daily.index]
    return daily["close"] * aligned["f"] + aligned["c"]
