"""Run a Ray task locally on a real Ray runtime.

The runtime is process-wide (Ray allows one per driver process), so it is shared: tasks whose
settings agree use one runtime at once, counted; a task that needs different settings waits
until the runtime is free and restarts it. The last task out shuts it down, unless its
environment is ``reusable``: then the runtime stays up for the next task and stops after the
policy's ``idle_ttl``.

Local settings: ``num_cpus``/``num_gpus`` from the task's resources (limits, else requests),
``address`` to join an existing cluster, and the parts of ``runtime_env`` that make sense on
this machine (``env_vars``, ``working_dir``, ``py_modules``, ``excludes``, ``config``). The rest
(``pip``, ``conda``, ``uv``, ``container``, ...) would install software: they are reported
once and skipped, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flyte.frozen import thaw
from flyte.plugin_types import TaskCall

logger = logging.getLogger("flyteplugins.ray")

LOCAL_RUNTIME_ENV = ("env_vars", "working_dir", "py_modules", "excludes", "config")


class RayRuntimeWarning(UserWarning):
    """A part of the Ray configuration does not apply to a local run."""


_reported: set[str] = set()


def _local_runtime_env(runtime_env: dict[str, Any] | None, task_env: dict[str, str]) -> dict[str, Any]:
    env = {k: thaw(v) for k, v in (runtime_env or {}).items() if k in LOCAL_RUNTIME_ENV}
    skipped = sorted(set(runtime_env or {}) - set(LOCAL_RUNTIME_ENV))
    for key in skipped:
        if key not in _reported:
            _reported.add(key)
            warnings.warn(
                f"RayJobConfig.runtime_env[{key!r}] is not applied to local runs (it would install "
                "software on this machine); install what it lists in your environment instead. "
                "It is kept in the rendered RayJob.",
                RayRuntimeWarning,
                stacklevel=2,
            )
    if task_env:
        env["env_vars"] = {**task_env, **env.get("env_vars", {})}
    return env


def _cores(quantity: str | None) -> int | None:
    if quantity is None:
        return None
    from flyte._quantity import parse_quantity

    value = parse_quantity(quantity)
    return None if value is None else max(1, math.ceil(value))


def _sizing(spec: Any) -> dict[str, Any]:
    res = spec.resources
    if res is None:
        return {}
    sizing: dict[str, Any] = {}
    cpus = _cores(res.limit("cpu") or res.request("cpu"))
    if cpus is not None:
        sizing["num_cpus"] = cpus
    if res.gpu is not None and res.gpu.device_class == "GPU":
        sizing["num_gpus"] = res.gpu.quantity
    return sizing


class _Runtime:
    """The process's Ray runtime and who is using it.

    Ray ties its helper processes (GCS, raylet) to the *thread* that started them (Linux
    PDEATHSIG), so the runtime is started and stopped on one long-lived thread of ours: a
    runtime kept warm for a reusable environment must outlive the run that started it.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.key: str | None = None
        self.users = 0
        self.ready = threading.Event()
        self.idle_timer: threading.Timer | None = None
        self.starts = 0
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flyte-ray")

    def enter(self, key: str) -> bool:
        """Wait until the runtime is ours to use with ``key``; True if we must (re)start it."""
        with self.lock:
            while self.key is not None and self.key != key and self.users > 0:
                self.lock.wait()  # a task with other settings holds the runtime
            if self.idle_timer is not None:
                self.idle_timer.cancel()
                self.idle_timer = None
            self.users += 1
            if self.key == key:
                return False
            self.key = key
            self.ready.clear()
            return True

    def start(self, init_kwargs: dict[str, Any]) -> None:
        import ray

        try:
            if ray.is_initialized():
                ray.shutdown()
            ray.init(**init_kwargs)
            self.starts += 1
        except BaseException:
            with self.lock:
                self.key = None
            raise
        finally:
            self.ready.set()

    def leave(self, idle_ttl: float | None) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                if idle_ttl is None:
                    self.thread.submit(self._shutdown).result()
                else:
                    self.idle_timer = threading.Timer(idle_ttl, self._idle_shutdown)
                    self.idle_timer.daemon = True
                    self.idle_timer.start()
            self.lock.notify_all()

    def _idle_shutdown(self) -> None:
        with self.lock:
            if self.users == 0:
                try:
                    self.thread.submit(self._shutdown).result()
                except RuntimeError:
                    # The interpreter is exiting and has shut the executor down; Ray's own
                    # exit hook stops the runtime.
                    self.key = None

    def _shutdown(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        self.key = None


runtime = _Runtime()


def _register_by_value(func: Any) -> None:
    """Ship the task module's functions and classes to Ray workers by value, so
    ``@ray.remote`` code defined next to the task works wherever the module lives."""
    import ray.cloudpickle as cp

    module = sys.modules.get(func.__module__)
    if module is not None and func.__module__ not in ("builtins",) and not func.__module__.startswith("flyte"):
        with contextlib.suppress(ValueError):  # already registered, or a module Ray refuses
            cp.register_pickle_by_value(module)


async def run(call: TaskCall) -> Any:
    """Start (or join) a Ray runtime sized for the task, run the task in it, release it."""
    config = call.spec.plugin_config
    spec = call.spec
    task_env = {k: call.environ[k] for k in spec.env_vars if k in call.environ}
    runtime_env = _local_runtime_env(config.runtime_env, task_env)
    init_kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if config.address:
        init_kwargs["address"] = config.address
    else:
        init_kwargs.update(_sizing(spec))
    if runtime_env:
        init_kwargs["runtime_env"] = runtime_env
    key = json.dumps([spec.env_name if spec.reusable else None, init_kwargs], sort_keys=True, default=str)
    _register_by_value(call.function)
    started = time.monotonic()
    if await asyncio.to_thread(runtime.enter, key):
        try:
            await asyncio.wrap_future(runtime.thread.submit(runtime.start, init_kwargs))
        except BaseException:
            await asyncio.to_thread(runtime.leave, None)
            raise
    else:
        await asyncio.to_thread(runtime.ready.wait)
    logger.info("%s: Ray runtime ready in %.2fs", spec.name, time.monotonic() - started)
    idle_ttl = None
    if spec.reusable is not None:
        idle_ttl = spec.reusable.idle_ttl.total_seconds() if spec.reusable.idle_ttl else 3600.0
    try:
        return await call.invoke()
    finally:
        # Free the task's object refs and actor handles while Ray is still up: one collected
        # after ray.shutdown() makes Ray's core worker end the whole process.
        gc.collect()
        await asyncio.to_thread(runtime.leave, idle_ttl)
