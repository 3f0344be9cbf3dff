"""The brief's view across each sweep: one row per run with the parameters that vary and its headline figures,
and a chart of each numeric headline figure over the swept values. Every value from data or parameters is escaped.
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

from tokenwatch.run.history import read_json

_NUMBER = re.compile(r"^\s*([+-]?\d[\d,]*(?:\.\d+)?)")


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
