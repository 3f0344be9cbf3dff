"""Rally replay: event sessions, the event study by hand, break tests on synthetic data, phases on the snapshot."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tokenwatch.errors import DataValidationError, OutOfRangeError, ParameterError
from tokenwatch.events import load_events, reacting_session
from tokenwatch.methods import breaks, eventstudy
from tokenwatch.methods import phases as rally
from tokenwatch.paths import data_dir
from tokenwatch.run.cli import main

US_DAYS = pd.DatetimeIndex(["2025-05-16", "2025-05-19", "2025-05-20", "2025-05-21", "2025-05-22", "2025-05-23",
                            "2025-05-27"])  # Memorial Day 2025-05-26


@pytest.mark.parametrize(("local", "tz", "market", "expected"), [
    ("2025-05-20 13:00", "America/New_York", "us", "2025-05-20"),   # intraday: the same session
    ("2025-05-20 16:00", "America/New_York", "us", "2025-05-21"),   # at the close: the next session
    ("2025-05-20 10:00", "America/Los_Angeles", "us", "2025-05-20"),  # Google I/O keynote, 13:00 ET
    ("2025-05-21 01:00", "Asia/Shanghai", "us", "2025-05-20"),       # the same moment in Beijing time
    ("2025-05-21 09:00", "Asia/Shanghai", "us", "2025-05-21"),       # 21:00 ET on the 20th: after the close
    ("2025-05-19 11:00", "Asia/Taipei", "us", "2025-05-19"),          # Computex: Sunday night in New York
    ("2025-05-23 17:00", "America/New_York", "us", "2025-05-27"),   # Friday after the close, over a holiday
    ("2025-05-20 17:00", "America/New_York", "cn", "2025-05-21"),   # a US evening reaches Shanghai next day
])
def test_an_event_maps_to_the_first_session_that_closes_after_it(local, tz, market, expected):
    moment = pd.Timestamp(local).tz_localize(tz)
    days = US_DAYS if market == "us" else pd.DatetimeIndex(["2025-05-20", "2025-05-21", "2025-05-22"])
    assert reacting_session(moment, market, days) == pd.Timestamp(expected)


def test_an_event_after_the_data_is_refused():
    with pytest.raises(OutOfRangeError, match="no us session after"):
        reacting_session(pd.Timestamp("2025-06-02 12:00").tz_localize("America/New_York"), "us", US_DAYS)


def test_the_shipped_events_load_and_a_bad_row_is_named(tmp_path):
    events = load_events()
    assert events["source_url"].str.startswith("http").all()
    post = events[(events["session"] == "post") & (events["time_local"] == "")]
    assert len(post) and all(m.tz_convert("America/New_York").hour == 16 for m in post["moment"])
    frame = pd.read_csv(data_dir() / "events.csv", dtype=str, keep_default_na=False)
    frame.loc[3, "tz"] = "Beijing"
    frame.to_csv(tmp_path / "events.csv", index=False)
    with pytest.raises(DataValidationError, match="line 5 .*time zone 'Beijing'"):
        load_events(tmp_path / "events.csv")


def test_event_study_matches_a_hand_computation():
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2025-01-01", periods=40)
    market = pd.Series(rng.normal(0, 0.01, 40), index=days)
    stock = 0.001 + 1.5 * market + pd.Series(rng.normal(0, 0.005, 40), index=days)
    stock.iloc[35] += 0.05  # the event day
    returns = stock.to_frame("X")
    events = pd.DataFrame({"date": [days[35]], "session_date": [days[35]], "entity": ["E"], "category": ["tokens"],
                           "headline": ["h"]})
    study = eventstudy.run(returns, market, events, [(-1, 1)], estimation_length=30)
    # by hand: OLS over the 30 sessions before the window (days 4..33), CAR over days 34..36
    est = slice(4, 34)
    x, y = market.iloc[est].to_numpy(), stock.iloc[est].to_numpy()
    beta = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    alpha = y.mean() - beta * x.mean()
    s2 = ((y - alpha - beta * x) ** 2).sum() / (30 - 2)
    xw, yw = market.iloc[34:37].to_numpy(), stock.iloc[34:37].to_numpy()
    car = (yw - alpha - beta * xw).sum()
    var = s2 * (3 + 9 / 30 + (xw.sum() - 3 * x.mean()) ** 2 / ((x - x.mean()) ** 2).sum())
    row = study.results.iloc[0]
    assert list(study.estimation) == list(days[est])
    assert row["car_pct"] == pytest.approx(100 * car)
    assert row["t_stat"] == pytest.approx(car / np.sqrt(var))
    assert row["car_pct"] > 4 and row["p_value"] < 0.001
    assert study.models.iloc[0]["beta"] == pytest.approx(beta)


def test_event_study_refuses_an_estimation_window_over_the_events():
    days = pd.bdate_range("2025-01-01", periods=60)
    r = pd.Series(np.linspace(-0.01, 0.01, 60), index=days)
    events = pd.DataFrame({"date": [days[50]], "session_date": [days[50]], "entity": ["E"], "category": ["c"],
                           "headline": ["h"]})
    with pytest.raises(ParameterError, match="overlaps the events"):
        eventstudy.run(r.to_frame("X"), r, events, [(-1, 1)], 30, estimation_end=days[49])
    with pytest.raises(OutOfRangeError, match="only 50 sessions before"):
        eventstudy.run(r.to_frame("X"), r, events, [(0, 1)], 55)
    with pytest.raises(ParameterError, match="starts after it ends"):
        eventstudy.parse_windows([[2, 1]])


def test_chow_matches_an_ols_with_a_step_dummy():
    rng = np.random.default_rng(1)
    idx = pd.bdate_range("2025-01-01", periods=80)
    y = pd.Series(rng.normal(0, 1, 80), index=idx, name="y")
    res = breaks.chow(y, idx[30])
    fit = sm.OLS(y.to_numpy(), sm.add_constant((np.arange(80) >= 30).astype(float))).fit()
    assert res.statistic == pytest.approx(fit.tvalues[1] ** 2)
    assert res.p_value == pytest.approx(fit.pvalues[1])


def test_the_break_search_finds_a_known_break_and_none_without_one():
    rng = np.random.default_rng(2025)
    idx = pd.bdate_range("2025-01-01", periods=120)
    noise = rng.normal(0, 1, 120)
    shifted = pd.Series(noise + np.where(np.arange(120) >= 70, 1.2, 0.0), index=idx, name="with a break")
    found = breaks.sup_f(shifted, permutations=1999)
    assert found.p_value < 0.01 and found.statistic > found.critical_value
    assert found.lower <= idx[70] <= found.upper and abs(idx.get_loc(found.break_date) - 70) <= 5
    flat = breaks.sup_f(pd.Series(noise, index=idx, name="no break"), permutations=1999)
    assert flat.p_value > 0.05 and flat.statistic < flat.critical_value
    given = breaks.chow(pd.Series(noise, index=idx, name="no break"), idx[70])
    assert "finds no significant break" in breaks.verdict(flat, given)
    assert "lies inside that band" in breaks.verdict(found, breaks.chow(shifted, idx[70]))


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


@pytest.mark.notebook
def test_rally_replay_runs_and_reports_nvda_and_the_break(snapshot, tmp_path):
    code = main(["run", "rally_replay", "--out", str(tmp_path), "--no-progress",
                 "--sweep", "benchmark=GSPC,SPY,ZZZZ"])
    assert code == 1
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str)
    assert (runs["status"] == "ok").sum() == 2
    assert "ZZZZ" in runs.loc[runs["status"] == "failed", "error"].iloc[0]
    run = tmp_path / "rally_replay" / "benchmark=GSPC"
    phases = pd.read_csv(run / "phase_returns.csv")
    nvda = phases[(phases["symbol"] == "NVDA") & (phases["phase"] == "whole window")].iloc[0]
    assert (nvda["start"], nvda["end"]) == ("2025-04-08", "2025-06-27")
    assert nvda["return_pct"] == pytest.approx(63.8, abs=0.05)
    us = phases[(phases["market"] == "us") & phases["phase"].isin(rally.PHASES)]
    for sym, part in us.groupby("symbol"):
        whole = phases[(phases["symbol"] == sym) & (phases["phase"] == "whole window")]["return_pct"].iloc[0]
        assert 100 * ((1 + part["return_pct"] / 100).prod() - 1) == pytest.approx(whole)
    events = pd.read_csv(run / "event_study.csv")
    assert events[["car_pct", "t_stat", "p_value"]].notna().all().all()
    assert not (events["category"] == "market").any()
    assert set(events["window"]) == {"[-1,+1]", "[+0,+5]"}
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["phases"]["phase 2"]["from_close"] == "2025-05-20"
    assert summary["report_break_date"] == "2025-05-21"
    assert isinstance(summary["break_agrees_with_report"], bool)
    assert summary["break_verdict"].startswith("Yes" if summary["break_agrees_with_report"] else "No")
    assert "2025-05-21" in summary["break_statement"]
    methods = pd.read_csv(run / "breaks.csv")["method"]
    assert {m.split(" ")[0].rstrip(":,") for m in methods} == {"Chow", "sup-F", "Bai-Perron"}


@pytest.mark.notebook
def test_rally_replay_gives_a_notice_for_an_event_past_the_prices(snapshot, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(data_dir(), data)
    with (data / "events.csv").open("a", encoding="utf-8") as fh:
        fh.write("2031-01-06,,America/New_York,post,US,phase2,tokens,Test Co,A future event,,t,https://example.com,"
                 "q,high\n")
    monkeypatch.setenv("TOKENWATCH_DATA", str(data))
    assert main(["run", "rally_replay", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "out" / "rally_replay" / "summary.json").read_text(encoding="utf-8"))
    assert any("Test Co" in n and "no us session after" in n for n in summary["notices"])


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


def test_bai_perron_finds_two_planted_breaks_and_none_in_noise():
    rng = np.random.default_rng(8)
    idx = pd.bdate_range("2025-01-01", periods=150)
    noise = rng.normal(0, 1, 150)
    steps = np.select([np.arange(150) < 50, np.arange(150) < 100], [0.0, 2.0], -1.0)
    found = breaks.bai_perron(pd.Series(noise + steps, index=idx, name="two breaks"))
    assert len(found) == 2
    for res, k in zip(found, (50, 100), strict=True):
        assert res.lower <= idx[k] <= res.upper and abs(idx.get_loc(res.break_date) - k) <= 3
    assert breaks.bai_perron(pd.Series(noise, index=idx, name="noise")) == []


def test_category_means_and_per_event_means_by_hand():
    results = pd.DataFrame({
        "event_date": ["d1"] * 2 + ["d2"] * 2 + ["d3"] * 2, "session_date": ["s1"] * 2 + ["s2"] * 2 + ["s3"] * 2,
        "entity": ["a", "a", "b", "b", "c", "c"], "category": ["tokens"] * 4 + ["capex"] * 2,
        "headline": "h", "symbol": ["X", "Y"] * 3, "window": "[-1,+1]",
        "car_pct": [1.0, 3.0, 2.0, 6.0, -1.0, 1.0], "t_stat": 0.0, "p_value": 1.0})
    means = eventstudy.category_means(results).set_index("category")
    cars = np.array([1.0, 3.0, 2.0, 6.0])
    assert means.loc["tokens", "mean_car_pct"] == pytest.approx(3.0)
    assert means.loc["tokens", "t_stat"] == pytest.approx(3.0 / (cars.std(ddof=1) / 2))
    assert (means.loc["tokens", "events"], means.loc["tokens", "observations"]) == (2, 4)
    assert means.loc["capex", "share_positive"] == 0.5
    per_event = eventstudy.by_event(results)["[-1,+1]"]
    assert per_event.tolist() == [2.0, 4.0, 0.0]


def test_leaders_rank_by_excess_return_in_each_phase():
    table = pd.DataFrame({"symbol": ["A", "B", "C", "D"] * 2, "phase": ["phase 1"] * 4 + ["phase 2"] * 4,
                          "excess_pct": [5.0, 1.0, 9.0, -2.0, 0.0, 7.0, 3.0, 8.0]})
    assert rally.leaders(table) == {"phase 1": ["C", "A", "B"], "phase 2": ["D", "B", "C"]}
