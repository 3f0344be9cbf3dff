"""Batch runs of the notebooks: parameters, sweeps, parallel workers with warm kernels, exports.

Each worker process keeps one Jupyter kernel with the heavy imports done and gives every run a
clean namespace (`%reset -f`); a run that fails or times out gets a fresh kernel after it. Runs
write into a staging folder and their files are renamed into place, so a reader never sees half
a run and a rerun replaces only the files of the runs it repeats.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing as mp
import os
import re
import shutil
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha1
from pathlib import Path
from typing import Any

import pandas as pd

from .artifacts import atomic_write_text
from .errors import ParameterError, TokenwatchError
from .notebooks import INJECTED, check_parameters, discover, inspect

KERNEL_NAME = "tokenwatch"
WARM_UP = ("import numpy, pandas, scipy, statsmodels.api, matplotlib.pyplot\n"
           "import tokenwatch.market, tokenwatch.plots, tokenwatch.artifacts\n"
           "tokenwatch.plots.use_style()")
RESET = "%reset -f\nimport matplotlib.pyplot as _plt, os as _os\n_plt.close('all')\n_os.chdir({cwd!r})\ndel _plt, _os"
RUNS_COLUMNS = ["notebook", "run_id", "parameters", "status", "seconds", "output_folder", "error"]


@dataclass
class RunSpec:
    notebook: str
    path: Path
    params: dict[str, Any]
    folder: str  # relative to the output root: '<notebook>' or '<notebook>/<slug>'

    @property
    def run_id(self) -> str:
        return self.folder.replace("/", "__")


@dataclass
class RunResult:
    spec: RunSpec
    status: str
    seconds: float
    error: str = ""


def slug(params: dict[str, Any]) -> str:
    """A safe, unique folder name for a parameter set."""
    text = "__".join(f"{k}={json.dumps(v, ensure_ascii=True) if not isinstance(v, str) else v}"
                     for k, v in sorted(params.items()))
    safe = re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-.") or "run"
    if len(safe) > 80 or safe != text:
        safe = f"{safe[:64]}-{sha1(text.encode()).hexdigest()[:8]}"
    return safe


def plan(paths: list[Path], params: dict[str, Any], sweeps: dict[str, list[Any]]) -> list[RunSpec]:
    """Check parameters against each notebook before any kernel starts; expand sweeps."""
    specs = []
    grid = [dict(zip(sweeps, combo, strict=True)) for combo in itertools.product(*sweeps.values())] or [{}]
    for path in paths:
        info = inspect(path)
        if "output_dir" not in info.parameters:
            raise ParameterError(f"{path.name} has no 'output_dir' parameter; the runner needs it to collect results")
        for name in INJECTED & (set(params) | set(sweeps)):
            raise ParameterError(f"{name} is set by the runner (use --out for the output folder)")
        for point in grid:
            merged = check_parameters(info, {**params, **point})
            folder = info.name if not point else f"{info.name}/{slug(point)}"
            specs.append(RunSpec(info.name, Path(path), merged, folder))
    folders = [s.folder for s in specs]
    if len(set(folders)) != len(folders):
        raise ParameterError("two runs would share an output folder; check the sweep values for repeats")
    return specs


# --- worker side -------------------------------------------------------------------------

class WarmKernel:
    """One kernel kept warm between runs (heavy imports done once, namespace reset each run)."""

    def __init__(self, name: str, cwd: str) -> None:
        self.name, self.cwd, self.km = name, cwd, None

    def get(self):
        from jupyter_client import KernelManager

        if self.km is None or not self.km.is_alive():
            self.km = KernelManager(kernel_name=self.name)
            self.km.start_kernel(cwd=self.cwd)
            self._execute(WARM_UP, timeout=120)
        return self.km

    def _execute(self, code: str, timeout: float) -> None:
        kc = self.km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            reply = kc.execute_interactive(code, timeout=timeout, store_history=False,
                                           output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"kernel {self.name}: {reply['content'].get('evalue', 'set-up failed')}")
        finally:
            kc.stop_channels()

    def reset(self) -> None:
        try:
            self._execute(RESET.format(cwd=self.cwd), timeout=30)
        except Exception:  # noqa: BLE001 - a kernel that cannot reset is replaced
            self.discard()

    def discard(self) -> None:
        if self.km is not None:
            with contextlib.suppress(Exception):
                self.km.shutdown_kernel(now=True)
        self.km = None


def _move_into_place(staging: Path, final: Path) -> None:
    """Rename each staged file over the final one; drop top-level files of the old run it replaced."""
    final.mkdir(parents=True, exist_ok=True)
    new = {p.name for p in staging.iterdir() if p.is_file()}
    for name in sorted(new):
        os.replace(staging / name, final / name)
    for old in final.iterdir():
        if old.is_file() and old.name not in new and not old.name.startswith("."):
            old.unlink()
    shutil.rmtree(staging, ignore_errors=True)


def execute_one(spec: RunSpec, out_root: Path, kernel: WarmKernel | None, cell_timeout: float) -> RunResult:
    """Execute one run through papermill, export HTML in-process, move its files into place."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .artifacts import read_summary
    from .export import notebook_html, provenance_footer

    started = time.perf_counter()
    ran_at = datetime.now(UTC).isoformat(timespec="seconds")
    staging = out_root / ".staging" / f"{spec.run_id}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    executed = staging / f"{spec.notebook}.ipynb"
    params = {**spec.params, "output_dir": str(staging)}
    status, error = "ok", ""
    try:
        extra = {"km": kernel.get()} if kernel is not None else {}
        papermill.execute_notebook(str(spec.path), str(executed), parameters=params, kernel_name=KERNEL_NAME,
                                   execution_timeout=cell_timeout, progress_bar=False, log_output=False,
                                   cwd=str(spec.path.parent), **extra)
    except PapermillExecutionError as exc:
        first = next((line for line in exc.source.splitlines() if line.strip()), "")
        status, error = "failed", (f"cell {exc.cell_index + 1} of the executed notebook (starting {first[:60]!r}): "
                                   f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # noqa: BLE001 - a run's failure never stops the batch
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    if kernel is not None and status == "ok":
        kernel.reset()
    elif kernel is not None:
        kernel.discard()  # whatever state a failed run left, the next run starts clean
    try:
        if executed.exists():
            nb = nbformat.read(executed, as_version=4)
            try:
                summary = read_summary(staging)
            except (OSError, ValueError):
                summary = None
            footer = provenance_footer(spec.params, summary, ran_at)
            atomic_write_text(staging / "report.html", notebook_html(nb, with_code=False, footer=footer))
            atomic_write_text(staging / "notebook.html", notebook_html(nb, with_code=True, footer=footer))
    except Exception as exc:  # noqa: BLE001
        status, error = "failed", error or f"export: {type(exc).__name__}: {exc}"
    _move_into_place(staging, out_root / spec.folder)
    return RunResult(spec, status, time.perf_counter() - started, error)


def _safe_execute(spec: RunSpec, out_root: Path, kernel: WarmKernel | None, cell_timeout: float) -> RunResult:
    try:
        return execute_one(spec, out_root, kernel, cell_timeout)
    except Exception:  # noqa: BLE001 - whatever happens, the batch goes on and says where
        return RunResult(spec, "failed", 0.0, traceback.format_exc(limit=3))


def _worker(tasks: mp.Queue, results: mp.Queue, out_root: str, cell_timeout: float, warm: bool) -> None:
    kernel = WarmKernel(KERNEL_NAME, str(Path.cwd())) if warm else None
    try:
        while (task := tasks.get()) is not None:
            i, spec = task
            if kernel is not None:
                kernel.cwd = str(spec.path.parent)
            results.put((i, _safe_execute(spec, Path(out_root), kernel, cell_timeout)))
    finally:
        if kernel is not None:
            kernel.discard()


# --- driver side -------------------------------------------------------------------------

def check_kernel(name: str = KERNEL_NAME) -> None:
    """Stop before any run when the project's kernel is not registered."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel as exc:
        raise TokenwatchError(
            f"the Jupyter kernel {name!r} is not installed; run `make venv` (or `python -m ipykernel install "
            f"--sys-prefix --name {name}` in the project's environment)"
        ) from exc


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def run_all(specs: list[RunSpec], out_root: Path, *, jobs: int | None = None, cell_timeout: float = 600,
            warm: bool = True, progress: bool = True) -> list[RunResult]:
    """Run every spec, `jobs` at a time; failures are recorded, never raised."""
    from tqdm.auto import tqdm


    check_kernel()
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    jobs = max(1, min(jobs or default_jobs(), len(specs)))
    if len(specs) == 1:  # nothing to overlap: no worker process, no warm-up
        results = [_safe_execute(specs[0], out_root, None, cell_timeout)]
        write_index(out_root, results)
        return results
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for item in enumerate(specs):
        tasks.put(item)
    for _ in range(jobs):
        tasks.put(None)
    workers = [ctx.Process(target=_worker, args=(tasks, results, str(out_root), cell_timeout, warm), daemon=False)
               for _ in range(jobs)]
    for w in workers:
        w.start()
    done: dict[int, RunResult] = {}
    bar = tqdm(total=len(specs), desc="runs", unit="run", disable=not progress)
    try:
        while len(done) < len(specs):
            try:
                i, result = results.get(timeout=5)
            except Exception:  # noqa: BLE001 - queue.Empty: check that workers are alive
                if not any(w.is_alive() for w in workers):
                    for i, spec in enumerate(specs):
                        done.setdefault(i, RunResult(spec, "failed", 0.0, "worker process died"))
                continue
            done[i] = result
            bar.set_postfix_str(f"{result.spec.folder}: {result.status}")
            bar.update()
    finally:
        bar.close()
        for w in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.terminate()
    shutil.rmtree(out_root / ".staging", ignore_errors=True)
    ordered = [done[i] for i in range(len(specs))]
    write_index(out_root, ordered)
    return ordered


def write_index(out_root: Path, results: list[RunResult]) -> pd.DataFrame:
    """Merge these runs into runs.csv (replacing reruns) and rewrite index.html."""
    from .export import index_html

    new = pd.DataFrame([{
        "notebook": r.spec.notebook, "run_id": r.spec.run_id,
        "parameters": json.dumps(r.spec.params, ensure_ascii=False, sort_keys=True, default=str),
        "status": r.status, "seconds": round(r.seconds, 2), "output_folder": r.spec.folder, "error": r.error,
    } for r in results], columns=RUNS_COLUMNS)
    path = out_root / "runs.csv"
    if path.exists():
        old = pd.read_csv(path, dtype=str, keep_default_na=False)
        old = old.loc[~old["run_id"].isin(new["run_id"])
                      & old["output_folder"].map(lambda f: (out_root / f).is_dir())]
        old["seconds"] = pd.to_numeric(old["seconds"], errors="coerce").fillna(0.0)
        runs = pd.concat([old, new], ignore_index=True)
    else:
        runs = new
    order = {name: i for i, name in enumerate(discover())}  # the collection's own order: 01, 02, ...
    runs = (runs.assign(_order=runs["notebook"].map(order).fillna(len(order)))
            .sort_values(["_order", "notebook", "run_id"], kind="stable").drop(columns="_order")
            .reset_index(drop=True))
    atomic_write_text(path, runs.to_csv(index=False))
    atomic_write_text(out_root / "index.html", index_html(runs, out_root))
    return runs


def results_table(results: list[RunResult]) -> str:
    rows = [(r.spec.folder, json.dumps(r.spec.params, ensure_ascii=False, default=str)[:60], r.status,
             f"{r.seconds:.1f}") for r in results]
    head = ("run", "parameters", "status", "seconds")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows]]
    for r in results:
        if r.status != "ok":
            lines.append(f"FAILED {r.spec.folder}: {r.error}")
    return "\n".join(lines)

