"""PDFs: printed offline, A4 with a landscape page only for a wide table, numbered with the run's date and commit,
Chinese text intact, links relative; a hanging Chromium is stopped whole, named, and the command fails."""

import contextlib
import http.server
import os
import shutil
import signal
import subprocess
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from tokenwatch.run import pdf
from tokenwatch.run.cli import main
from tokenwatch.run.report_page import footer_line, print_style

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"


def _chromium() -> str:
    exe = pdf.chromium()
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - the handler's name is http.server's
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

    def log_message(self, *args):
        pass


@pytest.fixture
def beacon():
    """A local web server counting the requests it gets: (address, hits)."""
    _Counter.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Counter.hits
    server.shutdown()


def test_chromium_prints_with_the_network_off(tmp_path, beacon):
    exe = _chromium()
    address, hits = beacon
    page = tmp_path / "page.html"
    page.write_text(f'<html><body><h1>beacon</h1><img src="{address}/beacon.gif"><img src="http://localhost:'
                    f'{address.rsplit(":", 1)[1]}/by-name.gif"><link rel="stylesheet" href="{address}/style.css">'
                    "</body></html>", encoding="utf-8")
    # the server counts: Chromium without the guard fetches the image
    subprocess.run([exe, *pdf.QUIET, f"--user-data-dir={tmp_path / 'p0'}", "--virtual-time-budget=3000",
                    "--dump-dom", page.as_uri()], capture_output=True, timeout=120)
    assert hits, "control: the page's image was not fetched even without the guard"
    hits.clear()
    done = pdf.print_pdfs([(page, tmp_path / "page.pdf")], tmp_path)
    assert done.written == [tmp_path / "page.pdf"] and not done.failed
    assert hits == [], f"printing fetched {hits}"


FAKE = """#!/bin/sh
# a browser that hangs, with a child of its own (as Chromium's renderers and crash handler are)
sleep 1000 &
echo $! > "{pids}/child"
echo $$ > "{pids}/parent"
# and one that leaves the group, holding the output it inherited (audit N-07: the command then waited on it)
setsid sleep 1003 &
echo $! > "{pids}/escaped"
sleep 1000
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_a_hanging_chromium_is_stopped_whole_named_and_the_run_fails(tmp_path, monkeypatch, capsys):
    bin_dir, pids = tmp_path / "bin", tmp_path / "pids"
    bin_dir.mkdir()
    pids.mkdir()
    fake = bin_dir / "chromium"
    fake.write_text(FAKE.format(pids=pids), encoding="utf-8")
    fake.chmod(0o755)
    out = tmp_path / "out"
    assert main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress"]) == 0
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(pdf.TIMEOUT_ENV, "3")
    capsys.readouterr()
    started = time.monotonic()
    code = main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", "--pdf"])
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert code != 0, "no PDF was written: the command must fail"
    assert took < 30, f"a hanging Chromium held the command {took:.0f} s"
    assert "echo/report.html: Chromium hung" in err, err  # which report
    assert "index.html: not printed" in err, err
    assert not list(out.rglob("*.pdf")) and not list(out.rglob("*.tmp"))
    time.sleep(0.5)
    escaped = int((pids / "escaped").read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(escaped, signal.SIGKILL)  # outside the group: no tool can end it by the group, the test does
    for name in ("parent", "child"):
        pid = int((pids / name).read_text())
        assert not _alive(pid), f"the browser's {name} (pid {pid}) was left running"


def test_pdf_is_a4_with_a_landscape_page_for_a_wide_table_numbered_and_relative(tmp_path):
    from pypdf import PdfReader

    _chromium()
    root = tmp_path / "out"
    (root / "nb").mkdir(parents=True)
    (root / "nb" / "report.html").write_text("<html><body>the report</body></html>", encoding="utf-8")
    wide = "<table><tr>" + "".join(f"<td>column_number_{i}</td>" for i in range(24)) + "</tr></table>"
    footer = footer_line("Weekly tracker", "2025-06-30T01:02:03+00:00")
    page = root / "index.html"
    page.write_text(f'<html><head><meta charset="utf-8">{print_style(footer)}</head><body>'
                    '<h1>景旺电子 brief</h1><p><a href="nb/report.html">the report</a> · <a href="#end">end</a>'
                    f' · <a href="https://example.org/x">web</a></p><section>{wide}</section>'
                    '<p id="end">the end, 胜宏科技</p></body></html>', encoding="utf-8")
    done = pdf.print_pdfs([(page, root / "brief.pdf")], root)
    assert not done.failed, done.failed
    reader = PdfReader(root / "brief.pdf")
    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages]
    assert sizes[0] == (595, 842), sizes  # A4 portrait, in points
    assert (842, 595) in sizes, f"the wide table got no landscape page: {sizes}"
    assert sizes[-1] == (595, 842), sizes  # back to portrait after the table
    text = unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))
    assert f"page 1 of {len(sizes)}" in text and "run 2025-06-30 01:02:03 UTC" in text and "commit " in text
    if pdf.has_cjk_font():
        assert "景旺电子" in text and "胜宏科技" in text
    uris = [str(a.get_object()["/A"].get("/URI")) for p in reader.pages for a in p.get("/Annots", [])
            if "/A" in a.get_object() and "/URI" in a.get_object()["/A"]]
    assert "nb/report.html" in uris and "https://example.org/x" in uris, uris
    assert not [u for u in uris if u.startswith("file:") or str(tmp_path) in u], uris


def test_a_file_link_outside_the_collection_is_dropped(tmp_path):
    from pypdf import PdfReader

    _chromium()
    root = tmp_path / "out"
    root.mkdir()
    page = root / "index.html"
    page.write_text(f'<html><body><a href="{(tmp_path / "private.txt").as_uri()}">private</a> '
                    '<a href="sub/x.html">inside</a></body></html>', encoding="utf-8")
    assert not pdf.print_pdfs([(page, root / "brief.pdf")], root).failed
    text = (root / "brief.pdf").read_bytes()
    uris = [str(a.get_object()["/A"]["/URI"]) for p in PdfReader(root / "brief.pdf").pages
            for a in p.get("/Annots", [])]
    assert uris == ["sub/x.html"] and str(tmp_path).encode() not in text


def test_without_chromium_the_pdf_run_fails_once_and_keeps_the_html(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tokenwatch.run.pdf.chromium", lambda: None)
    out = tmp_path / "out"
    assert main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", "--pdf",
                 "--sweep", "label=a,b"]) == 1
    err = capsys.readouterr().err
    assert err.count("no Chromium on PATH") == 1
    assert (out / "echo" / "label=a" / "report.html").is_file() and not list(out.rglob("*.pdf"))


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed")
def test_a_stale_brief_pdf_is_removed_and_never_linked(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", "--pdf"]) == 0
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="brief.pdf"' in index and 'href="echo/report.pdf"' in index  # current: linked
    capsys.readouterr()
    assert main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err  # reused from the cache: a rerun all the same, after the PDFs
    assert "removed brief.pdf of" in err and "removed echo/report.pdf of" in err
    index = (out / "index.html").read_text(encoding="utf-8")
    assert not list(out.rglob("*.pdf")) and "brief.pdf" not in index and "report.pdf" not in index
