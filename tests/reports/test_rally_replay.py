"""Notebook 02 through the runner on the snapshot."""

import json
import shutil

import pandas as pd
import pytest

from tokenwatch.methods import phases as rally
from tokenwatch.paths import data_dir
from tokenwatch.run.cli import main


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
    findings = (run / "findings.md").read_text(encoding="utf-8")
    assert f"NVDA over the whole window: {nvda['return_pct']:+.2f}%." in findings
    assert "No: the data do not support a break" in findings
    every = pd.read_csv(run / "event_tests.csv")
    tests = every[(every["sample"] == "all sessions") & (every["model"] == "market model")
                  & (every["period"] == "event window")]
    parametric = tests[~tests["test"].str.startswith(("placebo", "cluster"))]
    wide = parametric.pivot_table(index=["category", "window"], columns="test", values="statistic")
    assert wide.notna().all().all() and len(wide.columns) == 5
    # the placebo and adjusted p beside them, a model estimated before the first event (and its pre-event window)
    assert tests["test"].str.startswith("placebo").any() and (every["p_adjusted"] >= every["p_value"]).all()
    models = pd.read_csv(run / "event_models.csv")
    first = pd.read_csv(run / "event_sessions.csv")["session_date"].min()
    assert len(models) == 10 and (models["estimation_end"] < first).all()
    assert "placebo p = " in (run / "findings.md").read_text(encoding="utf-8")
    # symbols share each session's shock (positive mean residual correlation): the adjustment only shrinks BMP
    assert (wide["Kolari-Pynnonen BMP"].abs() <= wide["BMP"].abs() + 1e-12).all()
    by_cat = pd.read_csv(run / "event_study_by_category.csv").set_index(["category", "window"])
    t_rows = parametric[parametric["test"] == "t (cross-section)"].set_index(["category", "window"])
    assert (t_rows["sessions"] == by_cat.loc[t_rows.index, "events"]).all()
    us = phases[(phases["market"] == "us") & phases["phase"].isin(rally.PHASES)]
    for sym, part in us.groupby("symbol"):
        whole = phases[(phases["symbol"] == sym) & (phases["phase"] == "whole window")]["return_pct"].iloc[0]
        assert 100 * ((1 + part["return_pct"] / 100).prod() - 1) == pytest.approx(whole)
    events = pd.read_csv(run / "event_study.csv")
    assert events[["car_pct", "t_stat", "p_value"]].notna().all().all()
    assert not (events["category"] == "market").any()
    assert set(events["window"]) == {"[-1,+1]", "[+0,+5]", "[-10,-1]"}
    # confounding: clean sessions only carry one category; the decomposition counts each session once
    sessions = pd.read_csv(run / "event_sessions.csv")
    assert (sessions["confounded"] == sessions["categories"].str.contains("+", regex=False)).all()
    assert sessions["session_date"].is_unique
    clean = every[every["sample"] == "clean sessions"]
    assert "tokens" not in set(clean["category"])  # all three token sessions share capex or earnings news
    dec = pd.read_csv(run / "event_decomposition.csv").set_index(["category", "window"])
    assert dec.loc[("tokens", "[+0,+5]"), "clean_sessions"] == 0 and dec.loc[("tokens", "[+0,+5]"), "sessions"] == 3
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    # the clock rule: Google I/O (13:00 ET on 2025-05-20) first moves the 2025-05-20 session
    assert summary["phases"]["phase 2"]["from_close"] == "2025-05-19"
    assert summary["phase2_start"] == "2025-05-20" and summary["report_break_date"] == "2025-05-21"
    bounds = pd.read_csv(run / "phase_boundaries.csv").set_index("boundary")
    assert bounds.loc["the clock rule", ["nvda_phase1_pct", "nvda_phase2_pct"]].tolist() == pytest.approx(
        [39.9, 16.4], abs=0.05)
    assert bounds.loc["the report's own date", ["nvda_phase1_pct", "nvda_phase2_pct"]].tolist() == pytest.approx(
        [38.7, 17.4], abs=0.05)
    assert isinstance(summary["break_agrees_with_report"], bool)
    assert summary["break_verdict"].startswith("Yes" if summary["break_agrees_with_report"] else "No")
    assert "2025-05-20" in summary["break_statement"]
    table = pd.read_csv(run / "breaks.csv")
    assert {m.split(" ")[0].rstrip(":,") for m in table["method"]} == {"Chow", "sup-F", "Bai-Perron", "OLS-CUSUM",
                                                                       "recursive"}
    assert table["verdict"].notna().all() and table["method"].str.contains("report's own date").sum() == 1


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
