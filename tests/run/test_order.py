"""The order of a batch: a run after the runs it reads (notebook metadata `tokenwatch.after`), else the longest
first; a worker that dies or a cycle never leaves a run waiting for ever."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.run import order
from tokenwatch.run.cli import main
from tokenwatch.run.notebooks import discover
from tokenwatch.run.runner import plan
from tokenwatch.run.spec import RunResult, RunSpec


def test_tokens_to_compute_starts_after_token_projection_and_the_longest_first():
    specs = plan(list(discover().values()), {}, {})
    names = [s.notebook for s in specs]
    deps = order.waits(specs)
    assert deps[names.index("tokens_to_compute")] == {names.index("token_projection")}
    assert all(not d for i, d in deps.items() if names[i] != "tokens_to_compute")
    seconds = {"weekly_tracker": 3.0, "rally_replay": 9.0, "token_ledger": 2.0, "token_projection": 6.0,
               "tokens_to_compute": 4.0, "domestic_chain": 5.0, "rating_scorecard": 1.0, "token_catalysts": 7.0}
    ranked = [names[i] for i in order.ranked(specs, seconds)]
    # token_projection's chain is its 6 s and the 4 s of the run waiting for it
    assert ranked == ["token_projection", "rally_replay", "token_catalysts", "domestic_chain", "tokens_to_compute",
                      "weekly_tracker", "token_ledger", "rating_scorecard"]
    assert [names[i] for i in order.ranked(specs, {})] == names  # nothing known: the collection's order

    schedule = order.Schedule(specs, seconds)  # two workers
    first, second = schedule.start(), schedule.start()
    assert [names[first], names[second]] == ["token_projection", "rally_replay"]
    started = [names[i] for i in iter(schedule.start, None)]  # every run that may start while those two run
    assert "tokens_to_compute" not in started and len(started) == len(specs) - 3
    schedule.finished(second)
    assert schedule.start() is None  # only tokens_to_compute is left, and token_projection still runs
    schedule.finished(first)
    assert names[schedule.start()] == "tokens_to_compute" and schedule.all_started


def _spec(name: str, path: Path) -> RunSpec:
    return RunSpec(name, path, {}, name)


def _notebook(path: Path, code: str, after: list[str] | None = None) -> Path:
    cells = [{"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "execution_count": None,
              "outputs": [], "source": 'output_dir: str = ""  # set by the runner'},
             {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None, "outputs": [],
              "source": code}]
    meta = {"kernelspec": {"display_name": "Python (tokenwatch)", "language": "python", "name": "tokenwatch"},
            "language_info": {"name": "python"}, **({"tokenwatch": {"after": after}} if after else {})}
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": meta}),
                    encoding="utf-8")
    return path


def test_a_cycle_is_waived_once_nothing_runs(tmp_path):
    a = _notebook(tmp_path / "01_a.ipynb", "", ["b"])
    b = _notebook(tmp_path / "02_b.ipynb", "", ["a"])
    schedule = order.Schedule([_spec("a", a), _spec("b", b)], {})
    assert schedule.start() == 0 and schedule.waived  # neither could ever start: the batch's order instead
    assert schedule.start() == 1


def test_durations_are_kept_for_the_next_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = _spec("a", tmp_path / "01_a.ipynb")
    order.record_durations([RunResult(spec, "ok", 5.25, startup=2.0), RunResult(_spec("b", spec.path), "failed", 9.0),
                            RunResult(_spec("c", spec.path), "ok", 0.01, cached=True)])
    assert order.load_durations() == {"a": 3.25}  # without starting its kernel; no failed or reused run


WRITE = """import json, time
from pathlib import Path
from tokenwatch import artifacts
out = artifacts.output_dir(output_dir, {name!r})
first = Path(output_dir).parents[2] / "first" / "summary.json"  # the published run of 'first', if there
{body}
artifacts.write_summary(out, {{"headline": {{"first_done": first.is_file()}}, "sources": []}})
"""


@pytest.mark.notebook
def test_a_run_waits_for_the_run_it_reads_with_two_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    books = tmp_path / "notebooks"
    books.mkdir()
    _notebook(books / "01_first.ipynb", WRITE.format(name="first", body="time.sleep(3)"))
    _notebook(books / "02_second.ipynb", WRITE.format(name="second", body=""), ["first"])
    out = tmp_path / "out"
    assert main(["run", "--all", "--notebooks-dir", str(books), "--out", str(out), "--no-progress",
                 "--jobs", "2"]) == 0
    second = json.loads((out / "second" / "summary.json").read_text(encoding="utf-8"))
    assert second["headline"]["first_done"]  # it started once first/ was in place, though a worker was free
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs["notebook"]) == ["first", "second"] and set(order.load_durations()) == {"first", "second"}
