"""A run's report page: its findings first, then one line of parameters and data vintage and the contents, the
code behind a toggle, and the print rules it shares with the brief (run/brief.py). Every value from data or
parameters is escaped.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from tokenwatch.run.history import short_title

_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)
_H2 = re.compile(r'<h2 id="([^"]+)"[^>]*>(.*?)</h2>', re.S)
_TAG = re.compile(r"<[^>]+>")

FINDINGS_STYLE = "border-left:4px solid #c0392b;padding:.4em 1em;background:#fdf2f0;margin:.6em 0"
PRINTABLE_MM = (180, 266)  # the text width of an A4 page with 12 mm margins (186, 273 mm), less a safety margin
# The page measures its tables with the print's table text at the printed widths: a table wider than a portrait page
# gets a landscape page of its own (page: wide); one wider than that too is scaled down to fit it (zoom).
WIDE_TABLES = ("<script>document.addEventListener('DOMContentLoaded',function(){var r=document.documentElement,"
               "w=r.style.width;r.classList.add('tw-measure');function over(mm){r.style.width=mm+'mm';"
               "var lim=r.getBoundingClientRect().right+1;return [].filter.call(document.querySelectorAll('table'),"
               "function(t){return t.getBoundingClientRect().right>lim}).map(function(t){var b=t"
               ".getBoundingClientRect();return [t,(lim-b.left)/(b.right-b.left)]})}"
               f"over({PRINTABLE_MM[0]}).forEach(function(x){{(x[0].closest('.jp-Cell')||x[0].closest('section')||x[0])"
               ".classList.add('tw-wide')});"
               f"over({PRINTABLE_MM[1]}).forEach(function(x){{x[0].style.setProperty('--tw-zoom',"
               "Math.max(.4,x[1]*.98).toFixed(3));x[0].setAttribute('data-tw-zoom','')});"
               "r.classList.remove('tw-measure');r.style.width=w});</script>")
META_STYLE = "font:12px sans-serif;color:#555;margin:.4em 0"


def _css_string(text: str) -> str:
    return '"' + re.sub(r'[\\"\n\r<]', lambda m: "\\" + format(ord(m.group()), "x") + " ", text) + '"'


def print_style(footer: str) -> str:
    """Print rules shared by the reports and the brief: A4 portrait, a landscape page for a table marked wide,
    pages numbered, `footer` (the run's date and commit) at the foot of every page."""
    box = "font:8px sans-serif;color:#666"
    return ("<style>@page{size:A4;margin:12mm 12mm 15mm;"
            f"@bottom-left{{content:{_css_string(footer)};{box}}}"
            f'@bottom-right{{content:"page " counter(page) " of " counter(pages);{box}}}}}'
            "@page wide{size:A4 landscape}"
            "html.tw-measure .jp-RenderedHTMLCommon table{font-size:8.5px}"
            "html.tw-measure .tw-wide .jp-RenderedHTMLCommon table{font-size:7.5px}"
            "@media print{.tw-toggle{display:none}.tw-wide{page:wide}"
            ".jp-RenderedHTMLCommon table{font-size:8.5px}.tw-wide .jp-RenderedHTMLCommon table{font-size:7.5px}"
            "table[data-tw-zoom]{zoom:var(--tw-zoom)}"
            ".jp-OutputArea-output{overflow:visible}img{break-inside:avoid}h2{break-after:avoid}}</style>"
            + WIDE_TABLES)


def footer_line(what: str, ran_at: str) -> str:
    """'tokenwatch <what> · run <date> · commit <commit>' for a printed page's footer."""
    from tokenwatch.paths import git_commit

    when = ran_at.replace("T", " ").replace("+00:00", " UTC")
    return f"tokenwatch {what} · run {when or 'date not recorded'} · commit {git_commit()}"


def text_of(fragment: str) -> str:
    """The text of an HTML fragment: tags and nbconvert's anchor mark removed, entities resolved."""
    return html.unescape(_TAG.sub("", fragment)).replace("¶", "").strip()


def read_findings(folder: Path) -> list[str]:
    """The run's findings.md as sentences."""
    path = folder / "findings.md"
    if not path.is_file():
        return []
    return [line[2:].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("- ")]


def vintage(summary: dict[str, Any]) -> str:
    """The data a run read, short: each price source (named up to its first bracket) with its dates, each file."""
    prices: dict[str, tuple[str, str]] = {}
    files = []
    for s in summary.get("sources") or []:
        if "price_basis" in s:
            name = str(s.get("source", "")).split(" (")[0]
            first, last = prices.get(name, (str(s.get("first_date", "")), str(s.get("last_date", ""))))
            prices[name] = (min(first, str(s.get("first_date", first))), max(last, str(s.get("last_date", last))))
        elif "file" in s:
            files.append(str(s["file"]))
    parts = [f"{n} {a}..{b}" for n, (a, b) in prices.items()] + files
    return "; ".join(parts) or "not recorded"


def findings_block(findings: list[str], title: str = "Key findings") -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in findings) or "<li>no findings recorded</li>"
    return (f'<div class="tokenwatch-findings" style="{FINDINGS_STYLE}"><b>{html.escape(title)}</b>'
            f"<ul>{items}</ul></div>")


def report_header(body: str, findings: list[str], parameters: dict[str, Any], summary: dict[str, Any],
                  ran_at: str = "") -> str:
    """The block a report opens with: findings, one line of parameters and data vintage, then the contents."""
    params = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in parameters.items())
    toc = "".join(f'<li><a href="#{html.escape(i)}">{html.escape(text_of(t))}</a></li>'
                  for i, t in _H2.findall(body))
    notices = summary.get("notices") or []
    notice_block = (f"<details><summary>{len(notices)} notice(s)</summary><ul>"
                    + "".join(f"<li>{html.escape(str(n))}</li>" for n in notices) + "</ul></details>"
                    if notices else "")
    title = text_of(m.group(1)) if (m := _H1.search(body)) else str(summary.get("notebook", "report"))
    return (f'{print_style(footer_line(short_title(title), ran_at))}'
            f'<section class="tw-summary" id="key-findings">{findings_block(findings)}'
            f'<p class="tw-meta" style="{META_STYLE}"><b>Parameters:</b> {html.escape(params or "defaults")} · '
            f"<b>Data:</b> {html.escape(vintage(summary))}</p>{notice_block}"
            + (f'<nav class="tw-toc" style="{META_STYLE}"><b>Contents</b><ol>{toc}</ol></nav>' if toc else "")
            + "</section>")


def findings_first(body: str, findings: list[str], parameters: dict[str, Any], summary: dict[str, Any],
                   ran_at: str = "") -> str:
    """An exported report with the header right after its title, and the title as the page's title; `ran_at`
    goes into its printed footer."""
    header = report_header(body, findings, parameters, summary, ran_at)
    match = _H1.search(body)
    title = text_of(match.group(1)) if match else str(summary.get("notebook", "report"))
    body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)}</title>", body, count=1, flags=re.S)
    if match:
        at = body.find("</h1>", match.start()) + len("</h1>")
        return body[:at] + header + body[at:]
    return body.replace("<body>", "<body>" + header, 1) if "<body>" in body else header + body


def for_readers(nb: Any) -> Any:
    """The notebook as a report shows it: the findings cell's output and printed notices move to the header."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if str(cell.get("id", "")).endswith("-findings"):
            cell["outputs"] = []
        # the Report's own findings block (display(report)) whatever the cell's id: the header shows it once
        cell["outputs"] = [o for o in cell.get("outputs", []) if FINDINGS_CLASS not in _html_of(o)]
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = "".join(output.get("text", ""))
                output["text"] = "".join(line for line in text.splitlines(keepends=True)
                                         if not line.startswith("Notice: "))
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream" or o.get("text")]
    return nb


FINDINGS_CLASS = 'class="tokenwatch-findings"'


def _html_of(output: Any) -> str:
    value = (output.get("data") or {}).get("text/html", "")
    return "".join(value) if isinstance(value, list) else str(value)


CODE_TOGGLE = ('<style>.jp-CodeCell .jp-InputArea,.jp-InputPrompt,.jp-OutputPrompt{display:none}'
               'body:has(#tw-code:checked) .jp-CodeCell .jp-InputArea{display:flex}'
               '.tw-toggle{position:sticky;top:0;background:#fff;font:12px sans-serif;padding:.3em 0;z-index:9}</style>'
               '<label class="tw-toggle"><input type="checkbox" id="tw-code"> show the code</label>')


def with_code_toggle(body: str) -> str:
    """A page exported with its code, the code hidden behind a checkbox (one file for readers and checkers)."""
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + CODE_TOGGLE, body, count=1)
