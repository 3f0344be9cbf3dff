"""Domestic chain and rating scorecard: bands at every edge, the basket by hand, the clock, the notebooks."""

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import grangercausalitytests

from tokenwatch.errors import DataValidationError, ParameterError
from tokenwatch.methods import baskets, clock, leadlag, rating
from tokenwatch.paths import data_dir
from tokenwatch.run.cli import main

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


def test_the_basket_index_by_hand_on_three_names_and_three_days():
    days = pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07"])
    closes = pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1],
                           "B": [20.0, 19.0, np.nan, 20.9],   # suspended on day 3, back on day 4
                           "C": [np.nan, 5.0, 5.5, 5.0]},     # listed on day 2
                          index=days)
    idx = baskets.equal_weight_index(closes)
    day2 = (0.10 - 0.05) / 2            # C has no earlier close: sits out
    day3 = (0.10 + 0.10) / 2            # B is suspended: sits out
    day4 = (0.0 + (20.9 / 19.0 - 1) + (5.0 / 5.5 - 1)) / 3  # B earns the move across its suspension
    expected = 100 * np.cumprod([1, 1 + day2, 1 + day3, 1 + day4])
    assert idx.level.to_numpy() == pytest.approx(expected)
    assert idx.members.tolist() == [2, 2, 3]
    assert idx.contributions.sum() == pytest.approx(expected[-1] - 100)
    assert idx.contributions["C"] == pytest.approx(100 * (day2 * 0 + (1 + day2) * 0.10 / 2
                                                          + (1 + day2) * (1 + day3) * (5.0 / 5.5 - 1) / 3))
    assert set(idx.gaps["member"]) == {"B", "C"}


def test_the_overseas_clock():
    us_days = pd.to_datetime(["2025-05-16", "2025-05-19", "2025-05-20", "2025-05-21", "2025-05-22", "2025-05-23",
                              "2025-05-27"])
    level = pd.Series(np.arange(1.0, 8.0), index=us_days)
    cn_days = pd.to_datetime(["2025-05-19", "2025-05-20", "2025-05-26", "2025-05-27", "2025-05-28"])
    aligned = clock.align_overseas(level, cn_days, us_days)
    # Monday 19th sees Friday 16th; the 26th (US holiday) sees Friday 23rd; the 28th sees the 27th
    assert aligned.tolist() == [1.0, 2.0, 6.0, 6.0, 7.0]
    rets = pd.Series(np.arange(10.0, 17.0), index=us_days)
    assert clock.lagged_us(rets, cn_days, 1).tolist() == [10.0, 11.0, 15.0, 15.0, 16.0]
    np.testing.assert_array_equal(clock.lagged_us(rets, cn_days, 0), [11.0, 12.0, 16.0, 16.0, np.nan])
    with pytest.raises(ParameterError, match="needs the US close before it"):
        clock.align_overseas(level.iloc[:-1], cn_days, us_days)


def test_granger_matches_statsmodels_when_the_calendars_line_up():
    rng = np.random.default_rng(3)
    us_days = pd.bdate_range("2024-01-01", periods=300)
    us = pd.Series(rng.normal(0, 1, 300), index=us_days)
    cn_days = us_days + pd.Timedelta(days=1)  # every A-share session follows exactly one US session
    y = pd.Series(0.3 * us.to_numpy() + rng.normal(0, 1, 300), index=cn_days)  # reacts to the night before
    for lags in (1, 3):
        mine = leadlag.granger_p(y.iloc[:-1], us, lags)
        data = pd.DataFrame({"y": y.to_numpy()[:-1], "x": us.to_numpy()[1:]})  # x_{t-1} = the night before
        theirs = grangercausalitytests(data, maxlag=[lags])[lags][0]["ssr_ftest"][1]
        assert mine == pytest.approx(theirs)
    table = leadlag.lead_lag(y, us)
    assert table.loc[table["correlation"].abs().idxmax(), "lag_days"] == 1
    assert table.loc[table["lag_days"] == 1, "granger_p_value"].iloc[0] < 1e-6


@pytest.mark.notebook
def test_domestic_chain_runs_with_defaults_and_another_basket(snapshot, tmp_path):
    code = main(["run", "domestic_chain", "--out", str(tmp_path), "--no-progress",
                 "-p", "start", "2025-03-03", "--sweep", "basket=report_nine,compute_chain"])
    assert code == 0
    for basket in ("report_nine", "compute_chain"):
        run = tmp_path / "domestic_chain" / f"basket={basket}"
        index = pd.read_csv(run / "basket_index.csv")
        assert list(index.columns) == ["date", "basket", "benchmark", "overseas"]
        assert index.iloc[0][["basket", "benchmark", "overseas"]].tolist() == [100.0, 100.0, 100.0]
        assert index[["basket", "benchmark", "overseas"]].notna().all().all()
        lead = pd.read_csv(run / "lead_lag.csv")
        assert list(lead.columns) == ["lag_days", "correlation", "granger_p_value"]
        assert lead.loc[lead["lag_days"] <= 0, "granger_p_value"].isna().all()
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        assert summary["start"] == "2025-03-03"
        contrib = pd.read_csv(run / "contributions.csv", dtype={"code": str})
        assert contrib["contribution_pp"].sum() == pytest.approx(index["basket"].iloc[-1] - 100)


@pytest.mark.notebook
def test_rating_scorecard_runs_with_defaults_and_another_call(snapshot, tmp_path):
    assert main(["run", "rating_scorecard", "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    run = tmp_path / "a" / "rating_scorecard"
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["subject"] == "auto" and "512760" in summary["subject_label"]
    assert any("stands in" in n for n in summary["notices"])
    card = pd.read_csv(run / "scorecard.csv", dtype=str)
    assert list(card.columns[:9]) == rating.SCORE_COLUMNS
    assert len(card) == 10 and card["band"].iloc[0] == summary["band"]
    assert main(["run", "rating_scorecard", "--out", str(tmp_path / "b"), "--no-progress",
                 "-p", "call_date", "2026-03-02", "-p", "subject", "report_nine"]) == 0
    other = json.loads((tmp_path / "b" / "rating_scorecard" / "summary.json").read_text(encoding="utf-8"))
    assert other["call_date"] == "2026-03-02" and other["complete"] is False and "data end" in other["partial"]


def test_rolling_beta_recovers_a_known_beta():
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2025-01-01", periods=200)
    us = pd.Series(rng.normal(0, 0.02, 200), index=days)
    cn = 0.5 * us + pd.Series(rng.normal(0, 0.001, 200), index=days)
    rolled = leadlag.rolling_beta(cn, us, 60).dropna()
    assert len(rolled) == 141
    assert rolled["beta"].between(0.48, 0.52).all() and (rolled["correlation"] > 0.99).all()
