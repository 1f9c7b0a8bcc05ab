"""The pools of this process: one per reusable environment, policy and image."""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Hashable
from typing import Any

from flyte.runtime.pool.pool import WorkerPool

_pools: dict[Hashable, WorkerPool] = {}
_lock = threading.Lock()


def pool_key(spec: Any, run: str | None = None) -> Hashable:
    """Tasks share a pool when their environment, policy and image agree (and, for a policy
    of ``scope="run"``, their run)."""
    if spec.reusable.scope == "run":
        return (spec.env_name, spec.reusable, spec.image, run)
    return (spec.env_name, spec.reusable, spec.image)


def pool_for(spec: Any, run: str | None = None) -> WorkerPool:
    """The running pool for the task's environment (in ``run``), started if there is none."""
    key = pool_key(spec, run)
    with _lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            from flyte.runtime.pool import state

            pool = _pools[key] = WorkerPool(spec.env_name, spec.reusable, on_close=lambda p: _closed(key, p))
            state.watch(pool)
        return pool


def _closed(key: Hashable, pool: WorkerPool) -> None:
    from flyte.runtime.pool import state

    with _lock:
        if _pools.get(key) is pool:
            del _pools[key]
    state.forget(pool)  # its file for `flyte pools` goes with it


def close_run_pools(run: str) -> None:
    """Stop the pools of ``scope="run"`` policies that ``run`` started (the run has ended)."""
    with _lock:
        ended = [pool for key, pool in _pools.items() if len(key) == 4 and key[3] == run]  # type: ignore[arg-type]
    for pool in ended:
        pool.close()


def live_pools() -> list[WorkerPool]:
    """The pools of this process that are running."""
    with _lock:
        return [p for p in _pools.values() if not p.closed]


def shutdown_all() -> None:
    """Stop every pool of this process and its workers (at exit; tests)."""
    for pool in live_pools():
        pool.close()


@atexit.register
def _at_exit() -> None:
    with contextlib.suppress(Exception):  # best effort; workers also exit when our pipes close
        shutdown_all()
