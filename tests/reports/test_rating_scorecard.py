"""Notebook 07 through the runner on the snapshot."""

import json

import pandas as pd
import pytest

from tokenwatch.methods import rating
from tokenwatch.run.cli import main


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


def test_a_horizon_beyond_ten_years_is_refused_with_its_reason():
    from tokenwatch.errors import ParameterError
    from tokenwatch.reports.rating_scorecard import _horizon

    assert _horizon("horizon_months", 12) == 12
    with pytest.raises(ParameterError, match="horizon_months=100000 is beyond 120 months"):
        _horizon("horizon_months", 100000)
