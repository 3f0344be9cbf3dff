"""Notebook 06 through the runner on the snapshot."""

import json

import pandas as pd
import pytest

from tokenwatch.run.cli import main


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
