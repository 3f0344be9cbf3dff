"""A dated history of the collection's headline figures in an output folder, and what changed since the last run.

Each `tokenwatch run` into a folder records `history/<UTC time>/summary.json`: for each notebook's plain run, when
it ran and its headline figures (from its summary.json), with the commit. Small: no tables, charts or reports. A
state equal to the latest one (every run reused from the cache) is not recorded again. The brief compares the
figures on disk with the latest recorded state that differs from them: each headline figure before and after.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tokenwatch.artifacts import atomic_write_text

HISTORY = "history"
STATE = "summary.json"


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def plain_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Each notebook's plain run (defaults or given parameters, not a sweep), in the collection's order."""
    if runs.empty:
        return runs
    return runs[~runs["output_folder"].str.contains("/", regex=False)]


_SCIENTIFIC = re.compile(r"(?<![\w.])([+-]?\d+(?:\.\d+)?)e([+-]?\d+)\b")
_SCALES = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))


def plain_number(value: float) -> str:
    """A large number in words, to three significant figures: 6.59e+13 as '65.9 trillion'."""
    for scale, word in _SCALES:
        if abs(value) >= scale:
            scaled = value / scale
            return f"{scaled:,.0f} {word}" if abs(scaled) >= 1000 else f"{scaled:.3g} {word}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def plain_numbers(text: str) -> str:
    """`text` with every number in scientific notation ('6.59e+13') written out ('65.9 trillion')."""
    return _SCIENTIFIC.sub(lambda m: plain_number(float(m.group(0))), text)


def fresh_pdf(pdf: Path, since: float) -> bool:
    """Whether `pdf` exists and was written at or after `since` (a Unix time): an older one is not linked."""
    try:
        return pdf.stat().st_mtime >= since
    except OSError:
        return False


def current_state(runs: pd.DataFrame, out_dir: Path) -> dict[str, dict[str, Any]]:
    """Each plain ok run by folder: notebook, when it ran, its headline figures."""
    state = {}
    for r in plain_runs(runs).itertuples(index=False):
        if r.status != "ok":
            continue
        summary = read_json(out_dir / r.output_folder / "summary.json")
        state[r.output_folder] = {"notebook": r.notebook, "ran_at": str(r.ran_at),
                                  "headline": summary.get("headline") or {}}
    return state


def recorded(out_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every recorded state, oldest first, as (folder name, its record); unreadable records are skipped."""
    found = []
    for path in sorted((out_dir / HISTORY).glob(f"*/{STATE}")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("runs"), dict):
            found.append((path.parent.name, record))
    return found


def record_state(out_dir: Path, runs: pd.DataFrame) -> Path | None:
    """Record the folder's current headline figures (`runs`: its runs, `runner.scan_runs`) under history/<time>/;
    None when unchanged since the last."""
    from tokenwatch.paths import git_commit

    state = current_state(runs, out_dir)
    if not state:
        return None
    past = recorded(out_dir)
    if past and past[-1][1]["runs"] == state:
        return None
    now = datetime.now(UTC)
    folder = out_dir / HISTORY / now.strftime("%Y%m%dT%H%M%S.%fZ")
    record = {"recorded_at": now.isoformat(timespec="seconds"), "commit": git_commit(), "runs": state}
    atomic_write_text(folder / STATE, json.dumps(record, ensure_ascii=False, indent=1, default=str))
    return folder


def previous_state(out_dir: Path, state: dict[str, Any]) -> dict[str, Any] | None:
    """The latest recorded state that differs from `state` (the one before the runs on disk), or None."""
    for _, record in reversed(recorded(out_dir)):
        if record["runs"] != state:
            return record
    return None


def changes(before: dict[str, Any], after: dict[str, Any]) -> pd.DataFrame:
    """Each headline figure of either state: notebook, figure, before, after, changed."""
    rows = []
    for folder in dict.fromkeys([*after, *before]):
        old = (before.get(folder) or {}).get("headline") or {}
        new = (after.get(folder) or {}).get("headline") or {}
        notebook = (after.get(folder) or before.get(folder) or {}).get("notebook", folder)
        for key in dict.fromkeys([*new, *old]):
            a, b = old.get(key), new.get(key)
            rows.append({"notebook": notebook, "folder": folder, "figure": key, "before": a, "after": b,
                         "changed": json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True,
                                                                                              default=str)})
    return pd.DataFrame(rows, columns=["notebook", "folder", "figure", "before", "after", "changed"])


def _cell(value: Any) -> str:
    """A headline value as the brief shows it: numbers written out, '–' where the figure did not exist."""

    if value is None:
        return "–"
    if isinstance(value, float):
        return html.escape(plain_number(value) if abs(value) >= 1e6 else f"{value:,.4g}")
    if isinstance(value, list | dict):
        return html.escape(plain_numbers(json.dumps(value, ensure_ascii=False, default=str)))
    return html.escape(plain_numbers(str(value)))


def changes_section(runs: pd.DataFrame, out_dir: Path, readable: Any = str) -> str:
    """'What changed since the last run': each headline figure before and after, the changed ones first."""
    state = current_state(runs, out_dir)
    before = previous_state(out_dir, state)
    if before is None:
        return ('<section id="changes"><h2>What changed since the last run</h2><p>No earlier run is recorded in '
                f"this folder ({HISTORY}/ starts with this one): the next run will show each headline figure before "
                "and after.</p></section>")
    table = changes(before["runs"], state)
    changed = table[table["changed"]]
    when = str(before.get("recorded_at", "")).replace("T", " ").replace("+00:00", " UTC")

    titles = {f: short_title(title_of(out_dir / f)) for f in table["folder"].unique()}

    def rows(frame: pd.DataFrame, marked: bool) -> str:
        return "".join(f'<tr{" class=tw-changed" if marked else ""}><td><a href="#{html.escape(r.folder)}">'
                       f"{html.escape(titles[r.folder])}</a></td><td>{html.escape(readable(str(r.figure)))}</td>"
                       f"<td>{_cell(r.before)}</td><td>{_cell(r.after)}</td></tr>"
                       for r in frame.itertuples(index=False))

    head = "<tr><th>Notebook</th><th>Headline figure</th><th>Before</th><th>Now</th></tr>"
    same = table[~table["changed"]]
    return (f'<section id="changes"><h2>What changed since the last run</h2><p>Compared with the run recorded '
            f"{html.escape(when)} (commit {html.escape(str(before.get('commit', '?')))}): {len(changed)} of "
            f"{len(table)} headline figures changed.</p>"
            + (f"<table>{head}{rows(changed, True)}</table>" if len(changed) else "")
            + (f"<details><summary>{len(same)} unchanged figures</summary><table>{head}{rows(same, False)}"
               "</table></details>" if len(same) else "")
            + "</section>")


def title_of(folder: Path) -> str:
    """A run's title: its report's <title> (the notebook's first heading)."""
    path = folder / "report.html"
    if path.is_file():
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(20000)  # the head only: a report runs to megabytes
        found = re.search(r"<title>(.*?)</title>", head, re.S)
        if found:
            return html.unescape(found.group(1)).strip()
    return folder.name


def short_title(title: str) -> str:
    """A report title's part before its colon: 'Weekly tracker'."""
    return title.split(":")[0].strip()
