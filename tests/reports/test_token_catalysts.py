"""Notebook 08: token news on the A-share clock, through the runner on the snapshot."""

import json

import pandas as pd
import pytest

from tokenwatch.methods import eventstudy
from tokenwatch.reports import token_catalysts as C
from tokenwatch.run.cli import main

CN_DAYS = pd.DatetimeIndex(["2025-05-20", "2025-05-21", "2025-05-22", "2025-06-11", "2025-06-12"])


def snapshot_days(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The A-share sessions of the snapshot (the calendar the study counts sessions on)."""
    from tokenwatch.market import default_source

    cal = default_source().calendar("cn_index")
    return cal[(cal >= days.min()) & (cal <= days.max())]


def _ledger(rows):
    base = {"id": "x", "series": "s", "disclosed_date_precision": "day", "time_local": ""}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    return frame.assign(disclosed_date=pd.to_datetime(frame["disclosed_date"]))


def test_a_disclosure_moves_the_first_a_share_session_after_it():
    ledger = _ledger([
        {"entity": "Google", "disclosed_date": "2025-05-20", "tz": "America/New_York", "time_local": "13:00"},
        {"entity": "ByteDance", "disclosed_date": "2025-06-11", "tz": "Asia/Shanghai", "time_local": "16:00"},
        {"entity": "ByteDance", "disclosed_date": "2025-05-22", "tz": "Asia/Shanghai"},  # no time: noon, flagged
        {"entity": "ByteDance", "disclosed_date": "2025-05-22", "tz": "Asia/Shanghai", "series": "t"},  # same event
        {"entity": "Idc", "disclosed_date": "2025-06-30", "tz": "Asia/Shanghai", "disclosed_date_precision": "month"},
    ])
    events, left = C.token_events(ledger, CN_DAYS)
    by = events.set_index(["entity", "date"])["session_date"]
    assert by[("Google", pd.Timestamp("2025-05-20"))] == pd.Timestamp("2025-05-21")  # a US day: the next A-share day
    assert by[("ByteDance", pd.Timestamp("2025-06-11"))] == pd.Timestamp("2025-06-12")  # after 15:00 Beijing
    assert by[("ByteDance", pd.Timestamp("2025-05-22"))] == pd.Timestamp("2025-05-22")
    assert len(events) == 3 and events["time_assumed"].tolist() == [False, True, False]
    assert left["reason"].str.contains("precision 'month'").tolist() == [True]


@pytest.mark.notebook
def test_token_catalysts_runs_and_answers_with_its_tests(snapshot, tmp_path):
    assert main(["run", "token_catalysts", "--out", str(tmp_path), "--no-progress"]) == 0
    run = tmp_path / "token_catalysts"
    catalysts = pd.read_csv(run / "catalysts.csv")
    assert list(catalysts.columns[:len(C.CATALYST_COLUMNS)]) == C.CATALYST_COLUMNS
    assert set(catalysts["category"]) == {"tokens", "capex", "earnings"}
    assert any(c.startswith("car_pct_") and "寒武纪" in c for c in catalysts.columns)  # a named company
    tests = pd.read_csv(run / "tests.csv")
    assert {"test", "category", "window", "statistic", "p_value", "sessions"} <= set(tests.columns)
    assert set(tests["test"]) >= {"BMP", "Kolari-Pynnonen BMP", "Corrado rank", "generalized sign",
                                  eventstudy.DUMMY_TEST}
    # a market model per subject and event session, each ending at least 10 sessions before its day 0
    models = pd.read_csv(run / "models.csv", parse_dates=["session", "estimation_end"])
    assert list(models.columns) == eventstudy.MODEL_COLUMNS
    assert not models.duplicated(["subject", "session"]).any() and models["estimation_end"].nunique() >= 5
    days = pd.DatetimeIndex(sorted(set(models["estimation_end"]) | set(models["session"])))
    cn = snapshot_days(days)
    gap = cn.get_indexer(models["session"]) - cn.get_indexer(models["estimation_end"])
    assert (gap >= 11).all()
    assert (models["estimation_days"] >= 100).all()
    assert pd.read_csv(run / "left_out.csv")["reason"].str.contains("estimation window").any()
    # a placebo row per category and window; the pre-event window; adjusted p never below p
    placebo = tests[tests["test"].str.startswith("placebo")]
    windows = {"[+0,+1]", "[+0,+5]", "[-10,-1]"}
    assert {(c, w) for c, w in zip(placebo["category"], placebo["window"], strict=True)} == {
        (c, w) for c in ("tokens", "capex", "earnings") for w in windows}
    assert (tests.loc[tests["window"] == "[-10,-1]", "period"] == "pre-event").all()
    assert {"BMP", "Kolari-Pynnonen BMP", "placebo: mean CAR"} <= set(tests.loc[tests["window"] == "[-10,-1]", "test"])
    assert tests["p_adjusted"].notna().sum() == tests["p_value"].notna().sum()
    assert (tests["p_adjusted"].dropna() >= tests["p_value"].dropna()).all()
    assert {"market-adjusted", "constant mean"} <= set(tests["model"])
    assert "cluster bootstrap (event sessions)" in set(tests["test"])
    sessions = pd.read_csv(run / "sessions.csv")
    assert sessions["session_date"].is_unique and sessions["confounded"].any()
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    answer = summary["answer"]
    assert answer["window"] == "[+0,+5]" and answer["tokens"]["sessions"] >= 10
    assert summary["verdict"].startswith("Token news")
    assert "p =" in summary["verdict"] and "capex" in summary["verdict"]
    # the findings state the placebo and adjusted p beside the parametric ones, and what the answer rests on
    tok = answer["tokens"]
    row = tests[(tests["test"] == "placebo: mean CAR") & (tests["category"] == "tokens")
                & (tests["window"] == "[+0,+5]")].iloc[0]
    assert f"placebo p = {row['p_value']:.3f} (adjusted {row['p_adjusted']:.3f}" in summary["verdict"]
    assert "BMP p = " in summary["verdict"] and "rests on the placebo" in summary["verdict"]
    assert summary["verdict"].startswith("Token news moves" if row["p_adjusted"] < 0.05 else "Token news does not")
    assert tok["moves"] == (row["p_adjusted"] < 0.05)
    assert "Benjamini-Hochberg" in answer["adjustment"]
    assert summary["disagreement"].startswith("The tests")
    assert "cannot be estimated" in summary["lead_lag"]["verdict"]
    findings = (run / "findings.md").read_text(encoding="utf-8")
    assert findings.splitlines()[0] == f"- {summary['verdict']}"
