"""Rating bands at every edge, and scores whose horizon runs past the data."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.methods import rating
from tokenwatch.paths import data_dir

BANDS = rating.load_bands()


@pytest.mark.parametrize(("kind", "relative", "band"), [
    ("industry", 5.0, "中性"), ("industry", 5.000001, "增持"), ("industry", 40.0, "增持"),
    ("industry", -5.0, "中性"), ("industry", -5.000001, "减持"), ("industry", 0.0, "中性"),
    ("company", 15.0, "增持"), ("company", 15.000001, "买入"), ("company", 5.0, "中性"),
    ("company", 5.000001, "增持"), ("company", -5.0, "中性"), ("company", -5.000001, "减持"),
    ("company", -15.0, "减持"), ("company", -15.000001, "卖出"), ("company", -80.0, "卖出"),
])
def test_bands_at_every_edge(kind, relative, band):
    assert rating.band_of(relative, kind, BANDS) == band


def test_band_file_must_tile_the_line(tmp_path):
    bands = pd.read_csv(data_dir() / "rating_bands.csv", dtype=str)
    bands.loc[(bands["kind"] == "industry") & (bands["rating"] == "中性"), "lower_inclusive"] = "false"
    bands.to_csv(tmp_path / "bands.csv", index=False)
    with pytest.raises(DataValidationError, match="must meet at one edge"):
        rating.load_bands(tmp_path / "bands.csv")
    assert rating.rating_name("overweight", "industry", BANDS) == "增持"
    with pytest.raises(ParameterError, match="not among the industry ratings; use one of 增持"):
        rating.rating_name("buy", "industry", BANDS)


def test_a_score_says_when_the_horizon_runs_past_the_data():
    days = pd.bdate_range("2025-06-27", periods=30)
    subject = pd.Series(np.linspace(100, 112, 30), index=days)
    bench = pd.Series(np.linspace(100, 101, 30), index=days)
    s = rating.score(subject, bench, pd.Timestamp("2025-06-30"), 6, "增持", "industry", BANDS, "X")
    assert s.row["call_date"] == pd.Timestamp("2025-06-30").date() and not s.row["complete"]
    assert "data end" in s.partial
    expected = 100 * (112 / subject.loc["2025-06-30"] - 1) - 100 * (101 / bench.loc["2025-06-30"] - 1)
    assert s.row["relative_pct"] == pytest.approx(expected) and s.row["band"] == "增持" and s.row["held"]
