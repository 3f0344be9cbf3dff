"""Runs on a Dask LocalCluster: a sweep with a failure, a worker killed mid-run, CSVs as the local pool's."""

import os
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.run.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
pytest.importorskip("distributed")


def _run(out: Path, *args: str) -> int:
    return main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", *args])


def test_a_local_cluster_runs_a_sweep_with_a_failure_and_writes_what_the_pool_writes(tmp_path, capsys):
    sweep = ["--sweep", "label=a,b,fail,c"]
    assert _run(tmp_path / "dask", *sweep, "--scheduler", "local", "--jobs", "2") == 1
    assert "dask dashboard: http" in capsys.readouterr().out
    runs = pd.read_csv(tmp_path / "dask" / "runs.csv", dtype=str, keep_default_na=False).set_index("run_id")
    assert sorted(runs["status"]) == ["failed", "ok", "ok", "ok"]  # one failure stops nothing
    assert "asked to fail" in runs.loc["echo__label=fail", "error"]
    assert (tmp_path / "dask" / "echo" / "label=fail.failed" / "report.html").is_file()
    assert _run(tmp_path / "pool", *sweep, "--jobs", "2") == 1
    for label in "abc":
        dask_csv = (tmp_path / "dask" / "echo" / f"label={label}" / "echo.csv").read_bytes()
        assert dask_csv == (tmp_path / "pool" / "echo" / f"label={label}" / "echo.csv").read_bytes(), label
    assert not (tmp_path / "dask" / ".staging").exists()


def test_a_worker_killed_mid_run_is_retried_and_one_killed_every_time_is_reported(tmp_path, monkeypatch):
    import dask

    marker = tmp_path / "killed-once"
    monkeypatch.setenv("TOKENWATCH_TEST_MARKER", str(marker))  # the workers, and their kernels, inherit it
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        # apart: a worker that dies takes every task queued on it, so two killers together would kill each other
        once = _run(tmp_path / "out", "--sweep", "label=kill-worker-once,a", "--scheduler", "local", "--jobs", "2")
        always = _run(tmp_path / "out", "-p", "label", "kill-worker-always", "--scheduler", "local", "--jobs", "2")
    assert once == 0 and marker.exists()  # the first attempt killed its worker; the retry on a live one succeeded
    assert always == 1
    runs = pd.read_csv(tmp_path / "out" / "runs.csv", dtype=str, keep_default_na=False).set_index("run_id")
    assert runs.loc["echo__label=kill-worker-once", "status"] == "ok"
    assert runs.loc["echo__label=a", "status"] == "ok"
    lost = runs.loc["echo"]
    assert lost["status"] == "failed" and "KilledWorker" in lost["error"], lost["error"]
    assert os.environ["TOKENWATCH_TEST_MARKER"] == str(marker)


def test_a_bad_scheduler_address_is_refused_with_a_message(tmp_path, capsys):
    assert _run(tmp_path, "--scheduler", "localhost:8786") == 2
    assert "tcp://HOST:8786" in capsys.readouterr().err


def test_the_cluster_path_holds_its_run_folders_like_the_local_pool(tmp_path, capsys):
    """A linked run folder is refused through the same hold as the pool's, before any cluster starts."""
    out, important = tmp_path / "out", tmp_path / "important"
    important.mkdir()
    out.mkdir()
    (out / "echo").symlink_to(important)
    assert _run(out, "--scheduler", "local", "--jobs", "1") == 1
    text = capsys.readouterr()
    assert "echo/ in the output folder is a symbolic link" in text.out and "dask dashboard" not in text.out
    assert list(important.iterdir()) == []
