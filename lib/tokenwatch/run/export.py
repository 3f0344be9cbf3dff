"""Self-contained HTML exports of executed notebooks, a provenance footer, and the run index."""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import nh3

if TYPE_CHECKING:
    import nbformat
    import pandas as pd
    from nbconvert import HTMLExporter

from tokenwatch import __version__
from tokenwatch.paths import PROJECT_ROOT

_REMOTE_SCRIPT = re.compile(r"<script[^>]+src=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)
_REMOTE_LINK = re.compile(r"<link[^>]+href=\"https?://[^\"]*\"[^>]*>", re.I)
_REMOTE_MODULE = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?import\(\"https?://.*?</script>", re.S)


@lru_cache(maxsize=2)
def _exporter(with_code: bool) -> HTMLExporter:
    from nbconvert import HTMLExporter  # imported when a page is exported, not for the index

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    exporter.exclude_input = not with_code
    exporter.exclude_input_prompt = not with_code
    exporter.exclude_output_prompt = not with_code
    return exporter


# What a cell's HTML output may hold once exported: tables, their styles, text markup, links, images.
_TAGS = nh3.ALLOWED_TAGS | {"style", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
                            "colgroup", "col", "div", "span", "img", "details", "summary"}
_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "*": {"class", "id", "style", "title", "colspan", "rowspan"},
               "style": {"type", "scoped"}, "a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}


def sanitize_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` whose outputs cannot run markup: names or parameters holding `<script>` or
    `onerror=` become text. HTML outputs go through nh3 (the Ammonia sanitizer: scripts, event
    handlers and javascript: links removed, tables and their styles kept); Markdown outputs have
    their `<` escaped, so they render no raw HTML."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                html_text = data["text/html"]
                html_text = "".join(html_text) if isinstance(html_text, list) else html_text
                data["text/html"] = nh3.clean(html_text, tags=_TAGS, attributes=_ATTRIBUTES, clean_content_tags=set(),
                                              link_rel=None, url_schemes={"http", "https", "mailto", "data"},
                                              strip_comments=True)
            if "text/markdown" in data:
                text = data["text/markdown"]
                text = "".join(text) if isinstance(text, list) else text
                data["text/markdown"] = text.replace("<", "&lt;")
    return nb


def notebook_html(nb: nbformat.NotebookNode, *, with_code: bool, footer: str = "", sanitized: bool = False) -> str:
    """HTML for an executed notebook, images inline, outputs sanitized (pass `sanitized=True` for a notebook
    already through `sanitize_outputs`), no remote scripts or styles."""
    body, _ = _exporter(with_code).from_notebook_node(nb if sanitized else sanitize_outputs(nb))
    body = _REMOTE_SCRIPT.sub("", body)
    body = _REMOTE_LINK.sub("", body)
    body = _REMOTE_MODULE.sub("", body)  # the mermaid loader: no diagrams here, and no CDN
    return body.replace("</body>", footer + "\n</body>", 1) if footer else body


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The checkout's commit, with '+dirty' when files differ from it ('unknown' outside git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, text=True,
                                capture_output=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               text=True, capture_output=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _source_text(s: dict[str, Any]) -> str:
    """A price source as 'symbols: source [basis] first..last'; a curated file as 'file: description'."""
    if "price_basis" in s:
        return (f"{s.get('symbols', '')}: {s.get('source', '')} [{s['price_basis']}] "
                f"{s.get('first_date', '')}..{s.get('last_date', '')}")
    return "; ".join(f"{k}: {v}" for k, v in s.items())


def provenance_footer(parameters: dict[str, Any], summary: dict[str, Any] | None, ran_at: str) -> str:
    """The footer every export carries: version, commit, parameters, data sources, time of the run."""
    sources = (summary or {}).get("sources") or []
    rows = ("".join(f"<li>{html.escape(_source_text(s))}</li>" for s in sources)
            or "<li>not recorded by the notebook</li>")
    params = html.escape(json.dumps(parameters, ensure_ascii=False, default=str))
    return (
        '<footer style="margin:2em 1em;padding-top:.5em;border-top:1px solid #ccc;font:12px sans-serif;color:#555">'
        f"<b>Provenance</b> · tokenwatch {html.escape(__version__)} · commit {html.escape(git_commit())} · "
        f"run at {html.escape(ran_at)}<br>parameters: <code>{params}</code><br>data:<ul>{rows}</ul></footer>"
    )


def _headline(summary_path) -> str:
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    from tokenwatch.run.brief import plain_numbers

    items = (summary.get("headline") or {}).items()
    return "<br>".join(html.escape(plain_numbers(f"{k}: {_fmt(v)}")) for k, v in items)


def _fmt(v: Any) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def index_html(runs: pd.DataFrame, out_dir) -> str:
    """The brief (run/brief.py), then one table of every run with status, parameters, time, headline figures and
    links; a PDF is linked only when printed after its run."""
    from tokenwatch.run.brief import brief_page
    from tokenwatch.run.pdf import fresh_pdf

    rows = []
    for r in runs.itertuples(index=False):
        folder = out_dir / r.output_folder
        links = " · ".join(f'<a href="{html.escape(r.output_folder)}/{f}">{label}</a>'
                           for f, label in [("report.html", "report"),
                                            ("report.pdf", "pdf"), (f"{r.notebook}.ipynb", "ipynb"),
                                            ("summary.json", "summary.json")]
                           if (folder / f).exists() and (f != "report.pdf" or fresh_pdf(folder / f, r.finished)))
        colour = "#1e8449" if r.status == "ok" else "#c0392b"
        cached = " · cached" if str(getattr(r, "cached", "")).lower() == "true" else ""
        error = f'<br><small>{html.escape(str(r.error))}</small>' if isinstance(r.error, str) and r.error else ""
        kept = str(getattr(r, "last_good_folder", "") or "")
        if kept:
            error += (f'<br><small>shown: this failed attempt ({html.escape(r.output_folder)}/); the last good run '
                      f'is kept: <a href="{html.escape(kept)}/report.html">{html.escape(kept)}/</a></small>')
        rows.append(
            f"<tr><td>{html.escape(r.notebook)}</td><td><code>{html.escape(str(r.parameters))}</code></td>"
            f'<td style="color:{colour}"><b>{html.escape(r.status)}</b>{cached}{error}</td><td>{r.seconds:.1f}</td>'
            f"<td>{_headline(folder / 'summary.json')}</td><td>{links}</td></tr>")
    table = ("<table><tr><th>notebook</th><th>parameters</th><th>status</th><th>seconds</th>"
             "<th>headline</th><th>exports</th></tr>" + "".join(rows) + "</table>")
    return brief_page(runs, out_dir, table)
