"""Count what a reader sees wrong in exported reports: `python tests/run/report_counts.py reports/x`.

Over every report.html under a folder: column headings that are internal snake_case names, cells in scientific
notation, cells with 5 or more decimals, charts without a "data (CSV)" link after them, and tables showing more
than 25 rows without scripts (a long table's rows in its JSON block count as cells and headings, not as rows).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9\u4e00-\u9fff]+)+$")
SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE][+-]?\d+")
DECIMALS = re.compile(r"\d\.\d{5,}")
PRINT_COPY = re.compile(r'<div class="tw-print">.*?</table></div>', re.S)  # a long table's copy for print only


@dataclass
class Counts:
    headings: int = 0
    snake_headings: list[str] = field(default_factory=list)
    scientific: list[str] = field(default_factory=list)
    long_decimals: list[str] = field(default_factory=list)
    charts: int = 0
    charts_without_csv: int = 0
    tables_over_25_rows: int = 0
    long_tables: int = 0

    def add_heading(self, text: str) -> None:
        self.headings += 1
        if SNAKE.match(text.strip()):
            self.snake_headings.append(text.strip())

    def add_cell(self, text: str) -> None:
        if SCIENTIFIC.search(text):
            self.scientific.append(text)
        if DECIMALS.search(text):
            self.long_decimals.append(text)

    def line(self) -> dict[str, int]:
        return {"headings": self.headings, "snake_case_headings": len(self.snake_headings),
                "scientific_cells": len(self.scientific), "cells_5plus_decimals": len(self.long_decimals),
                "charts": self.charts, "charts_without_csv_link": self.charts_without_csv,
                "tables_showing_over_25_rows": self.tables_over_25_rows, "interactive_tables": self.long_tables}


class _Page(HTMLParser):
    def __init__(self, counts: Counts) -> None:
        super().__init__(convert_charrefs=True)
        self.c = counts
        self.cell: list[str] | None = None
        self.in_th = False
        self.rows: list[int] = []  # body rows per open table
        self.skip = 0  # inside <style> or a script that is not table data
        self.data: list[str] | None = None
        self.chart_open = False  # a chart seen, its link not yet

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("type") == "application/json" and "tw-data" in (a.get("class") or ""):
            self.data = []
        elif tag in ("script", "style"):
            self.skip += 1
        elif tag == "table":
            self.rows.append(0)
        elif tag == "tr" and self.rows:
            self.rows[-1] += 1
        elif tag in ("td", "th"):
            self.cell, self.in_th = [], tag == "th"
        elif tag == "img" and (a.get("src") or "").startswith("data:image/") or tag == "svg" and not self.skip:
            self._chart()
        elif tag == "a" and self.chart_open:
            self.link: list[str] = []

    def _chart(self) -> None:
        if self.chart_open:
            self.c.charts_without_csv += 1
        self.c.charts += 1
        self.chart_open = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self.data is not None:
            self._table_data("".join(self.data))
            self.data = None
        elif tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag == "table" and self.rows:
            if self.rows.pop() - 1 > 25:  # less the heading row
                self.c.tables_over_25_rows += 1
        elif tag in ("td", "th") and self.cell is not None:
            text = "".join(self.cell)
            self.c.add_heading(text) if self.in_th else self.c.add_cell(text)
            self.cell = None
        elif tag == "a" and self.chart_open and hasattr(self, "link"):
            if "data (CSV)" in "".join(self.link):
                self.chart_open = False
            del self.link

    def handle_data(self, data: str) -> None:
        if self.data is not None:
            self.data.append(data)
        elif self.skip:
            return
        if self.cell is not None:
            self.cell.append(data)
        if hasattr(self, "link"):
            self.link.append(data)

    def _table_data(self, text: str) -> None:
        table = json.loads(text)
        self.c.long_tables += 1
        for col in table["columns"]:
            self.c.add_heading(col["label"])
        for row in table["rows"]:
            for cell in row:
                self.c.add_cell(str(cell[0]))

    def close(self) -> None:
        super().close()
        if self.chart_open:
            self.c.charts_without_csv += 1


def count_page(path: Path) -> Counts:
    counts = Counts()
    page = _Page(counts)
    page.feed(PRINT_COPY.sub("", path.read_text(encoding="utf-8")))
    page.close()
    return counts


def count_folder(folder: Path) -> dict[str, dict[str, int]]:
    """Counts per report.html under `folder`, and their total."""
    out = {}
    total: dict[str, int] = {}
    for page in sorted(folder.glob("*/report.html")):
        line = count_page(page).line()
        out[page.parent.name] = line
        for k, v in line.items():
            total[k] = total.get(k, 0) + v
    out["TOTAL"] = total
    return out


if __name__ == "__main__" and "--browser" not in sys.argv:
    folder = Path(sys.argv[1])
    for name, line in count_folder(folder).items():
        print(f"{name:20s} " + " ".join(f"{k}={v}" for k, v in line.items()))
    if "--examples" in sys.argv:
        for page in sorted(folder.glob("*/report.html")):
            c = count_page(page)
            print(page.parent.name, sorted(set(c.snake_headings))[:80], c.scientific[:5], c.long_decimals[:5])


BROWSER_PROBE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const shown = t => [...t.tBodies].flatMap(b => [...b.rows]).filter(r => r.offsetParent !== null).length;
  const tables = [...document.querySelectorAll('table')].filter(t => t.offsetParent !== null);
  const long = [...document.querySelectorAll('div.tw-long')];
  document.body.setAttribute('data-counts', JSON.stringify({
    tables: tables.length, most_rows_shown: Math.max(0, ...tables.map(shown)), long_tables: long.length,
    long_tables_with_search: long.filter(b => b.querySelector('.tw-live input[type=search]')).length,
    remote_requests: performance.getEntriesByType('resource').map(e => e.name).filter(u => /^https?:/i.test(u)),
  }));
}, 3000));
</script>"""


def browser_counts(page: Path, chromium: str = "chromium") -> dict:
    """The page opened from disk in headless Chromium, scripts on, the network closed: tables shown, the most rows
    any shows at once, long tables and those with a search box, requests to another host."""
    import html as html_lib
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        probed = page.with_name(f"counts-{page.name}")
        probed.write_text(page.read_text(encoding="utf-8").replace("</body>", BROWSER_PROBE + "</body>", 1),
                          encoding="utf-8")
        try:
            dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp}",
                                  "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                                  "--virtual-time-budget=30000", "--dump-dom", probed.as_uri()],
                                 capture_output=True, text=True, timeout=180).stdout
        finally:
            probed.unlink()
    found = re.search(r'data-counts="([^"]*)"', dom)
    return json.loads(html_lib.unescape(found.group(1))) if found else {"error": "the probe did not run"}


if __name__ == "__main__" and "--browser" in sys.argv:
    for page in sorted(Path(sys.argv[1]).resolve().glob("*/report.html")):
        print(f"{page.parent.name:20s}", browser_counts(page))
