"""The project's own errors in a kernel (JupyterLab, papermill, nbconvert): one short line naming the parameter, the
value and what is allowed; no frames, no paths. Unexpected errors keep their traceback (issue 25 item 7, A8-01/02)."""

import os
import re
import subprocess
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tokenwatch.errors import show_short_errors
from tokenwatch.paths import PROJECT_ROOT


@pytest.fixture
def shell(capsys):
    sh = InteractiveShell.instance()
    assert show_short_errors()
    yield sh
    sh.set_custom_exc((), None)
    InteractiveShell.clear_instance()


def test_a_bad_parameter_shows_one_line_without_frames_or_paths(shell, capsys):
    result = shell.run_cell("from tokenwatch.params import as_date\nas_date('week_end', '2025-02-30')")
    out = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.out + out.err).strip()
    assert not result.success  # the cell still fails: papermill and nbconvert stop there
    assert text == "ParameterError: parameter week_end='2025-02-30' is not a date; write it as 'YYYY-MM-DD'"


def test_an_unexpected_error_keeps_its_traceback(shell, capsys):
    result = shell.run_cell("def f():\n    return 1 / 0\nf()")
    text = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert not result.success and "ZeroDivisionError: division by zero" in text
    assert "----> 3 f()" in text and "return 1 / 0" in text  # its frames, as before


@pytest.mark.notebook
def test_papermill_on_a_bad_week_ends_in_six_lines_without_paths(snapshot, tmp_path):
    """The done-when of issue 25: `papermill notebooks/01_weekly_tracker.ipynb out.ipynb -p week_end 2025-02-30`."""
    papermill = os.path.join(os.path.dirname(sys.executable), "papermill")
    done = subprocess.run([papermill, "notebooks/01_weekly_tracker.ipynb", str(tmp_path / "out.ipynb"),
                           "-p", "week_end", "2025-02-30", "-k", "tokenwatch", "--no-progress-bar"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 1
    assert len(lines) <= 6, lines
    assert lines[-1] == ("papermill: ParameterError in cell In [3]: parameter week_end='2025-02-30' is not a date; "
                         "write it as 'YYYY-MM-DD'")
    shown = "\n".join(lines[:1] + lines[2:])  # the line naming the output notebook names where it was asked for
    assert str(PROJECT_ROOT) not in shown and "site-packages" not in shown and "Traceback" not in shown
    saved = (tmp_path / "out.ipynb").read_text(encoding="utf-8")
    assert "site-packages" not in saved and "lib/tokenwatch" not in saved and "ParameterError" in saved


def test_the_command_hook_shortens_only_the_projects_errors(capsys, monkeypatch):
    from nbclient.exceptions import CellExecutionError
    from papermill.exceptions import PapermillExecutionError

    from tokenwatch.run import cli_errors

    own = PapermillExecutionError(2, 3, "p = ...", "ParameterError", "parameter week_end='x' is not a date", [])
    cli_errors.short_errors(type(own), own, None)
    assert capsys.readouterr().err.endswith("ParameterError in cell In [3]: parameter week_end='x' is not a date\n")
    missing = CellExecutionError("tb", "DataNotFoundError", f"basket not found at {PROJECT_ROOT}/data/baskets/x.csv")
    cli_errors.short_errors(type(missing), missing, None)
    assert capsys.readouterr().err.endswith("DataNotFoundError: basket not found at data/baskets/x.csv\n")
    seen = []
    monkeypatch.setattr(sys, "__excepthook__", lambda *a: seen.append(a))
    other = PapermillExecutionError(2, 3, "1/0", "ZeroDivisionError", "division by zero", [])
    cli_errors.short_errors(type(other), other, None)
    assert seen and capsys.readouterr().err == ""  # any other error: Python's own traceback


@pytest.mark.notebook
def test_nbconvert_execute_on_a_bad_parameter_ends_in_one_line(snapshot, tmp_path):
    import json

    nb = json.loads((PROJECT_ROOT / "notebooks" / "01_weekly_tracker.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    cell["source"] = [line.replace('"2025-06-27"', '"2025-13-01"') for line in cell["source"]]
    (tmp_path / "bad.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    jupyter = os.path.join(os.path.dirname(sys.executable), "jupyter")
    done = subprocess.run([jupyter, "nbconvert", "--to", "notebook", "--execute", "bad.ipynb",
                           "--ExecutePreprocessor.kernel_name=tokenwatch", "--output", "out.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stderr and "site-packages" not in done.stderr, lines
    assert lines[-1] == ("nbconvert: ParameterError: parameter week_end='2025-13-01' is not a date; write it as "
                         "'YYYY-MM-DD'")
