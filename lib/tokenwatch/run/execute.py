"""Executing one run: papermill in a kernel, in its own staging folder, then its export.

A run ends, failed, with a message naming its cell when a cell runs past `--cell-timeout` (its kernel is killed
and replaced) or when its kernel dies (killed from outside, out of memory); the batch goes on.
"""

from __future__ import annotations

import json
import logging
import math
import time
import traceback
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tokenwatch.artifacts import atomic_write_text
from tokenwatch.paths import scrub_paths
from tokenwatch.run import cache
from tokenwatch.run.kernel import KERNEL_NAME, KernelDied, WarmKernel
from tokenwatch.run.runner import RunResult, RunSpec, RunStatus, finish_run

READS_START = "import tokenwatch.reads as _tw_reads\n_tw_reads.start()\ndel _tw_reads"
READS_STOP = "import tokenwatch.reads as _tw_reads\n_tw_reads.stop({path!r})\ndel _tw_reads"
READS_FILE = ".reads.json"


def execute_one(spec: RunSpec, out_root: Path, staging_root: Path, kernel: WarmKernel | None,
                cell_timeout: float) -> RunResult:
    """Execute one run through papermill in its own staging folder, export HTML, swap it into place."""
    staging = staging_root / f"{spec.run_id}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    result, ran_at = execute_staged(spec, staging, out_root, kernel, cell_timeout)
    return finish_run(result, staging, out_root, ran_at)


def _running_cell(executed: Path) -> tuple[int, str]:
    """The cell papermill was running when execution stopped (1-based in the executed notebook) and its first line."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - no notebook written yet: the cell is unknown
        return 0, ""
    started = [i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return 0, ""
    source = nb.cells[started[-1]].source
    return started[-1] + 1, next((line for line in source.splitlines() if line.strip()), "")


def _cell(executed: Path) -> str:
    number, first = _running_cell(executed)
    return f"cell {number} of the executed notebook (starting {first[:60]!r})" if number else "a cell"


ENGINE = "tokenwatch"


@lru_cache(maxsize=1)
def _engine() -> str:
    """papermill's nbclient engine, writing the executed notebook when the run ends (also when it fails or times
    out: papermill's `notebook_complete` runs in a `finally`) and every `autosave_cell_every` seconds within a long
    cell, not at each cell's start and end, which wrote a page of long tables some thirty times a run."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class Manager(NotebookExecutionManager):
        quiet = False

        def save(self, **kwargs: Any) -> None:
            if not self.quiet:
                super().save(**kwargs)

        def _quietly(self, method: Any, *args: Any, **kwargs: Any) -> Any:
            self.quiet = True
            try:
                return method(*args, **kwargs)
            finally:
                self.quiet = False

        def notebook_start(self, **kwargs: Any) -> Any:
            return self._quietly(super().notebook_start, **kwargs)

        def cell_start(self, cell: Any, cell_index: Any = None, **kwargs: Any) -> Any:
            return self._quietly(super().cell_start, cell, cell_index, **kwargs)

        def cell_complete(self, cell: Any, cell_index: Any = None, **kwargs: Any) -> Any:
            return self._quietly(super().cell_complete, cell, cell_index, **kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: Any, output_path: Any = None, progress_bar: bool = True,
                             log_output: bool = False, autosave_cell_every: int = 30, **kwargs: Any) -> Any:
            manager = Manager(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                              autosave_cell_every=autosave_cell_every)
            manager.notebook_start()
            try:
                cls.execute_managed_notebook(manager, kernel_name, log_output=log_output, **kwargs)
            finally:
                manager.cleanup_pbar()
                manager.notebook_complete()
            return manager.nb

    papermill_engines.register(ENGINE, Engine)
    return ENGINE


def _execute_notebook(spec: RunSpec, executed: Path, staging: Path, kernel: WarmKernel,
                      cell_timeout: float) -> str:
    """Run the notebook in `kernel`: '' when it succeeded, else what went wrong, in words."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    params = {**spec.params, "output_dir": str(staging)}
    logging.getLogger("papermill").addHandler(logging.NullHandler())  # its timeout line says less than ours
    try:
        km = kernel.get()
        kernel.execute(READS_START, timeout=30, what="preparing the run (before its first cell)")
        # nbclient counts whole seconds
        papermill.execute_notebook(str(spec.path), str(executed), parameters=params, kernel_name=KERNEL_NAME,
                                   execution_timeout=max(1, math.ceil(cell_timeout)), progress_bar=False,
                                   log_output=False, cwd=str(spec.cwd), km=km, engine_name=_engine())
        kernel.execute(READS_STOP.format(path=str(staging / READS_FILE)), timeout=30,
                       what="recording the run's reads (after its last cell)")
    except PapermillExecutionError as exc:
        first = next((line for line in exc.source.splitlines() if line.strip()), "")
        return (f"cell {exc.cell_index + 1} of the executed notebook (starting {first[:60]!r}): "
                f"{exc.ename}: {exc.evalue}")
    except CellTimeoutError:
        return (f"{_cell(executed)} ran longer than --cell-timeout {cell_timeout:g} s and was stopped "
                "(its kernel was replaced); raise --cell-timeout if the cell needs longer")
    except DeadKernelError:
        return (f"the kernel died while running {_cell(executed)} (killed from outside, or out of memory); "
                "the run was stopped, the next run gets a new kernel")
    except KernelDied as exc:
        return f"{exc} (killed from outside, or out of memory); the run was stopped, the next run gets a new kernel"
    except Exception as exc:  # noqa: BLE001 - a run's failure never stops the batch
        return f"{type(exc).__name__}: {exc}"
    return ""


def execute_staged(spec: RunSpec, staging: Path, out_root: Path, kernel: WarmKernel | None,
                   cell_timeout: float) -> tuple[RunResult, str]:
    """Execute one run in `staging` (an empty folder) and export it: the result and when it ran. `out_root` only
    names paths in the exports; the swap into place is `finish_run`'s (here or, for a cluster, on the client)."""
    started = time.perf_counter()
    ran_at = datetime.now(UTC).isoformat(timespec="seconds")
    executed = staging / f"{spec.notebook}.ipynb"
    own = kernel is None  # a kernel for this run alone (one run, or --fresh-kernels)
    kernel = kernel or WarmKernel(KERNEL_NAME, str(spec.cwd), warm=False)
    ok = False
    try:
        error = _execute_notebook(spec, executed, staging, kernel, cell_timeout)
        ok = not error
    finally:  # also on Ctrl-C or SIGTERM: a kernel of this run's never outlives it
        if own or not ok:
            kernel.discard()  # whatever state a failed run left, the next run starts clean
        else:
            kernel.reset()
    status: RunStatus = "ok" if ok else "failed"
    try:
        if executed.exists():
            _export(spec, executed, staging, out_root, ran_at)
    except Exception as exc:  # noqa: BLE001
        status, error = "failed", error or f"export: {type(exc).__name__}: {exc}"
    reads = staging / READS_FILE
    if status == "ok" and reads.is_file():
        try:
            cache.write_record(staging, cache.run_key(spec.path, spec.params), reads)
        except (OSError, ValueError) as exc:  # no record: the run is simply not reused next time
            error = f"cache record not written: {exc}"
    reads.unlink(missing_ok=True)
    return RunResult(spec, status, time.perf_counter() - started, "" if status == "ok" else error,
                     startup=kernel.startup), ran_at


def _export(spec: RunSpec, executed: Path, staging: Path, out_root: Path, ran_at: str) -> None:
    """report.html beside the executed notebook; neither keeps a machine path (the notebook names its staging
    folder and inputs)."""
    import nbformat

    from tokenwatch.artifacts import read_summary
    from tokenwatch.run.brief import KEY_CHART, first_chart
    from tokenwatch.run.export import notebook_html, provenance_footer, sanitize_outputs
    from tokenwatch.run.notebooks import INJECTED, inspect
    from tokenwatch.run.report_page import findings_first, for_readers, read_findings, with_code_toggle

    text = scrub_paths(executed.read_text(encoding="utf-8"), _named_paths(staging, out_root))
    atomic_write_text(executed, text)
    nb = nbformat.reads(text, as_version=4)
    # the brief's key chart, so that it need not parse every executed notebook again at each index
    atomic_write_text(staging / KEY_CHART, json.dumps({"chart": first_chart(nb)}))
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
                      scrub_paths(findings_first(page, read_findings(staging), shown, summary or {}, ran_at),
                                  _named_paths(staging, out_root)))


def _named_paths(staging: Path, out_root: Path) -> dict[str, str]:
    """This run's absolute paths and how exports show them."""
    from tokenwatch.run.publish import named_paths

    return named_paths(out_root, {str(staging): "."})


def _safe_execute(spec: RunSpec, out_root: Path, staging_root: Path, kernel: WarmKernel | None,
                  cell_timeout: float) -> RunResult:
    try:
        return execute_one(spec, out_root, staging_root, kernel, cell_timeout)
    except Exception:  # noqa: BLE001 - whatever happens, the batch goes on and says where
        return RunResult(spec, "failed", 0.0, traceback.format_exc(limit=3))


