"""Notebooks 04 and 05 through the runner, by parameter."""

import json

import numpy as np
import pandas as pd
import pytest

from tokenwatch.methods import compute
from tokenwatch.methods import projection as P
from tokenwatch.run.cli import main


@pytest.mark.notebook
def test_projection_and_compute_notebooks_run_by_parameter(tmp_path):
    out = tmp_path / "runs"
    code = main(["run", "token_projection", "--out", str(out), "--no-progress", "-p", "paths", "2000",
                 "--sweep", "series=doubao,google-surfaces,baidu-ernie"])
    assert code == 1  # baidu-ernie has one disclosure
    runs = pd.read_csv(out / "runs.csv", dtype=str)
    assert "has 1 disclosure" in runs.loc[runs["status"] == "failed", "error"].iloc[0]
    doubao = out / "token_projection" / "series=doubao"
    bt = pd.read_csv(doubao / "backtest.csv")
    assert set(bt["model"]) == set(P.MODELS) and bt[["log_error", "p50"]].notna().all().all()
    proj = pd.read_csv(doubao / "projection.csv")
    assert list(proj.columns) == P.PROJECTION_COLUMNS
    assert (proj["p10"] <= proj["p50"]).all() and (proj["p50"] <= proj["p90"]).all()
    summary = json.loads((doubao / "summary.json").read_text(encoding="utf-8"))
    assert summary["chosen"]["model"] in P.MODELS and summary["reference"]["id"] == "doubao-2025-05"
    assert main(["run", "token_projection", "--out", str(out / "nda"), "--no-progress", "-p", "series", "china-nda",
                 "-p", "cutoff", ""]) == 0
    assert main(["run", "tokens_to_compute", "--out", str(out / "c"), "--no-progress",
                 "-p", "projection_dir", str(doubao)]) == 0
    demand = pd.read_csv(out / "c" / "tokens_to_compute" / "compute_demand.csv")
    assert list(demand.columns) == compute.DEMAND_COLUMNS and (demand["accelerators"] > 0).all()
    chosen = proj[(proj["model"] == summary["chosen"]["model"])]
    assert np.allclose(np.sort(demand["tokens_per_day"]), np.sort(chosen["p50"]))
