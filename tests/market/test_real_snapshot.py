"""The market layer on the real offline snapshot (TOKENWATCH_SNAPSHOT)."""

import pytest

from tokenwatch.errors import OutOfRangeError
from tokenwatch.market import load_prices
from tokenwatch.market.whole_market import week_returns_all
from tokenwatch.sessions import week_window


def _week_return(snapshot, code, adjusted=True):
    w = week_window("2025-06-27", snapshot.calendar("cn"))
    close = load_prices([code], w.prev_close, w.end, source=snapshot).close(adjusted)[code]
    return (close.loc[w.end] / close.loc[w.prev_close] - 1) * 100


def test_603228_week_return(snapshot):
    assert round(_week_return(snapshot, "603228"), 2) == 22.63


def test_300913_bonus_issue_week_adjusted_and_raw(snapshot):
    assert round(_week_return(snapshot, "300913"), 2) == 13.15
    assert round(_week_return(snapshot, "300913", adjusted=False), 2) == -5.92


def test_every_series_in_the_snapshot_loads_and_validates(snapshot):
    for market in ["cn_index", "us"]:
        codes = snapshot.symbols(market)
        assert codes, market
        p = load_prices(codes, source=snapshot, strict=False)
        assert set(p.frame["symbol"]) == set(codes)
        assert p.provenance["price_basis"].str.len().gt(0).all()


def test_range_past_the_data_is_refused(snapshot):
    with pytest.raises(OutOfRangeError, match="cn:603228 has data from 2024-01-02"):
        load_prices(["603228"], "2027-01-01", "2027-02-01", source=snapshot)


def test_adjustment_coverage_flag(snapshot):
    p = load_prices(["688519"], "2025-11-01", "2025-12-31", source=snapshot)
    flags = p.series("688519")["adj_complete"]
    assert flags.loc["2025-11-21"] and not flags.loc["2025-11-24"]


def test_whole_market_week_matches_single_symbol_path(snapshot):
    table = week_returns_all("2025-06-27", snapshot).set_index("code")
    assert len(table) > 2000
    assert (table["status"] == "ok").mean() > 0.95
    assert table.loc["603228", "return_pct"] == pytest.approx(_week_return(snapshot, "603228"), abs=1e-6)
    # 002130 went ex-dividend on 2025-06-23; the report prints +4.49%
    assert round(table.loc["002130", "return_pct"], 2) == 4.49
