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


TABLE_PROBE = """<script>
window.addEventListener('load', () => {
  const started = Date.now();
  const visible = t => [...t.tBodies].flatMap(b => [...b.rows]).filter(r => r.offsetParent !== null).length;
  const probe = () => {
    const live = document.querySelector('.tw-live table.dataTable');
    if (!live && Date.now() - started < 20000) { setTimeout(probe, 200); return; }
    const out = {ready: !!live};
    out.most_rows_shown = Math.max(0, ...[...document.querySelectorAll('table')].map(visible));
    if (live) {
      const rows = () => [...live.tBodies[0].rows];
      out.rows_shown = rows().length;
      out.search_box = !!live.closest('.tw-live').querySelector('input[type=search]');
      out.paging = live.closest('.tw-live').querySelectorAll('.dt-paging button, .dt-paging a').length;
      out.headings = [...live.tHead.rows[0].cells].map(th => th.textContent.trim());
      const col = out.headings.findIndex(h => h.startsWith('Return'));
      const number = s => parseFloat(s.replace(/[%+,]/g, ''));
      const before = rows().map(r => number(r.cells[col].textContent));
      live.tHead.rows[0].cells[col].click();
      setTimeout(() => {
        const after = rows().map(r => number(r.cells[col].textContent));
        out.changed = before.join('|') !== after.join('|');
        out.ascending = after.every((v, i) => i === 0 || after[i - 1] <= v);
        out.first_after_sort = after[0];
        out.requests = performance.getEntriesByType('resource').map(e => e.name);
        document.body.setAttribute('data-probe', JSON.stringify(out));
      }, 500);
      return;
    }
    out.requests = performance.getEntriesByType('resource').map(e => e.name);
    document.body.setAttribute('data-probe', JSON.stringify(out));
  };
  probe();
});
</script>"""


def _table_probe(exe: str, tmp: Path, page: Path) -> dict:
    import html as html_lib
    import json

    probed = page.with_name(f"probe-{page.name}")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", TABLE_PROBE + "</body>", 1),
                      encoding="utf-8")
    offline = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
               "--virtual-time-budget=30000"]
    dom = _headless(exe, tmp, *offline, "--dump-dom", probed.as_uri()).stdout
    probed.unlink()
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe did not run in {page.name}"
    return json.loads(html_lib.unescape(found.group(1)))


def test_a_long_table_is_paged_searchable_sortable_offline(tmp_path):
    """A report with a 60-row table, opened from disk with the network closed: DataTables from the page
    itself shows 25 rows with a search box and paging, a click on a heading sorts, nothing comes from a host."""
    exe = _chromium()
    out = tmp_path / "out"
    assert main(["run", "long_table", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress"]) == 0
    page = out / "long_table" / "report.html"
    text = page.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text  # a name holding markup arrives as escaped JSON
    probe = _table_probe(exe, tmp_path, page)
    assert probe["ready"], probe
    assert probe["rows_shown"] == 25 and probe["most_rows_shown"] <= 25, probe
    assert probe["search_box"] and probe["paging"] >= 3, probe
    assert probe["headings"][:2] == ["Name", "Code"] and "Return, %" in probe["headings"], probe
    assert probe["changed"] and probe["ascending"] and probe["first_after_sort"] < -9, probe
    assert not [u for u in probe["requests"] if re.match(r"https?://", u)], probe["requests"]
    assert 'href="chart_five_synthetic_returns.csv"' in text and (page.parent / "chart_five_synthetic_returns.csv"
                                                                  ).is_file()
    shots = Path(os.environ.get("TOKENWATCH_TEST_RESULTS", Path(__file__).parents[2] / "test-results"))
    shots.mkdir(parents=True, exist_ok=True)
    _headless(exe, tmp_path, f"--screenshot={shots / 'long_table.png'}", "--window-size=1200,1400",
              "--virtual-time-budget=30000", page.as_uri())
    from pypdf import PdfReader

    pdf = tmp_path / "long_table.pdf"
    _headless(exe, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    text = "".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "600000" in text and "600059" in text, "the PDF holds every row of the long table"


def test_the_notebook_output_of_a_long_table_is_interactive_by_itself(tmp_path):
    """What JupyterLab shows: the table's own HTML output (library inline, loaded once) turns interactive offline,
    the second table on the page using the library the first one brought."""
    import numpy as np
    import pandas as pd

    from tokenwatch import display

    exe = _chromium()
    display._FIRST["done"] = False  # a fresh kernel
    frame = pd.DataFrame({"name": [f"公司{i}" for i in range(40)], "return_pct": np.linspace(4, -4, 40)})
    first, second = display.display_table(frame, "one"), display.display_table(frame, "two")
    outputs = [first._repr_mimebundle_()["text/html"], second._repr_mimebundle_()["text/html"]]
    assert "tokenwatchLibrary" in outputs[0] and "atob(" in outputs[0] and "atob(" not in outputs[1]
    page = tmp_path / "notebook.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + "".join(outputs)
                    + "</body></html>", encoding="utf-8")
    probe = _table_probe(exe, tmp_path, page)
    assert probe["ready"] and probe["rows_shown"] == 25 and probe["search_box"], probe
    assert probe["changed"] and probe["ascending"], probe
    assert not [u for u in probe["requests"] if re.match(r"https?://", u)], probe["requests"]
