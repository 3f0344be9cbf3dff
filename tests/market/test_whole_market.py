"""Whole-market week returns on a synthetic cn_all parquet, checked by hand."""

import pandas as pd
import pytest

from tokenwatch.market import SnapshotSource
from tokenwatch.market.whole_market import week_returns_all

DAYS = ["2025-06-13", "2025-06-16", "2025-06-17", "2025-06-18", "2025-06-19", "2025-06-20",
        "2025-06-23", "2025-06-24", "2025-06-25", "2025-06-26", "2025-06-27"]


def _bars(code, dates, closes):
    return pd.DataFrame({"date": pd.to_datetime(dates).date, "symbol": code, "open": closes, "high": closes,
                         "low": closes, "close": closes, "volume": 100})


def test_statuses_and_adjustment(tiny_snapshot):
    folder = tiny_snapshot / "cn_all"
    folder.mkdir()
    frame = pd.concat([
        _bars("600100", DAYS, [10.0] * 6 + [10, 10, 10, 10, 11.0]),          # +10%
        _bars("600101", DAYS, [20.0] * 8 + [15, 15, 16]),                      # ex-date 06-25, factor 1.25
        _bars("600102", DAYS[:6], [5.0] * 6),                                  # no trade in the week
        _bars("600103", DAYS[7:], [8.0, 8.8, 9.0, 9.2]),                       # listed 06-24
    ]).astype({"open": "float32", "high": "float32", "low": "float32", "close": "float32"})
    frame.to_parquet(folder / "daily.parquet", index=False)
    pd.DataFrame([{"code": "600101", "ex_date": "2025-06-25", "factor": 1.25}]).to_csv(
        folder / "ADJ_FACTORS.csv", index=False)
    table = week_returns_all("2025-06-27", SnapshotSource(tiny_snapshot)).set_index("code")
    assert table["status"].to_dict() == {"600100": "ok", "600101": "ok", "600102": "no trade in the week",
                                         "600103": "no previous close"}
    assert table.loc["600100", "return_pct"] == pytest.approx(10.0)
    assert table.loc["600101", "return_pct"] == pytest.approx((16 * 1.25 / 20 - 1) * 100)
    assert table.loc["600101", "raw_return_pct"] == pytest.approx(-20.0)
    assert table.loc[["600102", "600103"], "return_pct"].isna().all()
