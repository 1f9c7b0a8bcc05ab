"""The connector runtime: start remote work, follow it, and never leave it running unseen.

One attempt of a connector task is ``create`` → ``get`` (polled with backoff and jitter, see
:class:`~flyte.plugin_types.PollPolicy`) → the result. What every connector would otherwise
get wrong is done here once:

- The metadata ``create`` returns is written to the run store (and flushed) before the first
  poll, so ``flyte runs show`` names the remote work and ``flyte runs cancel`` can cancel it
  after this process died.
- A word ``get`` reports that is not a phase counts as still running, warned about once.
- Transient errors while polling (the connector's ``transient`` types, ``ConnectionError``,
  ``TimeoutError``, ``ConnectorTransientError``) are retried within the task's timeout and
  the policy's ``outage``.
- ``delete`` is called, at most once per piece of work, whenever an attempt ends without
  success: a timeout, a cancellation (Ctrl-C included), an error while polling, a failed
  or externally aborted job, and, for work still live, the process's exit.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from flyte._validation import warn_at_definition
from flyte.errors import (
    ConfigurationError,
    ConnectorError,
    ConnectorTransientError,
    PermanentConnectorError,
    SecretNotFoundError,
)
from flyte.plugin_types import (
    ABORTED,
    PHASES,
    SUCCEEDED,
    Connector,
    ConnectorContext,
    ConnectorStatus,
)
from flyte.runtime import redact
from flyte.spec import TaskSpec

logger = logging.getLogger("flyte.connectors")

# Job states recorded in the run store beyond the connector phases.
CANCELLED = "CANCELLED"  # delete() succeeded
CANCEL_FAILED = "CANCEL_FAILED"  # delete() raised or timed out: the work may still run
OPEN_STATES = ("QUEUED", "RUNNING", "UNKNOWN", CANCEL_FAILED)


class ConnectorStateWarning(UserWarning):
    """A connector reported a state that is not a phase; it is treated as still running."""


_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _warn_unknown(connector: Connector, status: ConnectorStatus) -> None:
    key = (connector.config_type.__qualname__, status.phase)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    # At the connector's get(), which reported it: a fixed stacklevel lands in the poll loop.
    warn_at_definition(
        f"connector for {key[0]} reported state {status.phase!r}, which is not a phase "
        f"({', '.join(PHASES)}); treating it as still running",
        ConnectorStateWarning,
        connector.get,
    )


# -- secrets ------------------------------------------------------------------------------------


def task_secrets(spec: TaskSpec, settings: Any) -> dict[str, str]:
    """The values of the task's secrets by key, from where the settings say secrets come from."""
    from flyte.runtime import secrets_runtime

    values: dict[str, str] = {}
    for secret in spec.secrets:
        if settings.secret_source == "environment":  # a rendered container: injected already
            if secret.path is not None:
                path = Path(os.environ.get("FLYTE_SECRETS_MOUNT") or secret.mount) / secret.key
                if not path.is_file():
                    raise SecretNotFoundError(f"secret {secret.key!r} of {spec.name} is not mounted at {path}")
                values[secret.key] = _as_text(spec, secret, path.read_bytes())
                continue
            value = os.environ.get(secret.env_var or "")
            if value is None:
                raise SecretNotFoundError(
                    f"secret {secret.key!r} of {spec.name} is not in the environment (${secret.env_var})"
                )
            values[secret.key] = _as_text(spec, secret, os.fsencode(value))  # (the bytes the platform set)
            continue
        try:
            raw = secrets_runtime.fetch(secret, settings)
        except SecretNotFoundError as exc:
            raise SecretNotFoundError(f"{spec.name}: {exc}") from None
        values[secret.key] = _as_text(spec, secret, raw)
    for value in values.values():  # masked in the error, logs and records of the job
        redact.remember(value)
    return values


def _as_text(spec: TaskSpec, secret: Any, raw: bytes) -> str:
    """A secret's value as the text a connector is handed, or an error naming the secret and its
    size (never the value): bad bytes replaced would hand the connector another credential."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{spec.name}: secret {secret.key!r}: its value ({len(raw)} bytes) is not UTF-8 (from byte {exc.start}); "
            "a connector is handed its task's secrets as text (ConnectorContext.secrets) and cannot take it exactly "
            "(accepted: a UTF-8 value; store binary credentials encoded, e.g. as base64)"
        ) from None


# -- work in flight ----------------------------------------------------------------------------


class Job:
    """One piece of remote work: its connector, context and metadata, and its ``delete``.

    ``delete`` runs at most once at a time and, once it succeeded, never again; a failed one
    leaves the work live, so the exit handler (or ``flyte runs cancel``) tries again.
    """

    def __init__(self, connector: Connector, context: ConnectorContext, metadata: Any, name: str):
        self.connector = connector
        self.context = context
        self.metadata = metadata
        self.name = name  # for messages: "run/action#attempt" or the task name
        self._lock = threading.Lock()
        self._state = "live"  # live -> deleting -> done (or back to live when delete failed)
        self.settled = threading.Event()  # set whenever no delete is in flight
        self.settled.set()

    def claim_delete(self) -> bool:
        """True when the caller may delete the work now (nobody else is, nobody has)."""
        with self._lock:
            if self._state != "live":
                return False
            self._state = "deleting"
            self.settled.clear()
            return True

    def settle(self, deleted: bool) -> None:
        with self._lock:
            self._state = "done" if deleted else "live"
        if deleted:
            _live.discard(self)
        self.settled.set()

    async def abandon(self, on_end: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        """Cancel the work (bounded by ``delete_timeout``); never raises for a failed delete."""
        if not self.claim_delete():
            return
        limit = self.connector.poll.delete_timeout
        deleting = asyncio.ensure_future(self.connector.delete(self.context, self.metadata))
        try:
            await asyncio.wait_for(asyncio.shield(deleting), limit)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and not deleting.done():
                # Cancelled while deleting: the delete goes on; it settles the job itself.
                deleting.add_done_callback(lambda f: self.settle(not f.cancelled() and f.exception() is None))
            else:
                self.settle(False)
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            message = redact.redact(f"could not cancel {self.describe()}: {reason}")
            logger.warning("flyte: %s", message)
            if on_end is not None:
                await on_end(CANCEL_FAILED, message)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self.settle(True)
        if on_end is not None:
            await on_end(CANCELLED, "cancelled")

    def describe(self) -> str:
        return f"the remote work of {self.name} ({json.dumps(self.metadata)})"


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class _LiveJobs:
    """Work this process started and has not finished: deleted at exit if still live."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: set[Job] = set()
        self._registered = False

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs.add(job)
            if not self._registered:
                atexit.register(self.abandon_all)
                self._registered = True

    def discard(self, job: Job) -> None:
        with self._lock:
            self._jobs.discard(job)

    def snapshot(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def abandon_all(self) -> None:
        """At exit (Ctrl-C ended the program, or its run was left behind): cancel what is live.
        A delete already in flight is waited for; one that failed is tried again here."""
        for job in self.snapshot():
            job.settled.wait(job.connector.poll.delete_timeout)
        jobs = [job for job in self.snapshot() if job.claim_delete()]
        if not jobs:
            return

        async def delete_all() -> None:
            # The interpreter is exiting: thread pools take no more work, so blocking calls a
            # connector hands to asyncio.to_thread run inline instead.
            asyncio.get_running_loop().set_default_executor(_InlineExecutor())

            async def one(job: Job) -> None:
                try:
                    limit = job.connector.poll.delete_timeout
                    await asyncio.wait_for(job.connector.delete(job.context, job.metadata), limit)
                except BaseException as exc:
                    job.settle(False)
                    why = redact.redact(f"{type(exc).__name__}: {exc}")
                    logger.warning("flyte: could not cancel %s at exit: %s", job.describe(), why)
                else:
                    job.settle(True)

            await asyncio.gather(*(one(job) for job in jobs))

        asyncio.run(delete_all())


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each call in the calling thread (at interpreter exit, when pools refuse work)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


_live = _LiveJobs()


def live_jobs() -> list[Job]:
    """The remote work this process is following now."""
    return _live.snapshot()


# -- one attempt ---------------------------------------------------------------------------------


class Recorder:
    """Where an attempt's job is written: nothing (outside a run) or the run store."""

    async def created(self, job: Job) -> None:
        """The work exists: record it before anything else happens."""

    async def status(self, status: ConnectorStatus) -> None:
        """``get`` reported a phase other than the last one recorded."""

    async def ended(self, state: str, message: str) -> None:
        """The work finished, or was cancelled (state CANCELLED / CANCEL_FAILED)."""


async def follow(
    connector: Connector, context: ConnectorContext, inputs: Mapping[str, Any], name: str, recorder: Recorder
) -> Any:
    """Run one attempt: create, poll until the work ends, return its outputs (or raise)."""
    creating = asyncio.ensure_future(connector.create(context, inputs))
    try:
        metadata = await asyncio.shield(creating)
    except asyncio.CancelledError:
        # The work may exist already: wait for its handle, then cancel it.
        await _abandon_when_created(connector, context, creating, name, recorder)
        raise
    except _transient_types(connector) as exc:
        raise ConnectorError(f"{context.spec.name}: could not start the work: {type(exc).__name__}: {exc}") from exc
    job = Job(connector, context, metadata, name)
    _live.add(job)
    try:
        recorded = json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        await job.abandon()
        raise TypeError(
            f"connector for {type(context.config).__name__}: create() returned metadata that is not "
            f"JSON-able ({exc}); return plain data (str, int, float, bool, None, lists, dicts)"
        ) from None
    if redact.contains_secret(recorded):  # recorded as it is: a masked copy could not cancel the work
        await job.abandon()
        raise TypeError(
            f"connector for {type(context.config).__name__}: create() returned metadata holding a secret's "
            "value; metadata is recorded in the run store (flyte runs show, flyte runs cancel from another "
            "process), so keep secrets out of it: get() and delete() are handed them in context.secrets"
        )
    try:
        await recorder.created(job)
        status = await _poll(connector, context, job, recorder)
    except BaseException:
        await job.abandon(recorder.ended)
        raise
    if status.phase == SUCCEEDED:
        _live.discard(job)
        await recorder.ended(SUCCEEDED, status.message)
        return status.outputs
    await recorder.ended(status.phase, status.message)
    await job.abandon()  # a failed job's resources go too; delete is a no-op for finished work
    reason = status.message or "no message from the service"
    if status.phase == ABORTED:
        raise ConnectorError(f"{context.spec.name}: the service aborted the work: {reason}", code="Aborted")
    error = ConnectorError if status.retryable else PermanentConnectorError
    raise error(f"{context.spec.name}: {reason}")


async def _abandon_when_created(
    connector: Connector, context: ConnectorContext, creating: asyncio.Future[Any], name: str, recorder: Recorder
) -> None:
    try:
        metadata = await asyncio.wait_for(creating, connector.poll.delete_timeout)
    except BaseException:
        creating.add_done_callback(_retrieve)
        return
    job = Job(connector, context, metadata, name)
    await job.abandon(recorder.ended)


def _transient_types(connector: Connector) -> tuple[type[BaseException], ...]:
    return (ConnectorTransientError, ConnectionError, TimeoutError, *connector.transient)


async def _poll(connector: Connector, context: ConnectorContext, job: Job, recorder: Recorder) -> ConnectorStatus:
    policy = connector.poll
    transient = _transient_types(connector)
    outage_since: float | None = None
    last: tuple[str, str] | None = None
    n = 0
    while True:
        await asyncio.sleep(policy.interval(n, random.random))
        n += 1
        try:
            status = await connector.get(context, job.metadata)
        except transient as exc:
            now = time.monotonic()
            outage_since = outage_since if outage_since is not None else now
            if now - outage_since >= policy.outage:
                raise ConnectorError(
                    f"{context.spec.name}: the service did not answer for {now - outage_since:.0f}s "
                    f"(PollPolicy.outage={policy.outage:g}s): {type(exc).__name__}: {exc}"
                ) from exc
            why = redact.redact(f"{type(exc).__name__}: {exc}")
            logger.info("flyte: %s: status not available (%s); asking again", job.name, why)
            continue
        outage_since = None
        if not isinstance(status, ConnectorStatus):
            raise TypeError(
                f"connector for {type(context.config).__name__}: get() returned {status!r}, not a ConnectorStatus"
            )
        if status.done:
            return status
        if status.phase not in PHASES:
            _warn_unknown(connector, status)
        if (status.phase, status.message) != last:
            last = (status.phase, status.message)
            await recorder.status(status)


# -- the seams: an attempt in a run, a call outside any run, and cancelling what a dead run left


class StoreRecorder(Recorder):
    """Records the job of one attempt in the run store (see :mod:`flyte.runtime.store`)."""

    def __init__(self, store: Any, run: str, action: str, attempt: int, settings: Any):
        self.store, self.run, self.action, self.attempt, self.settings = store, run, action, attempt, settings

    async def created(self, job: Job) -> None:
        from flyte.runtime import store as st

        st.record_connector_job(
            self.store,
            self.run,
            self.action,
            self.attempt,
            connector=_qualname(type(job.context.config)),
            task=json.dumps(job.context.spec.to_dict()),
            project=self.settings.project,
            domain=self.settings.domain,
            metadata=json.dumps(job.metadata),
        )
        # On disk before the first poll: a process killed from here on leaves a record.
        await asyncio.to_thread(self.store.flush)

    async def status(self, status: ConnectorStatus) -> None:
        from flyte.runtime import store as st

        phase = status.phase if status.phase in PHASES else "UNKNOWN"
        links = json.dumps([[link.name, link.uri] for link in status.log_links]) if status.log_links else None
        st.update_connector_job(
            self.store, self.run, self.action, self.attempt, state=phase, message=status.message, log_links=links
        )

    async def ended(self, state: str, message: str) -> None:
        from flyte.runtime import store as st

        st.update_connector_job(
            self.store, self.run, self.action, self.attempt, state=state, message=message, ended_at=time.time()
        )


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


async def run_attempt(
    spec: TaskSpec, inputs: Mapping[str, Any], *, store: Any, run: str, action: str, attempt: int, settings: Any
) -> Any:
    """One attempt of a connector task inside a run (the controller's execution seam)."""
    from flyte.plugins import get_registry

    connector = get_registry().connector_for(spec.plugin_config)
    secrets = await asyncio.to_thread(task_secrets, spec, settings)
    context = ConnectorContext(spec=spec, secrets=secrets, action=f"{run}/{action}")
    recorder = StoreRecorder(store, run, action, attempt, settings)
    return await follow(connector, context, inputs, f"{run}/{action}#{attempt}", recorder)


async def run_unrecorded(task: Any, inputs: Mapping[str, Any]) -> Any:
    """A connector task called outside any run: the work is done and followed, unrecorded."""
    from flyte.plugins import get_registry
    from flyte.runtime import settings as cfg

    spec = task.spec
    connector = get_registry().connector_for(spec.plugin_config)
    secrets = await asyncio.to_thread(task_secrets, spec, cfg.current())
    return await follow(connector, ConnectorContext(spec=spec, secrets=secrets), inputs, spec.name, Recorder())


def cancel_left_behind(run: str) -> list[tuple[str, str, str]]:
    """Cancel the remote work a run's dead process left running; ``(action, state, message)``
    for each piece of work that was still open. The caller checks the process is gone."""
    from flyte.plugins import get_registry
    from flyte.runtime import store as st
    from flyte.runtime.settings import LocalSettings

    results = []
    for row in st.open_connector_jobs(run, OPEN_STATES):
        metadata = json.loads(row["metadata"])
        try:
            spec = TaskSpec.from_dict(json.loads(row["task"]))
            connector = get_registry().connector_for(spec.plugin_config)
            settings = LocalSettings(project=row["project"] or "default", domain=row["domain"] or "development")
            context = ConnectorContext(spec=spec, secrets=task_secrets(spec, settings), action=f"{run}/{row['action']}")
            asyncio.run(asyncio.wait_for(connector.delete(context, metadata), connector.poll.delete_timeout))
        except Exception as exc:
            state, message = CANCEL_FAILED, f"could not cancel {json.dumps(metadata)}: {type(exc).__name__}: {exc}"
        else:
            state, message = CANCELLED, f"cancelled by flyte runs cancel ({json.dumps(metadata)})"
        st.end_connector_job(run, row["action"], row["attempt"], state, message)
        results.append((row["action"], state, message))
    return results
