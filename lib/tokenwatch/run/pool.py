"""The local pool: worker processes, each with a warm kernel, and how a batch stops.

- Ctrl-C or SIGTERM on the driver (`sigterm_as_interrupt`): the workers kill their kernels and exit, this
  invocation's staging is removed, the index is rebuilt from the runs that finished.
- The driver killed outright (SIGKILL): each worker dies with it (Linux's parent-death signal, else a thread
  watching its parent), killing its kernel first, so nothing is swapped in after the driver is gone; kernels also
  watch their own parent (ipykernel does). The next invocation removes staging folders whose process is gone.
- A worker that dies: its run is reported failed and the others go on.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import queue
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from tokenwatch.errors import ParameterError, TokenwatchError
from tokenwatch.market.fetch import DOWN_ENV
from tokenwatch.paths import RUNS_ENV
from tokenwatch.run import reuse, skip_unused_imports
from tokenwatch.run.execute import _safe_execute
from tokenwatch.run.index import IndexNotWritten
from tokenwatch.run.kernel import KERNEL_NAME, WarmKernel, check_kernel
from tokenwatch.run.order import Schedule, load_durations, record_durations
from tokenwatch.run.runner import STAGING, RunResult, RunSpec, check_output_root, write_index

PARENT_POLL = 0.5  # seconds between a worker's looks at its parent, where the system has no parent-death signal
_PR_SET_PDEATHSIG = 1
OWNER = ".host"  # in a staging folder: the machine whose process made it


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `timeout`, CI and service managers send), handled as Ctrl-C is."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM raises `Terminated`, so the driver stops its workers and removes its staging as on Ctrl-C."""
    def stop(signum: int, frame: Any) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- worker side -------------------------------------------------------------------------

def _die_with_parent(parent: int, stop: Any) -> None:
    """Call `stop` when the driver that started this worker is gone, however it ended (SIGKILL included)."""
    with contextlib.suppress(AttributeError, OSError):  # Linux: SIGTERM the moment the parent exits
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the driver was gone before the signal was asked for
        stop(signal.SIGTERM, None)

    def watch() -> None:  # elsewhere, and as a second guard
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os.kill(os.getpid(), signal.SIGTERM)  # through the handler, in the main thread

    threading.Thread(target=watch, name="watch-driver", daemon=True).start()


def _worker(tasks: Any, results: Any, out_root: str, staging_root: str, cell_timeout: float, warm: bool,
            parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the driver stops the workers
    skip_unused_imports()
    kernel = WarmKernel(KERNEL_NAME, str(Path.cwd()), warm=warm)

    def stop(signum: int, frame: Any) -> None:
        """The driver is gone or stops the batch: end the kernel, leave no staging, swap nothing more in."""
        kernel.kill()
        shutil.rmtree(staging_root, ignore_errors=True)  # this invocation's: every worker of it is stopping
        with contextlib.suppress(OSError):
            os.rmdir(Path(staging_root).parent)  # only when no other invocation is staging there
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    _die_with_parent(parent, stop)
    try:
        while (task := tasks.get()) is not None:
            i, spec = task
            kernel.cwd = str(spec.cwd)
            results.put((i, _safe_execute(spec, Path(out_root), Path(staging_root), kernel, cell_timeout)))
            if not warm:  # --fresh-kernels: a new kernel for every run
                kernel.discard()
    finally:
        kernel.discard()


# --- driver side -------------------------------------------------------------------------

def start_method() -> Literal["fork", "spawn"]:
    """How the pool starts its workers: forked on Linux when the driver runs no other thread (a worker then has
    the driver's modules already: 0.7 s of imports less each, `benchmarks/bench_scale.py`), else spawned."""
    return "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def check_jobs(jobs: int | None) -> int:
    """Runs at a time: `jobs` when it is 1 or more, the machine's cores when it is None; 0 or less is refused."""
    if jobs is None:
        return default_jobs()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ParameterError(f"--jobs {jobs}: give the number of runs at a time, 1 or more (leave --jobs out for "
                             f"this machine's {default_jobs()} cores)")
    return jobs


def new_staging(out_root: Path) -> Path:
    """This invocation's staging folder, `.staging/<pid>-<id>/`, marked with the machine it runs on; folders that
    invocations killed outright left on this machine are removed first (their process is gone)."""
    host = socket.gethostname()
    for folder in (out_root / STAGING).glob("*-*"):
        pid = folder.name.split("-", 1)[0]
        try:
            owner = (folder / OWNER).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if owner != host or not pid.isdigit():  # another machine's (a shared folder): its processes are not ours
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, someone else's
            continue
    staging_root = out_root / STAGING / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging_root.mkdir(parents=True)
    (staging_root / OWNER).write_text(host, encoding="utf-8")
    return staging_root


def run_all(specs: list[RunSpec], out_root: Path, *, jobs: int | None = None, cell_timeout: float = 600,
            warm: bool = True, progress: bool = True, force: bool = False) -> list[RunResult]:
    """Run every spec, `jobs` at a time; failures are recorded, never raised.

    Ctrl-C (or SIGTERM inside `sigterm_as_interrupt`) stops the workers, removes this invocation's staging and
    rebuilds the index from the runs that finished; KeyboardInterrupt (`Terminated`) is then raised again.
    """
    if not cell_timeout > 0:
        raise ParameterError(f"--cell-timeout {cell_timeout:g}: give the seconds a cell may take, above 0")
    jobs = check_jobs(jobs)
    out_root = check_output_root(out_root)
    with reuse.hold(specs, out_root) as refused:  # one invocation at a time per run folder
        results: list[RunResult] = []
        try:
            return _run_held(specs, out_root, refused, results, jobs, cell_timeout, warm, progress, force)
        except IndexNotWritten as exc:  # the runs are done: shown with the message
            exc.results = results
            raise


def _run_held(specs: list[RunSpec], out_root: Path, refused: dict[int, RunResult], results: list[RunResult],
              jobs: int, cell_timeout: float, warm: bool, progress: bool, force: bool) -> list[RunResult]:
    reused, reasons = reuse.reuse_all(specs, out_root, force, refused)
    reused.update(refused)
    todo = [spec for i, spec in enumerate(specs) if i not in reused]
    if not todo:
        results[:] = [reused[i] for i in range(len(specs))]
        write_index(out_root)
        return results
    check_kernel()
    try:
        staging_root = new_staging(out_root)
    except OSError as exc:  # a full disk, most likely: said, not a traceback
        raise TokenwatchError(f"cannot stage runs in {out_root} ({exc.strerror or exc}): free some space, or choose "
                              "another --out; the runs already there stay as they were") from None
    previous = {name: os.environ.get(name) for name in (DOWN_ENV, RUNS_ENV)}
    os.environ[DOWN_ENV] = str(staging_root / "unreachable.jsonl")  # kernels inherit it
    os.environ[RUNS_ENV] = str(out_root)  # where notebook 05 finds the batch's projection run (04)
    try:
        ran = _run_specs(todo, out_root, staging_root, jobs, cell_timeout, warm, progress)
        record_durations(ran)
        fresh = iter(ran)
        results[:] = [reused[i] if i in reused else next(fresh) for i in range(len(specs))]
        for i, result in enumerate(results):
            result.reason = result.reason or reasons.get(i, "")
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(staging_root, ignore_errors=True)
        with contextlib.suppress(OSError):
            (out_root / STAGING).rmdir()  # only when no other invocation is staging there
        write_index(out_root)
    return results


def _run_specs(specs: list[RunSpec], out_root: Path, staging_root: Path, jobs: int,
               cell_timeout: float, warm: bool, progress: bool) -> list[RunResult]:
    from tqdm.auto import tqdm

    jobs = min(jobs, len(specs))
    if len(specs) == 1:  # nothing to overlap: no worker process, no warm-up
        return [_safe_execute(specs[0], out_root, staging_root, None, cell_timeout)]
    ctx = mp.get_context("fork") if start_method() == "fork" else mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    schedule = Schedule(specs, load_durations())
    free = jobs  # workers without a run

    def dispatch() -> None:
        """Hand each free worker the next run that may start (run/order.py); the end once every run started."""
        nonlocal free
        while free > 0 and not schedule.all_started and (i := schedule.start()) is not None:
            tasks.put((i, specs[i]))
            free -= 1
        if schedule.all_started and free >= 0:
            for _ in range(jobs):
                tasks.put(None)
            free = -1  # the end is sent once

    workers = [ctx.Process(target=_worker, args=(tasks, results, str(out_root), str(staging_root), cell_timeout,
                                                 warm, os.getpid()), daemon=False)
               for _ in range(jobs)]
    for w in workers:
        w.start()
    dispatch()  # after the workers start: a queue's first put starts its feeder thread, and forks want none
    done: dict[int, RunResult] = {}
    bar = tqdm(total=len(specs), desc="runs", unit="run", disable=not progress)
    interrupted = False
    try:
        while len(done) < len(specs):
            try:
                i, result = results.get(timeout=2)
            except queue.Empty:
                if not all(w.is_alive() for w in workers) and not schedule.waived and free >= 0:
                    schedule.waived = True  # a worker died with its run: nothing waits for that run any more
                    free = len(specs)  # every run left goes to the queue, for the workers alive
                    dispatch()
                if not any(w.is_alive() for w in workers):
                    for i, spec in enumerate(specs):
                        done.setdefault(i, RunResult(spec, "failed", 0.0, "its worker process died"))
                continue
            done[i] = result
            schedule.finished(i)
            if free >= 0:
                free += 1
                dispatch()
            bar.set_postfix_str(f"{result.spec.folder}: {result.status}")
            bar.update()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        for w in workers:
            if interrupted:
                w.terminate()  # the worker kills its kernel and exits
        for w in workers:
            w.join(timeout=10 if interrupted else 60)
            if w.is_alive():
                w.kill()
                w.join(timeout=5)
    return [done[i] for i in range(len(specs))]
