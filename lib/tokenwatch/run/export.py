"""Self-contained HTML exports of executed notebooks, a provenance footer, and the run index."""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nh3

if TYPE_CHECKING:
    import nbformat
    import pandas as pd
    from nbconvert import HTMLExporter

from tokenwatch import __version__, display
from tokenwatch.paths import PROJECT_ROOT

_REMOTE_SCRIPT = re.compile(r"<script[^>]+src=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)
_REMOTE_LINK = re.compile(r"<link[^>]+href=\"https?://[^\"]*\"[^>]*>", re.I)
_REMOTE_MODULE = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?import\(\"https?://.*?</script>", re.S)


TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=2)
def _exporter(with_code: bool) -> HTMLExporter:
    """nbconvert's JupyterLab export through the project's template (templates/tokenwatch): long tables come
    from their JSON output, rendered by `display.table_html`, and made interactive by the project's script."""
    from nbconvert import HTMLExporter  # imported when a page is exported, not for the index
    from nbconvert.utils.base import NbConvertBase
    from traitlets.config import Config

    priority = [display.MIME, *NbConvertBase().display_data_priority]
    exporter = HTMLExporter(config=Config({"NbConvertBase": {"display_data_priority": priority}}),
                            template_name="tokenwatch", extra_template_basedirs=[str(TEMPLATES)], embed_images=True)
    exporter.register_filter("tokenwatch_table", display.table_html)
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
    nb = nb if sanitized else sanitize_outputs(nb)
    resources = {"tokenwatch_table_script": display.page_script()} if _has_long_table(nb) else {}
    body, _ = _exporter(with_code).from_notebook_node(nb, resources=resources)
    body = _REMOTE_SCRIPT.sub("", body)
    body = _REMOTE_LINK.sub("", body)
    body = _REMOTE_MODULE.sub("", body)  # the mermaid loader: no diagrams here, and no CDN
    return body.replace("</body>", footer + "\n</body>", 1) if footer else body


def _has_long_table(nb: nbformat.NotebookNode) -> bool:
    return any(display.MIME in output.get("data", {}) for cell in nb.cells for output in cell.get("outputs", []))


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
    items = (summary.get("headline") or {}).items()
    return "<br>".join(html.escape(f"{k}: {_fmt(v)}") for k, v in items)


def _fmt(v: Any) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def index_html(runs: pd.DataFrame, out_dir) -> str:
    """One offline page listing every run with status, parameters, time, headline figures and links."""
    rows = []
    for r in runs.itertuples(index=False):
        folder = out_dir / r.output_folder
        links = " · ".join(f'<a href="{html.escape(r.output_folder)}/{f}">{label}</a>'
                           for f, label in [("report.html", "report"),
                                            ("report.pdf", "pdf"), (f"{r.notebook}.ipynb", "ipynb"),
                                            ("summary.json", "summary.json")]
                           if (folder / f).exists())
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
    from tokenwatch.run.brief import brief_sections, sweep_views

    failed = int((runs["status"] != "ok").sum()) if len(runs) else 0
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tokenwatch brief</title>'
        "<style>body{font:14px sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ddd;padding:.4em .6em;vertical-align:top;text-align:left}"
        "th{background:#f4f4f4}code{font-size:12px}img{max-width:100%}</style></head><body>"
        "<h1>tokenwatch brief: token consumption as the anchor for compute demand</h1>"
        f"<p>Each section is one notebook's findings, computed from data by its run, with a link to its report. "
        f"tokenwatch {html.escape(__version__)} · commit {html.escape(git_commit())} · {len(runs)} runs, "
        f'{failed} failed · <a href="#runs">all runs</a>'
        + (' · <a href="brief.pdf">PDF</a>' if (out_dir / "brief.pdf").is_file() else "") + "</p>"
        + brief_sections(runs, out_dir) + sweep_views(runs, out_dir)
        + '<h2 id="runs">All runs</h2>'
        "<table><tr><th>notebook</th><th>parameters</th><th>status</th><th>seconds</th>"
        "<th>headline</th><th>exports</th></tr>" + "".join(rows) + "</table></body></html>\n"
    )
