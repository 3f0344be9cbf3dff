"""Notebooks 04 and 05 through the runner, by parameter: every named series runs with its defaults."""

import json

import numpy as np
import pandas as pd
import pytest

from tokenwatch.methods import compute
from tokenwatch.methods import forecast as F
from tokenwatch.methods import projection as P
from tokenwatch.run.cli import main

SERIES = ["doubao", "china-nda", "google-surfaces", "google-api", "openrouter"]


@pytest.mark.notebook
def test_projection_defaults_run_for_every_named_series_and_compute_reads_the_headline(tmp_path):
    out = tmp_path / "runs"
    code = main(["run", "token_projection", "--out", str(out), "--no-progress",
                 "--sweep", "series=" + ",".join([*SERIES, "baidu-ernie"])])
    assert code == 1  # baidu-ernie has one disclosure
    runs = pd.read_csv(out / "runs.csv", dtype=str)
    assert "has 1 disclosure(s) public" in runs.loc[runs["status"] == "failed", "error"].iloc[0]
    for series in SERIES:
        folder = out / "token_projection" / f"series={series}"
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert summary["chosen"] in ({"model": "ensemble", "scenario": "all"}, {"model": "naive", "scenario": ""})
        cal = pd.read_csv(folder / "calibration.csv")
        assert {"nominal", "coverage", "n", "scope"} <= set(cal.columns)
        assert summary["short_series"] == (series == "google-api" and summary["observations"] < 3)
        forecast = pd.read_csv(folder / "forecast.csv", keep_default_na=False)
        assert list(forecast.columns) == F.FORECAST_COLUMNS
        head = forecast[(forecast["model"] == "ensemble") & (forecast["scenario"] == "all")]
        assert len(head) and (head["p10"].astype(float) <= head["p90"].astype(float)).all()
        assert any(k.startswith("headline ") for k in summary["headline"])
        proj = pd.read_csv(folder / "projection.csv", keep_default_na=False)
        assert list(proj.columns) == F.PROJECTION_COLUMNS
        q = proj[list(P.QUANTILES)].astype(float)
        assert (q.diff(axis=1).iloc[:, 1:] >= -1e-6 * q.iloc[:, 1:].to_numpy()).all().all()
    doubao = out / "token_projection" / "series=doubao"
    backtest = pd.read_csv(doubao / "backtest.csv", parse_dates=["cutoff", "target_date"], keep_default_na=False)
    wanted = ["series", "model", "cutoff", "target_id", "target_date", "horizon_years", "actual", "p10", "p25", "p50",
              "p75", "p90", "in_50", "in_80"]
    assert set(wanted) <= set(backtest.columns) and backtest["series"].nunique() >= 4  # pooled, not one series
    assert (backtest["target_date"] > backtest["cutoff"]).all() and (backtest["horizon_years"] <= 1.5).all()
    key = ["series", "cutoff", "target_id"]
    head = backtest[backtest["model"] == "ensemble"].set_index(key).index
    naive = backtest[backtest["model"] == "naive"].set_index(key).index
    assert len(head) > 30 and head.isin(naive).all()  # naive is scored on the headline's cells
    # no part above its whole without a flag
    proj = pd.read_csv(doubao / "projection.csv", keep_default_na=False, parse_dates=["date"])
    nda = pd.read_csv(out / "token_projection" / "series=china-nda" / "projection.csv", keep_default_na=False,
                      parse_dates=["date"])
    whole = nda[(nda["model"] == "ensemble") & (nda["scenario"] == "all")].set_index("date")["p50"].astype(float)
    part = proj[(proj["date"] > "2025-12-09") & (proj["capped_by"] == "")].set_index("date")["p50"].astype(float)
    common = part.index.intersection(whole.index)
    assert len(common) and (part.loc[common] <= whole.loc[common].reindex(part.loc[common].index) * 1.05).all()
    reach = pd.read_csv(doubao / "reach.csv")
    assert len(reach) == 2 and reach["target"].str.contains("10x").any()
    assert main(["score", str(doubao / "forecast.csv")]) == 0  # nothing public after today's vintage: says so
    assert main(["run", "tokens_to_compute", "--out", str(out / "c"), "--no-progress",
                 "-p", "projection_dir", str(doubao)]) == 0
    demand = pd.read_csv(out / "c" / "tokens_to_compute" / "compute_demand.csv")
    assert list(demand.columns) == compute.DEMAND_COLUMNS and (demand["accelerators"] > 0).all()
    by_year = pd.read_csv(out / "c" / "tokens_to_compute" / "capex_by_year.csv")
    wanted = ["year", "scenario", *(f"accelerators_{q}" for q in ("p10", "p50", "p90")),
              *(f"capex_{k}_cny_{q}" for k in ("chips", "all_in") for q in ("p10", "p50", "p90"))]
    assert set(wanted) <= set(by_year.columns) and by_year["scenario"].iloc[0] == "all"
    assert (by_year["capex_all_in_cny_p50"] > by_year["capex_chips_cny_p50"]).all()
    head = proj[(proj["model"] == "ensemble") & (proj["scenario"] == "all")]
    costed = demand[demand["scenario"] == "all"]
    assert np.allclose(np.sort(costed["tokens_per_day"]), np.sort(head["p50"].astype(float)))
    summary = json.loads((out / "c" / "tokens_to_compute" / "summary.json").read_text(encoding="utf-8"))
    mix = pd.read_csv(out / "c" / "tokens_to_compute" / "mix.csv")
    assert summary["mix_name"] == "domestic" and summary["assumptions"]["precision"] == "int8"
    assert set(mix["accelerator"]) == {"H20", "Ascend 910B"} and mix["share"].sum() == pytest.approx(1)
    routes = pd.read_csv(out / "c" / "tokens_to_compute" / "routes.csv")
    assert list(routes.columns) == compute.ROUTE_COLUMNS and (routes["accelerators_measured"] > 0).all()
    assert summary["implied_utilisation"]["decode"] < summary["implied_utilisation"]["prefill"]


def test_a_short_series_is_projected_from_the_pooled_prior_and_one_point_says_what_is_needed():
    from tokenwatch.errors import ParameterError
    from tokenwatch.reports._base import collect_notices
    from tokenwatch.reports.token_projection import project_series

    when = pd.Timestamp("2026-03-01")  # google-api had two disclosures public (2025 Q3 and Q4)
    with collect_notices() as notices:
        r = project_series("google-api", pd.Timestamp("2025-06-30"), pd.Timestamp("2027-12-31"), [], [], when=when)
    assert r.projection.short and len(r.observations) == 2
    assert any(n.startswith("short series: google-api has 2 disclosures") and "prior growth" in n for n in notices)
    assert any("cutoff 2025-06-30: no backtest of google-api starts there" in n for n in notices)
    assert "short series" in r.findings[0]
    head = r.projection.headline()
    head = head[head["date"] > r.projection.anchor["date"]]
    floor = r.observations["tokens_per_day"].iloc[-1] * np.exp(r.projection.calibration.ensemble.floor)
    assert len(head) and (head["p10"] >= floor * 0.999).all()  # no lower than the largest fall seen
    with pytest.raises(ParameterError, match="needs two dated disclosures of one series"):
        project_series("openai-api", "auto", pd.Timestamp("2027-12-31"), [], [], when=pd.Timestamp("2026-01-01"))


def test_the_headline_is_quoted_at_quarter_ends_a_quarter_after_the_latest_disclosure():
    from tokenwatch.reports.token_projection import quarter_ends_after

    # Doubao's latest is 2025-12-09: 2025-12-31 is too close to be a forecast, so 2026-03-31 and 2026-06-30
    assert quarter_ends_after(pd.Timestamp("2025-12-09")) == [pd.Timestamp("2026-03-31"), pd.Timestamp("2026-06-30")]
    assert quarter_ends_after(pd.Timestamp("2025-10-01"))[0] == pd.Timestamp("2025-12-31")  # 91 days: far enough
