"""The project's Jupyter kernels: one kept warm between runs, started, reset, killed.

nbclient (under papermill) waits for a cell with asyncio. Given a plain `jupyter_client.KernelManager`, it gets
that manager's blocking client, whose wait for output blocks the event loop: the cell timeout and the check for a
dead kernel never run, so a hanging cell or a killed kernel hung the batch. The manager here hands out the
asynchronous client instead; the runner's own few set-up calls use a blocking client on the same connection.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import tempfile
import time
from typing import Any

from tokenwatch.errors import TokenwatchError

KERNEL_NAME = "tokenwatch"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
KERNEL_START_TRIES = 3
READY_SECONDS = 60  # a new kernel's first answer may take this long besides the request's own time
ASYNC_CLIENT = "jupyter_client.asynchronous.AsyncKernelClient"
# The warm-up imports what every notebook uses, then moves everything loaded so far (the libraries, IPython, the
# kernel) out of the garbage collector's sight (gc.freeze): they live as long as the kernel, and each full
# collection, in a cell or at a run's reset, no longer walks them.
WARM_UP = ("import numpy, pandas, matplotlib.pyplot\n"
           "import tokenwatch.market, tokenwatch.plots, tokenwatch.artifacts\n"
           "tokenwatch.plots.use_style()\n"
           "import gc as _gc\n_gc.collect()\n_gc.freeze()\ndel _gc")
RESET = "%reset -f\nimport matplotlib.pyplot as _plt, os as _os\n_plt.close('all')\n_os.chdir({cwd!r})\ndel _plt, _os"


class KernelDied(RuntimeError):
    """The kernel process ended (killed from outside, out of memory) while the runner was using it."""


class WarmKernel:
    """One kernel kept warm between runs (heavy imports done once, namespace reset each run).

    Kernels talk over IPC (unix sockets in a private temporary folder), not TCP: no port to race for
    and no "running over TCP without encryption" warning for every kernel."""

    def __init__(self, name: str, cwd: str, warm: bool = True) -> None:
        self.name, self.cwd, self.warm = name, cwd, warm
        self.km: Any = None  # a jupyter_client KernelManager once started
        self.pid: int | None = None
        self._sockets: str | None = None
        self._kc: Any = None  # the runner's own blocking client (shell channel only), kept while the kernel lives
        self._answered = False  # whether the kernel answered that client yet (the first answer waits for it to start)
        self.startup = 0.0  # seconds the last `get` spent starting a kernel (0 when it was warm already)

    def get(self):
        """The kernel manager for papermill, a new kernel started where there is none or it died."""
        from jupyter_client import KernelManager

        self.startup = 0.0
        if self.km is None or not self.km.is_alive():
            started = time.perf_counter()
            self.discard()
            self._sockets = tempfile.mkdtemp(prefix="tokenwatch-kernel-")
            self.km = KernelManager(kernel_name=self.name, transport="ipc", ip=os.path.join(self._sockets, "k"),
                                    client_class=ASYNC_CLIENT)
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
            self.pid = getattr(self.km.provisioner, "pid", None)
            if self.warm:
                self.execute(WARM_UP, timeout=120, what="importing the libraries (warm-up)")
            self.startup = time.perf_counter() - started
        return self.km

    def _client(self) -> Any:
        """The blocking client for the runner's own calls: made once per kernel, shell channel only. (A client per
        call waited 0.2 s each time in `wait_for_ready`, flushing IOPub: three calls a run.) Its first request
        waits for the kernel to answer, as `wait_for_ready` did."""
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.session import Session

        if self._kc is None:
            # a session of its own: a socket identity apart from papermill's client, which takes the shared one over
            info = self.km.get_connection_info(session=False)
            session = Session(key=self.km.session.key, signature_scheme=self.km.session.signature_scheme)
            kc = BlockingKernelClient(**{k: v for k, v in info.items() if k not in ("key", "signature_scheme")},
                                      session=session, parent=self.km)
            kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
            self._kc, self._answered = kc, False
        return self._kc

    def execute(self, code: str, timeout: float, what: str = "setting up the run") -> None:
        """Run `code` in the kernel outside any notebook (set-up, the execution cache's read record); a kernel that
        dies meanwhile raises KernelDied within a second or so, not at the timeout."""
        if self.km is None or not self.km.is_alive():
            raise KernelDied(f"the kernel died before {what}")
        # papermill gets the asynchronous client; these few calls use a blocking one on the same connection
        kc = self._client()
        try:
            msg_id = kc.execute(code, store_history=False)
            deadline = time.monotonic() + timeout + (0 if self._answered else READY_SECONDS)
            while True:
                try:
                    reply = kc.get_shell_msg(timeout=1)
                except queue.Empty:
                    if not self.km.is_alive():
                        raise KernelDied(f"the kernel died while {what}") from None
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the kernel took more than {timeout:g} s {what}") from None
                    continue
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            self._answered = True
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"kernel {self.name}: {reply['content'].get('evalue', 'set-up failed')}")
        except RuntimeError as exc:
            if isinstance(exc, KernelDied) or self.km.is_alive():
                raise
            raise KernelDied(f"the kernel died while {what}") from None

    def reset(self) -> None:
        try:
            self.execute(RESET.format(cwd=self.cwd), timeout=30, what="clearing the namespace for the next run")
        except Exception:  # noqa: BLE001 - a kernel that cannot reset is replaced
            self.discard()

    def kill(self) -> None:
        """End the kernel and anything it started at once (its own process group), from a signal handler too."""
        if self.pid:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)  # jupyter_client starts each kernel in a session of its own

    def discard(self) -> None:
        if self._kc is not None:
            with contextlib.suppress(Exception):
                self._kc.stop_channels()
            self._kc = None
        if self.km is not None:
            with contextlib.suppress(Exception):
                self.km.shutdown_kernel(now=True)
        self.kill()
        self.km, self.pid = None, None
        if self._sockets:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None


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
