"""Batch runs of the notebooks: parameters, sweeps, parallel workers with warm kernels, exports.

Each worker process keeps one Jupyter kernel with the heavy imports done and gives every run a
clean namespace (`%reset -f`); a run that fails or times out gets a fresh kernel after it.

Every invocation stages its runs under its own `.staging/<id>/`; `publish.finish_run` swaps a run's
folder into place whole only when it succeeded completely, `publish.reuse` serves a run from the
execution cache (`cache.py`) when nothing it depends on changed, and `index.write_index` rebuilds
`runs.csv` and `index.html` from the run.json files on disk.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing as mp
import os
import queue
import re
import shutil
import signal
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha1
from pathlib import Path
from typing import Any, Literal

from tokenwatch.artifacts import atomic_write_text
from tokenwatch.errors import ParameterError, TokenwatchError
from tokenwatch.market.fetch import DOWN_ENV
from tokenwatch.paths import scrub_paths
from tokenwatch.run import cache, publish
from tokenwatch.run.index import (  # noqa: F401 - re-exported
    RUNS_COLUMNS,
    IndexNotWritten,
    check_output_root,
    scan_runs,
    write_index,
)
from tokenwatch.run.notebooks import INJECTED, check_parameters, inspect
from tokenwatch.run.publish import (  # noqa: F401 - re-exported for the cluster runner and tests
    FAILED_SUFFIX,
    REQUIRED,
    RUN_RECORD,
    finish_run,
    reuse,
    swap_into_place,
)

KERNEL_NAME = "tokenwatch"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
KERNEL_START_TRIES = 3
READS_START = "import tokenwatch.reads as _tw_reads\n_tw_reads.start()\ndel _tw_reads"
READS_STOP = "import tokenwatch.reads as _tw_reads\n_tw_reads.stop({path!r})\ndel _tw_reads"
READS_FILE = ".reads.json"
WARM_UP = ("import numpy, pandas, scipy, statsmodels.api, matplotlib.pyplot\n"
           "import tokenwatch.market, tokenwatch.plots, tokenwatch.artifacts\n"
           "tokenwatch.plots.use_style()")
RESET = "%reset -f\nimport matplotlib.pyplot as _plt, os as _os\n_plt.close('all')\n_os.chdir({cwd!r})\ndel _plt, _os"
STAGING = ".staging"


@dataclass
class RunSpec:
    notebook: str
    path: Path
    params: dict[str, Any]
    folder: str  # relative to the output root: '<notebook>' or '<notebook>/<slug>'
    cwd: Path = field(default_factory=Path.cwd)  # the kernel's working folder: where `tokenwatch run` was
    # started, so a relative path parameter (-p projection_dir reports/latest/...) means what it says

    @property
    def run_id(self) -> str:
        return self.folder.replace("/", "__")


RunStatus = Literal["ok", "failed"]


@dataclass
class RunResult:
    spec: RunSpec
    status: RunStatus
    seconds: float
    error: str = ""
    folder: str = ""  # where this attempt's files are, relative to the output root
    last_good_folder: str = ""  # a failed rerun leaves the good run here
    cached: bool = False  # reused: nothing it depends on changed since it ran
    reason: str = ""  # why it was reused or rerun (`tokenwatch run --explain`)


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
    both = sorted(set(params) & set(sweeps))
    if both:
        raise ParameterError(f"{', '.join(both)} is given both with -p (or -f) and with --sweep; keep one")
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
            specs.append(RunSpec(info.name, Path(path).resolve(), merged, folder))
    folders = [s.folder for s in specs]
    if len(set(folders)) != len(folders):
        raise ParameterError("two runs would share an output folder; check the sweep values for repeats")
    return specs


# --- worker side -------------------------------------------------------------------------

class WarmKernel:
    """One kernel kept warm between runs (heavy imports done once, namespace reset each run).

    Kernels talk over IPC (unix sockets in a private temporary folder), not TCP: no port to race for
    and no "running over TCP without encryption" warning for every kernel."""

    def __init__(self, name: str, cwd: str, warm: bool = True) -> None:
        self.name, self.cwd, self.warm = name, cwd, warm
        self.km: Any = None  # a jupyter_client KernelManager once started
        self._sockets: str | None = None

    def get(self):
        from jupyter_client import KernelManager

        if self.km is None or not self.km.is_alive():
            self.discard()
            self._sockets = tempfile.mkdtemp(prefix="tokenwatch-kernel-")
            self.km = KernelManager(kernel_name=self.name, transport="ipc", ip=os.path.join(self._sockets, "k"))
            # figures must reach the notebook: a shell's MPLBACKEND=Agg (CI sets it) would silence every chart
            env = {**os.environ, "MPLBACKEND": INLINE_BACKEND}
            for attempt in range(KERNEL_START_TRIES):  # a kernel that fails to start (a port race) is retried
                try:
                    self.km.start_kernel(cwd=self.cwd, env=env)
                    break
                except Exception:
                    if attempt == KERNEL_START_TRIES - 1:
                        raise
                    with contextlib.suppress(Exception):
                        self.km.cleanup_resources()
                    time.sleep(0.5 * (attempt + 1))
            if self.warm:
                self._execute(WARM_UP, timeout=120)
        return self.km

    def execute(self, code: str, timeout: float) -> None:
        """Run `code` in the kernel outside any notebook (set-up, the execution cache's read record)."""
        self._execute(code, timeout)

    def _execute(self, code: str, timeout: float) -> None:
        if self.km is None:
            raise RuntimeError(f"kernel {self.name} is not running")
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
        if self._sockets:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None


def execute_one(spec: RunSpec, out_root: Path, staging_root: Path, kernel: WarmKernel | None,
                cell_timeout: float) -> RunResult:
    """Execute one run through papermill in its own staging folder, export HTML, swap it into place."""
    staging = staging_root / f"{spec.run_id}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    result, ran_at = execute_staged(spec, staging, out_root, kernel, cell_timeout)
    return finish_run(result, staging, out_root, ran_at)


def execute_staged(spec: RunSpec, staging: Path, out_root: Path, kernel: WarmKernel | None,
                   cell_timeout: float) -> tuple[RunResult, str]:
    """Execute one run in `staging` (an empty folder) and export it: the result and when it ran. `out_root` only
    names paths in the exports; the swap into place is `finish_run`'s (here or, for a cluster, on the client)."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from tokenwatch.artifacts import read_summary
    from tokenwatch.run.brief import findings_first, for_readers, read_findings, with_code_toggle
    from tokenwatch.run.export import notebook_html, provenance_footer, sanitize_outputs
    from tokenwatch.run.notebooks import INJECTED, inspect

    started = time.perf_counter()
    ran_at = datetime.now(UTC).isoformat(timespec="seconds")
    executed = staging / f"{spec.notebook}.ipynb"
    params = {**spec.params, "output_dir": str(staging)}
    status: RunStatus = "ok"
    error = ""
    own = kernel is None  # a kernel for this run alone (one run, or --fresh-kernels)
    kernel = kernel or WarmKernel(KERNEL_NAME, str(spec.cwd), warm=False)
    try:
        extra = {"km": kernel.get()}
        kernel.execute(READS_START, timeout=30)
        papermill.execute_notebook(str(spec.path), str(executed), parameters=params, kernel_name=KERNEL_NAME,
                                   execution_timeout=cell_timeout, progress_bar=False, log_output=False,
                                   cwd=str(spec.cwd), **extra)
        kernel.execute(READS_STOP.format(path=str(staging / READS_FILE)), timeout=30)
    except PapermillExecutionError as exc:
        first = next((line for line in exc.source.splitlines() if line.strip()), "")
        status, error = "failed", (f"cell {exc.cell_index + 1} of the executed notebook (starting {first[:60]!r}): "
                                   f"{exc.ename}: {exc.evalue}")
    except Exception as exc:  # noqa: BLE001 - a run's failure never stops the batch
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    if own or status != "ok":
        kernel.discard()  # whatever state a failed run left, the next run starts clean
    else:
        kernel.reset()
    try:
        if executed.exists():  # the executed notebook names its staging folder and inputs: keep no machine paths
            text = scrub_paths(executed.read_text(encoding="utf-8"), _named_paths(staging, out_root))
            atomic_write_text(executed, text)
            nb = nbformat.reads(text, as_version=4)
            try:
                summary = read_summary(staging)
            except (OSError, ValueError):
                summary = None
            footer = provenance_footer(spec.params, summary, ran_at)
            clean = sanitize_outputs(nb)  # once for both exports
            shown = {k: v for k, v in {**inspect(spec.path).parameters, **spec.params}.items() if k not in INJECTED}
            # one file: findings first, the code exported once and hidden behind a toggle (benchmarks/bench_export.py:
            # half the time of a report and a notebook page)
            page = with_code_toggle(notebook_html(for_readers(clean), with_code=True, footer=footer, sanitized=True))
            atomic_write_text(staging / "report.html",
                              scrub_paths(findings_first(page, read_findings(staging), shown, summary or {}),
                                          _named_paths(staging, out_root)))
    except Exception as exc:  # noqa: BLE001
        status, error = "failed", error or f"export: {type(exc).__name__}: {exc}"
    reads = staging / READS_FILE
    if status == "ok" and reads.is_file():
        try:
            cache.write_record(staging, cache.run_key(spec.path, spec.params), reads)
        except (OSError, ValueError) as exc:  # no record: the run is simply not reused next time
            error = f"cache record not written: {exc}"
    reads.unlink(missing_ok=True)
    return RunResult(spec, status, time.perf_counter() - started, "" if status == "ok" else error), ran_at


def _named_paths(staging: Path, out_root: Path) -> dict[str, str]:
    """This run's absolute paths and how exports show them."""
    return publish.named_paths(out_root, {str(staging): "."})


def _safe_execute(spec: RunSpec, out_root: Path, staging_root: Path, kernel: WarmKernel | None,
                  cell_timeout: float) -> RunResult:
    try:
        return execute_one(spec, out_root, staging_root, kernel, cell_timeout)
    except Exception:  # noqa: BLE001 - whatever happens, the batch goes on and says where
        return RunResult(spec, "failed", 0.0, traceback.format_exc(limit=3))


def _worker(tasks: Any, results: Any, out_root: str, staging_root: str, cell_timeout: float, warm: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the driver stops the workers
    kernel = WarmKernel(KERNEL_NAME, str(Path.cwd())) if warm else None
    try:
        while (task := tasks.get()) is not None:
            i, spec = task
            if kernel is not None:
                kernel.cwd = str(spec.cwd)
            results.put((i, _safe_execute(spec, Path(out_root), Path(staging_root), kernel, cell_timeout)))
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
            warm: bool = True, progress: bool = True, force: bool = False) -> list[RunResult]:
    """Run every spec, `jobs` at a time; failures are recorded, never raised.

    Ctrl-C stops the workers, removes this invocation's staging and rebuilds the index from the
    runs that finished; KeyboardInterrupt is then raised again.
    """
    if cell_timeout <= 0:
        raise ParameterError(f"--cell-timeout {cell_timeout:g}: give the seconds a cell may take, above 0")
    out_root = check_output_root(out_root)
    with publish.hold(specs, out_root) as refused:  # one invocation at a time per run folder
        results: list[RunResult] = []
        try:
            return _run_held(specs, out_root, refused, results, jobs=jobs, cell_timeout=cell_timeout, warm=warm,
                             progress=progress, force=force)
        except IndexNotWritten as exc:  # the runs are done: show them with the message
            exc.results = results
            raise


def _run_held(specs: list[RunSpec], out_root: Path, refused: dict[int, RunResult], results: list[RunResult], *,
              jobs: int | None, cell_timeout: float, warm: bool, progress: bool, force: bool) -> list[RunResult]:
    reused, reasons = publish.reuse_all(specs, out_root, force, refused)
    reused.update(refused)
    todo = [spec for i, spec in enumerate(specs) if i not in reused]
    if not todo:
        results[:] = [reused[i] for i in range(len(specs))]
        write_index(out_root)
        return results
    check_kernel()
    staging_root = out_root / STAGING / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging_root.mkdir(parents=True)
    previous = os.environ.get(DOWN_ENV)
    os.environ[DOWN_ENV] = str(staging_root / "unreachable.jsonl")  # kernels inherit it
    try:
        fresh = iter(_run_specs(todo, out_root, staging_root, jobs, cell_timeout, warm, progress))
        results[:] = [reused[i] if i in reused else next(fresh) for i in range(len(specs))]
        for i, result in enumerate(results):
            result.reason = result.reason or reasons.get(i, "")
    finally:
        if previous is None:
            os.environ.pop(DOWN_ENV, None)
        else:
            os.environ[DOWN_ENV] = previous
        shutil.rmtree(staging_root, ignore_errors=True)
        with contextlib.suppress(OSError):
            (out_root / STAGING).rmdir()  # only when no other invocation is staging there
        write_index(out_root)
    return results


def _run_specs(specs: list[RunSpec], out_root: Path, staging_root: Path, jobs: int | None,
               cell_timeout: float, warm: bool, progress: bool) -> list[RunResult]:
    from tqdm.auto import tqdm

    jobs = max(1, min(jobs or default_jobs(), len(specs)))
    if len(specs) == 1:  # nothing to overlap: no worker process, no warm-up
        return [_safe_execute(specs[0], out_root, staging_root, None, cell_timeout)]
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for item in enumerate(specs):
        tasks.put(item)
    for _ in range(jobs):
        tasks.put(None)
    workers = [ctx.Process(target=_worker, args=(tasks, results, str(out_root), str(staging_root), cell_timeout,
                                                 warm), daemon=False)
               for _ in range(jobs)]
    for w in workers:
        w.start()
    done: dict[int, RunResult] = {}
    bar = tqdm(total=len(specs), desc="runs", unit="run", disable=not progress)
    interrupted = False
    try:
        while len(done) < len(specs):
            try:
                i, result = results.get(timeout=5)
            except queue.Empty:
                if not any(w.is_alive() for w in workers):
                    for i, spec in enumerate(specs):
                        done.setdefault(i, RunResult(spec, "failed", 0.0, "worker process died"))
                continue
            done[i] = result
            bar.set_postfix_str(f"{result.spec.folder}: {result.status}")
            bar.update()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        for w in workers:
            if interrupted:
                w.terminate()
            w.join(timeout=30)
            if w.is_alive():
                w.terminate()
    return [done[i] for i in range(len(specs))]


def results_table(results: list[RunResult]) -> str:
    rows = [(r.spec.folder, json.dumps(r.spec.params, ensure_ascii=False, default=str)[:60],
             r.status + (" (cached)" if r.cached else ""), f"{r.seconds:.1f}") for r in results]
    head = ("run", "parameters", "status", "seconds")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows]]
    for r in results:
        if r.status != "ok":
            kept = f" (the last good run stays in {r.last_good_folder}/)" if r.last_good_folder else ""
            lines.append(f"FAILED {r.spec.folder}: {r.error}{kept}")
    return "\n".join(lines)

