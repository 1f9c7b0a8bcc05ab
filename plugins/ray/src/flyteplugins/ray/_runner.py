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

import contextlib
import gc
import json
import logging
import math
import sys
from typing import Any

from flyte.extend import SharedEngine, TaskCall, keep_warm_for, thaw, warn_at_definition

logger = logging.getLogger("flyteplugins.ray")

LOCAL_RUNTIME_ENV = ("env_vars", "working_dir", "py_modules", "excludes", "config")


class RayRuntimeWarning(UserWarning):
    """A part of the Ray configuration does not apply to a local run."""


_reported: set[str] = set()


def _local_runtime_env(
    runtime_env: dict[str, Any] | None, task_env: dict[str, str], task: str = "", function: Any = None
) -> dict[str, Any]:
    """The part of ``runtime_env`` a local run applies; the rest is reported once per key, at the
    task's definition (``function``), not at flyte's code."""
    env = {k: thaw(v) for k, v in (runtime_env or {}).items() if k in LOCAL_RUNTIME_ENV}
    skipped = sorted(set(runtime_env or {}) - set(LOCAL_RUNTIME_ENV))
    for key in skipped:
        if key not in _reported:
            _reported.add(key)
            message = (
                f"{task + ': ' if task else ''}RayJobConfig.runtime_env[{key!r}] is not applied to local "
                "runs (it would install software on this machine); install what it lists in your "
                "environment instead. It is kept in the rendered RayJob."
            )
            warn_at_definition(message, RayRuntimeWarning, function, module="flyteplugins.ray")
    if task_env:
        env["env_vars"] = {**task_env, **env.get("env_vars", {})}
    return env


def _cores(quantity: str | None) -> int | None:
    if quantity is None:
        return None
    from flyte.extend import parse_quantity

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
    if res.device is not None and res.device.device_class == "GPU":
        sizing["num_gpus"] = res.device.quantity
    return sizing


def _start(init_kwargs: dict[str, Any]) -> Any:
    import ray

    if ray.is_initialized():  # started by the user's own code: ours replaces it
        ray.shutdown()
    return ray.init(**init_kwargs)


def _stop(_context: Any) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


# Ray allows one runtime per driver process: exclusive. Ray ties its helper processes (GCS,
# raylet) to the thread that started them, which SharedEngine keeps alive for us.
runtime = SharedEngine("ray", start=_start, stop=_stop, exclusive=True)


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
    runtime_env = _local_runtime_env(config.runtime_env, task_env, spec.name, call.function)
    init_kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if config.address:
        init_kwargs["address"] = config.address
    else:
        init_kwargs.update(_sizing(spec))
    if runtime_env:
        init_kwargs["runtime_env"] = runtime_env
    key = json.dumps([spec.env_name if spec.reusable else None, init_kwargs], sort_keys=True, default=str)
    _register_by_value(call.function)
    async with runtime.use(key, init_kwargs, keep_warm=keep_warm_for(spec)):
        try:
            return await call.invoke()
        finally:
            # Free the task's object refs and actor handles while Ray is still up: one collected
            # after ray.shutdown() makes Ray's core worker end the whole process.
            gc.collect()
