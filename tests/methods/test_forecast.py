"""The live forecast: caps by a whole, interpolation, the archive and scoring it later."""

import numpy as np
import pandas as pd
import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.methods import backtest as B
from tokenwatch.methods import forecast as F
from tokenwatch.methods import projection as P
from tokenwatch.tokens import ledger_path, load_ledger

Q = list(P.QUANTILES)


def _table(series: str, dates: list[str], p50: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame({"series": series, "model": B.ENSEMBLE, "scenario": B.ALL, "date": pd.to_datetime(dates),
                          "calibrated": True, "at_bound": "", "capped_by": ""})
    for q, mult in zip(Q, [0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0], strict=True):
        frame[q] = np.array(p50) * mult
    return frame[F.PROJECTION_COLUMNS]


def test_a_part_is_capped_quantile_by_quantile_by_its_whole_and_flagged():
    part = _table("doubao", ["2025-12-31", "2026-03-31", "2026-06-30"], [50, 80, 120])
    whole = _table("china-nda", ["2025-12-31", "2026-06-30"], [100, 100])
    out = F.cap_by(part, whole, "china-nda", after=pd.Timestamp("2025-12-31"))
    assert out.loc[0, "capped_by"] == "" and out.loc[0, "p95"] == 200  # not after the latest disclosure
    assert out.loc[1, "capped_by"] == "" and out.loc[1, "p95"] == 320 and out.loc[1, "p95"] < 400
    row = out.loc[2]
    assert row["capped_by"] == "china-nda" and row["p05"] == pytest.approx(25)  # 0.25 x 120 = 30, over the 25
    np.testing.assert_allclose(row[["p50", "p95"]].to_numpy(float), [100, 400])  # the whole's, on 2026-06-30
    assert (out[Q].diff(axis=1).iloc[:, 1:] >= 0).all().all()  # quantiles stay ordered


def test_the_ledger_says_which_series_is_a_part_of_which():
    parts = F.load_parts()
    assert F.whole_of("doubao", parts) == "china-nda" and F.whole_of("china-nda", parts) is None
    assert (parts["source"] != "").all()


def test_interpolation_is_linear_in_log_between_grid_dates():
    t = _table("x", ["2026-01-01", "2026-01-11"], [1.0, 100.0])
    got = F.interpolate_quantiles(t, pd.Series(pd.to_datetime(["2026-01-06", "2025-12-01"])))
    assert got.loc[0, "p50"] == pytest.approx(10.0) and np.isnan(got.loc[1, "p50"])


def test_an_archived_forecast_is_scored_on_what_was_disclosed_after_it():
    ledger = load_ledger()
    when = pd.Timestamp("2025-06-30")
    forecast = F.archive(_table("doubao", ["2025-06-30", "2025-12-31"], [2e13, 6e13]), when, ledger, ledger_path())
    last = ledger.loc[ledger["public_from"] <= when, "public_from"].max()  # the ledger's latest row public then
    assert forecast["vintage"].iloc[0] == last.date() and forecast["cutoff"].iloc[0] == when.date()
    assert len(forecast["ledger_sha256"].iloc[0]) == 16
    scored = F.score_forecasts(forecast, ledger)
    assert list(scored["target_id"]) == ["doubao-2025-09", "doubao-2025-12"]
    # by hand: 2025-09-30 is 92 of 184 days along, so p50 = 2e13 * 3 ** (92 / 184)
    first = scored.iloc[0]
    assert first["p50"] == pytest.approx(2e13 * 3 ** (92 / 184), rel=1e-9)
    assert first["log_error"] == pytest.approx(np.log(3e13 / first["p50"]))
    assert bool(first["in_50"]) == (0.8 * first["p50"] <= 3e13 <= 1.25 * first["p50"])
    summary = F.score_summary(scored)
    assert summary.loc[0, "cells"] == 2
    with pytest.raises(ParameterError, match="not a tokenwatch forecast.csv"):
        F.score_forecasts(forecast.drop(columns="vintage"), ledger)


def test_the_supply_check_grows_epochs_bound_by_hand():
    bounds = F.load_supply_bounds()
    row = bounds.iloc[0]
    assert row["low"] == 5e8 and row["high"] == 2e10 and row["source_url"].startswith("https://epochai")
    head = _table("x", ["2025-11-15", "2026-11-15"], [1e14, 1e17])
    cap = F.capacity_check(head, bounds)
    # 2e10 output tokens a second is 1.728e15 a day at 2025-11-15, three times that a year (365 days) later
    assert cap.loc[0, "bound_high"] == pytest.approx(2e10 * 86_400)
    assert cap.loc[1, "bound_high"] == pytest.approx(2e10 * 86_400 * 3 ** (365 / 365.25))
    assert list(cap["p50_above"]) == [False, True]


def test_a_band_stops_at_the_anchor_unless_the_backtest_saw_falls():
    errors, spread = np.array([-1.0, 0.0, 1.0, 2.0]), np.ones(4)
    no_falls = B.fit_band(errors, spread, falls=np.array([0.1, 0.2, 0.3, 0.4]))
    q = no_falls.quantiles(np.array([1.0]), np.array([0.5]), anchor=np.array([1.0]))
    assert q.min() == pytest.approx(1.0)  # the lower quantiles would go below the anchor: they stop there
    falls = B.fit_band(errors, spread, falls=np.array([-0.3, 0.2, 0.3, 0.4]))
    assert falls.quantiles(np.array([1.0]), np.array([0.5]), anchor=np.array([1.0])).min() == pytest.approx(0.7)


def test_each_lower_quantile_falls_only_as_often_as_the_backtest_saw_falls():
    # 19 changes, one fall of 0.5: k = floor(tau * 20) gives the 1st smallest at p05, the 2nd at p10 (a rise)
    changes = np.array([-0.5, *np.linspace(0.1, 1.0, 18)])
    floors = B.fit_band(np.zeros(19), np.ones(19), falls=changes).floors
    assert floors[0.05] == pytest.approx(-0.5) and floors[0.10] == 0.0 and floors[0.25] == 0.0
    band = B.Band(centre=0.0, half={0.5: 1.0, 0.8: 2.0, 0.9: 3.0}, n=19, floors=floors)
    # median 2 from anchor 1 in half a year: spread 1, so p05 = -1, p10 = 0, p25 = 1 before their floors
    q = dict(zip(P.QUANTILES, band.quantiles(np.array([2.0]), np.array([0.5]), anchor=np.array([1.0]))[0],
                 strict=True))
    assert q["p05"] == pytest.approx(0.5) and q["p10"] == pytest.approx(1.0) and q["p25"] == pytest.approx(1.0)
    assert q["p75"] == pytest.approx(3.0) and q["p95"] == pytest.approx(5.0)  # upper ones: median + half x spread
    assert B.fall_floors(np.array([0.2, 0.3])) == {0.05: 0.0, 0.10: 0.0, 0.25: 0.0}


def test_the_spread_adds_a_disclosures_scatter_in_quadrature():
    # growth 0.4 over half a year (above the floor log 2 x 0.5 = 0.347), scatter 0.3: sqrt(0.16 + 0.09) = 0.5
    assert B.spread(np.array([1.4]), 1.0, np.array([0.5]), noise=0.3)[0] == pytest.approx(0.5)
    # no growth: the floor log 2 x h, then the scatter
    assert B.spread(np.array([1.0]), 1.0, np.array([0.5]))[0] == pytest.approx(np.log(2) / 2)
    band = B.fit_band(np.array([0.5, -0.5]), np.ones(2), falls=np.zeros(2), centre=False, noise=0.3)
    wide = band.quantiles(np.array([1.4]), np.array([0.5]), anchor=np.array([1.0]))[0]
    assert wide[-1] - 1.4 == pytest.approx(band.half[0.9] * 0.5)  # p95: median + half x sqrt(0.4^2 + 0.3^2)


def test_a_whole_is_raised_to_what_its_parts_disclosed_after_its_own_last_disclosure():
    table = _table("whole", ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"], [5.0, 6.0, 7.0, 20.0])
    parts = pd.DataFrame({"part": ["a", "b", "elsewhere"], "whole": ["whole", "whole", "other"]})
    observed = {"a": pd.DataFrame({"id": ["a1", "a2"], "date": pd.to_datetime(["2026-01-15", "2026-03-15"]),
                                   "tokens_per_day": [9.0, 8.0]}),
                "b": pd.DataFrame({"id": ["b1"], "date": pd.to_datetime(["2026-03-01"]), "tokens_per_day": [12.0]}),
                "elsewhere": pd.DataFrame({"id": ["e1"], "date": pd.to_datetime(["2026-01-01"]),
                                           "tokens_per_day": [99.0]})}
    out, raised = F.raise_to_parts(table, "whole", parts, observed, after=pd.Timestamp("2026-01-31"))
    # 2026-01-31 is not after; Feb: a1 (9) so far; Mar: b1 (12) beats the later a2 (8); Apr: p05 5 and p10 10 go to 12
    assert list(out["p05"]) == [table["p05"].iloc[0], 9.0, 12.0, 12.0]
    assert out["p95"].iloc[3] == table["p95"].iloc[3]  # what is already above stays
    assert list(raised["part_id"]) == ["a1", "b1", "b1"] and raised["quantiles"].iloc[0].startswith("p05")
    assert (out[list(P.QUANTILES)].diff(axis=1).iloc[:, 1:] >= 0).all().all()
    same, none = F.raise_to_parts(table, "nothing", parts, observed, after=pd.Timestamp("2026-01-31"))
    assert same is table and none.empty


def test_the_headline_is_naive_when_the_ensemble_does_not_beat_it():
    cells = pd.DataFrame({"series": ["a", "a", "b"], "cutoff": pd.to_datetime(["2025-01-01"] * 3),
                          "target_id": ["t1", "t2", "t3"]})
    ens = cells.assign(model=B.ENSEMBLE, scenario=B.ALL, log_error=[0.5, -0.6, 0.7])
    naive = cells.assign(model=B.NAIVE, scenario="", log_error=[0.2, 0.1, -0.9])
    choice, skill = B.headline_choice(pd.concat([ens, naive], ignore_index=True))
    assert choice == B.NAIVE and skill["median_abs_log_error"] == 0.6 and skill["naive_median_abs_log_error"] == 0.2
    assert skill["wins"] == 1 and skill["cells"] == 3
    better = ens.assign(log_error=[0.1, 0.1, 0.1])
    assert B.headline_choice(pd.concat([better, naive], ignore_index=True))[0] == B.ENSEMBLE


def test_the_history_steps_through_the_latest_disclosures_each_seeing_only_what_was_public():
    full = load_ledger()
    pool = B.forecast_cells(full)
    obs = P.observations(full, "doubao")
    when = pd.Timestamp("2026-12-01")
    dates = list(pd.to_datetime(["2026-06-30"]))
    h = F.headline_history(full, "doubao", when, pd.Timestamp("2027-12-31"), dates, pool, B.ENSEMBLE, count=2)
    last_two = obs["public_from"].iloc[-2:]
    assert list(h["vintage"]) == [*(d - pd.Timedelta(days=1) for d in last_two), when]
    assert list(h["added"]) == ["", obs["id"].iloc[-2], obs["id"].iloc[-1]]  # the row each step adds
    # scored as the backtest is, on disclosures made public after the vintage AND dated after it: from the day
    # before doubao-2025-12 became public (2025-12-17), that one is dated 2025-12-09 (a nowcast, not scored) and
    # doubao-2026-04 (2026-03-17) is; from the day before doubao-2026-04, it is dated before: nothing
    assert h["later_disclosures"].tolist() == [1, 0, 0]
    assert (h["p10"] <= h["p50"]).all() and (h["p50"] <= h["p90"]).all()
