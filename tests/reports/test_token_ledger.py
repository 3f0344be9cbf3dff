"""Notebook 03 through the runner, as of the report and today."""

import json

import pandas as pd
import pytest

from tokenwatch.run.cli import main
from tokenwatch.tokens import (
    load_ledger,
)


@pytest.mark.notebook
def test_token_ledger_notebook_runs_as_of_the_report_and_today(tmp_path):
    code = main(["run", "token_ledger", "--out", str(tmp_path), "--no-progress",
                 "--sweep", "as_of=2025-06-30,today,2025-02-30"])
    assert code == 1  # the impossible date fails alone
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str)
    assert (runs["status"] == "ok").sum() == 2
    assert "as_of='2025-02-30' is not a date" in runs.loc[runs["status"] == "failed", "error"].iloc[0]
    report = tmp_path / "token_ledger" / "as_of=2025-06-30"
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["verdicts"]["overseas_30x_room"] == "unit error"
    per_day_table = pd.read_csv(report / "ledger_per_day.csv")
    assert pd.to_datetime(per_day_table["disclosed_on"]).max() <= pd.Timestamp("2025-06-30")
    claims = pd.read_csv(report / "claims_check.csv")
    assert list(claims.columns[:9]) == ["claim", "report_value", "report_unit", "verified_value", "verified_unit",
                                        "per_day_report", "per_day_verified", "verdict", "reason"]
    today = json.loads((tmp_path / "token_ledger" / "as_of=today" / "summary.json").read_text(encoding="utf-8"))
    assert today["disclosures"] == len(load_ledger())
