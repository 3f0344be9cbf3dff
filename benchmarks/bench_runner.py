"""Batch runs: the plain CLI way vs `tokenwatch run`, on the same notebooks, in one go.

    TOKENWATCH_SNAPSHOT=../shared/market python benchmarks/bench_runner.py [--sweep-size 12]

(a) for each run, `papermill` CLI then `jupyter nbconvert --to html` CLI, one after the other;
(b) `tokenwatch run` (warm kernels, in-process export, parallel workers).
Measured for the whole collection with defaults and for a sweep of weekly_tracker over
`--sweep-size` weeks. Prints both times and their ratio (b)/(a).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenwatch.run.notebooks import discover
from tokenwatch.sessions import trading_days, week_ends

BIN = Path(sys.executable).parent


def plain(runs: list[tuple[Path, dict[str, str]]], out: Path) -> float:
    t0 = time.perf_counter()
    for i, (path, params) in enumerate(runs):
        run_dir = out / f"run{i}"
        run_dir.mkdir(parents=True)
        executed = run_dir / path.name
        args = [str(BIN / "papermill"), str(path), str(executed), "-k", "tokenwatch", "--no-progress-bar",
                "-p", "output_dir", str(run_dir)]
        for k, v in params.items():
            args += ["-p", k, v]
        subprocess.run(args, check=True, capture_output=True)
        subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", str(executed)], check=True,
                       capture_output=True)
    return time.perf_counter() - t0


def ours(args: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "tokenwatch"), "run", *args, "--out", str(out), "--no-progress"], check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sweep-size", type=int, default=12)
    opts = ap.parse_args()
    notebooks = discover()
    weeks = [d.date().isoformat() for d in week_ends("2025-04-01", "2025-06-30", trading_days("cn"))]
    weeks = weeks[-opts.sweep_size:]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [
            ("whole collection", [(p, {}) for p in notebooks.values()], ["--all"]),
            (f"{len(weeks)}-value sweep of weekly_tracker",
             [(notebooks["weekly_tracker"], {"week_end": w}) for w in weeks],
             ["weekly_tracker", "--sweep", "week_end=" + ",".join(weeks)]),
        ]
        for i, (label, runs, run_args) in enumerate(cases):
            a = plain(runs, tmp / f"plain{i}")
            b = ours(run_args, tmp / f"ours{i}")
            print(f"{label} ({len(runs)} runs): (a) papermill + nbconvert CLIs {a:6.1f} s; "
                  f"(b) tokenwatch run {b:6.1f} s; ratio (b)/(a) = {b / a:.2f}")


if __name__ == "__main__":
    main()
