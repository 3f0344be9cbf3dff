"""Sweeps and the collection: the local pool, a Dask LocalCluster, the execution cache, the plain CLIs and the floor.

    TOKENWATCH_SNAPSHOT=../shared/market python benchmarks/bench_scale.py [--weeks 52] [--jobs 2]

Measured in one run, each case once, on the same machine:
- a `--weeks`-week weekly_tracker sweep through the local pool, a LocalCluster of `--jobs` workers and the plain
  CLIs (`papermill` then `jupyter nbconvert --to html` per run);
- the whole collection: its first batch (`--force`, no run durations recorded yet, so the batch keeps the collection's
  order), cold (`--force` again, its runs started longest first by the durations the first batch recorded, as on
  any machine that ran the collection before), warm (every run reused from the execution cache) and through the
  plain CLIs;
- the floor: every notebook's code in one process with no kernel (imports once, cells executed, the same figures
  rendered to PNG) plus one HTML export of each executed notebook, serial and spread over `--jobs` cores; the same
  for the sweep's runs (the sweep's floor).
Prints seconds and the ratios the README's table quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).parent))
from bench_runner import plain  # noqa: E402 - the plain CLIs, as bench_runner runs them


def timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def ours(out: Path, *args: str) -> float:
    return timed([str(BIN / "tokenwatch"), "run", *args, "--out", str(out), "--no-progress"])


FLOOR = r'''
import json, sys, time, io
t0 = time.perf_counter()
from tokenwatch.run import skip_unused_imports
skip_unused_imports()  # as the runner's processes do: nbformat's jsonschema without its unused IRI grammars
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy, pandas, scipy, statsmodels.api, nbformat
import tokenwatch.market, tokenwatch.plots, tokenwatch.artifacts
from tokenwatch.run.export import notebook_html, sanitize_outputs
from tokenwatch.run.notebooks import discover
imports = time.perf_counter() - t0
compute, render, export = 0.0, 0.0, 0.0
runs = json.loads(sys.argv[1])  # [notebook, parameters, its output folder, its executed notebook]
books = discover()
for name, params, out, executed_path in runs:
    nb = nbformat.read(books[name], as_version=4)
    ns = {"__name__": "__main__", "display": lambda *a, **k: None}
    t = time.perf_counter()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "".join(cell.source)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source += "".join(f"\n{k} = {v!r}" for k, v in {**params, "output_dir": out}.items())
        exec(compile(source, name, "exec"), ns)
    compute += time.perf_counter() - t
    t = time.perf_counter()
    for number in plt.get_fignums():  # the figures the notebook drew, rendered as the kernel would
        plt.figure(number).savefig(io.BytesIO(), format="png", bbox_inches="tight")
    plt.close("all")
    render += time.perf_counter() - t
    executed = nbformat.read(executed_path, as_version=4)
    t = time.perf_counter()
    notebook_html(sanitize_outputs(executed), with_code=True)
    export += time.perf_counter() - t
print(json.dumps({"imports": imports, "compute": compute, "render": render, "export": export}))
'''


def floor(runs: list[tuple[str, dict[str, str], Path, Path]]) -> dict[str, float]:
    """The floor's parts for `runs`: (notebook, parameters, output folder, the executed notebook of our run)."""
    text = json.dumps([[name, params, str(out), str(executed)] for name, params, out, executed in runs])
    done = subprocess.run([sys.executable, "-c", FLOOR, text], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1] / "notebooks", env={**os.environ, "MPLBACKEND": "Agg"})
    if done.returncode:
        raise SystemExit(f"floor failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(parts: dict[str, float], jobs: int) -> tuple[float, float]:
    """A floor serial and over `jobs` cores: the imports once, the work shared."""
    work = parts["compute"] + parts["render"] + parts["export"]
    return parts["imports"] + work, parts["imports"] + work / jobs


def main() -> None:
    # Every command here caches bytecode as Python does by default (a shell with PYTHONDONTWRITEBYTECODE, as some
    # sandboxes set, would recompile the project's modules in each process and each run, on both sides).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    from tokenwatch.run.notebooks import discover
    from tokenwatch.sessions import trading_days, week_ends

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--jobs", type=int, default=2)
    opts = ap.parse_args()
    books = discover()
    weeks = [d.date().isoformat() for d in week_ends("2024-06-01", "2026-06-30", trading_days("cn"))][-opts.weeks:]
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # no durations recorded before this benchmark
        sweep = ["weekly_tracker", "--sweep", "week_end=" + ",".join(weeks), "--jobs", str(opts.jobs), "--force"]
        rows["sweep: local pool"] = ours(tmp / "pool", *sweep)
        folders = {w: next((tmp / "pool" / "weekly_tracker").glob(f"week_end={w}*")) for w in weeks}
        sweep_parts = floor([("weekly_tracker", {"week_end": w}, tmp / "floor_sweep" / w,
                              folders[w] / "weekly_tracker.ipynb") for w in weeks])
        rows["sweep: LocalCluster"] = ours(tmp / "dask", *sweep, "--scheduler", "local")
        rows["sweep: plain CLIs"] = plain([(books["weekly_tracker"], {"week_end": w}) for w in weeks], tmp / "plain1")
        rows["collection: first batch"] = ours(tmp / "first", "--all", "--force", "--jobs", str(opts.jobs))
        rows["collection: cold"] = ours(tmp / "all", "--all", "--force", "--jobs", str(opts.jobs))
        rows["collection: warm (cache)"] = ours(tmp / "all", "--all", "--jobs", str(opts.jobs))
        rows["collection: plain CLIs"] = plain([(p, {}) for p in books.values()], tmp / "plain2")
        parts = floor([(name, {}, tmp / "floor" / name, tmp / "all" / name / f"{name}.ipynb") for name in books])
    floor_serial, floor_cores = spread(parts, opts.jobs)
    sweep_serial, sweep_cores = spread(sweep_parts, opts.jobs)
    print(f"{len(weeks)}-week sweep, {len(books)} notebooks, {opts.jobs} jobs")
    for name, seconds in rows.items():
        print(f"{name:28s} {seconds:8.2f} s")
    print("floor parts: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    print(f"floor (serial / over {opts.jobs} cores): {floor_serial:.2f} s / {floor_cores:.2f} s")
    print("sweep floor parts: " + ", ".join(f"{k} {v:.2f} s" for k, v in sweep_parts.items()))
    print(f"sweep floor (serial / over {opts.jobs} cores): {sweep_serial:.2f} s / {sweep_cores:.2f} s; "
          f"floor / plain {sweep_cores / rows['sweep: plain CLIs']:.3f}, "
          f"pool / floor {rows['sweep: local pool'] / sweep_cores:.2f}")
    print(f"sweep: pool / plain {rows['sweep: local pool'] / rows['sweep: plain CLIs']:.3f}, "
          f"LocalCluster / plain {rows['sweep: LocalCluster'] / rows['sweep: plain CLIs']:.3f}, "
          f"LocalCluster / pool {rows['sweep: LocalCluster'] / rows['sweep: local pool']:.2f}")
    print(f"collection: first batch / floor over cores {rows['collection: first batch'] / floor_cores:.2f}")
    print(f"collection: cold / plain {rows['collection: cold'] / rows['collection: plain CLIs']:.3f}, "
          f"warm / plain {rows['collection: warm (cache)'] / rows['collection: plain CLIs']:.4f}, "
          f"warm / cold {rows['collection: warm (cache)'] / rows['collection: cold']:.3f}, "
          f"cold / floor over cores {rows['collection: cold'] / floor_cores:.2f}")


if __name__ == "__main__":
    main()
