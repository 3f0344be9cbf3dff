"""What ends a run or a batch: a cell past --cell-timeout, a dead kernel, SIGTERM and SIGKILL of the driver,
a Dask scheduler that is not there or not one, a bad --jobs. Each ends with a message and leaves no process."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from tokenwatch.errors import ParameterError
from tokenwatch.run.cli import main
from tokenwatch.run.pool import OWNER, run_all
from tokenwatch.run.runner import plan

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
CLI = [sys.executable, "-m", "tokenwatch.run.cli"]
HANG_GUARD = 240  # seconds: only a hang takes this long; no assertion here is about speed


def _run(out: Path, *extra: str) -> int:
    return main(["run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(out), "--no-progress", *extra])


def _runs(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "runs.csv", dtype=str, keep_default_na=False).set_index("run_id")


def test_a_cell_past_the_timeout_fails_its_run_and_the_next_run_gets_a_new_kernel(tmp_path):
    # one worker, one warm kernel: the run after the timed-out one can only succeed in a replacement kernel
    assert _run(tmp_path, "--sweep", "label=sleep120,b", "--jobs", "1", "--cell-timeout", "5") == 1
    runs = _runs(tmp_path)
    error = runs.loc["echo__label=sleep120", "error"]
    assert "cell 4 of the executed notebook (starting 'import time')" in error, error
    assert "ran longer than --cell-timeout 5 s" in error
    assert runs.loc["echo__label=b", "status"] == "ok"
    assert (tmp_path / "echo" / "label=sleep120.failed" / "echo.ipynb").is_file()  # kept, to see where it stopped


def test_a_single_run_past_the_timeout_fails_in_its_own_kernel(tmp_path, capsys):
    assert _run(tmp_path, "-p", "label", "sleep120", "--cell-timeout", "3") == 1
    out = capsys.readouterr().out
    assert "FAILED echo: cell 4" in out and "--cell-timeout 3 s" in out
    record = json.loads((tmp_path / "echo.failed" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "failed" and "--cell-timeout 3 s" in record["error"]


def test_a_kernel_that_dies_fails_its_run_and_the_batch_goes_on(tmp_path):
    # 'kill-kernel' kills its own kernel with SIGKILL, as the OOM killer or a `kill -9` would; one worker, so the
    # run after it can only succeed in the replacement kernel
    assert _run(tmp_path, "--sweep", "label=kill-kernel,b", "--jobs", "1") == 1
    runs = _runs(tmp_path)
    error = runs.loc["echo__label=kill-kernel", "error"]
    assert "the kernel died while running cell 4 of the executed notebook" in error, error
    assert runs.loc["echo__label=b", "status"] == "ok"
    assert not (tmp_path / ".staging").exists()


def test_a_kernel_that_dies_outside_a_cell_is_named_at_once_not_at_the_timeout(tmp_path):
    from tokenwatch.run.kernel import KERNEL_NAME, KernelDied, WarmKernel

    kernel = WarmKernel(KERNEL_NAME, str(tmp_path), warm=False)
    try:
        kernel.get()
        kernel.execute("x = 1", timeout=60)
        assert kernel.pid is not None
        os.kill(kernel.pid, signal.SIGKILL)
        with pytest.raises(KernelDied, match="the kernel died .*preparing the run"):
            kernel.execute("import time; time.sleep(50)", timeout=60, what="preparing the run")
        kernel.get()  # a new kernel in its place
        kernel.execute("x = 2", timeout=60)
    finally:
        kernel.discard()


def _descendants(root: int) -> dict[int, str]:
    table = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in table.splitlines():
        pid, ppid, args = line.split(None, 2)
        children.setdefault(int(ppid), []).append((int(pid), args))
    found, todo = {}, [root]
    while todo:
        for pid, args in children.get(todo.pop(), []):
            found[pid] = args
            todo.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _run_folders(out: Path) -> set[str]:
    return {p.parent.relative_to(out).as_posix() for p in out.rglob("run.json") if ".staging" not in p.parts}


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_driver_stops_its_workers_and_kernels(tmp_path, sig):
    # with workers that outlived the driver, the short sleeps would be swapped in seconds after it ended
    proc = subprocess.Popen([*CLI, "run", "echo", "--notebooks-dir", str(FIXTURES), "--out", str(tmp_path),
                             "--no-progress", "--sweep", "label=a,sleep3,sleep4,sleep5", "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + HANG_GUARD
    while not (tmp_path / "echo" / "label=a" / "run.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    family = _descendants(proc.pid)
    assert sum("ipykernel" in args for args in family.values()) == 2, family  # two workers, a kernel each
    os.kill(proc.pid, sig)  # the driver alone, as `timeout` or `kill` does; not its process group
    _, err = proc.communicate(timeout=60)
    landed = _run_folders(tmp_path)
    time.sleep(8)  # longer than any sleep left in the batch
    assert _run_folders(tmp_path) == landed  # nothing swapped in after the driver's exit
    assert "echo/label=a" in landed and "echo/label=sleep5" not in landed  # the kill came mid-batch
    assert not [args for pid, args in family.items() if _alive(pid)]  # no worker, no kernel left
    assert not (tmp_path / ".staging").exists()
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and "stopped by SIGTERM" in err.decode(), err.decode()
        assert "Traceback" not in err.decode()
        assert {f"echo/{i.split('__', 1)[1]}" for i in _runs(tmp_path).index} == landed  # the index says so
    else:
        assert proc.returncode == -signal.SIGKILL


def test_a_staging_folder_left_by_a_killed_invocation_is_removed_by_the_next(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs
    left = tmp_path / ".staging" / f"{gone.pid}-0123abcd"
    (left / "echo-1").mkdir(parents=True)
    (left / OWNER).write_text(socket.gethostname())
    alive = tmp_path / ".staging" / f"{os.getppid()}-0123abcd"  # a live process's: not touched
    alive.mkdir()
    (alive / OWNER).write_text(socket.gethostname())
    elsewhere = tmp_path / ".staging" / f"{gone.pid}-4567abcd"  # another machine's (a shared folder): not touched
    elsewhere.mkdir()
    (elsewhere / OWNER).write_text("another-host")
    assert _run(tmp_path, "-p", "label", "a") == 0
    assert not left.exists() and alive.is_dir() and elsewhere.is_dir()


@pytest.mark.parametrize("jobs", ["0", "-3"])
@pytest.mark.parametrize("where", [[], ["--scheduler", "local"]])
def test_jobs_below_one_is_refused_before_anything_starts(tmp_path, capsys, jobs, where):
    with pytest.raises(SystemExit) as stop:
        _run(tmp_path, "--jobs", jobs, *where)
    assert stop.value.code == 2
    assert "give the number of runs at a time, 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()


def test_jobs_below_one_is_refused_by_the_library_too(tmp_path):
    pytest.importorskip("distributed")
    from tokenwatch.run.distributed import run_on_cluster

    specs = plan([FIXTURES / "01_echo.ipynb"], {}, {})
    with pytest.raises(ParameterError, match="1 or more"):
        run_all(specs, tmp_path, jobs=0)
    with pytest.raises(ParameterError, match="1 or more"):
        run_on_cluster(specs, tmp_path, "local", jobs=-3, cell_timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_address_where_nothing_listens_fails_with_what_to_check(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("tokenwatch.run.distributed.PROBE_SECONDS", 3)
    assert _run(tmp_path, "--scheduler", f"tcp://127.0.0.1:{_free_port()}") == 2
    err = capsys.readouterr().err
    assert "cannot reach a Dask scheduler there" in err and "`dask scheduler` is running" in err, err


def test_a_scheduler_address_that_is_not_a_scheduler_fails_with_what_to_check(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("tokenwatch.run.distributed.PROBE_SECONDS", 3)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:  # as when pointing at the dashboard's port (8787) instead of the scheduler's (8786)
        assert _run(tmp_path, "--scheduler", f"tcp://127.0.0.1:{server.server_address[1]}") == 2
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert "did not answer as a Dask scheduler" in err and "8787 is its dashboard" in err, err


def test_a_real_scheduler_passes_the_probe():
    distributed = pytest.importorskip("distributed")
    from tokenwatch.run.distributed import probe

    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        probe(cluster.scheduler_address, seconds=10)  # raises when the handshake is not a scheduler's

