"""How one attempt of a reusable task runs on its environment's pool (the controller's seam).

:func:`reserve` takes a worker slot before the attempt's clock starts (``max_queued_time``
bounds the wait, as for the run's own slots); :func:`run` sends the attempt and waits for its
outcome, answering the task's nested calls meanwhile; if the attempt is cancelled (its
timeout, its parent, Ctrl-C) the worker stops that job only.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import time
from typing import Any

import cloudpickle

from flyte import shipping
from flyte._context import current_custom_context, current_group
from flyte.errors import DeadlineExceededError, QueueTimeoutError, WorkerDiedError
from flyte.runtime import store as st
from flyte.runtime.pool.pool import MAIN_ALIAS, Lease, NeverReachedError, PoolClosedError, WorkerProcess
from flyte.runtime.pool.registry import pool_for
from flyte.runtime.pool.worker import rebuild

# How many workers an attempt is sent to when each stops before the task reaches it.
REACH_TRIES = 3


async def reserve(action: Any, queue_limit: float | None, deadline_passed: Any) -> Lease:
    """A slot on a worker of the task's pool; ``QueueTimeoutError`` (or
    ``DeadlineExceededError``) when none frees up within ``queue_limit`` seconds."""
    spec = action.spec
    started = time.monotonic()
    if spec.reusable.scope == "run":
        action.controller.run_pools = True  # closed when the run ends (Controller.close)
    while True:
        pool = pool_for(spec, action.controller.run_name)
        left = None if queue_limit is None else max(0.0, queue_limit - (time.monotonic() - started))
        try:
            return await pool.reserve(left)
        except PoolClosedError:
            continue  # its idle_ttl ended it just now: a new pool starts
        except TimeoutError:
            if deadline_passed():
                raise DeadlineExceededError(
                    f"{spec.name}: deadline of {spec.timeout.deadline} passed while waiting for a worker"
                ) from None
            policy = pool.policy
            limit = spec.timeout.max_queued_time.total_seconds() if spec.timeout.max_queued_time else queue_limit
            raise QueueTimeoutError(
                f"{spec.name}: waited more than {limit:g}s for a worker of reusable environment "
                f"{pool.name!r} (capacity {policy.capacity} = {policy.max_replicas} replicas x "
                f"{policy.concurrency} concurrency)"
            ) from None


async def run(action: Any, inputs: dict[str, Any], env: dict[str, str]) -> Any:
    """Run the attempt on its reserved worker and return its result (or raise its error)."""
    ctl = action.controller
    lease: Lease = action.lease
    action.loop = asyncio.get_running_loop()
    payload = shipping.dumps_to_script_importer(
        {
            "inputs": inputs,
            "env": env,
            "run": ctl.run_name,
            "started_at": ctl.started_at,  # flyte.ctx() in the worker reads the run's
            "disable_cache": ctl.disable_cache,
            "action": action.id,
            "attempt": action.attempt,
            "stoppable": action.stoppable,
            "settings": ctl.settings,
            "home": getattr(os.environ, "base", os.environ).get("FLYTE_HOME"),
            "log": action.log is not None,
        },
        MAIN_ALIAS,
    )
    for tries_left in range(REACH_TRIES - 1, -1, -1):
        st.record_worker(ctl.store, ctl.run_name, action.id, f"{lease.pool.name}/{lease.worker.pid}")
        origin = _origin.get()
        on_caller = origin[1] if origin is not None and origin[0] is lease.worker else None
        nested = _Nested(action)
        job = lease.start(action.task, payload, nested, on_caller, action.log)
        try:
            outcome = await asyncio.wrap_future(job.future)
            break
        except NeverReachedError:
            if not tries_left:
                raise
            # The task never ran there: another worker takes it, in the same attempt.
            action.lease = lease = await reserve(action, None, lambda: False)
            action.pooled_on = f"{lease.pool.name}/{lease.worker.pid}"
        except WorkerDiedError as exc:
            nested.abort_steps(exc)  # its process is gone: no end will come for them
            raise
        except asyncio.CancelledError:
            lease.cancel()  # the worker stops this job only
            action.cancel_forwarded()
            raise
    kind, value = shipping.read_outcome(outcome)
    if kind == "ok":
        return value
    raise rebuild(value)


class _Nested:
    """Answers a job's nested task calls (called on the worker's reader thread): each runs as
    a child action of the job's action, on the action's loop."""

    __slots__ = ("action", "steps")

    def __init__(self, action: Any):
        self.action = action
        self.steps: dict[str, str] = {}  # the worker's token of a running traced call -> its id

    def step(self, token: str, fields: dict[str, Any]) -> None:
        """A traced call in the job (``flyte.trace``) started (``parent`` among its fields) or
        ended: recorded as the controller records one in its own process."""
        controller = self.action.controller
        if "parent" in fields:
            # Named as the same trace in the driver script's own process is.
            script_trace = f"trace:{MAIN_ALIAS}."
            if fields["task"].startswith(script_trace):
                fields["task"] = "trace:__main__." + fields["task"][len(script_trace) :]
            self.steps[token] = controller.start_step(fields.pop("parent"), **fields)
        else:
            ident = self.steps.pop(token, None)
            if ident is not None:
                controller.end_step(ident, **fields)

    def abort_steps(self, error: BaseException) -> None:
        """The job's worker died: its traced calls still running ended with it."""
        while self.steps:
            _, ident = self.steps.popitem()
            self.action.controller.end_step(
                ident, status=st.ABORTED, ended_at=time.time(), error=st.preview(f"{type(error).__name__}: {error}")
            )

    def __call__(self, worker: WorkerProcess, call_id: int, request: bytes) -> None:
        action = self.action
        try:
            module, qualname, overrides, args, kwargs, group, custom = cloudpickle.loads(request)
            task = _task(module, qualname, overrides)
            inputs = task.bind(tuple(args), dict(kwargs))
            future = action.submit(_child(action, task, inputs, group, custom, (worker, call_id)))
        except BaseException as exc:
            _reply(worker, call_id, shipping.pack_error(exc))
            return
        future.add_done_callback(lambda f: _reply(worker, call_id, _packed(f)))


# The nested call being answered (its worker and call id), seen by the child's own dispatch.
_origin: contextvars.ContextVar[tuple[WorkerProcess, int] | None] = contextvars.ContextVar(
    "flyte_pool_origin", default=None
)


async def _child(
    action: Any, task: Any, inputs: dict[str, Any], group: str | None, custom: Any, origin: tuple[WorkerProcess, int]
) -> Any:
    _origin.set(origin)
    current_group.set(group)
    current_custom_context.set(custom)
    return await action.controller.run_action(task, inputs, parent=action)


def _packed(future: Any) -> bytes:
    if future.cancelled():
        return shipping.pack_error(asyncio.CancelledError())
    error = future.exception()
    if error is None:
        try:
            return shipping.pack_result(future.result(), main_module=MAIN_ALIAS)
        except TypeError as exc:
            return shipping.pack_error(exc)
    try:
        raise error
    except BaseException as exc:
        return shipping.pack_error(exc)


def _reply(worker: WorkerProcess, call_id: int, outcome: bytes) -> None:
    with contextlib.suppress(OSError):  # the worker died meanwhile: nobody waits
        worker.channel.send(("reply", call_id, outcome))


def _task(module: str, qualname: str, overrides: dict[str, Any]) -> Any:
    """This process's task object for a task a worker called (by its function's name)."""
    import sys

    from flyte.task import TaskTemplate

    found: Any = sys.modules.get("__main__" if module == MAIN_ALIAS else module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, TaskTemplate):
        raise LookupError(
            f"a task running in a reusable environment's worker called {module}.{qualname}, which is not a "
            "task at module level in the calling process; define tasks at module level"
        )
    return found.override(**overrides) if overrides else found
