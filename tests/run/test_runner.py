"""The runner on a tiny fixture notebook: planning, sweeps, failures, atomic reruns, the index."""

import re
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.run.cli import main
from tokenwatch.run.notebooks import inspect, parse_cli_value
from tokenwatch.run.runner import plan, slug

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
ECHO = FIXTURES / "01_echo.ipynb"


def test_plan_checks_names_and_types_before_any_kernel():
    with pytest.raises(ParameterError, match=r"no parameter 'lable'. Its parameters: label \(str"):
        plan([ECHO], {"lable": "x"}, {})
    with pytest.raises(ParameterError, match="repeat='x' is str, expected int"):
        plan([ECHO], {"repeat": "x"}, {})
    with pytest.raises(ParameterError, match="quote codes"):
        plan([ECHO], {"codes": [2463]}, {})
    with pytest.raises(ParameterError, match="set by the runner"):
        plan([ECHO], {"output_dir": "/tmp/x"}, {})


def test_sweeps_make_the_cross_product_with_safe_slugs():
    specs = plan([ECHO], {}, {"label": ["a", "b/c d"], "repeat": [1, 2]})
    assert len(specs) == 4
    assert len({s.folder for s in specs}) == 4
    assert all("/" not in s.folder.split("/", 1)[1] and " " not in s.folder for s in specs)
    assert slug({"label": "a"}) == "label=a"


def test_a_swept_path_names_its_folder_by_file_name_only():
    """Audit N-01: the folder name is shared in links and records, so no folder of this machine goes into it."""
    home, other = slug({"label": "/home/alice/clientx/mine.csv"}), slug({"label": "/srv/other/mine.csv"})
    assert home.startswith("label=mine.csv-") and "alice" not in home and "clientx" not in home
    assert home != other  # the whole value is in the hash


def test_cli_values_keep_codes_as_text():
    defaults = inspect(ECHO).parameters
    assert parse_cli_value("002463", defaults["label"]) == "002463"
    assert parse_cli_value("3", defaults["repeat"]) == 3
    assert parse_cli_value("NVDA,AVGO", ["NVDA"]) == ["NVDA", "AVGO"]


def _run(out: Path, *extra: str) -> int:
    return main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", *extra])


def test_a_failing_run_does_not_stop_the_others(tmp_path):
    out = tmp_path / "out"
    assert _run(out, "--sweep", "label=a,b,fail", "--jobs", "2") == 1
    runs = pd.read_csv(out / "runs.csv", dtype=str)
    assert sorted(runs["status"]) == ["failed", "ok", "ok"]
    failed = runs.loc[runs["status"] == "failed"].iloc[0]
    assert "ValueError: asked to fail" in failed["error"]
    failed_dir = out / failed["output_folder"]
    assert "asked to fail" in (failed_dir / "report.html").read_text(encoding="utf-8")
    assert (failed_dir / "echo.ipynb").exists()
    ok_dir = out / "echo" / "label=a"
    expected = {"echo.csv", "summary.json", "report.html", "echo.ipynb"}
    assert expected <= {p.name for p in ok_dir.iterdir()}
    report = (ok_dir / "report.html").read_text(encoding="utf-8")
    assert re.search(r'<img[^>]+src="data:image/png;base64', report), "the figure is not in the report"
    assert "Provenance" in report and "<script src=\"http" not in report
    # one file: the code is in it, hidden until the reader ticks the toggle; the findings come first
    assert "highlight hl-ipython3" in report and 'id="tw-code"' in report
    assert report.index('id="key-findings"') < report.index("highlight hl-ipython3")
    index = (out / "index.html").read_text(encoding="utf-8")
    runs_table = index.split('id="runs"')[1]
    assert runs_table.count("<tr>") == 4 and "rows: 2" in runs_table and "asked to fail" in runs_table
    assert "Across the echo sweep (3 runs)" in index  # the sweep's view, from its summary.json files
    assert not (out / ".staging").exists()


def test_rerun_replaces_only_what_it_reruns(tmp_path):
    out = tmp_path / "out"
    assert _run(out, "--sweep", "label=a,b", "--jobs", "1") == 0
    b_summary = out / "echo" / "label=b" / "summary.json"
    before = b_summary.stat().st_mtime_ns
    assert _run(out, "--sweep", "label=a", "-p", "repeat", "3") == 0
    runs = pd.read_csv(out / "runs.csv", dtype=str)
    assert len(runs) == 2 and b_summary.stat().st_mtime_ns == before
    assert len(pd.read_csv(out / "echo" / "label=a" / "echo.csv")) == 3


def test_a_missing_kernel_is_named_before_any_run():
    from tokenwatch.errors import TokenwatchError
    from tokenwatch.run.kernel import check_kernel

    with pytest.raises(TokenwatchError, match="kernel 'no-such-kernel' is not installed; run `make venv`"):
        check_kernel("no-such-kernel")
    check_kernel()  # the project's own kernel is registered by `make venv`


def test_bad_requests_exit_2_with_a_message(tmp_path, capsys):
    assert main(["run", "nope", "--notebooks-dir", str(FIXTURES), "--out", str(tmp_path)]) == 2
    assert "known: echo" in capsys.readouterr().err
    assert main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(tmp_path), "-p", "colour", "x"]) == 2
    assert "no parameter 'colour'" in capsys.readouterr().err


def test_the_runners_processes_read_notebooks_without_the_unused_iri_grammars():
    """The driver, the pool's workers and the Dask plugin skip rfc3987_syntax (1.1 s of CPU each); nbformat still
    validates, and the driver's module imports nothing that would load it before `main` says so."""
    import subprocess
    import sys

    code = ("import sys, tokenwatch.run.cli, tokenwatch.run.pool\n"
            "assert 'jsonschema' not in sys.modules, 'imported before main could skip its IRI grammars'\n"
            "from tokenwatch.run import skip_unused_imports\n"
            "skip_unused_imports()\n"
            "import nbformat\n"
            f"nbformat.validate(nbformat.read({str(FIXTURES / '01_echo.ipynb')!r}, as_version=4))\n"
            "assert sys.modules.get('rfc3987_syntax') is None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
