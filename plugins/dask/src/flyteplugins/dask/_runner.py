"""Run a Dask task locally on a real ``distributed.LocalCluster`` of the configured shape.

The cluster: ``workers.number_of_workers`` worker processes (each with a nanny that restarts it),
threads and a memory limit per worker from the worker resources (``WorkerGroup.resources``,
else the task's: limits, else requests), capped to this machine and reported when capped; the
scheduler in this process; everything on 127.0.0.1 with ports chosen by the OS; the task's env
vars and secrets in the workers' environment and its ``DASK_*`` variables in their config.

Inside the task a plain ``Client()`` connects to it (``scheduler-address`` is set in
``dask.config`` while tasks use the cluster: Dask reads ``DASK_SCHEDULER_ADDRESS`` only when it
is imported), and ``dask.compute`` uses it with the default scheduler (the plugin's own client
is the task's current client). Functions of the task's module reach the workers by reference,
also when the module is not importable by name (see :mod:`flyteplugins.dask._worker`).

One cluster per process at a time, shared: Dask keeps ``scheduler-address`` process-wide, so
two Dask tasks running at once can only both reach their cluster with a bare ``Client()`` if
it is the same one. Tasks whose cluster settings agree share it (counted, like any
:class:`~flyte.extend.SharedEngine`); a task that needs another shape waits until the cluster
is free and it is replaced. A Dask task with another shape called from inside a Dask task
cannot wait for its caller, so it fails at once with an error that says so.

After each attempt the cluster, the plugin's client and the clients the task opened are closed
(in a ``reusable`` environment the cluster stays up for the next task until ``idle_ttl``), and
every worker process is gone. A worker process that dies while an attempt runs fails that
attempt with :class:`~flyteplugins.dask.errors.DaskWorkerDiedError` (Dask's own retry of the
lost tasks is turned off: the task's ``retries`` decide).

With ``DASK_SCHEDULER_ADDRESS`` in the task's environment (the Dask operator sets it in a
``DaskJob``'s runner pod) the task joins that cluster instead of starting one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

import attrs

from flyte.extend import (
    ConfigurationError,
    SharedEngine,
    TaskCall,
    keep_warm_for,
    parse_quantity,
    shipping,
    warn_at_definition,
)
from flyteplugins.dask.errors import DaskWorkerDiedError

logger = logging.getLogger("flyteplugins.dask")

START_TIMEOUT = 180.0  # seconds for the workers to join; generous, the machine may be loaded
CLOSE_TIMEOUT = 30.0
KILLED_WORKER_GRACE = 5.0  # how long to wait for the death record after Dask's KilledWorker


class DaskResourceWarning(UserWarning):
    """The configured worker resources do not fit this machine; the local cluster is smaller."""


@attrs.frozen
class ClusterPlan:
    """Everything that decides which cluster a task needs (equal plans share a cluster)."""

    task: str
    n_workers: int
    threads: int
    memory_limit: int  # bytes per worker
    worker_env: tuple[tuple[str, str], ...] = ()
    dask_config: tuple[tuple[str, str], ...] = ()
    address: str | None = None  # join this scheduler instead of starting a cluster
    reusable_env: str | None = None
    masked: tuple[str, ...] = ()  # worker_env's variables that hold secrets (see _worker_output)

    def key(self) -> str:
        """The sharing key; env values (secrets among them) enter it only as a digest."""
        env = hashlib.sha256(json.dumps([self.worker_env, self.dask_config, self.masked]).encode()).hexdigest()
        shape = [self.n_workers, self.threads, self.memory_limit, self.address, self.reusable_env]
        return json.dumps([shape, env])

    def describe(self) -> str:
        if self.address:
            return f"the cluster at {self.address}"
        threads = "thread" if self.threads == 1 else "threads"
        return f"{self.n_workers} worker(s) x {self.threads} {threads}, {_bytes(self.memory_limit)} each"


# -- the plan -----------------------------------------------------------------------------
def plan_for(call: TaskCall) -> ClusterPlan:
    """The cluster a task's attempt needs: its config and resources fitted to this machine."""
    from dask.system import CPU_COUNT
    from distributed.system import MEMORY_LIMIT

    spec = call.spec
    config = spec.plugin_config
    n = config.workers.number_of_workers
    resources = config.workers.resources or spec.resources
    cpu = _amount(resources, "cpu")
    memory = _amount(resources, "memory")
    threads = max(1, math.ceil(cpu)) if cpu is not None else max(1, math.ceil(CPU_COUNT / n))
    memory_limit = int(memory) if memory is not None else MEMORY_LIMIT // n
    source = "WorkerGroup.resources" if config.workers.resources is not None else "the task's resources"
    if threads > CPU_COUNT:
        _report(
            f"{spec.name}: {source} give each Dask worker cpu={cpu:g}, more than this machine's "
            f"{CPU_COUNT} CPUs; each local worker gets {CPU_COUNT} threads (the DaskJob keeps {threads})",
            call.function,
        )
        threads = CPU_COUNT
    share = MEMORY_LIMIT // n
    if memory_limit > share:
        _report(
            f"{spec.name}: {source} give each of the {n} Dask workers {_bytes(memory_limit)}, more than "
            f"its share of this machine's {_bytes(MEMORY_LIMIT)}; each local worker is limited to "
            f"{_bytes(share)} (the DaskJob keeps {_bytes(memory_limit)})",
            call.function,
        )
        memory_limit = share
    task_env = _task_environment(call)
    dask_env = {k: v for k, v in task_env.items() if k.startswith("DASK_")}
    return ClusterPlan(
        task=spec.name,
        n_workers=n,
        threads=threads,
        memory_limit=memory_limit,
        worker_env=tuple(sorted(task_env.items())),
        dask_config=tuple(sorted(dask_env.items())),
        address=call.environ.get("DASK_SCHEDULER_ADDRESS") or None,
        reusable_env=spec.env_name if spec.reusable else None,
        masked=tuple(sorted(k for k in task_env if k in _secret_variables(spec))),
    )


def _amount(resources: Any, name: str) -> float | None:
    if resources is None:
        return None
    text = resources.limit(name) or resources.request(name)
    value = parse_quantity(text) if text is not None else None
    return None if value is None else float(value)


def _secret_variables(spec: Any) -> set[str]:
    names = {s.env_var for s in spec.secrets if s.env_var}
    return names | {"FLYTE_SECRETS_MOUNT"} if any(s.mount for s in spec.secrets) else names


def _task_environment(call: TaskCall) -> dict[str, str]:
    """The variables the task sets itself (env vars, secrets, the run's env vars): the workers
    need them, and inherit everything else from this process."""
    spec = call.spec
    own = set(spec.env_vars) | {s.env_var for s in spec.secrets if s.env_var}
    if any(s.mount for s in spec.secrets):
        own.add("FLYTE_SECRETS_MOUNT")
    around = dict(os.environ)
    return {k: v for k, v in call.environ.items() if k in own or around.get(k) != v}


def _report(message: str, function: Any) -> None:
    """Warn once, at the task's definition (``function``), as the other local-run warnings do:
    not at flyte's code, and not a second time through the logger."""
    warn_at_definition(message, DaskResourceWarning, function, module="flyteplugins.dask")


def _bytes(n: int) -> str:
    from dask.utils import format_bytes

    return format_bytes(n)


# -- the cluster --------------------------------------------------------------------------
class _Deaths:
    """A scheduler plugin's record of worker processes that ended without being asked to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pids: dict[str, int] = {}  # worker address -> pid, every worker ever seen
        self.names: dict[str, Any] = {}
        self.died: list[tuple[str, Any, int | None]] = []  # (address, name, pid)
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def joined(self, address: str, name: Any, pid: int | None) -> None:
        with self.lock:
            if pid is not None:
                self.pids[address] = pid
            self.names[address] = name

    def removed(self, address: str) -> None:
        with self.lock:
            self.died.append((address, self.names.get(address), self.pids.get(address)))
            waiters, self.waiters = self.waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    def mark(self) -> int:
        with self.lock:
            return len(self.died)

    def since(self, mark: int) -> list[tuple[str, Any, int | None]]:
        with self.lock:
            return self.died[mark:]

    def next_death(self, mark: int) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self.lock:
            if len(self.died) > mark:
                future.set_result(None)
            else:
                self.waiters.append((loop, future))
        return future

    def all_pids(self) -> set[int]:
        with self.lock:
            return set(self.pids.values())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _death_plugin(deaths: _Deaths) -> Any:
    from distributed.diagnostics.plugin import SchedulerPlugin

    class DeathWatch(SchedulerPlugin):
        name = "flyte-death-watch"

        def add_worker(self, scheduler: Any, worker: str) -> None:
            state = scheduler.workers.get(worker)
            deaths.joined(worker, getattr(state, "name", None), getattr(state, "pid", None))

        def log_event(self, topic: str, msg: Any) -> None:
            # remove-worker events carry `expected`: False when the worker went away on its own
            # (a closed connection, a process that died), True when asked to (close, restart).
            if (
                topic == "all"
                and isinstance(msg, dict)
                and msg.get("action") == "remove-worker"
                and not msg.get("expected", True)
            ):
                deaths.removed(msg["worker"])

    return DeathWatch()


class Cluster:
    """A running cluster (or a joined one) and the plugin's client to it."""

    def __init__(self, plan: ClusterPlan, client: Any, local: Any = None, deaths: _Deaths | None = None):
        self.plan = plan
        self.client = client
        self.local = local  # the LocalCluster, None when joining an existing scheduler
        self.deaths = deaths
        self.address: str = client.scheduler.address
        self.modules: set[str] = set()
        self._lock = threading.Lock()
        self._active = 0
        self._config: Any = None

    def worker_pids(self) -> set[int]:
        """Every worker process this cluster has started (restarted ones included)."""
        return self.deaths.all_pids() if self.deaths is not None else set()

    @contextlib.asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """Make ``Client()`` reach this cluster while at least one attempt uses it."""
        import dask

        with self._lock:
            self._active += 1
            if self._active == 1:
                # dask.config.set applies at once; __exit__ restores what it replaced.
                self._config = dask.config.set(
                    {"scheduler-address": self.address, **dask.config.collect_env(dict(self.plan.dask_config))}
                )
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                last = self._active == 0
                if last:
                    self._config.__exit__(None, None, None)
                    self._config = None
            if last:
                await asyncio.to_thread(self.close_task_clients)

    def close_task_clients(self) -> None:
        """Close the clients tasks opened to this cluster (a ``Client()`` left open would
        otherwise try to reconnect to a closed scheduler and log errors for half a minute)."""
        from distributed import Client

        # Client._instances is Dask's own registry of live clients; no public API lists them.
        for client in list(getattr(Client, "_instances", ())):
            if client is self.client or client.status in ("closing", "closed"):
                continue
            if getattr(client.scheduler, "address", None) == self.address:
                with contextlib.suppress(Exception):  # already broken: nothing left to close
                    client.close(timeout=CLOSE_TIMEOUT)


def start_cluster(plan: ClusterPlan) -> Cluster:
    """Start a LocalCluster for the plan (or connect to ``plan.address``) and wait for its workers."""
    from distributed import Client, LocalCluster

    if plan.address:
        return Cluster(plan, Client(plan.address, set_as_default=False, timeout=START_TIMEOUT))
    deaths = _Deaths()
    env = dict(plan.worker_env)
    masking: dict[str, Any] = {}
    if plan.masked:  # the workers print to the terminal, not through the attempt's log: they mask
        from flyteplugins.dask import _worker_output

        env[_worker_output.MASKED_VARS] = ",".join(plan.masked)
        masking["preload"] = [_worker_output.__name__]
    local = LocalCluster(
        n_workers=plan.n_workers,
        threads_per_worker=plan.threads,
        memory_limit=plan.memory_limit,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=_dashboard_address(),
        # Tasks on a worker that dies fail at once: the attempt fails and flyte's retries decide.
        scheduler_kwargs={"allowed_failures": 0, "plugins": [_death_plugin(deaths)]},
        env=env,
        config=_dask_config(plan.dask_config),
        **masking,
    )
    try:
        client = Client(local, set_as_default=False, timeout=START_TIMEOUT)
        client.wait_for_workers(plan.n_workers, timeout=START_TIMEOUT)
    except BaseException:
        local.close(timeout=CLOSE_TIMEOUT)
        raise
    cluster = Cluster(plan, client, local, deaths)
    link = f", dashboard {local.dashboard_link}" if local.dashboard_link else ""
    logger.info("%s: Dask cluster of %s at %s%s", plan.task, plan.describe(), cluster.address, link)
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    """Close the task clients, the plugin's client and the cluster; make sure no worker
    process outlives it."""
    cluster.close_task_clients()
    with contextlib.suppress(Exception):  # a broken connection must not keep the cluster up
        cluster.client.close(timeout=CLOSE_TIMEOUT)
    if cluster.local is None:
        return
    pids = cluster.worker_pids()
    try:
        cluster.local.close(timeout=CLOSE_TIMEOUT)
    finally:
        _kill_leftovers(pids)


def _kill_leftovers(pids: set[int]) -> None:
    """SIGKILL worker processes that survived the cluster's close (a nanny that timed out)."""
    for pid in pids:
        if _is_our_child(pid):
            logger.warning("Dask worker process %d survived its cluster; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _is_our_child(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and int(fields[1]) == os.getpid()


def _dashboard_address() -> str | None:
    try:
        import bokeh  # noqa: F401  (Dask's dashboard needs it)
    except ImportError:
        return None
    return "127.0.0.1:0"  # a free port: concurrent clusters never clash


def _dask_config(variables: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    import dask

    return dask.config.collect_env(dict(variables)) if variables else {}


# One cluster at a time: dask.config's scheduler-address is process-wide (see the docstring).
engine: SharedEngine[Cluster] = SharedEngine("dask", start=start_cluster, stop=stop_cluster, exclusive=True)

# The cluster key an enclosing Dask attempt holds (context-local: nested calls inherit it).
_holding: ContextVar[str | None] = ContextVar("flyteplugins_dask_holding", default=None)


# -- an attempt ---------------------------------------------------------------------------
async def run(call: TaskCall) -> Any:
    """Start (or share) the task's cluster, run the task with it, release it."""
    plan = plan_for(call)
    key = plan.key()
    held = _holding.get()
    if held is not None and held != key:
        raise ConfigurationError(
            f"{call.spec.name}: a Dask task needing {plan.describe()} was called from inside a Dask "
            "task holding another cluster (other settings, or another reusable environment); locally "
            "one Dask cluster runs per process, so the inner task would wait for its caller forever "
            "(accepted: give both the same Dask config, resources, env vars and environment reuse, "
            "or call the inner task from outside the Dask task)"
        )
    token = _holding.set(key)
    try:
        async with engine.use(key, plan, keep_warm=keep_warm_for(call.spec)) as cluster, cluster.attempt():
            with cluster.client.as_current():
                await _ship_module(cluster, call)
                return await _supervise(cluster, call)
    finally:
        _holding.reset(token)


async def _ship_module(cluster: Cluster, call: TaskCall) -> None:
    module = getattr(call.function, "__module__", None)
    if not module or module == "__main__" or module in cluster.modules:
        return  # __main__ travels by value (Dask pickles it with cloudpickle)
    from flyteplugins.dask._worker import TaskModule

    shipped = shipping.dumps_call(call.function, {}, by_file=True)
    try:
        await asyncio.to_thread(cluster.client.register_plugin, TaskModule(shipped), f"flyte-module-{module}")
    except Exception as exc:  # the task may never need it by reference: say so and go on
        logger.warning("%s: could not load module %s in the Dask workers: %s", call.spec.name, module, exc)
    cluster.modules.add(module)


async def _supervise(cluster: Cluster, call: TaskCall) -> Any:
    """Run the task body; a worker process dying meanwhile fails the attempt."""
    deaths = cluster.deaths
    mark = deaths.mark() if deaths is not None else 0
    body = asyncio.ensure_future(call.invoke())
    waits: set[asyncio.Future[Any]] = {body}
    death = deaths.next_death(mark) if deaths is not None else None
    if death is not None:
        waits.add(death)
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if death is not None:
            death.cancel()
        if not body.done():
            body.cancel()
            await asyncio.wait({body})
    if deaths is None:
        return body.result()
    died = deaths.since(mark)
    if not died and _killed_worker(body):
        # Dask reported the lost task before its scheduler plugin saw the worker go.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(deaths.next_death(mark), KILLED_WORKER_GRACE)
        died = deaths.since(mark)
    if died:
        cause = None if body.cancelled() else body.exception()
        raise _death_error(call, cluster.plan, died) from cause
    return body.result()


def _killed_worker(body: asyncio.Future[Any]) -> bool:
    from distributed.scheduler import KilledWorker

    return not body.cancelled() and isinstance(body.exception(), KilledWorker)


def _death_error(call: TaskCall, plan: ClusterPlan, died: list[tuple[str, Any, int | None]]) -> DaskWorkerDiedError:
    address, name, pid = died[0]
    who = f"Dask worker {name} ({address}, pid {pid})" if pid else f"Dask worker {name} ({address})"
    more = f" ({len(died) - 1} more died after it)" if len(died) > 1 else ""
    retries = call.spec.retries.count if call.spec.retries is not None else 0
    return DaskWorkerDiedError(
        f"{call.spec.name}: {who} died while the attempt ran{more}: its process ended without being asked "
        f"to (killed by a signal, over its memory limit of {_bytes(plan.memory_limit)}, or a crash in native "
        f"code). The attempt fails; the task's retries ({retries}) decide whether it runs again.",
        address=address,
        pid=pid,
    )
