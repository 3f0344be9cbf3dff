"""Rally phases: boundaries, phase returns, the mirror's clock, leaders."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.methods import phases as rally


def test_phase_boundaries_partition_the_window():
    days = pd.bdate_range("2025-04-01", "2025-06-30")
    b = rally.phase_boundaries(days, pd.Timestamp("2025-04-08"), pd.Timestamp("2025-06-27"),
                               pd.Timestamp("2025-04-22"), pd.Timestamp("2025-05-21"))
    assert [d.date().isoformat() for d in b.closes] == ["2025-04-08", "2025-04-21", "2025-05-20", "2025-06-27"]
    with pytest.raises(ParameterError, match="must run start < phase1_start"):
        rally.phase_boundaries(days, pd.Timestamp("2025-05-08"), pd.Timestamp("2025-06-27"),
                               pd.Timestamp("2025-04-22"), pd.Timestamp("2025-05-21"))
    closes = pd.DataFrame({"A": np.linspace(100, 150, len(days)), "B": np.linspace(100, 90, len(days))}, index=days)
    table = rally.phase_returns(closes, "B", b)
    growth = (1 + table[table["phase"].isin(rally.PHASES)]["return_pct"] / 100).prod()
    assert 100 * (growth - 1) == pytest.approx(table.loc[table["phase"] == "whole window", "return_pct"].iloc[0])
    assert rally.max_drawdown(pd.Series([100.0, 120.0, 90.0, 130.0])) == pytest.approx(-25.0)


def test_the_a_share_mirror_keeps_the_clock():
    us = pd.DatetimeIndex(["2025-05-16", "2025-05-19", "2025-05-20", "2025-05-21", "2025-05-22", "2025-05-23",
                           "2025-05-27"])
    cn = pd.DatetimeIndex(["2025-05-16", "2025-05-19", "2025-05-20", "2025-05-21", "2025-05-22", "2025-05-23",
                           "2025-05-26", "2025-05-27"])
    b = rally.Boundaries(tuple(pd.Timestamp(d) for d in ("2025-05-16", "2025-05-19", "2025-05-20", "2025-05-23")))
    mirror = rally.mirror_boundaries(b, us, cn)
    # the US close of the 20th first reaches Shanghai on the 21st: the A-share phase starts from the 21st's close,
    # so its first return (the 22nd) trades on the US session of the 21st, the US phase's first return
    assert [d.date().isoformat() for d in mirror.closes] == ["2025-05-19", "2025-05-20", "2025-05-21",
                                                            "2025-05-27"]  # US holiday on the 26th


def test_leaders_rank_by_excess_return_in_each_phase():
    table = pd.DataFrame({"symbol": ["A", "B", "C", "D"] * 2, "phase": ["phase 1"] * 4 + ["phase 2"] * 4,
                          "excess_pct": [5.0, 1.0, 9.0, -2.0, 0.0, 7.0, 3.0, 8.0]})
    assert rally.leaders(table) == {"phase 1": ["C", "A", "B"], "phase 2": ["D", "B", "C"]}
