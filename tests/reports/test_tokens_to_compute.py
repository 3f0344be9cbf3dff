"""Notebook 05 reuses notebook 04's projection run when that run's projection_key is what 05 would project, and
projects itself otherwise: the same outputs either way."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tokenwatch.paths import RUNS_ENV
from tokenwatch.reports import token_projection as T
from tokenwatch.reports import tokens_to_compute as C
from tokenwatch.run.notebooks import INJECTED, discover, inspect


def _params(name: str, module: Any) -> Any:
    defaults = {k: v for k, v in inspect(discover()[name]).parameters.items() if k not in INJECTED}
    return module.Params.from_namespace(defaults)


@pytest.fixture
def projection_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Notebook 04 with its defaults, written as the batch's token_projection run; nothing kept in memory."""
    T._MEMO.clear()
    runs = tmp_path / "runs"
    T.build(_params("token_projection", T)).write(runs / "token_projection")
    T._MEMO.clear()
    monkeypatch.setenv(RUNS_ENV, str(runs))
    yield runs / "token_projection"
    T._MEMO.clear()


@pytest.fixture
def projections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the projections made (each call of project_series)."""
    made: list[str] = []
    real: Callable[..., T.ProjectionReport] = T.project_series

    def counted(series: str, *args: Any, **kwargs: Any) -> T.ProjectionReport:
        made.append(series)
        return real(series, *args, **kwargs)

    monkeypatch.setattr(T, "project_series", counted)
    return made


def _written(report: C.ComputeReport, out: Path) -> dict[str, bytes]:
    report.write(out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_a_matching_projection_run_is_reused_with_the_same_outputs_as_projecting_here(
        projection_run, projections, tmp_path, monkeypatch):
    p = _params("tokens_to_compute", C)
    summary = json.loads((projection_run / "summary.json").read_text(encoding="utf-8"))
    assert summary["projection_key"]["series"] == p.series and summary["projection_table"]["file"] == "projection.csv"

    reused = C.build(p)
    assert projections == []  # read from the run, not projected
    from_run = _written(reused, tmp_path / "from_run")

    T._MEMO.clear()
    monkeypatch.delenv(RUNS_ENV)  # no run to read: projected here
    here = C.build(p)
    assert projections == [p.series]
    from_here = _written(here, tmp_path / "here")

    assert set(from_run) == set(from_here) >= {"compute_demand.csv", "capex_by_year.csv", "summary.json",
                                               "findings.md", "routes.csv", "sensitivity.csv"}
    for name in from_run:  # identical files, values and words
        assert from_run[name] == from_here[name], name
    pd.testing.assert_frame_equal(reused.demand, here.demand)
    pd.testing.assert_frame_equal(reused.by_year, here.by_year)
    assert reused.notices == here.notices and reused.basis == here.basis

    C.build(p)  # once in a process: a second build keeps the projection
    assert projections == [p.series]


@pytest.mark.parametrize("change", ["key", "table"])
def test_a_projection_run_from_other_inputs_or_with_another_table_is_not_reused(projection_run, projections,
                                                                                 change):
    p = _params("tokens_to_compute", C)
    summary_file = projection_run / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    table = projection_run / "projection.csv"
    key = T.projection_key(p.series, T.AUTO, pd.Timestamp.today().normalize(), p.horizon, [], [], T.LEADER)
    assert T.from_run(projection_run, key)[0] is not None
    if change == "key":  # e.g. the ledger changed since the run
        summary["projection_key"]["data"]["tokens/disclosures.csv"] = "0" * 64
        summary_file.write_text(json.dumps(summary), encoding="utf-8")
        assert T.from_run(projection_run, key) == (None, "made from other inputs (data)")
    else:  # projection.csv edited after the run wrote it
        frame = pd.read_csv(table, keep_default_na=False)
        frame["p50"] = pd.to_numeric(frame["p50"], errors="coerce") * 2
        frame.to_csv(table, index=False)
        assert T.from_run(projection_run, key) == (None, "its projection.csv is not the one the run wrote")
    report = C.build(p)
    assert projections == [p.series]  # projected here instead
    head = pd.read_csv(table, keep_default_na=False) if change == "table" else None
    if head is not None:  # the doubled table was not used
        costed = report.demand[report.demand["scenario"] == "all"]["tokens_per_day"].max()
        assert costed < pd.to_numeric(head["p50"], errors="coerce").max()


def test_no_projection_run_is_a_recorded_absence(tmp_path, monkeypatch):
    from tokenwatch import reads

    monkeypatch.setenv(RUNS_ENV, str(tmp_path))
    if not reads._state["installed"]:  # the kernel's audit hook (a no-op while not recording)
        sys.addaudithook(reads._hook)
        reads._state["installed"] = True
    reads._state.update(on=True, files=set(), listings={}, today=None, skip=())
    try:
        key = T.projection_key("doubao", T.AUTO, pd.Timestamp("2026-01-01"), pd.Timestamp("2027-12-31"), [], [],
                               T.LEADER)
        assert T.from_run(tmp_path / "token_projection", key) == (None, "no token_projection run")
        record = reads.record()
    finally:
        reads._state.update(on=False)
    # a projection run appearing later makes a run that looked for it stale
    assert str(tmp_path / "token_projection" / "summary.json") in record["absent"]
