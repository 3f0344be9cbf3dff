"""HTML exports: two files (a report without code and a notebook with it) against one file with a code toggle.

    python benchmarks/bench_export.py EXECUTED_DIR [--rounds 3]

EXECUTED_DIR is a `tokenwatch run --all` output folder (its executed notebooks are exported again here, in one
process). Both ways sanitize once; (a) exports twice, (b) exports once with code and adds the CSS toggle. The floor
is one export. Rounds alternate (a) and (b); the medians and the ratio (b)/(a) are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat

from tokenwatch.run.export import notebook_html, sanitize_outputs
from tokenwatch.run.report_page import for_readers, with_code_toggle


def two_files(nbs: list) -> float:
    t0 = time.perf_counter()
    for nb in nbs:
        clean = sanitize_outputs(nb)
        notebook_html(for_readers(clean), with_code=False, sanitized=True)
        notebook_html(clean, with_code=True, sanitized=True)
    return time.perf_counter() - t0


def one_file(nbs: list) -> float:
    t0 = time.perf_counter()
    for nb in nbs:
        with_code_toggle(notebook_html(for_readers(sanitize_outputs(nb)), with_code=True, sanitized=True))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("executed", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    opts = ap.parse_args()
    paths = sorted(p for p in opts.executed.glob("*/*.ipynb"))
    nbs = [nbformat.read(p, as_version=4) for p in paths]
    one_file(nbs)  # warm the exporter and its templates once
    a, b = [], []
    for _ in range(opts.rounds):
        a.append(two_files(nbs))
        b.append(one_file(nbs))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{len(nbs)} notebooks, {opts.rounds} rounds")
    print(f"(a) two files        {ma:6.2f} s")
    print(f"(b) one with toggle  {mb:6.2f} s   ratio (b)/(a) {mb / ma:.2f}")


if __name__ == "__main__":
    main()
