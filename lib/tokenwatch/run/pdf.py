"""PDF copies of the reports and the brief, printed by headless Chromium (Debian's `chromium`).

Chromium renders the same offline HTML a reader opens, with the machine's fonts: Chinese names need a CJK font
(Debian's fonts-wqy-microhei or fonts-noto-cjk). Where Chromium is missing, `print_pdfs` says so once and the
HTML stands alone. Each PDF is printed to a temporary name beside its page and renamed into place when complete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CJK = ("wenquanyi", "wqy", "noto sans cjk", "noto serif cjk", "source han")


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


def print_pdf(exe: str, page: Path, pdf: Path, timeout: float = 120) -> str:
    """Print `page` to `pdf`; '' when done, else what went wrong."""
    tmp = pdf.with_name(f".{pdf.name}.{os.getpid()}.tmp")
    with tempfile.TemporaryDirectory(prefix="tokenwatch-chromium-") as profile:
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={tmp}", page.as_uri()]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            return f"{page.name}: Chromium took more than {timeout:g} s"
    if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        return f"{page.name}: Chromium failed ({done.stderr.strip().splitlines()[-1:] or done.returncode})"
    os.replace(tmp, pdf)
    return ""


def print_pdfs(pages: list[tuple[Path, Path]], jobs: int = 2) -> tuple[list[Path], list[str]]:
    """Print each (page, pdf) pair; the PDFs written and the messages (a missing browser said once)."""
    exe = chromium()
    if exe is None:
        return [], ["no Chromium on PATH (apt-get install chromium): PDFs skipped, the HTML reports are complete"]
    messages = [] if has_cjk_font() else [
        "no CJK font found (apt-get install fonts-wqy-microhei): Chinese names may print as boxes"]
    pages = [(page, pdf) for page, pdf in pages if page.is_file()]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        errors = list(pool.map(lambda pair: print_pdf(exe, *pair), pages))
    messages += [e for e in errors if e]
    return [pdf for (_, pdf), e in zip(pages, errors, strict=True) if not e], messages


def print_collection(out_root: Path, folders: list[str], jobs: int = 2) -> tuple[list[Path], list[str]]:
    """report.pdf in each run folder, then the index rebuilt with its PDF links, then brief.pdf beside it."""
    from tokenwatch.run.runner import write_index

    written, messages = print_pdfs([(out_root / f / "report.html", out_root / f / "report.pdf") for f in folders],
                                   jobs)
    if chromium() is None:
        return written, messages
    write_index(out_root)
    brief, more = print_pdfs([(out_root / "index.html", out_root / "brief.pdf")], jobs)
    return written + brief, messages + [m for m in more if m not in messages]
