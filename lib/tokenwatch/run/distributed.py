"""Runs on a Dask cluster (dask.distributed): `tokenwatch run ... --scheduler local|tcp://HOST:8786`.

Each worker keeps one warm kernel (a worker plugin). A task carries its notebook's text, runs in its own staging
folder on the worker and returns every file it wrote as bytes, so workers need not share the client's file system;
the client writes them into its own staging folder and swaps the run into place as a local run is (a failed run
beside the good one, never over it). A worker that dies mid-run has its run retried once elsewhere, then reported
failed; a failed run never stops the others. A worker needs the package installed and, for offline data, its own
TOKENWATCH_SNAPSHOT (or a parquet cache) set in its environment.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from tokenwatch.errors import TokenwatchError
from tokenwatch.run import reuse, skip_unused_imports
from tokenwatch.run.execute import execute_staged
from tokenwatch.run.kernel import KERNEL_NAME, WarmKernel
from tokenwatch.run.pool import check_jobs, new_staging
from tokenwatch.run.runner import STAGING, RunResult, RunSpec, finish_run

PLUGIN = "tokenwatch-kernel"
RETRIES = 1  # a run whose worker died is tried once more elsewhere
PROBE_SECONDS = 10  # a scheduler answers its handshake at once; what does not in this time is not one


class KernelPlugin(WorkerPlugin):
    """One warm kernel per worker, started on its first run and shut down with the worker."""

    name = PLUGIN

    def setup(self, worker: Any) -> None:
        skip_unused_imports()
        self.kernel: WarmKernel | None = None

    def get(self, cwd: str) -> WarmKernel:
        if self.kernel is None:
            self.kernel = WarmKernel(KERNEL_NAME, cwd)
        self.kernel.cwd = cwd
        return self.kernel

    def teardown(self, worker: Any) -> None:
        if self.kernel is not None:
            self.kernel.discard()


def run_task(spec: RunSpec, notebook_text: str, out_root: str, cell_timeout: float) -> dict[str, Any]:
    """On a worker: the run in a private staging folder; its result and every file it wrote, as bytes."""
    plugin = get_worker().plugins[PLUGIN]
    assert isinstance(plugin, KernelPlugin)
    root = Path(tempfile.mkdtemp(prefix="tokenwatch-task-"))
    try:
        source = root / spec.path.name  # the client's notebook, written here: no shared file system needed
        source.write_text(notebook_text, encoding="utf-8")
        cwd = spec.cwd if spec.cwd.is_dir() else root
        local = replace(spec, path=source, cwd=cwd)
        staging = root / "run"
        staging.mkdir()
        result, ran_at = execute_staged(local, staging, Path(out_root), plugin.get(str(cwd)), cell_timeout)
        files = {p.relative_to(staging).as_posix(): p.read_bytes() for p in staging.rglob("*") if p.is_file()}
        return {"status": result.status, "seconds": result.seconds, "error": result.error, "ran_at": ran_at,
                "files": files, "worker": get_worker().address}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def probe(address: str, seconds: float | None = None) -> None:
    """Raise TokenwatchError, saying what to check, unless a Dask scheduler answers at `address` within `seconds`.

    distributed's own connect waits for the peer's handshake with no time limit: a port that accepts connections
    but is not a scheduler (an HTTP server, such as the dashboard on 8787) would hang `Client` for ever."""
    import asyncio

    from distributed.comm import connect as comm_connect

    seconds = seconds or PROBE_SECONDS

    async def attempt() -> None:
        comm = await asyncio.wait_for(comm_connect(address, timeout=0.7 * seconds), seconds)  # refused: OSError
        await comm.close()

    try:
        asyncio.run(attempt())
    except TimeoutError:
        raise TokenwatchError(
            f"--scheduler {address}: something accepts connections there but did not answer as a Dask scheduler "
            f"within {seconds:g} s; check the port (a scheduler listens on 8786 by default, 8787 is its dashboard)"
        ) from None
    except (OSError, ValueError) as exc:
        reason: BaseException = exc
        while reason.__cause__ is not None or reason.__context__ is not None:  # the first failure: "refused"
            reason = reason.__cause__ or reason.__context__  # type: ignore[assignment]
        reason_text = getattr(reason, "strerror", None) or str(reason)
        raise TokenwatchError(
            f"--scheduler {address}: cannot reach a Dask scheduler there ({reason_text}); check the host and port, and "
            "that `dask scheduler` is running and reachable from this machine"
        ) from None


def connect(address: str, jobs: int) -> tuple[Client, LocalCluster | None]:
    """A client of the scheduler at `address`, or of a new LocalCluster of `jobs` worker processes."""
    if address == "local":
        cluster = LocalCluster(n_workers=check_jobs(jobs), threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        return Client(cluster), cluster
    probe(address)
    return Client(address, timeout="30s"), None


def run_on_cluster(specs: list[RunSpec], out_root: Path, address: str, *, jobs: int, cell_timeout: float,
                   progress: bool = True, force: bool = False, client: Client | None = None) -> list[RunResult]:
    """Run every spec on the cluster; each result swapped into `out_root` on the client as it completes."""

    from tokenwatch.run.runner import check_output_root

    out_root = check_output_root(out_root)
    jobs = check_jobs(jobs)
    with reuse.hold(specs, out_root) as refused:  # one invocation at a time per run folder, as in the local pool
        return _run_held(specs, out_root, address, refused, jobs=jobs, cell_timeout=cell_timeout,
                         progress=progress, force=force, client=client)


def _run_held(specs: list[RunSpec], out_root: Path, address: str, refused: dict[int, RunResult], *, jobs: int,
              cell_timeout: float, progress: bool, force: bool, client: Client | None) -> list[RunResult]:
    from tqdm.auto import tqdm

    from tokenwatch.run.runner import write_index

    reused, reasons = reuse.reuse_all(specs, out_root, force, refused)
    reused.update(refused)
    todo = [i for i in range(len(specs)) if i not in reused]
    own, cluster = (None, None) if client is not None else connect(address, jobs)
    client = client or own
    assert client is not None
    staging_root = new_staging(out_root)
    done: dict[int, RunResult] = dict(reused)
    try:
        if todo:
            client.register_plugin(KernelPlugin(), name=PLUGIN)
            print(f"dask dashboard: {client.dashboard_link}")
            futures = {client.submit(run_task, specs[i], specs[i].path.read_text(encoding="utf-8"), str(out_root),
                                     cell_timeout, key=f"tokenwatch-{specs[i].run_id}-{uuid.uuid4().hex[:6]}",
                                     retries=RETRIES, pure=False): i for i in todo}
            bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not progress)
            for future in as_completed(futures):
                i = futures[future]
                done[i] = _land(specs[i], future, staging_root, out_root)
                done[i].reason = done[i].reason or reasons.get(i, "")
                bar.set_postfix_str(f"{specs[i].folder}: {done[i].status}")
                bar.update()
            bar.close()
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
        with contextlib.suppress(OSError):
            (out_root / STAGING).rmdir()  # only when no other invocation is staging there
        if own is not None:
            own.close()
        if cluster is not None:
            cluster.close()
        write_index(out_root)
    return [done[i] for i in range(len(specs))]


def _land(spec: RunSpec, future: Any, staging_root: Path, out_root: Path) -> RunResult:
    """Write a task's files into a client staging folder and swap it into place (a lost worker: a failed run)."""
    staging = staging_root / f"{spec.run_id}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    ran_at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        got = future.result()
    except Exception as exc:  # noqa: BLE001 - a worker lost twice, a task that raised: the run failed
        return finish_run(RunResult(spec, "failed", 0.0, f"on the cluster: {type(exc).__name__}: {exc}"), staging,
                          out_root, ran_at)
    for name, data in got["files"].items():
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    started = time.perf_counter()
    result = RunResult(spec, got["status"], got["seconds"] + (time.perf_counter() - started), got["error"])
    return finish_run(result, staging, out_root, got["ran_at"])
