"""The execution cache: a changed data file, parameter or library file reruns exactly the runs that read it."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.run import cache
from tokenwatch.run.cli import main

CODE = """from tokenwatch import artifacts
from tokenwatch.market import load_prices
from tokenwatch.paths import data_dir
{extra}
rows = len(open(data_dir() / {curated!r}, encoding="utf-8").read().splitlines())
closes = load_prices([{symbol!r}], "2025-06-02", "2025-06-27").close()
out = artifacts.output_dir(output_dir, {name!r})
artifacts.write_summary(out, {{"headline": {{"rows": rows, "last": float(closes.iloc[-1, 0]), "scale": scale}},
                             "sources": [{{"file": {curated!r}}}]}})
"""


def _notebook(path: Path, name: str, curated: str, symbol: str, extra: str = "") -> None:
    cells = [{"cell_type": "markdown", "id": "t", "metadata": {}, "source": f"# {name}"},
             {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "execution_count": None,
              "outputs": [], "source": 'scale: int = 1  # a parameter\noutput_dir: str = ""  # set by the runner'},
             {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None, "outputs": [],
              "source": CODE.format(name=name, curated=curated, symbol=symbol, extra=extra)}]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"display_name": "Python (tokenwatch)", "language": "python",
                                      "name": "tokenwatch"}, "language_info": {"name": "python"}}}
    path.write_text(json.dumps(nb), encoding="utf-8")


def _cached(out: Path) -> dict[str, bool]:
    runs = pd.read_csv(out / "runs.csv", dtype=str, keep_default_na=False)
    assert (runs["status"] == "ok").all(), runs
    return dict(zip(runs["output_folder"], runs["cached"] == "True", strict=True))


@pytest.mark.notebook
def test_one_changed_input_reruns_exactly_the_runs_that_read_it(snapshot, tmp_path, monkeypatch):
    # private copies of the curated data, the snapshot's us/ folder and the library, so each can be changed
    data, snap, lib = tmp_path / "data", tmp_path / "market", tmp_path / "lib"
    shutil.copytree(Path(cache.__file__).parents[3] / "data", data)
    shutil.copytree(Path(snapshot.root) / "us", snap / "us")
    shutil.copytree(Path(cache.__file__).parents[1], lib)
    monkeypatch.setenv("TOKENWATCH_DATA", str(data))
    monkeypatch.setenv("TOKENWATCH_SNAPSHOT", str(snap))
    monkeypatch.setattr(cache, "check_roots", lambda: {**cache.roots(), "$LIB": lib})  # the library checked
    books = tmp_path / "notebooks"
    books.mkdir()
    _notebook(books / "01_alpha.ipynb", "alpha", "events.csv", "NVDA", "import tokenwatch.methods.leadlag")
    _notebook(books / "02_beta.ipynb", "beta", "rating_bands.csv", "AVGO")
    out = tmp_path / "out"

    def run(*extra: str) -> dict[str, bool]:
        assert main(["run", "--all", "--notebooks-dir", str(books), "--out", str(out), "--no-progress",
                     *extra]) == 0
        return _cached(out)

    assert run() == {"alpha": False, "beta": False}
    assert run() == {"alpha": True, "beta": True}  # nothing changed: both reused
    record = json.loads((out / "alpha" / "cache.json").read_text(encoding="utf-8"))
    assert "$SNAPSHOT/us/NVDA.csv" in record["inputs"] and "$DATA/events.csv" in record["inputs"]
    assert "$LIB/methods/leadlag.py" in record["inputs"] and str(tmp_path) not in json.dumps(record)

    with (data / "rating_bands.csv").open("a", encoding="utf-8") as fh:  # a data file only beta reads
        fh.write("\n")
    assert run() == {"alpha": True, "beta": False}
    nvda = snap / "us" / "NVDA.csv"  # a snapshot file only alpha reads
    nvda.write_text(nvda.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert run() == {"alpha": False, "beta": True}
    leadlag = lib / "methods" / "leadlag.py"  # a library file only alpha imports
    leadlag.write_text(leadlag.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert run() == {"alpha": False, "beta": True}
    leadlag.write_text(leadlag.read_text(encoding="utf-8").replace("\n# changed\n", ""), encoding="utf-8")
    assert run("-p", "scale", "2") == {"alpha": False, "beta": False}  # a new parameter value: both rerun
    assert run("-p", "scale", "2") == {"alpha": True, "beta": True}
    assert run("-p", "scale", "2", "--force") == {"alpha": False, "beta": False}
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "cached" not in index.split('id="runs"')[1]  # forced: nothing shown as reused
