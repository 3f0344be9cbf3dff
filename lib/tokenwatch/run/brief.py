"""What a reader opens first: the collection's brief (a run's own report page: run/report_page.py; the view across
each sweep: run/sweeps.py).

Everything here is built from what the runs wrote (findings.md, summary.json, run.json); every value from data or
parameters is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from tokenwatch.markup import chart_data_link
from tokenwatch.run.history import fresh_pdf, plain_numbers, plain_runs, read_json, short_title, title_of
from tokenwatch.run.report_page import FINDINGS_STYLE, META_STYLE, footer_line, print_style, read_findings
from tokenwatch.run.sweeps import sweep_views

# --- the brief: summary, sections with their key chart, readable labels, glossary ----------------------------

SUMMARY_MAX = 7
SUMMARY_MIN = 5
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
BRIEF_STYLE = (
    "body{font:15px/1.45 sans-serif;margin:2em auto;max-width:62em;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:.3em .5em;vertical-align:top;"
    "text-align:left}th{background:#f4f4f4}code{font-size:12px}img{max-width:100%}"
    ".tw-lead{font-size:16px;border:1px solid #d5d8dc;background:#f8f9f9;padding:.6em 1.2em;margin:1em 0}"
    ".tw-lead li{margin:.35em 0}.tw-chart{margin:.6em 0 1em}.tw-chart img{max-height:30em;border:1px solid #eee}"
    "a.tw-term{color:inherit;text-decoration:underline dotted #888}"
    ".tw-changed td{background:#fef5e7}dl.tw-glossary dt{font-weight:bold;margin-top:.6em}"
    "dl.tw-glossary dd{margin-left:1.5em}@media print{.tw-keep{break-inside:avoid}}"
)


def period_label(start: Any, end: Any) -> str:
    """A disclosure's period in words: 'May 2025', 'Q3 2025', 'H1 2025', '2025', 'Apr-May 2025', '31 May 2025'."""
    a, b = pd.Timestamp(start), pd.Timestamp(end)
    if a == b:
        return f"{a.day} {_MONTHS[a.month - 1]} {a.year}"
    whole = a.day == 1 and b == b + pd.offsets.MonthEnd(0)
    if not whole:
        same = a.year == b.year and a.month == b.month
        return (f"{a.day}-{b.day} {_MONTHS[a.month - 1]} {a.year}" if same
                else f"{a.date().isoformat()} to {b.date().isoformat()}")
    months = (b.year - a.year) * 12 + b.month - a.month + 1
    if months == 12 and a.month == 1:
        return str(a.year)
    if months == 6 and a.month in (1, 7):
        return f"H{1 if a.month == 1 else 2} {a.year}"
    if months == 3 and a.month % 3 == 1:
        return f"Q{(a.month + 2) // 3} {a.year}"
    if months == 1:
        return f"{_MONTHS[a.month - 1]} {a.year}"
    if a.year == b.year:
        return f"{_MONTHS[a.month - 1]}-{_MONTHS[b.month - 1]} {a.year}"
    return f"{_MONTHS[a.month - 1]} {a.year}-{_MONTHS[b.month - 1]} {b.year}"


def _series_names(ledger: pd.DataFrame) -> dict[str, str]:
    """A readable name per ledger series: the entity's short name ('Google', 'ByteDance'), or the series' own
    word where the entity names it ('Doubao'), with the series' qualifier when the entity has several series."""
    names = {}
    for entity, rows in ledger.groupby("entity", sort=False):
        short = str(entity).split(" (")[0].split("/")[0].strip()
        series = list(dict.fromkeys(rows["series"]))
        for s in series:
            words = str(s).split("-")
            own = re.search(rf"\b({re.escape(words[0])})\b", str(entity), re.I)
            name = own.group(1) if own and own.group(1).lower() != short.lower() else short
            rest = [w for w in words if w.lower() not in name.lower()]
            if len(series) > 1 and rest:
                name += " " + " ".join(w.upper() if len(w) <= 3 else w for w in rest)
            names[str(s)] = name
    return names


def labels() -> tuple[dict[str, str], str]:
    """Readable labels for the collection's internal ids, built from the data files: each disclosure id as
    'Doubao, May 2025' (data/tokens/disclosures.csv: series, entity, period) and each claim id as its claim
    (data/tokens/report_claims.csv). Also '' or why the labels could not be built."""
    from tokenwatch.tokens import load_ledger
    from tokenwatch.tokens.claims import load_claims

    try:
        ledger, claims = load_ledger(), load_claims()
    except Exception as exc:  # noqa: BLE001 - the brief still renders, and says what is missing
        return {}, f"internal ids are shown as they are: the token data could not be read ({exc})"
    names = _series_names(ledger)
    found = {str(r.id): f"{names[str(r.series)]}, {period_label(r.start, r.end)}"
             for r in ledger.itertuples(index=False)}
    found |= {str(r.claim_id): f"the weekly's claim \u201c{r.claim}\u201d" for r in claims.itertuples(index=False)}
    return found, ""


def readable(text: str, names: dict[str, str]) -> str:
    """`text` with every internal id (as written, or with '_' for '-') replaced by its label, and numbers in
    scientific notation written out."""
    text = plain_numbers(text)
    if not names:
        return text
    variants = {}
    for key, label in names.items():
        variants[key] = label
        variants[key.replace("-", "_")] = label
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(variants, key=len, reverse=True)))
                         + r")(?![\w-])")
    return pattern.sub(lambda m: variants[m.group(1)], text)


def glossary() -> pd.DataFrame:
    """The brief's glossary (data/glossary.csv: term, the words that link to it, definition)."""
    from tokenwatch.curated import read_curated
    from tokenwatch.paths import data_dir

    return read_curated(data_dir() / "glossary.csv", ["term", "matches", "definition"], "glossary")


def term_anchor(term: str) -> str:
    return "g-" + re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


def linked(text: str, terms: pd.DataFrame) -> str:
    """`text` escaped as HTML, each glossary word in it linked to its entry."""
    if terms.empty:
        return html.escape(text)
    words = {w.strip(): str(r.term) for r in terms.itertuples(index=False) for w in str(r.matches).split("|")
             if w.strip()}
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(words, key=len, reverse=True)))
                         + r")(?![\w])")
    out, at = [], 0
    for m in pattern.finditer(text):
        out += [html.escape(text[at:m.start()]),
                f'<a class="tw-term" href="#{term_anchor(words[m.group(1)])}">{html.escape(m.group(1))}</a>']
        at = m.end()
    return "".join(out) + html.escape(text[at:])


def glossary_section(terms: pd.DataFrame) -> str:
    entries = "".join(f'<dt id="{term_anchor(str(r.term))}">{html.escape(str(r.term))}</dt>'
                      f"<dd>{html.escape(str(r.definition))}</dd>" for r in terms.itertuples(index=False))
    return f'<section id="glossary"><h2>Glossary</h2><dl class="tw-glossary">{entries}</dl></section>'


def _chart_csv(outputs: list[dict[str, Any]]) -> str | None:
    """The CSV a chart's 'data (CSV)' link names, from the outputs that follow the chart in its cell."""
    for output in outputs:
        text = (output.get("data") or {}).get("text/html", "")
        found = re.search(r'class="tw-chart-data".*?href="([^"/]+\.csv)"', "".join(text) if isinstance(text, list)
                          else str(text), re.S)
        if found:
            return html.unescape(found.group(1))
    return None


KEY_CHART = "key_chart.json"  # in a run folder: {"chart": first_chart(...)}, written with its report (execute.py)


def first_chart(nb: dict[str, Any]) -> dict[str, str] | None:
    """The first chart of an executed notebook: its type, its bytes as base64 and the CSV its 'data (CSV)' link
    names ('' when it has none); None without a chart."""
    for cell in nb.get("cells", []):
        outputs = cell.get("outputs", []) or []
        for k, output in enumerate(outputs):
            data = output.get("data") or {}
            for mime in ("image/png", "image/svg+xml"):
                if mime not in data:
                    continue
                raw = data[mime]
                raw = "".join(raw) if isinstance(raw, list) else str(raw)
                try:
                    payload = (base64.b64decode(raw, validate=False) if mime == "image/png"
                               else raw.encode("utf-8"))
                except ValueError:
                    continue
                return {"mime": mime, "base64": base64.b64encode(payload).decode("ascii"),
                        "csv": _chart_csv(outputs[k + 1:]) or ""}
    return None


def key_chart(folder: Path, notebook: str, href_prefix: str = "") -> str:
    """The first chart of a run, inline (PNG or SVG as a data URI), with a link to the CSV behind it (relative:
    `href_prefix` is the run folder as the page that shows it sees it), or ''. Read from the run's key_chart.json,
    or from its executed notebook for a run written without one."""
    kept = read_json(folder / KEY_CHART)  # {} when missing or unreadable: then the notebook is read
    if "chart" in kept:
        chart = kept["chart"]
    else:
        try:
            chart = first_chart(json.loads((folder / f"{notebook}.ipynb").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return ""
    if not isinstance(chart, dict) or not {"mime", "base64", "csv"} <= set(chart):
        return ""
    mime, csv = str(chart["mime"]), str(chart["csv"])
    if mime not in ("image/png", "image/svg+xml") or not re.fullmatch(r"[A-Za-z0-9+/=]*", str(chart["base64"])):
        return ""
    image = f'<img alt="key chart of {html.escape(notebook)}" src="data:{mime};base64,{chart["base64"]}">'
    return image + (chart_data_link(f"{href_prefix}/{csv}" if href_prefix else csv, csv) if csv else "")


def summary_picks() -> pd.DataFrame:
    """Which finding of which notebook leads the brief, in order (data/brief_summary.csv: notebook, a text the
    finding contains, why it matters)."""
    from tokenwatch.curated import read_curated
    from tokenwatch.paths import data_dir

    return read_curated(data_dir() / "brief_summary.csv", ["notebook", "finding_contains", "why"], "brief summary")


def summary_items(runs: pd.DataFrame, out_dir: Path, picks: pd.DataFrame | None = None
                  ) -> list[tuple[str, str, str]]:
    """The collection's lead findings, at most 7, as (finding, section id, section title): for each pick in
    data/brief_summary.csv whose notebook ran, its finding that contains the pick's text (a pick that matches
    none is flagged in the item, beside the notebook's first finding). With fewer than 5, each other run's
    findings top it up, a round at a time, in the collection's order."""
    per_run = {}
    for r in plain_runs(runs).itertuples(index=False):
        if r.status == "ok":
            folder = out_dir / r.output_folder
            per_run[r.notebook] = (r.output_folder, title_of(folder), read_findings(folder))
    items: list[tuple[str, str, str]] = []
    for p in (picks if picks is not None else summary_picks()).itertuples(index=False):
        if p.notebook not in per_run or not per_run[p.notebook][2]:
            continue
        folder, title, findings = per_run.pop(p.notebook)
        found = next((f for f in findings if str(p.finding_contains) in f), None)
        items.append((found or f"{findings[0]} [data/brief_summary.csv picks the finding containing "
                               f"'{p.finding_contains}': none does now]", folder, title))
    depth = 0
    while len(items) < SUMMARY_MIN and any(len(f) > depth for _, _, f in per_run.values()):
        items += [(f[depth], folder, title) for folder, title, f in per_run.values() if len(f) > depth]
        depth += 1
    return items[:SUMMARY_MIN if depth else SUMMARY_MAX]


def summary_block(items: list[tuple[str, str, str]], names: dict[str, str], terms: pd.DataFrame) -> str:
    lis = "".join(f"<li>{linked(readable(text, names), terms)} "
                  f'<a href="#{html.escape(folder)}" title="{html.escape(title)}">({html.escape(short_title(title))}'
                  f" &rarr;)</a></li>" for text, folder, title in items) or "<li>no run has findings yet</li>"
    return (f'<section class="tw-lead" id="summary"><h2>The collection in {len(items)} findings</h2><ol>{lis}</ol>'
            "</section>")


def brief_sections(runs: pd.DataFrame, out_dir: Path, names: dict[str, str] | None = None,
                   terms: pd.DataFrame | None = None) -> str:
    """One section per notebook's plain run, in the collection's order: its title, its key chart, its findings in
    readable words and a link to its report (and its PDF when current)."""

    names = names or {}
    terms = terms if terms is not None else pd.DataFrame(columns=["term", "matches", "definition"])
    parts = []
    for i, r in enumerate(plain_runs(runs).itertuples(index=False), 1):
        folder = out_dir / r.output_folder
        link = html.escape(r.output_folder)
        if r.status == "ok":
            pdf = (f' · <a href="{link}/report.pdf">PDF</a>'
                   if fresh_pdf(folder / "report.pdf", float(r.finished or 0)) else "")
            items = "".join(f"<li>{linked(readable(line, names), terms)}</li>" for line in read_findings(folder))
            chart = key_chart(folder, r.notebook, r.output_folder)
            lead = (f'<figure class="tw-chart">{chart}</figure>' if chart else
                    '<p class="tw-meta">no chart in this report</p>')
            body = (f'<div class="tokenwatch-findings" style="{FINDINGS_STYLE}"><b>What it found</b>'
                      f"<ul>{items or '<li>no findings recorded</li>'}</ul></div>"
                    + f'<p><a href="{link}/report.html">Read the report</a> (its code behind a toggle){pdf}</p>')
        else:
            kept = str(getattr(r, "last_good_folder", "") or "")
            lead = ""
            body = (f'<p style="color:#c0392b">This run failed: {html.escape(str(r.error))}</p>'
                    + (f'<p><a href="{html.escape(kept)}/report.html">the last good run</a></p>' if kept else ""))
        title = title_of(out_dir / (r.output_folder if r.status == "ok" else str(r.last_good_folder or "")))
        # the heading and its chart stay on one printed page
        parts.append(f'<section id="{link}"><div class="tw-keep"><h2>{i}. '
                     f'{html.escape(title if r.status == "ok" else r.notebook)}</h2>{lead}</div>{body}</section>')
    return "".join(parts)


def brief_page(runs: pd.DataFrame, out_dir: Path, runs_table: str) -> str:
    """index.html: the collection's lead findings, what changed since the last run, a section per notebook with
    its key chart, the sweeps, a glossary, then every run (`runs_table`). Links are relative to the folder."""
    from tokenwatch import __version__
    from tokenwatch.paths import git_commit
    from tokenwatch.run.history import changes_section
    from tokenwatch.run.publish import scrubbed

    names, problem = labels()
    try:
        terms = glossary()
    except Exception as exc:  # noqa: BLE001 - the brief renders without its glossary, and says so
        terms, problem = pd.DataFrame(columns=["term", "matches", "definition"]), f"{problem} no glossary: {exc}"
    problem = scrubbed(problem, out_dir)  # error text names data files: no absolute path of this machine
    failed = int((runs["status"] != "ok").sum()) if len(runs) else 0
    latest = max((str(t) for t in runs["ran_at"]), default="") if len(runs) else ""
    newest = float(pd.to_numeric(runs["finished"], errors="coerce").max()) if len(runs) else 0.0
    pdf = ' · <a href="brief.pdf">PDF</a>' if fresh_pdf(out_dir / "brief.pdf", newest) else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tokenwatch brief</title>'
        f"<style>{BRIEF_STYLE}</style>{print_style(footer_line('brief', latest))}</head><body>"
        "<h1>tokenwatch brief: token consumption as the anchor for compute demand</h1>"
        f'<p class="tw-meta" style="{META_STYLE}">Every number below is computed from data by a run and read from '
        f"its findings. tokenwatch {html.escape(__version__)} · commit {html.escape(git_commit())} · latest run "
        f"{html.escape(latest.replace('T', ' ').replace('+00:00', ' UTC'))} · {len(runs)} runs, {failed} failed · "
        f'<a href="#changes">what changed</a> · <a href="#glossary">glossary</a> · <a href="#runs">all runs</a>'
        f"{pdf}</p>"
        + (f'<p style="color:#c0392b">{html.escape(problem)}</p>' if problem else "")
        + summary_block(summary_items(runs, out_dir), names, terms)
        + changes_section(runs, out_dir, lambda text: readable(text, names))
        + brief_sections(runs, out_dir, names, terms) + sweep_views(runs, out_dir) + glossary_section(terms)
        + f'<section id="runs"><h2>All runs</h2>{runs_table}</section></body></html>\n'
    )
