"""Markup from data or parameters in the exports: escaped for Markdown and HTML, sanitised after the last rendering
step, and no javascript:, data: or remote-resource URL from data ever a link or an image (audit A5-01/02/04)."""

import re

import nbformat
import pytest

from tokenwatch.markup import inert_css, md_bullets, md_escape, safe_href, safe_img_src
from tokenwatch.run.export import clean_html, markdown_html, notebook_html, sanitize_outputs

HOSTILE = ["[click me](javascript:alert(document.domain))", "![beacon](http://127.0.0.1:18999/seg-beacon.png)",
           "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
           "<style>@import url(http://127.0.0.1:18999/css-beacon.css);body{display:none}</style>",
           "[verify here](JaVa&#x09;ScRiPt:alert(document.cookie))", "<http://127.0.0.1:18999/auto.png>"]


def _urls(page: str) -> list[str]:
    return re.findall(r"(?:href|src)\s*=\s*[\"']?([^\"' >]*)", page)


def _notebook(*outputs: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data=d) for d in outputs]
    return nb


def _body(page: str) -> str:
    """The page from the first cell on: the template's own head (its styles and scripts) left out."""
    return page[page.index("jp-Cell"):]


@pytest.mark.parametrize("with_code", [False, True])
def test_markdown_outputs_from_data_never_become_links_or_images(with_code):
    # the way notebooks 01 and 03 show names, segments and claim ids: escaped for Markdown first
    escaped = {"text/markdown": md_bullets(HOSTILE)}
    # and a Markdown output that did not escape: the sanitiser after rendering still removes every such URL
    raw = {"text/markdown": "\n".join(f"- **{h}**" for h in HOSTILE)}
    page = _body(notebook_html(_notebook(escaped, raw), with_code=with_code))
    urls = _urls(page)
    assert not [u for u in urls if re.match(r"\s*(javascript|data|http)", u, re.I)], urls
    shown = "".join(o["data"]["text/html"] for o in sanitize_outputs(_notebook(escaped, raw)).cells[0].outputs)
    assert "<img" not in shown and "<style" not in shown and "<a " not in shown
    # the escaped output shows each text as it was written
    assert "[click me](javascript:alert(document.domain))" in page
    assert "![beacon](http://127.0.0.1:18999/seg-beacon.png)" in page


def test_markdown_is_rendered_before_sanitising_so_nbconvert_renders_none():
    clean = sanitize_outputs(_notebook({"text/markdown": "**bold** [src](https://example.com/a)"}))
    data = clean.cells[0].outputs[0]["data"]
    assert "text/markdown" not in data  # nothing left for nbconvert to render after the sanitiser
    assert "<strong>bold</strong>" in data["text/html"]
    assert '<a href="https://example.com/a">src</a>' in data["text/html"]  # a publisher's https link stays a link


def test_html_outputs_keep_only_safe_links_images_and_styles():
    html = ('<a href="data:text/html;base64,AA">d</a><a href="java&#x09;script:alert(1)">j</a>'
            '<a href="//evil.example/x">p</a><a href="chart.csv">csv</a><a href="https://pub.example/x">src</a>'
            '<img src="http://127.0.0.1:1/i.png"><img src="data:image/svg+xml;base64,PHN2Zz4=">'
            '<img src="data:image/png;base64,iVBORw0KGgo=">'
            '<div style="background:url(http://127.0.0.1:1/x.png);color:red">s</div>'
            "<style>@import url(http://x.example/y.css); td{background:url('http://x.example/z.png')}</style>")
    out = clean_html(html)
    assert _urls(out) == ["chart.csv", "https://pub.example/x", "data:image/png;base64,iVBORw0KGgo="]
    assert "color:red" in out and "http://" not in out and "@import" not in out


def test_script_outputs_are_dropped():
    clean = sanitize_outputs(_notebook({"application/javascript": "alert(1)", "text/plain": "x"}))
    assert list(clean.cells[0].outputs[0]["data"]) == ["text/plain"]


@pytest.mark.parametrize("url, ok", [("https://www.sec.gov/x", True), ("http://example.com", True),
                                     ("mailto:a@b.c", True), ("report.html#x", True), ("#top", True),
                                     ("javascript:alert(1)", False), (" JavaScript:alert(1)", False),
                                     ("java\tscript:alert(1)", False), ("data:text/html,x", False),
                                     ("vbscript:x", False), ("//evil.example/x", False), ("\\\\evil\\x", False)])
def test_which_links_an_export_keeps(url, ok):
    assert safe_href(url) is ok


def test_only_inline_raster_images_are_kept():
    assert safe_img_src("data:image/png;base64,iVBORw0KGgo=")
    for url in ["http://127.0.0.1/b.png", "https://example.com/b.png", "data:image/svg+xml;base64,PHN2Zz4=",
                "data:text/html;base64,AA", "b.png"]:
        assert not safe_img_src(url), url


def test_css_loads_nothing():
    assert inert_css("background:url('http://x/y.png');color:red") == "background:none;color:red"
    assert "@import" not in inert_css("@import 'http://x/y.css';")
    kept = "background:url(data:image/png;base64,iVBORw0KGgo=)"
    assert inert_css(kept) == kept


def test_md_escape_keeps_text_literal():
    rendered = markdown_html(md_escape("景旺电子 led PCB/CCL at +22.63% *x* _y_ [a](b) <b>c</b> # h"))
    assert "景旺电子 led PCB/CCL at +22.63% *x* _y_ [a](b) &lt;b&gt;c&lt;/b&gt; # h" in rendered
    assert "<a" not in rendered and "<em>" not in rendered
