"""The brief: a summary of the lead findings first, a key chart per notebook, readable labels, a glossary,
nothing twice, what changed since the last run; it opens from disk in headless Chromium."""

import base64
import html as html_lib
import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from tokenwatch.run import brief, history, report_page
from tokenwatch.run.runner import RUN_RECORD, write_index


def _png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([1, 2, 3], [3, 1, 2])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def make_run(out: Path, notebook: str, findings: list[str], headline: dict, chart: bool = True,
             finished: float | None = None) -> Path:
    """A finished run folder as the runner leaves it: run.json, summary.json, findings.md, report.html and the
    executed notebook (with a chart output when `chart`)."""
    folder = out / notebook
    folder.mkdir(parents=True, exist_ok=True)
    record = {"notebook": notebook, "run_id": notebook, "parameters": "{}", "status": "ok", "seconds": 1.0,
              "output_folder": notebook, "error": "", "ran_at": "2026-12-01T10:00:00+00:00", "last_good_folder": "",
              "cached": False, "finished": finished or time.time()}
    (folder / RUN_RECORD).write_text(json.dumps(record), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"headline": headline}), encoding="utf-8")
    (folder / "findings.md").write_text("".join(f"- {f}\n" for f in findings), encoding="utf-8")
    title = notebook.replace("_", " ").capitalize()
    (folder / "report.html").write_text(f"<html><head><title>{title}: what it does</title></head><body>"
                                        "</body></html>", encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("chart()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})
                    ] if chart else []
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"), cell]
    nbformat.write(nb, folder / f"{notebook}.ipynb")
    return folder


def test_period_labels_read_as_words():
    assert brief.period_label("2025-05-01", "2025-05-31") == "May 2025"
    assert brief.period_label("2025-07-01", "2025-09-30") == "Q3 2025"
    assert brief.period_label("2025-01-01", "2025-06-30") == "H1 2025"
    assert brief.period_label("2024-01-01", "2024-12-31") == "2024"
    assert brief.period_label("2025-04-01", "2025-05-31") == "Apr-May 2025"
    assert brief.period_label("2024-12-01", "2025-01-31") == "Dec 2024-Jan 2025"
    assert brief.period_label("2025-05-31", "2025-05-31") == "31 May 2025"
    assert brief.period_label("2025-11-20", "2025-11-30") == "20-30 Nov 2025"


def test_internal_ids_become_labels_built_from_the_data_files():
    names, problem = brief.labels()
    assert not problem
    assert names["doubao-2025-03"] == "Doubao, Mar 2025"
    assert names["doubao-2025-05"] == "Doubao, 31 May 2025"  # its period is the day the figure describes
    assert names["google-2025-05"] == "Google surfaces, Apr-May 2025"  # Google has several series
    assert "Overseas leaders are still about 30x" in names["overseas_30x_room"]  # the claim, from its file
    text = brief.readable("doubao_2025_05 and doubao-2025-05 against overseas_30x_room; doubao-2025-05x stays", names)
    assert text.startswith("Doubao, 31 May 2025 and Doubao, 31 May 2025 against the weekly's claim")
    assert "doubao-2025-05x" in text and "_" not in text.split("stays")[0].replace("doubao-2025-05x", "")


def test_glossary_terms_are_linked_and_text_stays_escaped():
    terms = brief.glossary()
    assert {"CAR", "BMP", "Corrado", "Kolari-Pynnonen", "sign test", "p-value", "80% band", "ensemble",
            "PIT"} <= set(terms["term"])
    out = brief.linked('<script>x</script> CAR by BMP, Kolari-Pynnönen; p-value 0.03; CARD stays', terms)
    assert "&lt;script&gt;" in out and "<script>" not in out
    assert '<a class="tw-term" href="#g-car">CAR</a>' in out and 'href="#g-bmp"' in out
    assert 'href="#g-kolari-pynnonen">Kolari-Pynnönen</a>' in out and 'href="#g-p-value"' in out
    assert "CARD stays" in out
    section = brief.glossary_section(terms)
    for anchor in re.findall(r'href="#([^"]+)"', out):
        assert f'id="{anchor}"' in section


def test_the_findings_block_is_shown_once_whatever_the_cell_id():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display(report)")
    cell["id"] = "c03"  # the projection's findings cell: no '-findings' id
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": '<div class="tokenwatch-findings"><b>Key findings</b></div>', "text/plain": "r"})]
    other = nbformat.v4.new_code_cell("table")
    other.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<table></table>"})]
    nb.cells = [cell, other]
    shown = report_page.for_readers(nb)
    assert shown.cells[0].outputs == [] and len(shown.cells[1].outputs) == 1


def test_summary_takes_the_picked_findings_then_tops_up_to_five(tmp_path):
    import pandas as pd

    from tokenwatch.run.runner import scan_runs

    names = ["weekly_tracker", "rally_replay", "token_ledger", "token_projection", "tokens_to_compute",
             "domestic_chain", "rating_scorecard", "token_catalysts"]
    for name in names:
        make_run(tmp_path, name, [f"{name} first", f"{name} Headline +1.5%"], {"x": 1})
    runs = scan_runs(tmp_path)
    picks = brief.summary_picks()
    assert 5 <= len(picks) <= 7 and set(picks["notebook"]) <= set(names)
    mine = pd.DataFrame({"notebook": names, "finding_contains": "Headline", "why": ""})
    items = brief.summary_items(runs, tmp_path, mine)
    assert [t for t, _, _ in items] == [f"{n} Headline +1.5%" for n in names[:7]]  # at most 7
    assert [f for _, f, _ in items] == names[:7]  # each links its section
    missing = brief.summary_items(runs, tmp_path, mine.assign(finding_contains="no such words").head(1))
    assert "weekly_tracker first [data/brief_summary.csv picks the finding containing 'no such words'" in missing[0][0]
    few = tmp_path / "few"
    for name in names[:2]:
        make_run(few, name, [f"{name} one", f"{name} two", f"{name} three"], {"x": 1})
    items = brief.summary_items(scan_runs(few), few, mine.head(0))
    assert [t for t, _, _ in items] == ["weekly_tracker one", "rally_replay one", "weekly_tracker two",
                                        "rally_replay two", "weekly_tracker three"]


def test_numbers_in_scientific_notation_are_written_out():
    assert brief.plain_numbers("6.59e+13 tokens (80% band 2.83e+13 to 1.57e+14)") == (
        "65.9 trillion tokens (80% band 28.3 trillion to 157 trillion)")
    assert brief.plain_numbers("9.45e+10 FLOPs, -2.5e+06 and 1.2e3; v1e5 stays") == (
        "94.5 billion FLOPs, -2.5 million and 1,200; v1e5 stays")


def test_the_brief_leads_with_its_summary_a_chart_per_section_and_no_repeats(tmp_path):
    make_run(tmp_path, "token_ledger", ["The weekly's claim doubao_137x holds: x137 (CAR n/a)", "second"],
             {"claims holding": "3 of 5"})
    make_run(tmp_path, "token_projection", ["Doubao reaches 30x by 2027 (80% band 2026-2029)"], {"p50": 1.0})
    write_index(tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.index('id="summary"') < page.index('id="token_ledger"') < page.index('id="token_projection"')
    assert "doubao_137x" not in page and "the weekly&#x27;s claim \u201cDoubao&#x27;s daily tokens" in page
    for folder in ("token_ledger", "token_projection"):
        section = page[page.index(f'<section id="{folder}"'):]
        section = section[:section.index("</section>")]
        assert 'src="data:image/png;base64,' in section, folder
    # each finding once in its section and once in the summary, never more
    assert page.count("Doubao reaches 30x by 2027") == 2
    assert 'href="#g-80-band"' in page and 'id="g-80-band"' in page
    assert "file://" not in page and str(tmp_path) not in page


def test_a_data_file_that_cannot_be_read_is_named_in_the_brief_without_this_machines_paths(tmp_path, monkeypatch):
    """Audit A5-08: the brief's notice quoted the loader's error with the ledger's absolute path."""
    from tokenwatch.paths import PROJECT_ROOT
    from tokenwatch.tokens import ledger as ledger_module

    bad = PROJECT_ROOT / "data" / "tokens" / "disclosures.csv"

    def broken(*_args, **_kwargs):
        raise ValueError(f"{bad}, line 7: value must be positive; output in {tmp_path / 'x'}")

    monkeypatch.setattr(ledger_module, "load_ledger", broken)
    monkeypatch.setattr("tokenwatch.tokens.load_ledger", broken)
    make_run(tmp_path, "token_ledger", ["first"], {"claims holding": "3 of 5"})
    write_index(tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "the token data could not be read" in page  # the notice is still there, naming the file
    assert "data/tokens/disclosures.csv, line 7" in page
    assert str(PROJECT_ROOT) not in page and str(tmp_path) not in page and "file://" not in page


def test_history_records_each_changed_state_and_the_brief_shows_before_and_after(tmp_path):
    from tokenwatch.run.runner import scan_runs

    make_run(tmp_path, "weekly_tracker", ["PCB led"], {"PCB/CCL mean %": "+10.82", "rows": 12})
    assert history.record_state(tmp_path, scan_runs(tmp_path)) is not None
    assert history.record_state(tmp_path, scan_runs(tmp_path)) is None  # nothing changed: no second record
    write_index(tmp_path)
    assert "No earlier run is recorded" in (tmp_path / "index.html").read_text(encoding="utf-8")  # the first
    make_run(tmp_path, "weekly_tracker", ["PCB led"], {"PCB/CCL mean %": "+11.00", "rows": 12, "tokens": 6.59e13})
    write_index(tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    changed = page[page.index('id="changes"'):]
    assert "2 of 3 headline figures changed" in changed
    assert "<td>tokens</td><td>–</td><td>65.9 trillion</td>" in changed  # new figure: nothing before
    assert re.search(r"<tr class=tw-changed><td><a href=\"#weekly_tracker\">Weekly tracker</a></td>"
                     r"<td>PCB/CCL mean %</td><td>\+10.82</td><td>\+11.00</td>", changed)
    assert history.record_state(tmp_path, scan_runs(tmp_path)) is not None
    records = history.recorded(tmp_path)
    assert len(records) == 2 and records[0][1]["runs"]["weekly_tracker"]["headline"]["PCB/CCL mean %"] == "+10.82"
    size = sum(p.stat().st_size for p in (tmp_path / "history").rglob("*") if p.is_file())
    assert size < 5_000  # headline figures only, not copies of the runs
    # once recorded, a rebuilt brief still compares with the state before (not with itself)
    state = history.current_state(scan_runs(tmp_path), tmp_path)
    assert history.previous_state(tmp_path, state)["runs"]["weekly_tracker"]["headline"] == {
        "PCB/CCL mean %": "+10.82", "rows": 12}
    assert "+10.82" in history.changes_section(scan_runs(tmp_path), tmp_path)


PROBE = """<script>
window.addEventListener('load', () => {
  const out = {};
  const first = document.querySelector('h1 ~ section');
  out.first = first ? first.id : '';
  out.summary = document.querySelectorAll('#summary li').length;
  out.charts = {};
  document.querySelectorAll('section[id]').forEach(s => {
    if (['summary', 'changes', 'glossary', 'runs'].includes(s.id)) return;
    out.charts[s.id] = [...s.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 50).length;
  });
  const terms = [...document.querySelectorAll('a.tw-term')];
  out.terms = terms.length;
  out.dead = terms.filter(a => !document.getElementById(a.getAttribute('href').slice(1))).map(a => a.href);
  out.summary_links = [...document.querySelectorAll('#summary a:not(.tw-term)')]
    .filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length;
  document.body.setAttribute('data-probe', JSON.stringify(out));
});
</script>"""


def test_the_brief_opened_from_disk_in_chromium(tmp_path):
    from tokenwatch.run.pdf import OFFLINE, QUIET, chromium

    exe = chromium()
    if not exe:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    make_run(tmp_path, "rally_replay", ["Phase 2 CAR +4.1% (BMP p-value 0.02)", "Corrado agrees"], {"a": 1})
    make_run(tmp_path, "token_projection", ["The ensemble's 80% band spans x2 to x5"], {"b": 2})
    make_run(tmp_path, "rating_scorecard", ["The call held: +3.2% against CSI 300"], {"c": 3})
    write_index(tmp_path)
    page = tmp_path / "index.html"
    probed = tmp_path / "probe.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run([exe, *QUIET, *OFFLINE, f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, "the probe did not run"
    probe = json.loads(html_lib.unescape(found.group(1)))
    assert probe["first"] == "summary" and probe["summary"] == 4, probe  # every finding there is
    assert probe["charts"] == {"rally_replay": 1, "token_projection": 1, "rating_scorecard": 1}, probe
    assert probe["terms"] >= 6 and probe["dead"] == [] and probe["summary_links"] == 0, probe


def test_the_key_chart_links_the_csv_behind_it(tmp_path):
    png = base64.b64encode(b"\x89PNG fake").decode()
    link = '<p class="tw-chart-data"><a href="chart_week.csv" download>data (CSV)</a> · chart_week.csv</p>'
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"image/png": png}},
        {"output_type": "display_data", "data": {"text/html": [link]}}]}]}
    (tmp_path / "weekly_tracker.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    shown = brief.key_chart(tmp_path, "weekly_tracker", "weekly_tracker")
    assert 'src="data:image/png;base64,' in shown
    assert 'href="weekly_tracker/chart_week.csv"' in shown
    # a chart without a data link shows no link rather than a dead one
    nb["cells"][0]["outputs"] = nb["cells"][0]["outputs"][:1]
    (tmp_path / "weekly_tracker.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    assert "data (CSV)" not in brief.key_chart(tmp_path, "weekly_tracker", "weekly_tracker")


def test_the_key_chart_is_read_from_what_the_run_kept_and_its_markup_is_checked(tmp_path):
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {"image/png": base64.b64encode(b"\x89PNG").decode()}},
        {"output_type": "display_data", "data": {"text/html": [
            '<p class="tw-chart-data"><a href="chart_x.csv" download>data (CSV)</a></p>']}}]}]}
    kept = tmp_path / brief.KEY_CHART
    kept.write_text(json.dumps({"chart": brief.first_chart(nb)}), encoding="utf-8")  # no notebook beside it
    assert 'href="run/chart_x.csv"' in brief.key_chart(tmp_path, "weekly_tracker", "run")
    kept.write_text(json.dumps({"chart": None}), encoding="utf-8")
    assert brief.key_chart(tmp_path, "weekly_tracker", "run") == ""
    bad = {"mime": "text/html", "base64": "x", "csv": "a.csv"}, {"mime": "image/png", "base64": '"><b>', "csv": ""}
    for chart in bad:
        kept.write_text(json.dumps({"chart": chart}), encoding="utf-8")
        assert brief.key_chart(tmp_path, "weekly_tracker", "run") == ""
    kept.write_text(json.dumps({"chart": {**brief.first_chart(nb), "csv": '"><script>x</script>.csv'}}),
                    encoding="utf-8")
    assert "<script>" not in brief.key_chart(tmp_path, "weekly_tracker", "run")
