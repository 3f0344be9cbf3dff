"""An exported report opens in headless Chromium (Debian's `chromium`) and shows its content."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tokenwatch.run.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def _headless(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'profile'}"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)


def test_report_renders_offline_in_chromium(tmp_path):
    exe = _chromium()
    out = tmp_path / "out"
    assert main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress"]) == 0
    report = out / "echo" / "report.html"
    dom = _headless(exe, tmp_path, "--dump-dom", report.as_uri())
    assert "Provenance" in dom.stdout and "data:image/png;base64" in dom.stdout
    shot = tmp_path / "report.png"
    _headless(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,900", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000
    index = _headless(exe, tmp_path, "--dump-dom", (out / "index.html").as_uri())
    assert 'href="echo/report.html"' in index.stdout
