"""Every notebook follows the conventions; each runs through the runner (papermill) on the snapshot."""

import ast
import html
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.run.cli import main
from tokenwatch.run.notebooks import NOTEBOOKS_DIR, discover, inspect

NOTEBOOKS = discover()


def test_there_are_notebooks():
    assert "weekly_tracker" in NOTEBOOKS


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_conventions(name):
    path = NOTEBOOKS[name]
    nb = json.loads(path.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "stored without outputs"
    info = inspect(path)
    body = ast.parse("".join(tagged[0]["source"])).body
    assigned = {node.target.id for node in body
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}
    assert not [n for n in body if isinstance(n, ast.Assign)], "every parameter carries its type: name: str = ..."
    assert assigned == set(info.parameters), "papermill must read every parameter (no '=' inside a comment)"
    assert "output_dir" in info.parameters
    assert all(v is not None or k == "output_dir" for k, v in info.parameters.items()), "every parameter has a default"
    assert nb["metadata"]["kernelspec"]["name"] == "tokenwatch"
    assert path.parent == NOTEBOOKS_DIR


def _run(out: Path, *args: str) -> int:
    return main(["run", "weekly_tracker", "--out", str(out), "--no-progress", *args])


@pytest.mark.notebook
def test_weekly_tracker_reproduces_the_published_week(snapshot, tmp_path):
    assert _run(tmp_path) == 0
    run = tmp_path / "weekly_tracker"
    recon = pd.read_csv(run / "reconciliation.csv", dtype={"code": str})
    assert len(recon) == 12 and recon["within_precision"].all()
    findings = (run / "findings.md").read_text(encoding="utf-8")  # computed, and they follow the tables
    assert "PCB/CCL led at +10.82% (equal-weight mean of 8 names)" in findings
    assert "12 of 12 figures the weekly printed" in findings and "景旺电子 (603228) +22.63%" in findings
    week = pd.read_csv(run / "week_returns.csv", dtype={"code": str}).set_index("code")
    for code in ["688519", "300913", "002130"]:  # ex-dates inside the week: match only when adjusted
        assert week.loc[code, "corporate_action"].startswith("ex-date 2025-06-2")
        published = recon.set_index("code").loc[code, "published_pct"]
        assert round(week.loc[code, "raw_return_pct"], 2) != published
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["reconciliation"] == {"matched": 12, "total": 12}
    assert {"NVDA", "AVGO"} <= set(summary["new_highs"])
    bases = {s["price_basis"] for s in summary["sources"]}
    assert any(b.startswith("raw (unadjusted)") for b in bases) and any("split-adjusted" in b for b in bases)
    assert list(pd.read_csv(run / "segments.csv").columns) == ["segment", "members", "with_data", "mean_pct",
                                                               "median_pct", "best_code", "worst_code"]


@pytest.mark.notebook
def test_weekly_tracker_sweeps_a_quarter_and_reports_a_bad_week(snapshot, tmp_path):
    from tokenwatch.sessions import week_ends

    weeks = [d.date().isoformat() for d in week_ends("2025-04-01", "2025-06-30", snapshot.calendar("cn"))]
    assert len(weeks) == 13
    # one deliberately bad value, and a week that ends on a holiday (National Day 2025-10-03)
    assert _run(tmp_path, "--sweep", "week_end=" + ",".join([*weeks, "2025-10-03", "not-a-date"])) == 1
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str)
    assert (runs["status"] == "ok").sum() == 14
    bad = runs.loc[runs["status"] == "failed"].iloc[0]
    assert "week_end='not-a-date' is not an ISO date; write it as 'YYYY-MM-DD'" in bad["error"]
    holiday = json.loads((tmp_path / "weekly_tracker" / "week_end=2025-10-03" / "summary.json").read_text())
    assert holiday["week"]["end"] == "2025-09-30" and holiday["week"]["prev_close"] == "2025-09-26"
    # the sweep's view: one row per run from its summary.json, segment means by week, and a chart
    from tokenwatch.run.sweeps import sweep_groups, sweep_table

    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "Across the weekly_tracker sweep (15 runs)" in index and 'alt="weekly_tracker sweep chart"' in index
    table = sweep_table(sweep_groups(pd.read_csv(tmp_path / "runs.csv", dtype=str, keep_default_na=False))
                        ["weekly_tracker"], tmp_path).set_index("week_end")
    june = json.loads((tmp_path / "weekly_tracker" / "week_end=2025-06-27" / "summary.json").read_text())
    assert table.loc["2025-06-27", "PCB/CCL mean %"] == june["headline"]["PCB/CCL mean %"]
    assert html.escape(june["headline"]["PCB/CCL mean %"]) in index


@pytest.mark.notebook
def test_the_whole_collection_runs_with_its_defaults(snapshot, tmp_path):
    assert main(["run", "--all", "--out", str(tmp_path), "--no-progress"]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv", dtype=str)
    assert sorted(runs["notebook"]) == sorted(NOTEBOOKS) and (runs["status"] == "ok").all()
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for name in NOTEBOOKS:
        summary = json.loads((tmp_path / name / "summary.json").read_text(encoding="utf-8"))
        assert summary["headline"] and summary["sources"], name
        assert (tmp_path / name / "report.html").stat().st_size > 10_000, name
        assert name in index
        # the brief: a key chart in each notebook's section; the report's findings block once
        section = index[index.index(f'<section id="{name}">'):]
        assert 'src="data:image/' in section[:section.index("</section>")], f"{name}: no chart in the brief"
        assert (tmp_path / name / "report.html").read_text(encoding="utf-8").count('class="tokenwatch-findings"') == 1
    _reads_as_words_and_units(tmp_path)
    # it opens with 5 to 7 lead findings, each read from its run's findings.md and linking its section
    lead = index[index.index('id="summary"'):index.index('id="changes"')]
    assert index.index('id="summary"') < index.index(f'<section id="{next(iter(NOTEBOOKS))}">')
    items = re.findall(r"<li>(.*?)</li>", lead)
    assert 5 <= len(items) <= 7 and all(re.search(r'href="#[a-z_]+"', i) for i in items)
    assert "data/brief_summary.csv picks" not in lead  # every pick still matches a finding
    brief = re.sub(r'src="data:[^"]*"', "", index[:index.index('id="runs"')])  # ids as labels, numbers written out
    assert not re.search(r"\b(doubao|google)[-_]20\d\d[-_]\d\d\b|overseas_30x_room|\de\+\d", brief)
    assert (tmp_path / "history").is_dir() and len(list((tmp_path / "history").glob("*/summary.json"))) == 1


def _reads_as_words_and_units(out: Path) -> None:
    """What a reader sees in every report: labelled headings (the label table covers every column shown), no
    e-notation, no 5+ decimals, a CSV beside every chart, no more than 25 rows shown without the table script."""
    from report_counts import count_page  # tests/run/report_counts.py, beside this file

    for page in sorted(out.glob("*/report.html")):
        c = count_page(page)
        assert not c.snake_headings, f"{page.parent.name}: add labels to data/display_labels.csv: {c.snake_headings}"
        assert not c.scientific and not c.long_decimals, (page.parent.name, c.scientific[:5], c.long_decimals[:5])
        assert c.charts and not c.charts_without_csv, (page.parent.name, c.line())
        assert not c.tables_over_25_rows, (page.parent.name, c.line())
        for csv in page.parent.glob("chart_*.csv"):
            assert f'href="{csv.name}"' in page.read_text(encoding="utf-8"), csv.name


@pytest.mark.notebook
def test_markup_in_a_basket_never_runs_in_the_exports(snapshot, tmp_path):
    import re

    basket = tmp_path / "hostile.csv"
    pd.DataFrame([{"code": "603228", "name": '<script>alert("name")</script>', "segment": "<img src=x "
                                                                                          "onerror=alert(1)>",
                   "market": "cn"},
                  {"code": "300476", "name": "胜宏科技", "segment": "<b onmouseover=alert(2)>PCB</b>", "market": "cn"},
                  # audit A5-01/02: Markdown link and image syntax in a segment, rendered by nbconvert after nh3
                  {"code": "688519", "name": "南亚新材", "segment": "[click me](javascript:alert(document.domain))",
                   "market": "cn"},
                  {"code": "600601", "name": "方正科技", "segment": "![beacon](http://127.0.0.1:18999/seg-beacon.png)",
                   "market": "cn"},
                  {"code": "002916", "name": "深南电路", "segment": "[data](data:text/html;base64,PHNjcmlwdD4=)",
                   "market": "cn"}]
                 ).to_csv(basket, index=False)
    assert _run(tmp_path / "out", "-p", "baskets", str(basket)) == 0
    run = tmp_path / "out" / "weekly_tracker"
    for page in ["report.html"]:
        text = (run / page).read_text(encoding="utf-8")
        assert not re.search(r"<[^>]*(onerror|onmouseover)", text), page
        assert 'alert("name")</script>' not in text, page
        urls = re.findall(r"(?:href|src)=\"([^\"]*)\"", text)
        assert not [u for u in urls if u.startswith(("javascript:", "http://127.0.0.1", "data:text"))], urls
        assert "[click me](javascript:alert(document.domain))" in text  # shown as written
    index = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<[^>]*onerror", index)


@pytest.mark.notebook
def test_markup_in_a_curated_claim_id_never_becomes_a_link_or_image(snapshot, tmp_path, monkeypatch):
    """Audit A5-04: a contributor's row in data/tokens/report_claims.csv puts a javascript: link and a beacon."""
    import re
    import shutil

    from tokenwatch.paths import data_dir

    data = tmp_path / "data"
    shutil.copytree(data_dir(), data, ignore=shutil.ignore_patterns("cache"))
    claims = pd.read_csv(data / "tokens" / "report_claims.csv", dtype=str, keep_default_na=False)
    claims.loc[0, "claim_id"] = "[verify here](javascript:alert(document.cookie))"
    claims.loc[1, "claim_id"] = "![x](http://127.0.0.1:18999/ledger-beacon.png)"
    claims.to_csv(data / "tokens" / "report_claims.csv", index=False)
    monkeypatch.setenv("TOKENWATCH_DATA", str(data))
    assert main(["run", "token_ledger", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    text = (tmp_path / "out" / "token_ledger" / "report.html").read_text(encoding="utf-8")
    urls = re.findall(r"(?:href|src)=\"([^\"]*)\"", text)
    assert not [u for u in urls if u.startswith(("javascript:", "http://127.0.0.1"))], urls
    assert "[verify here](javascript:alert(document.cookie))" in text


@pytest.mark.notebook
def test_make_report_from_the_repository_root_keeps_every_table(snapshot, tmp_path):
    """What `make report` does: a relative --out, from the repository root, the whole collection."""
    import subprocess
    import sys

    root = NOTEBOOKS_DIR.parent
    out = Path("reports") / f"test-{tmp_path.name}"
    before = sorted(p.name for p in NOTEBOOKS_DIR.iterdir())
    try:
        done = subprocess.run([sys.executable, "-m", "tokenwatch.run.cli", "run", "--all", "--out", str(out),
                               "--no-progress"], cwd=root, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        runs = pd.read_csv(root / out / "runs.csv", dtype=str)
        assert sorted(runs["notebook"]) == sorted(NOTEBOOKS) and (runs["status"] == "ok").all()
        for name in NOTEBOOKS:
            folder = root / out / name
            assert (folder / "summary.json").is_file() and list(folder.glob("*.csv")), name
            page = (folder / "report.html").read_text(encoding="utf-8")
            assert "not recorded by the notebook" not in page, name
            findings = (folder / "findings.md").read_text(encoding="utf-8").splitlines()
            assert findings and "Key findings" in page, name  # the report shows what was found, computed
            assert html.escape(findings[0][2:60], quote=False) in page, name
        index = (root / out / "index.html").read_text(encoding="utf-8")
        brief = index.split('id="runs"')[0]
        for name in NOTEBOOKS:  # the brief: a section per notebook, linking to a report that opens with its findings
            assert f'<section id="{name}">' in brief and f'href="{name}/report.html"' in brief, name
            page = (root / out / name / "report.html").read_text(encoding="utf-8")
            assert page.index('id="key-findings"') < page.index("<h2"), name
        for name in NOTEBOOKS:  # every run's headline reaches the index
            headline = json.loads((root / out / name / "summary.json").read_text(encoding="utf-8"))["headline"]
            assert headline and html.escape(next(iter(headline))) in index, name
        assert sorted(p.name for p in NOTEBOOKS_DIR.iterdir()) == before  # nothing written beside the notebooks
        private = [str(root), str(Path(os.environ["TOKENWATCH_SNAPSHOT"]).resolve()), str(Path.home())]
        for path in (root / out).rglob("*"):
            if path.is_file() and path.suffix in {".html", ".ipynb", ".json", ".csv", ".md"}:
                text = path.read_text(encoding="utf-8")
                leaked = [p for p in private if p in text]
                assert not leaked, f"{path.relative_to(root / out)} shows {leaked}"
    finally:
        import shutil

        shutil.rmtree(root / out, ignore_errors=True)
