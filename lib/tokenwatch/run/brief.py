"""What a reader opens: reports that lead with their findings, the collection's brief, a view across each sweep.

Everything here is built from what the runs wrote (findings.md, summary.json, run.json); every value from data or
parameters is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)
_H2 = re.compile(r'<h2 id="([^"]+)"[^>]*>(.*?)</h2>', re.S)
_TAG = re.compile(r"<[^>]+>")
_NUMBER = re.compile(r"^\s*([+-]?\d[\d,]*(?:\.\d+)?)")

FINDINGS_STYLE = "border-left:4px solid #c0392b;padding:.4em 1em;background:#fdf2f0;margin:.6em 0"
# Printing (--pdf): landscape pages and smaller table text, so wide tables (a CAR column per company) fit the page
PRINT_STYLE = ("<style>@page{size:A4 landscape;margin:10mm}@media print{.tw-toggle{display:none}"
               ".jp-RenderedHTMLCommon table{font-size:7.5px}.jp-OutputArea-output{overflow:visible}}</style>")
META_STYLE = "font:12px sans-serif;color:#555;margin:.4em 0"


def text_of(fragment: str) -> str:
    """The text of an HTML fragment: tags and nbconvert's anchor mark removed, entities resolved."""
    return html.unescape(_TAG.sub("", fragment)).replace("¶", "").strip()


def read_findings(folder: Path) -> list[str]:
    """The run's findings.md as sentences."""
    path = folder / "findings.md"
    if not path.is_file():
        return []
    return [line[2:].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("- ")]


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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


def report_header(body: str, findings: list[str], parameters: dict[str, Any], summary: dict[str, Any]) -> str:
    """The block a report opens with: findings, one line of parameters and data vintage, then the contents."""
    params = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in parameters.items())
    toc = "".join(f'<li><a href="#{html.escape(i)}">{html.escape(text_of(t))}</a></li>'
                  for i, t in _H2.findall(body))
    notices = summary.get("notices") or []
    notice_block = (f"<details><summary>{len(notices)} notice(s)</summary><ul>"
                    + "".join(f"<li>{html.escape(str(n))}</li>" for n in notices) + "</ul></details>"
                    if notices else "")
    return (f'{PRINT_STYLE}<section class="tw-summary" id="key-findings">{findings_block(findings)}'
            f'<p class="tw-meta" style="{META_STYLE}"><b>Parameters:</b> {html.escape(params or "defaults")} · '
            f"<b>Data:</b> {html.escape(vintage(summary))}</p>{notice_block}"
            + (f'<nav class="tw-toc" style="{META_STYLE}"><b>Contents</b><ol>{toc}</ol></nav>' if toc else "")
            + "</section>")


def findings_first(body: str, findings: list[str], parameters: dict[str, Any], summary: dict[str, Any]) -> str:
    """An exported report with the header right after its title, and the title as the page's title."""
    header = report_header(body, findings, parameters, summary)
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
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = "".join(output.get("text", ""))
                output["text"] = "".join(line for line in text.splitlines(keepends=True)
                                         if not line.startswith("Notice: "))
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream" or o.get("text")]
    return nb


def title_of(folder: Path) -> str:
    """A run's title: its report's <title> (the notebook's first heading)."""
    path = folder / "report.html"
    if path.is_file():
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
        found = re.search(r"<title>(.*?)</title>", head, re.S)
        if found:
            return html.unescape(found.group(1)).strip()
    return folder.name


def brief_sections(runs: pd.DataFrame, out_dir: Path) -> str:
    """One section per notebook's plain run (defaults or given parameters, not a sweep), in the collection's order:
    its title, its findings and a link to its report."""
    parts = []
    plain = runs[~runs["output_folder"].str.contains("/", regex=False)]
    for i, r in enumerate(plain.itertuples(index=False), 1):
        folder = out_dir / r.output_folder
        link = html.escape(r.output_folder)
        if r.status == "ok":
            pdf = f' · <a href="{link}/report.pdf">PDF</a>' if (folder / "report.pdf").is_file() else ""
            body = (findings_block(read_findings(folder), "What it found")
                    + f'<p><a href="{link}/report.html">Read the report</a> (its code behind a toggle){pdf}</p>')
        else:
            kept = str(getattr(r, "last_good_folder", "") or "")
            body = (f'<p style="color:#c0392b">This run failed: {html.escape(str(r.error))}</p>'
                    + (f'<p><a href="{html.escape(kept)}/report.html">the last good run</a></p>' if kept else ""))
        title = title_of(out_dir / (r.output_folder if r.status == "ok" else str(r.last_good_folder or "")))
        parts.append(f'<section id="{link}"><h2>{i}. {html.escape(title if r.status == "ok" else r.notebook)}</h2>'
                     f"{body}</section>")
    return "".join(parts)


def sweep_groups(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The runs of each notebook swept over parameter values (two or more runs in `<notebook>/<slug>` folders)."""
    swept = runs[runs["output_folder"].str.contains("/", regex=False)]
    return {str(k): g for k, g in swept.groupby("notebook", sort=False) if len(g) >= 2}


def sweep_table(group: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """One row per run of a sweep: the parameters that vary, its status and its headline figures."""
    params = [json.loads(p) if p else {} for p in group["parameters"]]
    varying = sorted({k for p in params for k in p if len({json.dumps(q.get(k), default=str) for q in params}) > 1})
    rows = []
    for r, p in zip(group.itertuples(index=False), params, strict=True):
        headline = read_json(out_dir / r.output_folder / "summary.json").get("headline") or {}
        rows.append({**{k: p.get(k) for k in varying}, "status": r.status, "folder": r.output_folder,
                     **{str(k): v for k, v in headline.items()}})
    return pd.DataFrame(rows)


def numeric(value: Any) -> float:
    """A headline value as a number: numbers as they are, text by its leading number ('+10.82 (8/8)'), else NaN."""
    if isinstance(value, bool):
        return float("nan")
    if isinstance(value, int | float):
        return float(value)
    found = _NUMBER.match(str(value))
    return float(found.group(1).replace(",", "")) if found else float("nan")


def sweep_chart(table: pd.DataFrame, notebook: str) -> str:
    """A line per numeric headline figure across the sweep's runs, as an inline PNG (matplotlib)."""
    from tokenwatch.plots import finish, new_figure

    fixed = {"status", "folder"}
    first_headline = next((i for i, c in enumerate(table.columns) if c in fixed), 0)
    varying = list(table.columns[:first_headline])
    figures = [c for c in table.columns[first_headline:] if c not in fixed]
    values = {c: table[c].map(numeric) for c in figures}
    values = {c: v for c, v in values.items() if v.notna().sum() >= 2}
    if not values:
        return ""
    labels = [", ".join(str(r[k]) for k in varying) for _, r in table.iterrows()]
    fig, ax = new_figure(figsize=(10, 4.5))
    for c, v in values.items():
        ax.plot(range(len(v)), v.to_numpy(), marker="o", ms=3, lw=1.2, label=c)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig = finish(fig, f"{notebook}: headline figures across the sweep", "each run's summary.json",
                 xlabel=", ".join(varying) or "run", ylabel="value as in the headline (units in its name)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{html.escape(notebook)} sweep chart" src="data:image/png;base64,{data}">'


def sweep_views(runs: pd.DataFrame, out_dir: Path) -> str:
    """For each sweep: its table and chart, built from the runs' summary.json files."""
    parts = []
    for notebook, group in sweep_groups(runs).items():
        table = sweep_table(group, out_dir)
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns if c != "folder")
        rows = []
        for _, r in table.iterrows():
            cells = []
            for c in table.columns:
                if c == "folder":
                    continue
                value = html.escape("" if pd.isna(r[c]) else str(r[c])) if not isinstance(r[c], list | dict) \
                    else html.escape(json.dumps(r[c], ensure_ascii=False))
                if c == "status" and r["status"] == "ok":
                    value = f'<a href="{html.escape(str(r["folder"]))}/report.html">ok</a>'
                cells.append(f"<td>{value}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f'<section id="sweep-{html.escape(notebook)}"><h2>Across the {html.escape(notebook)} sweep '
                     f"({len(table)} runs)</h2>{sweep_chart(table, notebook)}<table><tr>{head}</tr>"
                     + "".join(rows) + "</table></section>")
    return "".join(parts)


# A pure-CSS toggle (no script): code cells are hidden until the reader ticks the box.
CODE_TOGGLE = ('<style>.jp-CodeCell .jp-InputArea,.jp-InputPrompt,.jp-OutputPrompt{display:none}'
               'body:has(#tw-code:checked) .jp-CodeCell .jp-InputArea{display:flex}'
               '.tw-toggle{position:sticky;top:0;background:#fff;font:12px sans-serif;padding:.3em 0;z-index:9}</style>'
               '<label class="tw-toggle"><input type="checkbox" id="tw-code"> show the code</label>')


def with_code_toggle(body: str) -> str:
    """A page exported with its code, the code hidden behind a checkbox (one file for readers and checkers)."""
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + CODE_TOGGLE, body, count=1)
