"""The execution cache on the real notebooks (the audit's reproductions A1-05, A1-06, A1-08, A1-15, A5-07): a
basket given as a path, a `projection_dir`, a price-cache entry written after an offline run, today's date."""

import json
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.run.cli import main

PROJECT = Path(__file__).parents[2]


def _run(capsys, *args: str) -> str:
    """Run; the --explain line of the one run."""
    capsys.readouterr()
    assert main(["run", *args, "--no-progress", "--explain"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if ": rerun: " in line or ": reused: " in line]
    return lines[0].split(": ", 1)[1]


@pytest.mark.notebook
def test_weekly_tracker_reruns_for_an_edited_basket_file_and_a_price_cache_entry_written_later(
        snapshot, tmp_path, monkeypatch, capsys):
    pq, out = tmp_path / "pq", tmp_path / "out"
    monkeypatch.setenv("TOKENWATCH_CACHE", str(pq))  # empty: the run reads the snapshot
    basket = tmp_path / "ext" / "mine.csv"
    basket.parent.mkdir()
    rows = pd.read_csv(PROJECT / "data" / "baskets" / "compute_chain.csv", dtype=str)
    rows.head(5).to_csv(basket, index=False)
    args = ("weekly_tracker", "-p", "baskets", str(basket), "--out", str(out))

    assert _run(capsys, *args).startswith("rerun")
    assert _run(capsys, *args).startswith("reused")
    for name in ("weekly_tracker/report.html", "weekly_tracker/weekly_tracker.ipynb", "weekly_tracker/summary.json",
                 "weekly_tracker/run.json", "weekly_tracker/cache.json", "runs.csv", "index.html"):
        assert str(tmp_path) not in (out / name).read_text(encoding="utf-8"), name  # shown as mine.csv

    rows[rows["segment"].str.contains("optical")].head(2).to_csv(basket, index=False)  # other names
    assert _run(capsys, *args) == "rerun: mine.csv (outside the project) changed"
    shown = pd.read_csv(out / "weekly_tracker" / "week_returns.csv", dtype=str)
    assert set(shown["code"]) == set(rows[rows["segment"].str.contains("optical")].head(2)["code"])

    from tokenwatch.market.cache import Cache
    from tokenwatch.universe import Symbol

    nvda = pd.read_csv(Path(snapshot.root) / "us" / "NVDA.csv", parse_dates=["date"]).set_index("date")
    nvda.loc["2025-06-27", ["high", "close", "adj_close"]] *= 1.1  # a newer close, as `data fetch` would bring
    Cache(pq).write("daily", Symbol("us", "NVDA"), "em_us_hist", nvda, upstream="test", price_basis="adjusted",
                    akshare_version="1.19.5")
    assert _run(capsys, "weekly_tracker", "--out", str(out)).startswith("rerun: parameters changed")
    highs = pd.read_csv(out / "weekly_tracker" / "new_highs.csv").set_index("symbol")
    assert highs.loc["NVDA", "close"] == pytest.approx(157.75 * 1.1, rel=1e-6)  # the cache's close, not the snapshot's
    assert _run(capsys, "weekly_tracker", "--out", str(out)).startswith("reused")


@pytest.mark.notebook
def test_tokens_to_compute_follows_its_projection_dir_and_a_projection_of_today_goes_stale(snapshot, tmp_path,
                                                                                          capsys):
    proj, comp = tmp_path / "proj", tmp_path / "comp"
    assert _run(capsys, "token_projection", "--out", str(proj)).startswith("rerun")
    record = json.loads((proj / "token_projection" / "cache.json").read_text(encoding="utf-8"))
    assert record["today"]  # as_of empty: today's date, recorded
    record["today"] = "2026-01-01"  # as if it ran on another day
    (proj / "token_projection" / "cache.json").write_text(json.dumps(record), encoding="utf-8")
    stale = _run(capsys, "token_projection", "--out", str(proj))
    assert stale.startswith("rerun: the run used today's date (2026-01-01)")

    args = ("tokens_to_compute", "-p", "projection_dir", str(proj / "token_projection"), "--out", str(comp))
    assert _run(capsys, *args).startswith("rerun")
    before = json.loads((comp / "tokens_to_compute" / "summary.json").read_text(encoding="utf-8"))["headline"]
    assert _run(capsys, *args).startswith("reused")
    table = proj / "token_projection" / "projection.csv"  # a new projection run into that folder
    frame = pd.read_csv(table, keep_default_na=False)
    for q in ("p05", "p10", "p25", "p50", "p75", "p90", "p95"):
        frame[q] = pd.to_numeric(frame[q], errors="coerce") * 2
    frame.to_csv(table, index=False)
    assert _run(capsys, *args) == "rerun: projection.csv (outside the project) changed"
    after = json.loads((comp / "tokens_to_compute" / "summary.json").read_text(encoding="utf-8"))["headline"]
    assert after != before
