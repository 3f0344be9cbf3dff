"""PDF copies of the reports and the brief, printed by headless Chromium (Debian's `chromium`).

Chromium renders the same offline HTML a reader opens, with the machine's fonts: Chinese names need a CJK font
(Debian's fonts-wqy-microhei or fonts-noto-cjk). The pages carry their own print rules (A4, a landscape page only
for a table wider than a portrait page, numbered pages with the run's date and commit in the footer).

Chromium prints with the network off: every request goes to a proxy that is not there and no host name resolves,
so an image or a font from another host is never fetched. It runs in its own process group, killed whole after
`timeout` seconds; once one page hangs, the pages not yet started are not tried. Each PDF is printed to a
temporary name beside its page, its links made relative to its folder (never the sender's `file://` paths), and
renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CJK = ("wenquanyi", "wqy", "noto sans cjk", "noto serif cjk", "source han")
TIMEOUT_ENV = "TOKENWATCH_PDF_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
# No network: every request (loopback too) goes to a discard port with nothing listening, and no name resolves.
OFFLINE = ("--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--host-resolver-rules=MAP * ~NOTFOUND")
QUIET = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-domain-reliability", "--no-default-browser-check", "--no-pdf-header-footer")


def chromium() -> str | None:
    """The first headless-capable browser on PATH."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def has_cjk_font() -> bool:
    """Whether fontconfig lists a CJK font (so Chinese prints as glyphs, not boxes)."""
    try:
        listed = subprocess.run(["fc-list"], capture_output=True, text=True, timeout=30).stdout.lower()
    except (OSError, subprocess.SubprocessError):
        return False
    return any(name in listed for name in CJK)


def print_timeout() -> float:
    """Seconds one page may take: TOKENWATCH_PDF_TIMEOUT, else 60."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


class Hung(Exception):
    """Chromium did not finish a page in time (its whole process group was killed)."""


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_browser(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run Chromium in a process group of its own; on timeout kill the group (renderers, zygotes, crash handler)
    and raise Hung. The group is also ended after a normal exit, so no child outlives the call."""
    # Output goes to files, not pipes: a child that left the group (setsid) and still holds a pipe would keep a
    # read of it waiting after the group is killed.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            raise Hung(f"more than {timeout:g} s") from None
        finally:
            _kill_group(proc)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, proc.returncode, out.read(), err.read())


def relative_links(pdf: Path, root: Path) -> int:
    """Rewrite the PDF's `file://` links under `root` as links relative to the PDF's folder; a `file://` link
    elsewhere is removed (it would show the sender's folder and be dead for a recipient). Links changed."""
    import logging

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # Chromium's trailers draw harmless size warnings
    writer = PdfWriter(clone_from=PdfReader(pdf))
    root, changed = root.resolve(), 0
    for page in writer.pages:
        annots = page.get("/Annots")
        if annots is None:
            continue
        keep = []
        for ref in annots.get_object():
            annot = ref.get_object()
            action = annot.get("/A")
            uri = str(action.get_object().get("/URI", "")) if action is not None else ""
            if not uri.startswith("file:"):
                keep.append(ref)
                continue
            changed += 1
            parts = urlsplit(uri)
            target = Path(unquote(parts.path))
            try:
                target.resolve().relative_to(root)
            except ValueError:
                continue  # outside the collection: dropped
            rel = os.path.relpath(target, pdf.parent).replace(os.sep, "/") + (f"#{parts.fragment}"
                                                                                if parts.fragment else "")
            action.get_object()[NameObject("/URI")] = TextStringObject(rel)
            keep.append(ref)
        page[NameObject("/Annots")] = type(annots.get_object())(keep)
    if changed:
        tmp = pdf.with_name(f".{pdf.name}.links.tmp")
        with open(tmp, "wb") as fh:
            writer.write(fh)
        os.replace(tmp, pdf)
    return changed


def print_pdf(exe: str, page: Path, pdf: Path, root: Path, timeout: float) -> str:
    """Print `page` to `pdf` with the network off, links relative to `root`; '' when done, else what went wrong.
    Raises Hung when Chromium does not finish in `timeout` seconds."""
    tmp = pdf.with_name(f".{pdf.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tempfile.TemporaryDirectory(prefix="tokenwatch-chromium-") as profile:
        args = [exe, *QUIET, *OFFLINE, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}", page.as_uri()]
        try:
            done = run_browser(args, timeout)
        except Hung:
            tmp.unlink(missing_ok=True)
            raise
    if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        last = (done.stderr or "").strip().splitlines()[-1:]
        return f"Chromium failed ({last[0] if last else f'exit {done.returncode}'})"
    try:
        relative_links(tmp, root)
    except Exception as exc:  # noqa: BLE001 - a PDF whose links cannot be made relative is not shared
        tmp.unlink(missing_ok=True)
        return f"its links could not be made relative ({type(exc).__name__}: {exc})"
    os.replace(tmp, pdf)
    return ""


@dataclass
class Printed:
    """What a batch of prints did: the PDFs written, the pages not printed (with why) and warnings."""

    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [*self.warnings, *self.failed]


def _name(page: Path, root: Path) -> str:
    try:
        return page.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return page.name


def print_pdfs(pages: list[tuple[Path, Path]], root: Path, jobs: int = 2,
               timeout: float | None = None) -> Printed:
    """Print each (page, pdf) pair, `jobs` at a time. A missing browser is said once; a page that hangs is named,
    and the pages not started by then are skipped (a hung browser would hang them too)."""
    done = Printed()
    exe = chromium()
    if exe is None:
        done.failed = ["no Chromium on PATH (apt-get install chromium): " + ", ".join(_name(p, root) for p, _ in pages)
                       + " not printed; the HTML is complete"]
        return done
    if not has_cjk_font():
        done.warnings.append("no CJK font found (apt-get install fonts-wqy-microhei): Chinese names may print as boxes")
    timeout = timeout or print_timeout()
    hung = threading.Event()

    def one(pair: tuple[Path, Path]) -> str:
        page, pdf = pair
        if not page.is_file():
            return "not printed, the page is missing"
        if hung.is_set():
            return "not printed, skipped after Chromium hung on another page"
        try:
            return print_pdf(exe, page, pdf, root, timeout)
        except Hung as exc:
            hung.set()
            return f"Chromium hung ({exc}) and was stopped; no PDF"

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        errors = list(pool.map(one, pages))
    for (page, pdf), error in zip(pages, errors, strict=True):
        if error:
            done.failed.append(f"{_name(page, root)}: {error}")
        else:
            done.written.append(pdf)
    return done


def print_collection(out_root: Path, folders: list[str], jobs: int = 2, timeout: float | None = None) -> Printed:
    """report.pdf in each run folder, then the index rebuilt with its PDF links, then brief.pdf beside it (and the
    index once more, so it links the brief's PDF)."""
    from tokenwatch.run.runner import write_index

    if chromium() is None:
        return Printed(failed=[f"no Chromium on PATH (apt-get install chromium): {len(folders)} report(s) and the "
                               "brief not printed; the HTML is complete"])
    done = print_pdfs([(out_root / f / "report.html", out_root / f / "report.pdf") for f in folders], out_root,
                      jobs, timeout)
    if any("hung" in f for f in done.failed):
        done.failed.append("index.html: not printed, skipped after Chromium hung on a report")
        return done
    write_index(out_root)
    brief = print_pdfs([(out_root / "index.html", out_root / "brief.pdf")], out_root, 1, timeout)
    done.written += brief.written
    done.failed += brief.failed
    if brief.written:
        write_index(out_root)
    return done


def retire_stale_pdfs(out_root: Path) -> list[str]:
    """Remove each PDF printed before its run last finished (or was reused): brief.pdf against the latest run,
    report.pdf against its own. What was removed, one line each."""
    from datetime import UTC, datetime

    from tokenwatch.run.history import fresh_pdf
    from tokenwatch.run.runner import scan_runs

    runs = scan_runs(out_root)
    pairs = [(out_root / "brief.pdf", float(runs["finished"].max()) if len(runs) else 0.0)]
    pairs += [(out_root / r.output_folder / "report.pdf", float(r.finished)) for r in runs.itertuples(index=False)]
    removed = []
    for path, since in pairs:
        if path.is_file() and not fresh_pdf(path, since):
            when = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
            path.unlink()
            removed.append(f"removed {path.relative_to(out_root).as_posix()} of {when}, older than its run "
                           "(rerun with --pdf for a current one)")
    return removed
