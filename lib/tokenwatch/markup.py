"""Text from data or parameters made inert before it is rendered, and the URLs an export may keep.

- `md_escape` / `md_bullets`: a name, a segment or a claim id shown in a Markdown output stays literal text:
  `[x](javascript:...)` or `![b](http://host/b.png)` from a data file never becomes a link or an image.
- `safe_href` / `safe_img_src`: the URLs a sanitised export keeps. Links: https, http and mailto (the sourced
  URLs in data/ are https links to publishers), and links inside the page or the run folder. Images: only
  inline raster images (`data:image/png;base64,...`), which fetch nothing and run nothing.
- `inert_css`: a style without `url(...)` to another place, `@import` or `expression(`: no beacon through CSS.
"""

from __future__ import annotations

import html
import re

LINK_SCHEMES = frozenset({"https", "http", "mailto"})
MARKDOWN_LINK_SCHEMES = frozenset({"https", "mailto"})  # a Markdown output's links: no plain-http autolink either
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>:&\"'=$^])")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_RASTER = re.compile(r"^data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)
_CSS_BAD = re.compile(r"@import|expression\s*\(|behavior\s*:|-moz-binding", re.I)


def md_escape(text: object) -> str:
    """`text` as literal Markdown: every Markdown punctuation mark backslash-escaped, so no link, image, emphasis,
    autolink or raw HTML can form from it (`[x](javascript:...)` shows as written)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def md_bullets(lines: list[str]) -> str:
    """A Markdown bullet list of literal lines (each escaped by `md_escape`)."""
    return "\n".join(f"- {md_escape(line)}" for line in lines)


def _scheme(url: str) -> str | None:
    """The URL's scheme in lower case, as a browser reads it (spaces and control characters inside ignored)."""
    found = _SCHEME.match(_INVISIBLE.sub("", url))
    return found.group(1).lower() if found else None


def safe_href(url: str, schemes: frozenset[str] = LINK_SCHEMES) -> bool:
    """A link an export may keep: one of `schemes` (https, http, mailto), or a relative link on this host."""
    bare = _INVISIBLE.sub("", url)
    if bare.startswith(("//", "\\\\", "/\\", "\\/")):
        return False  # protocol-relative: another host
    scheme = _scheme(url)
    return scheme in schemes if scheme else "\\" not in bare


def safe_img_src(url: str) -> bool:
    """An image an export may show: an inline raster image (nothing fetched, nothing run)."""
    return bool(_RASTER.match(url.strip()))


def inert_css(style: str) -> str:
    """`style` without anything that loads or runs: `url(...)` other than an inline raster image becomes `none`,
    and `@import`, `expression(` and bindings are cut out."""
    style = _CSS_URL.sub(lambda m: m.group(0) if safe_img_src(m.group(2)) else "none", style)
    return _CSS_BAD.sub("", style)


def chart_data_link(href: str, name: str) -> str:
    """The 'data (CSV)' line under a chart, linking the CSV behind it (`href` as the page sees it); both escaped."""
    return (f'<p class="tw-chart-data" style="margin:.2em 0 1em;font-size:12px">'
            f'<a href="{html.escape(href, quote=True)}" download>data (CSV)</a> · {html.escape(name)}</p>')
