"""An exported report opens in headless Chromium (Debian's `chromium`) and shows its content."""

import os
import re
import shutil
import subprocess
import unicodedata
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
    assert "Provenance" in dom.stdout and re.search(r'<img[^>]+src="data:image/png;base64', dom.stdout)
    shot = tmp_path / "report.png"
    _headless(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,900", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000
    index = _headless(exe, tmp_path, "--dump-dom", (out / "index.html").as_uri())
    assert 'href="echo/report.html"' in index.stdout


PROBE = """<script>
window.addEventListener('load', async () => {
  await document.fonts.ready;
  const out = {};
  const block = document.querySelector('.tokenwatch-findings');
  out.findings = block ? Math.round(block.getBoundingClientRect().height) : 0;
  out.images = [...document.images].filter(i => i.complete && i.naturalWidth > 100).length;
  const found = document.body.innerText.match(/[\\u4e00-\\u9fff]{2,4}/);
  out.text = found ? found[0] : '';
  const family = getComputedStyle(block || document.body).fontFamily;
  const draw = s => { const c = document.createElement('canvas'); c.width = 240; c.height = 48;
    const g = c.getContext('2d'); g.font = '28px ' + family; g.fillText(s, 4, 36); return c.toDataURL(); };
  // a string of unassigned code points draws missing-glyph boxes: real Chinese glyphs draw something else
  out.glyphs = out.text ? draw(out.text) !== draw('\\u0378'.repeat(out.text.length)) : false;
  const code = document.querySelector('.jp-CodeCell .jp-InputArea');
  out.code_hidden = code ? getComputedStyle(code).display === 'none' : null;
  document.body.setAttribute('data-probe', JSON.stringify(out));
});
</script>"""


def _probe(exe: str, tmp: Path, page: Path) -> dict:
    import html as html_lib
    import json
    import re

    probed = page.with_name(f"probe-{page.name}")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    dom = _headless(exe, tmp, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()).stdout
    probed.unlink()
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe did not run in {page.name}"
    return json.loads(html_lib.unescape(found.group(1)))


@pytest.mark.notebook
def test_the_brief_and_a_report_render_findings_charts_and_chinese_glyphs(snapshot, tmp_path):
    exe = _chromium()
    out = tmp_path / "out"
    assert main(["run", "weekly_tracker", "--out", str(out), "--no-progress"]) == 0
    report = _probe(exe, tmp_path, out / "weekly_tracker" / "report.html")
    assert report["findings"] > 50 and report["images"] >= 1, report
    assert report["text"] and report["glyphs"], f"Chinese text {report['text']!r} renders as missing-glyph boxes"
    assert report["code_hidden"] is True  # the code is in the file, behind its toggle
    brief = _probe(exe, tmp_path, out / "index.html")
    assert brief["findings"] > 50 and brief["glyphs"], brief
    shots = Path(os.environ.get("TOKENWATCH_TEST_RESULTS", Path(__file__).parents[2] / "test-results"))
    shots.mkdir(parents=True, exist_ok=True)
    for name, page in (("brief", out / "index.html"), ("weekly_tracker", out / "weekly_tracker" / "report.html")):
        shot = shots / f"{name}.png"
        _headless(exe, tmp_path, f"--screenshot={shot}", "--window-size=1300,2000", page.as_uri())
        assert shot.stat().st_size > 20_000, f"{shot} looks empty"


@pytest.mark.notebook
def test_pdf_prints_each_report_and_the_brief_with_chinese_text(snapshot, tmp_path):
    from pypdf import PdfReader

    _chromium()
    out = tmp_path / "out"
    assert main(["run", "weekly_tracker", "--out", str(out), "--no-progress", "--pdf"]) == 0
    for pdf in (out / "weekly_tracker" / "report.pdf", out / "brief.pdf"):
        text = unicodedata.normalize("NFKC", "".join(page.extract_text() for page in PdfReader(pdf).pages))
        assert "Key findings" in text or "What it found" in text, pdf
        assert "景旺电子" in text, f"{pdf.name}: Chinese names missing from the text"
    assert 'href="weekly_tracker/report.pdf"' in (out / "index.html").read_text(encoding="utf-8")
