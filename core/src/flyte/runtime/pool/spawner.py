"""Where worker processes are started: one long-lived thread of this process.

Linux's parent-death signal (``PR_SET_PDEATHSIG``, which every worker sets) fires when the
*thread* that forked the worker exits, not only the process: a worker started from a run's
short-lived thread would be killed when that thread ends. So every worker is forked by this
one daemon thread, which lives as long as the process.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable

from flyte.runtime.pool.protocol import Channel

_jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_started = False
_lock = threading.Lock()


def submit(job: Callable[[], None]) -> None:
    """Run ``job`` on the spawner thread (started on first use)."""
    global _started
    with _lock:
        if not _started:
            threading.Thread(target=_serve, name="flyte-pool-spawner", daemon=True).start()
            _started = True
    _jobs.put(job)


def _serve() -> None:
    while True:
        _jobs.get()()


def start_worker() -> tuple[subprocess.Popen[bytes], Channel]:
    """Start one worker process (``python -m flyte.runtime.pool.worker``) with its two pipes."""
    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    try:
        popen = subprocess.Popen(
            [sys.executable, "-m", "flyte.runtime.pool.worker", str(to_worker_r), str(from_worker_w), str(os.getpid())],
            pass_fds=(to_worker_r, from_worker_w),
            stdin=subprocess.DEVNULL,
            env=_environment(),
        )
    except BaseException:
        for fd in (to_worker_w, from_worker_r):
            os.close(fd)
        raise
    finally:
        os.close(to_worker_r)
        os.close(from_worker_w)
    return popen, Channel(from_worker_r, to_worker_w)


def _environment() -> dict[str, str]:
    """This process's own environment (no task's overlay), with our import path first."""
    base = getattr(os.environ, "base", os.environ)  # flyte.runtime.environ's overlay wraps it
    env = dict(base)
    # The worker must import this very flyte (an editable checkout, a test's sys.path).
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env
