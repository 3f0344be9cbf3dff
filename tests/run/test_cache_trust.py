"""A reused run is right or rerun: inputs wherever they lie, inputs that appear later, outputs that went, the key's
parts; and --explain says why. Unit tests first (no kernel), then runs of a notebook written here and of the echo
fixture (each notebook run costs seconds)."""

import errno
import json
from datetime import date
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.errors import TokenwatchError
from tokenwatch.paths import package_versions
from tokenwatch.run import cache, index, publish, reuse
from tokenwatch.run.cli import main
from tokenwatch.run.runner import RunResult, RunSpec

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
ECHO = FIXTURES / "01_echo.ipynb"


# --- the key -------------------------------------------------------------------------------

def test_live_today_the_export_code_and_the_sanitiser_enter_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("TOKENWATCH_LIVE", raising=False)
    plain = cache.key_parts(ECHO, {"label": "x"})
    monkeypatch.setenv("TOKENWATCH_LIVE", "1")
    live = cache.key_parts(ECHO, {"label": "x"})
    assert cache._key(plain) != cache._key(live)
    assert cache._changed_part(plain, live) == "--live (TOKENWATCH_LIVE) is on now"
    monkeypatch.delenv("TOKENWATCH_LIVE")

    assert cache.key_parts(ECHO, {"as_of": "today"})["params"]["as_of"] == date.today().isoformat()

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "0.0.1" if name == "nh3" else real(name))
    package_versions.cache_clear()  # versions are read once a process: this is the next invocation's
    other = cache.key_parts(ECHO, {"label": "x"})
    assert cache._key(other) != cache._key(plain) and "nh3 0.0.1" in cache._changed_part(other, plain)
    monkeypatch.setattr(metadata, "version", real)
    package_versions.cache_clear()
    assert {"nbconvert", "nh3", "mistune"} <= set(plain["versions"])

    code = tmp_path / "run"  # a copy of the export code, changed
    code.mkdir()
    (code / "export.py").write_text((cache.RUN_CODE / "export.py").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(cache, "PUBLISHING", (code,))
    monkeypatch.setattr(cache, "RUN_CODE", code)
    before = cache.code_digest()
    (code / "export.py").write_text("# Provenance (export v2)\n", encoding="utf-8")
    assert cache.code_digest() != before


# --- damaged records, a full disk, shared text ----------------------------------------------

def _spec(tmp_path: Path, **params) -> RunSpec:
    return RunSpec("echo", ECHO, {"label": "ok", "repeat": 2, "codes": ["002463"], **params}, "echo", cwd=tmp_path)


@pytest.mark.parametrize("run_json, cache_json, why", [
    ('"ok"', "{}", "run.json is damaged"),
    ('{"status": "ok"}', "[]", "cache.json is damaged"),
    ('{"status": "ok"}', "{tru", "cache.json is damaged"),
    ('{"status": "ok"}', '{"key": "x", "inputs": {}}', "older tokenwatch"),
])
def test_a_damaged_record_means_a_rerun_and_never_blocks_the_index(tmp_path, run_json, cache_json, why):
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "run.json").write_text(run_json)
    (folder / "cache.json").write_text(cache_json)
    assert why in reuse.why_rerun(_spec(tmp_path), tmp_path)
    assert reuse.reuse(_spec(tmp_path), tmp_path) is None
    runs = index.write_index(tmp_path)  # no traceback from a record that is not a dict
    if run_json == '"ok"':
        row = runs.set_index("output_folder").loc["echo"]
        assert row["status"] == "failed" and "run.json is damaged" in row["error"]


def test_a_full_disk_while_putting_a_run_in_place_is_said_and_recorded(tmp_path, monkeypatch):
    out, staging = tmp_path / "out", tmp_path / "out" / ".staging" / "x"
    staging.mkdir(parents=True)
    for name in ("echo.ipynb", "summary.json", "report.html"):
        (staging / name).write_text("{}")
    real = publish.atomic_write_text
    calls = []

    def full(path, text):
        calls.append(Path(path).name)
        if len(calls) == 1:  # the first record write fails, as on a full disk; the small one after it fits
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text)

    monkeypatch.setattr(publish, "atomic_write_text", full)
    result = publish.finish_run(RunResult(_spec(tmp_path), "ok", 1.0), staging, out, "2026-12-06T00:00:00+00:00")
    assert result.status == "failed" and "no space left" in result.error and "free some space" in result.error
    assert not staging.exists()  # its space given back
    runs = index.write_index(out)
    assert list(runs["status"]) == ["failed"] and "no space left" in runs["error"].iloc[0]

    def nothing(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(index, "atomic_write_text", nothing)
    with pytest.raises(TokenwatchError, match="no space left on the device; the runs' own folders"):
        index.write_index(out)


def test_error_text_and_parameter_paths_in_shared_records_name_no_machine_path(tmp_path, monkeypatch):
    snap = tmp_path / "snapshot"
    monkeypatch.setenv("TOKENWATCH_SNAPSHOT", str(snap))
    basket = tmp_path / "ext" / "mine.csv"
    spec = _spec(tmp_path, label=str(basket))
    error = f"DataValidationError: {snap}/cn/603228.csv line 3; basket {basket} not found at {basket}.csv"
    record = publish.make_record(RunResult(spec, "failed", 1.0, error), "t", tmp_path / "out", [])
    text = json.dumps(record)
    assert str(tmp_path) not in text, text
    assert "$TOKENWATCH_SNAPSHOT/cn/603228.csv" in record["error"] and "mine.csv.csv" in record["error"]
    assert json.loads(record["parameters"])["label"] == "mine.csv"
    inside = publish.shown_params({"projection_dir": "reports/latest/token_projection"}, publish.PROJECT_ROOT)
    assert inside == {"projection_dir": "reports/latest/token_projection"}  # a project path stays as given


# --- runs ----------------------------------------------------------------------------------

READER = """import os, pathlib
from tokenwatch import artifacts, reads
from tokenwatch.market.cache import Cache
text = pathlib.Path(source).read_text(encoding="utf-8")
try:
    extra = open(maybe, encoding="utf-8").read()
except FileNotFoundError:
    extra = ""
day = reads.today() if use_today else None
cached = Cache().has_data()
out = artifacts.output_dir(output_dir, "reader")
artifacts.write_summary(out, {"headline": {"text": text.strip(), "extra": extra.strip(), "cached": cached,
                                           "day": str(day)}, "sources": [{"file": source}]})
pathlib.Path(out, "report_note.md").write_text(f"read {source}", encoding="utf-8")
"""


def _reader(path: Path) -> None:
    cells = [{"cell_type": "markdown", "id": "t", "metadata": {}, "source": "# reader"},
             {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "execution_count": None,
              "outputs": [], "source": 'source: str = ""  # a file\nmaybe: str = ""  # a file that may appear\n'
                                       'use_today: bool = False\noutput_dir: str = ""'},
             {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None, "outputs": [],
              "source": READER}]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"display_name": "Python (tokenwatch)", "language": "python", "name": "tokenwatch"}}}))


@pytest.mark.notebook
def test_files_outside_the_project_through_links_and_appearing_later_rerun_with_their_reason(tmp_path, monkeypatch,
                                                                                               capsys):
    books, ext, out = tmp_path / "books", tmp_path / "ext", tmp_path / "out"
    books.mkdir()
    ext.mkdir()
    _reader(books / "01_reader.ipynb")
    target = ext / "target.csv"
    target.write_text("first\n")
    link = ext / "link.csv"
    link.symlink_to(target)
    pq = tmp_path / "pq"  # an empty price cache, filled later the way `data fetch` does
    monkeypatch.setenv("TOKENWATCH_CACHE", str(pq))

    def run(*extra: str) -> str:
        capsys.readouterr()
        assert main(["run", "reader", "--notebooks-dir", str(books), "--out", str(out), "--no-progress", "--explain",
                     "-p", "source", str(link), "-p", "maybe", str(ext / "later.txt"), *extra]) == 0
        return capsys.readouterr().out.split("reader: ")[1].splitlines()[0]

    assert run().startswith("rerun: no finished run")
    assert run() == "reused: nothing it read or wrote changed"
    record = (out / "reader" / "cache.json").read_text(encoding="utf-8")
    assert str(tmp_path) not in record and str(tmp_path) not in (out / "reader" / "summary.json").read_text()
    assert "link.csv" in record and "target.csv" in record and "later.txt" in record  # link, target, absent file

    target.write_text("second\n")  # the file behind the link changed
    assert run() in {"rerun: link.csv (outside the project) changed", "rerun: target.csv (outside the project) changed"}
    (ext / "later.txt").write_text("now here\n")
    assert run() == "rerun: later.txt (outside the project) appeared"
    assert json.loads((out / "reader" / "summary.json").read_text())["headline"]["extra"] == "now here"

    from tokenwatch.market.cache import Cache
    from tokenwatch.universe import Symbol

    frame = pd.DataFrame({"close": [1.0]}, index=pd.DatetimeIndex(["2025-06-27"], name="date"))
    Cache(pq).write("daily", Symbol("us", "NVDA"), "em_us_hist", frame, upstream="test", price_basis="test",
                    akshare_version="test")
    assert run() == "rerun: cache entry daily/us/NVDA.em_us_hist.parquet appeared"
    assert run("-p", "use_today", "true").startswith("rerun: parameters changed")
    assert json.loads((out / "reader" / "cache.json").read_text())["today"] == date.today().isoformat()
    assert run("-p", "use_today", "true") == "reused: nothing it read or wrote changed"
    monkeypatch.setenv("TOKENWATCH_LIVE", "1")
    assert run("-p", "use_today", "true") == "rerun: --live (TOKENWATCH_LIVE) is on now"


def _echo(out: Path, *extra: str) -> int:
    return main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", "--explain",
                 *extra])


@pytest.mark.notebook
def test_a_missing_or_changed_output_reruns_and_a_users_file_survives(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "echo").mkdir(parents=True)
    (out / "echo" / "notes.txt").write_text("mine")  # a user's note where the run goes
    assert _echo(out) == 0
    assert (out / "echo" / "notes.txt").read_text() == "mine"
    (out / "echo" / "report.html").unlink()
    capsys.readouterr()
    assert _echo(out) == 0
    assert "echo: rerun: report.html missing" in capsys.readouterr().out and (out / "echo" / "report.html").is_file()
    (out / "echo" / "summary.json").write_text("")
    assert _echo(out) == 0
    assert "echo: rerun: summary.json changed since the run wrote it" in capsys.readouterr().out
    assert _echo(out) == 0
    assert "echo: reused" in capsys.readouterr().out
    assert (out / "echo" / "notes.txt").read_text() == "mine"
    run = json.loads((out / "echo" / "run.json").read_text())
    run["files"].remove("echo.csv")  # as if a user had put echo.csv there, where the run writes one
    (out / "echo" / "run.json").write_text(json.dumps(run))
    (out / "echo" / "echo.csv").write_text("a user's own table")
    assert _echo(out, "--force") == 1
    assert "holds echo.csv, which no run wrote" in capsys.readouterr().out
    assert (out / "echo" / "echo.csv").read_text() == "a user's own table" and (out / "echo.failed").is_dir()


@pytest.mark.notebook
def test_a_linked_run_folder_is_refused_plainly_and_its_target_untouched(tmp_path, capsys):
    out, important = tmp_path / "out", tmp_path / "important"
    important.mkdir()
    (important / "keep.txt").write_text("keep")
    out.mkdir()
    (out / "echo").symlink_to(important)
    assert _echo(out) == 1
    text = capsys.readouterr()
    assert "echo/ in the output folder is a symbolic link" in text.out and "Traceback" not in text.out + text.err
    assert [p.name for p in important.iterdir()] == ["keep.txt"]


@pytest.mark.notebook
def test_a_second_invocation_into_one_run_folder_waits_and_never_silently_replaces_the_first(tmp_path):
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    cli = [sys.executable, "-m", "tokenwatch.run.cli", "run", "echo", "--notebooks-dir", str(FIXTURES), "--out",
           str(out), "--no-progress"]
    first = subprocess.Popen([*cli, "-p", "label", "sleep8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 60
    while not list((out / ".locks").glob("run-echo.lock")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    second = subprocess.run([*cli, "-p", "label", "other"], capture_output=True, text=True, timeout=300)
    assert first.wait(timeout=300) == 0
    assert "waiting for another tokenwatch run writing echo/" in second.stderr
    assert second.returncode == 1 and "not replaced" in second.stdout
    assert json.loads((out / "echo" / "summary.json").read_text())["label"] == "sleep8"  # the first run stays


def test_a_path_under_home_is_hidden_in_the_form_a_kernel_prints_it(tmp_path, monkeypatch):
    """Audit N-06: a kernel writes the home folder as ~, so ~/folder/ must go as well as /home/user/folder/."""
    monkeypatch.setenv("HOME", str(tmp_path))
    basket = tmp_path / "clientx" / "mine.csv"
    text = "basket ~/clientx/mine.csv and " + str(basket)
    shown = publish.scrubbed(text, tmp_path / "out", {"baskets": str(basket)}, tmp_path)
    assert shown == "basket mine.csv and mine.csv", shown
