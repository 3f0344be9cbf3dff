"""Nothing lost: relative paths, failed reruns, concurrent invocations, interrupts, a lost index."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.run.cli import main
from tokenwatch.run.runner import swap_into_place

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
CLI = [sys.executable, "-m", "tokenwatch.run.cli"]


def _run(out: str | Path, *extra: str) -> int:
    return main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", *extra])


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_relative_out_is_resolved_before_it_reaches_the_kernel(tmp_path, monkeypatch):
    before = _files(FIXTURES)
    monkeypatch.chdir(tmp_path)
    assert _run("rel/out") == 0
    run = tmp_path / "rel" / "out" / "echo"
    assert {"echo.csv", "summary.json", "report.html", "run.json"} <= _files(run)
    assert "not recorded by the notebook" not in (run / "report.html").read_text(encoding="utf-8")
    assert "rows: 2" in (tmp_path / "rel" / "out" / "index.html").read_text(encoding="utf-8")
    assert _files(FIXTURES) == before  # nothing written beside the notebooks (the kernel's working folder)


def test_a_relative_out_from_another_working_folder_with_a_sweep(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert _run("../out", "--sweep", "label=a,b", "--jobs", "2") == 0
    for label in "ab":
        assert (tmp_path / "out" / "echo" / f"label={label}" / "summary.json").is_file()
    assert not (tmp_path / "out" / ".staging").exists()


def test_a_run_that_writes_no_summary_is_a_failed_run(tmp_path):
    assert _run(tmp_path, "-p", "label", "no-summary") == 1
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str, keep_default_na=False)
    assert list(runs["status"]) == ["failed"] and "wrote no summary.json" in runs["error"].iloc[0]
    assert not (tmp_path / "echo").exists() and (tmp_path / "echo.failed" / "echo.ipynb").is_file()


@pytest.mark.parametrize("bad", ["fail", "disk-full"])
def test_a_failed_rerun_keeps_the_good_run(tmp_path, bad):
    assert _run(tmp_path) == 0
    good = tmp_path / "echo"
    kept = {name: (good / name).read_bytes() for name in ["echo.csv", "summary.json", "report.html"]}
    assert _run(tmp_path, "-p", "label", bad) == 1
    assert {name: (good / name).read_bytes() for name in kept} == kept  # untouched, byte for byte
    failed = tmp_path / "echo.failed"
    assert (failed / "echo.ipynb").is_file() and (failed / "report.html").is_file()
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str, keep_default_na=False)
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["status"] == "failed" and row["output_folder"] == "echo.failed" and row["last_good_folder"] == "echo"
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "the last good run is kept" in index and 'href="echo/report.html"' in index
    # a later good run replaces the good one and clears the stale failure
    assert _run(tmp_path, "-p", "repeat", "3") == 0
    assert not failed.exists() and len(pd.read_csv(good / "echo.csv")) == 3


def test_two_invocations_into_one_folder_keep_each_others_files(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    base = [*CLI, "run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(tmp_path), "--no-progress"]
    sweep = subprocess.Popen([*base, "--sweep", "label=a,b,c", "--jobs", "2"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    single = subprocess.Popen([*base, "-p", "label", "sleep2"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    assert sweep.wait(timeout=300) == 0, sweep.stdout.read().decode()
    assert single.wait(timeout=300) == 0, single.stdout.read().decode()
    # kernels talk over IPC: no TCP port race, no transport warning per kernel on the terminal
    assert "without encryption" not in sweep.stdout.read().decode() + single.stdout.read().decode()
    for folder in ["echo", "echo/label=a", "echo/label=b", "echo/label=c"]:
        assert {"echo.csv", "summary.json", "echo.ipynb", "report.html"} <= _files(tmp_path / folder), folder
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str)
    assert len(runs) == 4 and (runs["status"] == "ok").all()
    assert not (tmp_path / ".staging").exists()


def test_a_lost_index_is_rebuilt_from_what_is_on_disk(tmp_path):
    assert _run(tmp_path, "--sweep", "label=a,b", "--jobs", "1") == 0
    (tmp_path / "runs.csv").unlink()  # as when the driver is killed before it writes the index
    (tmp_path / "index.html").unlink()
    assert _run(tmp_path, "-p", "label", "c") == 0
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str)
    assert sorted(runs["output_folder"]) == ["echo", "echo/label=a", "echo/label=b"]


def test_ctrl_c_stops_cleanly_and_removes_its_staging(tmp_path):
    proc = subprocess.Popen([*CLI, "run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(tmp_path),
                             "--no-progress", "--sweep", "label=a,sleep60", "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "echo" / "label=a" / "run.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    assert not (tmp_path / ".staging").exists()
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str)
    assert list(runs["output_folder"]) == ["echo/label=a"]


def test_the_output_folder_must_be_a_writable_folder(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert _run(a_file) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere; the probe still runs
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        assert _run(ro) == 2
        assert "cannot write to the output folder" in capsys.readouterr().err


def test_swap_replaces_a_folder_whole(tmp_path):
    final, new = tmp_path / "run", tmp_path / "new"
    final.mkdir()
    (final / "old.csv").write_text("old")
    (final / "run.json").write_text('{"notebook": "x", "files": ["old.csv", "run.json"]}')  # what the run wrote
    new.mkdir()
    (new / "new.csv").write_text("new")
    swap_into_place(new, final)
    assert _files(final) == {"new.csv"} and not new.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_bad_run_options_are_refused_with_a_message(tmp_path, capsys):
    assert _run(tmp_path, "-p", "label", "x", "--sweep", "label=a,b") == 2
    assert "both with -p (or -f) and with --sweep" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(tmp_path, "--cell-timeout", "0")
    assert "above 0" in capsys.readouterr().err
    assert _run(tmp_path, "-f", str(tmp_path / "missing.yaml")) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("label: a\nrepeat: [1, 2\n")
    assert _run(tmp_path, "-f", str(bad)) == 2
    err = capsys.readouterr().err
    assert "bad.yaml line 3" in err and "not valid YAML" in err and "Traceback" not in err


def test_a_code_given_alone_stays_text_and_type_errors_read_plainly(tmp_path, capsys):
    from tokenwatch.run.notebooks import inspect, parse_cli_value

    default = inspect(FIXTURES / "01_echo.ipynb").parameters["codes"]
    assert parse_cli_value("002463", default) == ["002463"]  # not the octal 1331
    assert parse_cli_value("002463,300476", default) == ["002463", "300476"]
    assert _run(tmp_path, "-p", "codes", "[1, 2]") == 2
    err = capsys.readouterr().err
    assert "is a list of int, expected a list of str" in err


def test_run_json_records_the_attempt(tmp_path):
    assert _run(tmp_path) == 0
    record = json.loads((tmp_path / "echo" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "ok" and record["output_folder"] == "echo" and record["ran_at"]


def test_a_plain_run_keeps_the_sweep_runs_inside_its_folder(tmp_path):
    assert _run(tmp_path, "--sweep", "label=a,b", "--jobs", "1") == 0
    assert _run(tmp_path) == 0
    assert _run(tmp_path, "-p", "repeat", "4") == 0
    for label in "ab":
        assert (tmp_path / "echo" / f"label={label}" / "summary.json").is_file()
    assert len(pd.read_csv(tmp_path / "echo" / "echo.csv")) == 4


def test_an_unwritable_output_folder_is_named_before_any_kernel(tmp_path, monkeypatch, capsys):
    def refuse(self, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", refuse)  # as a read-only folder does, even for root
    assert _run(tmp_path / "ro") == 2
    assert "cannot write to the output folder" in capsys.readouterr().err


def test_a_very_long_parameter_is_refused_with_its_name(tmp_path, capsys):
    assert _run(tmp_path, "-p", "label", "x" * 5000) == 2
    assert "parameter label is 5,000 characters long" in capsys.readouterr().err


def test_make_lab_passes_allow_root_only_to_root():
    done = subprocess.run(["make", "-n", "lab"], cwd=FIXTURES.parents[2], capture_output=True, text=True, check=True)
    assert ("--allow-root" in done.stdout) == (os.geteuid() == 0)


def test_workers_are_forked_only_where_the_driver_runs_no_other_thread(monkeypatch):
    from tokenwatch.run import pool

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(pool.threading, "active_count", lambda: 1)
    assert pool.start_method() == "fork"
    monkeypatch.setattr(pool.threading, "active_count", lambda: 2)  # a fork would copy a lock another thread holds
    assert pool.start_method() == "spawn"
    monkeypatch.setattr(pool.threading, "active_count", lambda: 1)
    monkeypatch.setattr(sys, "platform", "darwin")  # fork is unsafe with macOS's frameworks
    assert pool.start_method() == "spawn"
