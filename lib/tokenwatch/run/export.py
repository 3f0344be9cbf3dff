"""Self-contained HTML exports of executed notebooks, a provenance footer, and the run index."""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import nh3

if TYPE_CHECKING:
    import nbformat
    import pandas as pd
    from nbconvert import HTMLExporter

from tokenwatch import __version__, display
from tokenwatch.markup import LINK_SCHEMES, MARKDOWN_LINK_SCHEMES, inert_css, safe_href, safe_img_src
from tokenwatch.paths import git_commit

_REMOTE_SCRIPT = re.compile(r"<script[^>]+src=\"https?://[^\"]*\"[^>]*>\s*</script>", re.I)
_REMOTE_LINK = re.compile(r"<link[^>]+href=\"https?://[^\"]*\"[^>]*>", re.I)
_REMOTE_MODULE = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?import\(\"https?://.*?</script>", re.S)


TEMPLATES = Path(__file__).parent / "templates"


_NO_ALT = re.compile(r"<img(?![^>]*\balt=)")
_FOCUSABLE = re.compile(r'(<div class="(?:[^"]* )?(?:jp-Cell-inputWrapper|jp-OutputArea-output)(?: [^"]*)?")')


def _accessible(page: str) -> str:
    """What nbconvert's HTMLExporter adds after rendering, without its BeautifulSoup round trip (which took two
    thirds of a long page's export): alternative text on images and focusable input and output areas."""
    page = _NO_ALT.sub('<img alt="Chart; the data behind it is linked below it"', page)
    return _FOCUSABLE.sub(r'\1 tabindex="0"', page)


@lru_cache(maxsize=2)
def _exporter(with_code: bool) -> HTMLExporter:
    """nbconvert's JupyterLab export through the project's template (templates/tokenwatch): long tables come
    from their JSON output, rendered by `display.table_html`, and made interactive by the project's script."""
    from nbconvert import HTMLExporter  # imported when a page is exported, not for the index
    from nbconvert.exporters.html import WidgetsDataTypeFilter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.utils.base import NbConvertBase
    from traitlets.config import Config

    class Exporter(HTMLExporter):
        """HTMLExporter.from_notebook_node with `_accessible` in place of its BeautifulSoup pass."""

        def from_notebook_node(  # type: ignore[override]
                self, nb: Any, resources: Any = None, **kw: Any) -> tuple[str, dict[str, Any]]:
            lang = nb.metadata.get("language_info", {})
            lexer = lang.get("pygments_lexer", lang.get("name", None))
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _accessible(page), resources

    priority = [display.MIME, *NbConvertBase().display_data_priority]
    exporter = Exporter(config=Config({"NbConvertBase": {"display_data_priority": priority}}),
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
# What a Markdown output may hold once rendered: text markup, lists, tables and links; no image, no style.
_MD_TAGS = (nh3.ALLOWED_TAGS - {"img"}) | {"table", "thead", "tbody", "tr", "th", "td", "div", "span"}
_MD_ATTRIBUTES = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}, "div": {"class"}}
_STYLE_BLOCK = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S | re.I)


def _keep_attribute(tag: str, attribute: str, value: str, schemes: frozenset[str] = LINK_SCHEMES) -> str | None:
    """nh3's attribute filter: links and images only where `tokenwatch.markup` allows them, styles inert."""
    if attribute == "href":
        return value if safe_href(value, schemes) else None
    if attribute == "src":
        return value if tag == "img" and safe_img_src(value) else None
    if attribute == "style":
        return inert_css(value)
    return value


def clean_html(text: str) -> str:
    """An HTML output as an export may show it: tags and attributes on the allowlists, links and images only where
    `tokenwatch.markup` allows them (no javascript:, data: or remote image), `<style>` blocks loading nothing."""
    cleaned = nh3.clean(text, tags=_TAGS, attributes=_ATTRIBUTES, clean_content_tags=set(), link_rel=None,
                        url_schemes={"http", "https", "mailto", "data"}, strip_comments=True,
                        attribute_filter=_keep_attribute)
    return _STYLE_BLOCK.sub(lambda m: m.group(1) + inert_css(m.group(2)) + m.group(3), cleaned)


@lru_cache(maxsize=1)
def _markdown() -> Callable[[str], str]:
    import mistune  # nbconvert's own Markdown renderer; no autolinking of bare URLs, raw HTML shown as text

    return cast(Callable[[str], str], mistune.create_markdown(escape=True, plugins=["strikethrough", "table"]))


def markdown_html(text: str) -> str:
    """A Markdown output rendered to HTML here, then sanitised: what nbconvert would render, minus raw HTML,
    images and any link outside `tokenwatch.markup.safe_href`."""
    rendered = _markdown()(text).replace(' href="#harmful-link"', "")  # mistune's stand-in for an unsafe link
    return nh3.clean(rendered, tags=_MD_TAGS, attributes=_MD_ATTRIBUTES, clean_content_tags={"script", "style"},
                     link_rel=None, url_schemes=set(MARKDOWN_LINK_SCHEMES), strip_comments=True,
                     attribute_filter=lambda tag, attr, value: _keep_attribute(tag, attr, value, MARKDOWN_LINK_SCHEMES))


def sanitize_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` whose outputs cannot run markup, open a javascript:/data: link or load anything: HTML outputs
    go through nh3 (the Ammonia sanitizer) with the link and image rules of `tokenwatch.markup`; Markdown outputs
    are rendered to HTML here and sanitised after that, the last rendering step, so nbconvert renders no Markdown
    of an output afterwards. Script outputs (application/javascript) are dropped."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in [m for m in data if "javascript" in m or m.endswith("+javascript")]:
                del data[mime]
            if "text/html" in data:
                data["text/html"] = clean_html(_joined(data["text/html"]))
                data.pop("text/markdown", None)
            elif "text/markdown" in data:
                body = markdown_html(_joined(data.pop("text/markdown")))
                data["text/html"] = f'<div class="jp-RenderedMarkdown">{body}</div>'
    return nb


def _joined(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


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
    from tokenwatch.run.history import fresh_pdf

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
