"""Run a Spark task locally in a real ``SparkSession`` built from its config.

Two engines, both :class:`flyte.extend.SharedEngine` (exclusive: PySpark allows one JVM and one
active SparkContext per process):

- the **JVM** (PySpark's gateway), keyed by the settings that only take effect when it starts
  (driver memory, JVM options, jars). It stays up :func:`jvm_keep_warm` seconds after its last
  task (longer if a reusable environment keeps a session warm), so the next Spark task starts
  in about a second instead of tens; a task with other launch settings restarts it.
- the **session**, keyed by the whole local plan. It is stopped after each attempt, unless the
  task's environment is ``reusable``: then it stays up for the next task until ``idle_ttl``.

Inside the task the session is ``flyte.ctx().data["spark_session"]``
(:func:`flyteplugins.spark.spark_session`), and the active one
(``SparkSession.builder.getOrCreate()`` returns it). When an attempt is cancelled (timeout,
Ctrl-C, a failed sibling) its jobs are cancelled, the session stopped and the JVM ended; at
interpreter exit a JVM still running is ended too.

Inside a SparkApplication's driver (spark-submit started this process) the session is the one
spark-submit configured, and the JVM is spark-submit's.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from flyte.extend import ConfigurationError, SharedEngine, TaskCall, keep_warm_for
from flyteplugins.spark._plan import LOOPBACK, LocalPlan, build_plan, report
from flyteplugins.spark.errors import SparkSessionConflictError, readable
from flyteplugins.spark.session import SESSION_KEY

JVM_KEEP_WARM = 300.0  # seconds; FLYTE_SPARK_JVM_KEEP_WARM overrides it
JVM_STOP_GRACE = 15.0  # seconds the JVM gets to exit after its stdin closes, before a kill
SUBMITTED = "submitted"  # the plan key of the session spark-submit set up


def jvm_keep_warm() -> float:
    """How long an idle JVM stays up: ``FLYTE_SPARK_JVM_KEEP_WARM`` seconds, else ``JVM_KEEP_WARM``."""
    raw = os.environ.get("FLYTE_SPARK_JVM_KEEP_WARM")
    if raw is None:
        return JVM_KEEP_WARM
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigurationError(f"FLYTE_SPARK_JVM_KEEP_WARM: {raw!r} is not valid (accepted: seconds >= 0, e.g. 300)")
    return seconds


def _under_spark_submit() -> bool:
    # spark-submit starts a Python application with the address of the JVM it already runs.
    return "PYSPARK_GATEWAY_PORT" in os.environ


@contextlib.contextmanager
def _environment(values: dict[str, str], keep_existing: bool) -> Iterator[None]:
    """Environment variables PySpark reads while it starts something (the JVM, a SparkContext):
    set for that moment only (``keep_existing``: a value the user set stays)."""
    changed = {k: v for k, v in values.items() if not (keep_existing and k in os.environ)}
    previous = {k: os.environ.get(k) for k in changed}
    os.environ.update(changed)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _launch_jvm(launch: tuple[tuple[str, str], ...]) -> subprocess.Popen:
    from pyspark import SparkConf, SparkContext

    if SparkContext._gateway is not None:  # started by the user's own code: ours replaces it
        _end_gateway()
    conf = SparkConf(loadDefaults=False)
    conf.setAll(launch)
    # The JVM's web UI and block manager bind to SPARK_LOCAL_IP.
    with _environment({"SPARK_LOCAL_IP": LOOPBACK}, keep_existing=True):
        SparkContext._ensure_initialized(conf=conf)
    return SparkContext._gateway.proc


def _end_gateway() -> None:
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    active = SparkContext._active_spark_context
    if active is not None:
        with contextlib.suppress(Exception):  # the JVM may already be gone
            active.stop()
    SparkContext._gateway = SparkContext._jvm = None
    with contextlib.suppress(Exception):
        gateway.shutdown()
    _end_process(gateway.proc)


def _end_process(proc: subprocess.Popen) -> None:
    """Close the JVM's stdin (PySpark's gateway exits when it does); kill it if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(JVM_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _stop_jvm(proc: subprocess.Popen) -> None:
    sessions.shutdown()  # a session kept warm goes with its JVM
    from pyspark import SparkContext

    if SparkContext._gateway is not None and SparkContext._gateway.proc is proc:
        _end_gateway()
    else:
        _end_process(proc)


def _start_session(plan: LocalPlan | None) -> Any:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    builder = SparkSession.Builder()
    if plan is None:  # spark-submit's session
        return builder.getOrCreate()
    if SparkContext._active_spark_context is not None:  # the user's own: ours replaces it
        SparkContext._active_spark_context.stop()
    builder = builder.master(plan.master).appName(plan.default_app_name)
    for key, value in plan.conf:
        builder = builder.config(key, value)
    # A SparkContext started from Python takes its workers' interpreter from PYSPARK_PYTHON,
    # not from spark.pyspark.python (spark-submit translates one into the other).
    with _environment({"PYSPARK_PYTHON": dict(plan.conf)["spark.pyspark.python"]}, keep_existing=False):
        return builder.getOrCreate()


def _stop_session(session: Any) -> None:
    with contextlib.suppress(Exception):  # the JVM may already be gone (a cancelled attempt)
        session.stop()


jvm: SharedEngine[subprocess.Popen] = SharedEngine("spark-jvm", start=_launch_jvm, stop=_stop_jvm)
sessions: SharedEngine[Any] = SharedEngine("spark", start=_start_session, stop=_stop_session)

# The session key held by the enclosing Spark task, if any (a nested Spark task must match it).
_held: contextvars.ContextVar[str | None] = contextvars.ContextVar("flyte_spark_held", default=None)


@atexit.register
def _end_jvm_at_exit() -> None:
    # Registered after SharedEngine's own exit handler, so it runs first: a JVM whose task is
    # still running (Ctrl-C) is ended here rather than left to notice its closed stdin.
    with contextlib.suppress(Exception):
        _end_gateway()


def _register_by_value(func: Any) -> None:
    """Pickle the task module's functions and classes by value, so closures, UDFs and
    ``rdd.map(f)`` reach the Python workers wherever the module lives (even ``__main__``)."""
    from pyspark import cloudpickle

    name = getattr(func, "__module__", None)
    # __main__ is always pickled by value; flyte's and PySpark's own modules are importable anywhere.
    if name and name in sys.modules and name != "__main__" and not name.startswith(("flyte.", "pyspark")):
        with contextlib.suppress(ValueError):  # already registered, or a module it refuses
            cloudpickle.register_pickle_by_value(sys.modules[name])


def _cancel_jobs(session: Any) -> None:
    with contextlib.suppress(Exception):  # the JVM may already be gone
        session.sparkContext.cancelAllJobs()


async def run(call: TaskCall) -> Any:
    """Hold a session built from the task's config, run the task with it, release it."""
    spec = call.spec
    if _under_spark_submit():
        plan, key = None, SUBMITTED
    else:
        plan = await asyncio.to_thread(build_plan, spec.plugin_config, spec)
        report(plan, spec.name, call.function)
        key = plan.key
    held = _held.get()
    if held is not None and held != key:
        raise SparkSessionConflictError(
            f"{spec.name}: this Spark task needs a session with other settings than the Spark task that "
            "calls it, and a process has one Spark session at a time; locally, a Spark task called from a "
            "Spark task must use the same Spark config (on Kubernetes each runs in its own SparkApplication)"
        )
    _register_by_value(call.function)
    keep_warm = keep_warm_for(spec)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if plan is not None:
                jvm_warm = max(jvm_keep_warm(), keep_warm or 0.0)
                await stack.enter_async_context(jvm.use(plan.launch_key, plan.launch, keep_warm=jvm_warm))
            session = await stack.enter_async_context(sessions.use(key, plan, keep_warm=keep_warm))
            call.data[SESSION_KEY] = session
            token = _held.set(key)
            try:
                return await call.invoke()
            except asyncio.CancelledError:
                await asyncio.to_thread(_cancel_jobs, session)
                raise
            except Exception as exc:
                error = readable(exc)
                if error is None:
                    raise
                raise error from None
            finally:
                _held.reset(token)
    except asyncio.CancelledError:
        if plan is not None:
            # A timeout or Ctrl-C, maybe with a job still running: end the JVM, do not keep it warm.
            await asyncio.to_thread(jvm.shutdown)
        raise
