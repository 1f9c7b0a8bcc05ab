"""Runs and deployed triggers as records: read what the run store holds, from any process.

``Run.get(name)`` and ``Run.listall()`` read the local run store (``<state root>/runs.db``); a
run still marked running whose process is gone shows as ``ABORTED``. ``flyte.run(...)``
returns the same type for the run it just executed, with its outputs in memory.
``run.outputs()`` is an :class:`ActionOutputs`, the reference SDK's tuple of outputs. The
methods the reference SDK makes callable both ways are callable both ways here
(``run.wait()``, ``await run.wait.aio()``: :mod:`flyte._syncify`); the README's "What a run gives
back" lists them and what each does locally.
``Trigger.get(name=, task_name=)`` and ``Trigger.listall(task_name=)`` read the triggers
``flyte.deploy`` recorded; ``flyte.run(trigger, **overrides)`` fires one. ``Task.get(name,
auto_version="latest")`` is a task ``flyte.deploy`` recorded, to call from a task or pass to one.
``Secret.create/get/listall/delete`` manage the local secret store (:mod:`flyte._remote_secret`).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from flyte import _codec, _run_errors
from flyte._home import run_page
from flyte._outputs import ActionOutputs, action_outputs, typed
from flyte._phase import Done, Phase, RawPhase, raw_phase, recorded
from flyte._remote_secret import Secret as Secret  # (flyte.remote.Secret)
from flyte._syncify import syncify
from flyte.errors import ActionNotFoundError, NotAvailableLocallyError, TaskNotFoundError
from flyte.runtime import store as st

_MISSING: Any = object()
_ROOT = "a0"  # the root action's id in every run


@attrs.define
class Action:
    """One recorded task invocation of a run. ``phase`` is a :class:`flyte._phase.Phase`:
    ``action.phase == "FAILED"`` and ``action.phase == ActionPhase.FAILED`` both hold."""

    id: str
    parent: str | None
    task: str
    short_name: str | None
    phase: Phase = attrs.field(converter=Phase)
    attempts: int
    cache: str | None
    started_at: float | None
    ended_at: float | None
    error: str | None
    report: str | None
    group: str | None = None  # the flyte.group / flyte.map group it ran in
    outputs: str | None = None  # a preview of its outputs, as recorded
    worker: str | None = None  # ``<environment>/<pid>``: the pool worker that ran it (reusable)
    run_name: str | None = None  # the run it belongs to

    # The reference SDK's names for what an action is called.
    @property
    def name(self) -> str:
        """The action's id within its run (the reference SDK's ``Action.name``)."""
        return self.id

    @property
    def task_name(self) -> str:
        return self.task

    @property
    def parent_name(self) -> str | None:
        return self.parent

    @property
    def done(self) -> Done:
        """Whether it has ended: ``action.done()`` (the reference SDK's) or ``action.done`` as a bool."""
        return Done(self.phase.is_terminal)

    def _settled(self) -> bool:
        return self.phase.is_terminal

    @property
    def raw_phase(self) -> RawPhase:
        """The phase as the reference SDK's protobuf enum numbers it (``ACTION_PHASE_FAILED == 6``)."""
        return raw_phase(self.phase)

    @property
    def start_time(self) -> dt.datetime | None:
        """When its first attempt started (UTC); None while it is queued."""
        return None if self.started_at is None else dt.datetime.fromtimestamp(self.started_at, dt.UTC)

    @property
    def relation(self) -> None:
        """The run it was rerun or recovered from, on the reference SDK: a local run never is one."""
        return None

    @property
    def error_message(self) -> str:
        """Its error as recorded (``"ValueError: bad x"``; "" if it did not fail)."""
        return self.error or ""

    @property
    def is_running(self) -> bool:
        return self.phase in (st.RUNNING, st.RETRYING)

    @property
    def runtime(self) -> dt.timedelta:
        """How long it has run: from its first attempt's start to its end (or to now while it runs)."""
        if self.started_at is None:
            return dt.timedelta(0)
        return dt.timedelta(seconds=(self.ended_at or time.time()) - self.started_at)

    @syncify
    def details(self) -> Action:
        """The reference SDK's ``ActionDetails``: locally the record itself, read again, has its
        names (``phase``, ``task_name``, ``error_message``, ``attempts``, ``runtime``, ``done()``)."""
        self._refresh()
        return self

    @syncify
    @classmethod
    def listall(
        cls, for_run_name: str, in_phase: Sequence[Any] | None = None, parent_name: str | None = None
    ) -> Iterator[Action]:
        """The actions of run ``for_run_name`` in creation order, only those in ``in_phase``
        (``ActionPhase`` members or phase names, any case) and under ``parent_name`` when given."""
        for action in Run.get(for_run_name).iter_actions(in_phase):
            if parent_name is None or action.parent == parent_name:
                yield action

    @syncify
    @classmethod
    def get(cls, run_name: str, name: str) -> Action:
        """Action ``name`` (its id, ``"a0"`` for the root) of run ``run_name``."""
        run = Run.get(run_name)  # a run whose process died reads (and is recorded) ABORTED first
        with st.reader() as conn:
            row = st.action_row(conn, run_name, name)
        if row is None:
            raise ActionNotFoundError(f"run {run_name} has no action {name!r}")
        return _action(row, run.name)

    def _refresh(self) -> None:
        fresh = Action.get(self._run(), self.id)
        for field in attrs.fields(Action):
            setattr(self, field.name, getattr(fresh, field.name))

    def _run(self) -> str:
        if self.run_name is None:
            raise ActionNotFoundError(f"action {self.id}: the run it belongs to is not known")
        return self.run_name

    @syncify
    def sync(self) -> Action:
        """Read it again from the run store; returns itself."""
        self._refresh()
        return self

    sync.awaitable_in_loop = True  # the reference's Action.sync is a coroutine function

    @syncify
    def wait(
        self, quiet: bool = False, wait_for: str = "terminal", *, timeout: float | None = None, poll: float = 0.2
    ) -> Action:
        """Wait until it has ended (``wait_for="running"``: until it runs); returns itself, read
        again. ``quiet`` is the reference SDK's: the local wait prints nothing. In async code,
        ``await action.wait()`` (the reference's form) and ``await action.wait.aio()`` both wait
        with asyncio sleeps."""
        for delay in _polls(self, "Action.wait", timeout, poll, wait_for):
            time.sleep(delay)
        return self

    @wait.aio_body
    async def wait(
        self, quiet: bool = False, wait_for: str = "terminal", *, timeout: float | None = None, poll: float = 0.2
    ) -> Action:
        for delay in _polls(self, "Action.wait", timeout, poll, wait_for):
            await asyncio.sleep(delay)
        return self

    wait.awaitable_in_loop = True  # the reference's Action.wait is a coroutine function

    def watch(self, poll: float = 0.2) -> _Watch:
        """Its record each time its phase changes, the first as it is now, until it has ended:
        ``for a in action.watch()`` or ``async for a in action.watch()``."""
        return _Watch(self, poll)

    @syncify
    def abort(self, reason: str = "Manually aborted from the SDK.") -> None:
        """Abort it. Locally an abort stops a whole run: the root action (``a0``) aborts its run
        (:meth:`Run.abort`); another action cannot be stopped on its own."""
        if self.parent is not None:
            raise NotAvailableLocallyError(
                f"Action.abort: action {self.id} of run {self.run_name} is not the run's root; locally only a "
                f"whole run can be aborted (flyte.remote.Run.get({self.run_name!r}).abort())"
            )
        Run.get(self._run()).abort(reason)
        self._refresh()

    @syncify
    def get_logs(self, attempt: int | None = None, filter_system: bool = False, show_ts: bool = False) -> Iterator[str]:
        """The lines it printed in ``attempt`` (1 is the first; its last when None), as ``flyte
        logs RUN ACTION`` shows them. The log holds only what the task printed, so
        ``filter_system`` has nothing to remove; lines carry no timestamps, so ``show_ts=True``
        is refused."""
        from flyte.runtime.logs import recorded_lines

        n = self._attempt(attempt, "get_logs")
        if show_ts:
            raise NotAvailableLocallyError(
                "get_logs: show_ts=True is not available locally: attempt logs are kept without timestamps "
                "(the attempt's start and end are in flyte runs show RUN ACTION)"
            )
        self._logs_here("get_logs")
        yield from recorded_lines(self._run(), self.id, n)

    @syncify
    def show_logs(
        self,
        attempt: int | None = None,
        max_lines: int = 30,
        show_ts: bool = False,
        raw: bool = False,
        filter_system: bool = False,
    ) -> None:
        """Print the last ``max_lines`` lines of its log for ``attempt`` (its last when None)."""
        if not isinstance(max_lines, int) or isinstance(max_lines, bool) or max_lines < 1:
            raise ValueError(f"show_logs: max_lines={max_lines!r} is not valid (accepted: an int of at least 1)")
        lines = collections.deque(self.get_logs(attempt, filter_system, show_ts), maxlen=max_lines)
        for line in lines:
            print(line)

    def _attempt(self, attempt: int | None, method: str) -> int:
        last = max(self.attempts, 1)
        if attempt is None:
            return last
        if not isinstance(attempt, int) or isinstance(attempt, bool) or not 1 <= attempt <= last:
            raise ValueError(
                f"{method}: attempt={attempt!r} is not valid for action {self.id} of run {self.run_name} "
                f"(accepted: 1 to {last}, or None for the last)"
            )
        return attempt

    def _logs_here(self, method: str) -> None:
        with st.reader() as conn:
            row = st.run_row(conn, self._run())
        backend = row["backend"] if row is not None else None
        if backend is not None:
            raise NotAvailableLocallyError(
                f"{method}: run {self.run_name} ran on {backend}: what its tasks printed is in their pods' logs "
                f"(flyte logs {self.run_name} {self.id} names the kubectl commands)"
            )

    @syncify
    def get_report(self, attempt: int | None = None) -> str:
        """The HTML of its report (``report=True`` tasks' ``flyte.report``), as written next to the
        run's page; one per action locally, so ``attempt`` only has to be one of its attempts."""
        self._attempt(attempt, "get_report")
        if self.report is None:
            raise RuntimeError(
                f"No report is available for action '{self.id}' in run '{self.run_name}' "
                "(its task has no report=True, or wrote nothing)."
            )
        return Path(self.report).read_text(encoding="utf-8")

    @syncify
    def download_code(self, dest: str | Path | None = None, extract: bool = True, attempt: int | None = None) -> Path:
        """The reference SDK downloads the code bundle a remote action ran; a local action ran
        the code on this machine and has no bundle, which the reference reports as this error."""
        raise RuntimeError(
            f"No code bundle is associated with action '{self.id}' in run '{self.run_name}': a local run "
            "executes the code on this machine, nothing is packaged or uploaded."
        )

    def to_dict(self) -> dict[str, Any]:
        """Its record as JSON-ready data (phase as recorded, times as epoch seconds)."""
        return {**attrs.asdict(self), "phase": str(self.phase), "name": self.id}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


def _wait_args(method: str, timeout: Any, poll: Any, wait_for: Any) -> float:
    """Check a wait's arguments; when it started (``time.monotonic()``)."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0):
        raise ValueError(f"{method}: timeout={timeout!r} is not valid (accepted: seconds >= 0, or None to wait on)")
    if isinstance(poll, bool) or not isinstance(poll, (int, float)) or poll <= 0:
        raise ValueError(f"{method}: poll={poll!r} is not valid (accepted: seconds > 0)")
    if wait_for not in _WAIT_FOR:
        raise ValueError(f"{method}: wait_for={wait_for!r} is not valid (accepted: {', '.join(map(repr, _WAIT_FOR))})")
    return time.monotonic()


# "logs-ready" is the reference's: a local attempt's log is readable as soon as it runs.
_WAIT_FOR = ("terminal", "running", "logs-ready")


def _reached(phase: Phase, wait_for: str) -> bool:
    return phase.is_terminal or (wait_for != "terminal" and phase in (st.RUNNING, st.RETRYING))


def _polls(record: Any, method: str, timeout: Any, poll: Any, wait_for: Any) -> Iterator[float]:
    """A wait's sleeps, one per look, until ``record`` (a Run or an Action, read again after each
    sleep) has reached ``wait_for``: the sync body sleeps them with ``time``, ``.aio`` with
    ``asyncio``. Raises TimeoutError past ``timeout``."""
    start = _wait_args(method, timeout, poll, wait_for)
    while not _reached(record.phase, wait_for):
        if timeout is not None and time.monotonic() - start > timeout:
            what = f"run {record.name}" if isinstance(record, Run) else f"action {record.id} of run {record.run_name}"
            raise TimeoutError(f"{what} did not finish within {timeout}s")
        yield poll
        record._refresh()


class _Watch:
    """A record's successive states (one per phase change, until it ends), iterable both ways:
    ``for`` sleeps with ``time``, ``async for`` with ``asyncio``."""

    def __init__(self, record: Any, poll: float) -> None:
        _wait_args("watch", None, poll, "terminal")
        self._record, self._poll = record, poll
        self._last: Phase | None = None

    def _next_state(self) -> Any | None:
        """The record if its phase changed since the last one given; None if not (yet)."""
        if self._last is not None and self._last.is_terminal:
            raise StopIteration
        if self._last is not None:
            self._record._refresh()
        if self._record.phase == self._last:
            return None
        self._last = self._record.phase
        return self._record

    def __iter__(self) -> _Watch:
        return self

    def __next__(self) -> Any:
        while (state := self._next_state()) is None:
            time.sleep(self._poll)
        return state

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> Any:
        try:
            while (state := self._next_state()) is None:
                await asyncio.sleep(self._poll)
        except StopIteration:
            raise StopAsyncIteration from None
        return state


@attrs.define
class Run:
    """A run of a task tree: its name, phase, where to look, and (when done) its outputs.

    ``phase`` is a :class:`flyte._phase.Phase`: it prints and serialises as the recorded name
    (``"SUCCEEDED"``) and equals both that name and ``flyte.models.ActionPhase.SUCCEEDED``.
    """

    name: str
    task: str
    phase: Phase = attrs.field(converter=Phase)
    created_at: float
    ended_at: float | None = None
    error: str | None = None
    _outputs_json: str | None = attrs.field(default=None, repr=False)
    _outputs: Any = attrs.field(default=_MISSING, repr=False)
    _exception: BaseException | None = attrs.field(default=None, repr=False)
    backend: str | None = None  # None: ran on this machine; "kubernetes": its objects went to a cluster

    @property
    def url(self) -> str:
        """The run's page on disk (``file://``), which links each action's report."""
        return run_page(self.name).as_uri()

    @property
    def status(self) -> Phase:
        return self.phase

    def cluster_objects(self) -> list[dict[str, Any]]:
        """The Kubernetes objects a cluster run submitted, one per action: context, namespace,
        kind, name, the YAML kept under the run's folder (``manifest``), the status last seen and
        the ``kubectl`` commands that inspect it ([] for a local run)."""
        from flyte.kube.record import object_record

        with st.reader() as conn:
            return [object_record(row) for row in st.cluster_objects(conn, self.name)]

    @property
    def done(self) -> Done:
        """Whether it has ended: ``run.done()`` (the reference SDK's) or ``run.done`` as a bool."""
        return Done(self.phase in st.TERMINAL)

    def _settled(self) -> bool:
        return self.phase in st.TERMINAL

    @property
    def raw_phase(self) -> RawPhase:
        """The phase as the reference SDK's protobuf enum numbers it (``ACTION_PHASE_SUCCEEDED == 5``)."""
        return raw_phase(self.phase)

    @property
    def action(self) -> Action:
        """Its root action (``a0``), read from the run store."""
        return Action.get(self.name, _ROOT)

    @syncify
    def abort(self, reason: str = "Manually aborted from the SDK api.") -> None:
        """Ask the run to stop, for ``reason`` (also what ``flyte abort run NAME`` does). The
        process running it sees the request within about a second (following its object on
        Kubernetes, within a 10 s watch window) and stops it as a cancel does: its tasks are
        cancelled, it is recorded ABORTED with the reason, and its ``flyte.run`` raises
        ``ActionAbortedError``. Returns at once: :meth:`wait` waits for the end. A run that
        has ended stays as it ended."""
        from flyte.runtime import aborts

        self.phase = aborts.request(self.name, reason)

    @syncify
    def wait(
        self, quiet: bool = False, wait_for: str = "terminal", *, timeout: float | None = None, poll: float = 0.2
    ) -> Run:
        """Wait until the run has ended (``wait_for="running"``: until it runs; local runs end
        before ``flyte.run`` returns); returns itself, read again. ``quiet`` and ``wait_for`` come
        first, as in the reference SDK (``run.wait(True)``); the local wait prints nothing either
        way. ``await run.wait.aio()`` waits with asyncio sleeps."""
        for delay in _polls(self, "Run.wait", timeout, poll, wait_for):
            time.sleep(delay)
        return self

    @wait.aio_body
    async def wait(
        self, quiet: bool = False, wait_for: str = "terminal", *, timeout: float | None = None, poll: float = 0.2
    ) -> Run:
        for delay in _polls(self, "Run.wait", timeout, poll, wait_for):
            await asyncio.sleep(delay)
        return self

    def _refresh(self) -> None:
        fresh = Run.get(self.name)
        self.phase, self.ended_at, self.error = fresh.phase, fresh.ended_at, fresh.error
        self._outputs_json = fresh._outputs_json

    @syncify
    def sync(self) -> Run:
        """Read it again from the run store; returns itself."""
        self._refresh()
        return self

    @syncify
    def details(self) -> Run:
        """The reference SDK's ``RunDetails``: locally the run itself, read again, with
        :attr:`action_details` (its root action's record), ``done()``, ``inputs()``, ``outputs()``."""
        self._refresh()
        return self

    @property
    def action_details(self) -> Action:
        """The root action's record (the reference's ``RunDetails.action_details``)."""
        return self.action

    def watch(self, poll: float = 0.2) -> _Watch:
        """Its record each time its phase changes, the first as it is now, until it has ended:
        ``for r in run.watch()`` or ``async for r in run.watch()``."""
        return _Watch(self, poll)

    @syncify
    def raise_for_status(self) -> None:
        """Raise the run's failure as the exception a parent task would have raised for it (see
        :mod:`flyte._run_errors`); nothing when it succeeded. A run that has not ended raises
        ``RuntimeUserError`` with code ``RunNotDoneError``: call :meth:`wait` first."""
        if not self._settled():
            raise _run_errors.not_done(self.name, self.phase)
        if self.phase == st.SUCCEEDED:
            return
        if self._exception is not None:  # the run this process just ran: its own error
            raise self._exception
        if self.phase == st.ABORTED:
            raise _run_errors.aborted(self.name, self.error)
        kind, message = self._root_error()
        raise _run_errors.failed(self.name, kind, message)

    def _root_error(self) -> tuple[str | None, str | None]:
        """The type name and message of the root action's last failed attempt, else of the run."""
        with st.reader() as conn:
            attempts = st.attempt_rows(conn, self.name, _ROOT)
        for row in reversed(attempts):
            if row["error_type"]:
                return row["error_type"], row["message"]
        return _run_errors.split_recorded(self.error)

    @syncify
    def first_failure(self) -> Action | None:
        """The first action that failed, in creation order, preferring a failed child over the
        root (whose error usually repeats it); None if none failed. Its ``task_name`` and
        ``error_message`` say which step broke and why."""
        fallback = None
        for action in self.iter_actions([st.FAILED]):
            if action.parent is not None:
                return action
            fallback = fallback or action
        return fallback

    @syncify
    def get_logs(self, attempt: int | None = None, filter_system: bool = False, show_ts: bool = False) -> Iterator[str]:
        """The lines the root action printed (see :meth:`Action.get_logs`)."""
        yield from self.action.get_logs(attempt, filter_system, show_ts)

    @syncify
    def show_logs(
        self,
        attempt: int | None = None,
        max_lines: int = 100,
        show_ts: bool = False,
        raw: bool = False,
        filter_system: bool = False,
    ) -> None:
        """Print the last ``max_lines`` lines the root action printed (see :meth:`Action.show_logs`)."""
        self.action.show_logs(attempt, max_lines, show_ts, raw, filter_system)

    @syncify
    def get_report(self, attempt: int | None = None) -> str:
        """The HTML of the root action's report (see :meth:`Action.get_report`)."""
        return self.action.get_report(attempt)

    @syncify
    def code_bundle(self) -> None:
        """The bundle of code the reference SDK uploads for a remote run: None, as for a run of
        code baked into its image; a local run ran the code on this machine."""
        return None

    @syncify
    def download_code(self, dest: str | Path | None = None, extract: bool = True, attempt: int | None = None) -> Path:
        """Refused as the reference SDK refuses a run without a bundle (see :meth:`code_bundle`)."""
        return self.action.download_code(dest, extract, attempt)

    @syncify
    def get_debug_url(self) -> str | None:
        """The reference SDK's URL of a VS Code debugger attached to a remote task; none attaches
        to a local run (debug it in this process: ``breakpoint()`` in the task works)."""
        raise NotAvailableLocallyError(
            f"get_debug_url: run {self.name} ran locally; no remote debugger attaches to a local run "
            "(a breakpoint() in the task stops in this process)"
        )

    @syncify
    def input_literals(self) -> dict[str, Any]:
        """The reference SDK's protobuf literals: a local run records values, not literals."""
        raise NotAvailableLocallyError(
            f"input_literals: run {self.name} has no protobuf literals locally; run.inputs() has its inputs "
            "and run.typed_inputs({...}) converts them to types you choose"
        )

    @syncify
    def output_literals(self) -> dict[str, Any]:
        """The reference SDK's protobuf literals: a local run records values, not literals."""
        raise NotAvailableLocallyError(
            f"output_literals: run {self.name} has no protobuf literals locally; run.outputs() has its outputs "
            "and run.typed_outputs({...}) converts them to types you choose"
        )

    @syncify
    def typed_outputs(
        self, types: dict[str, type], deserializers: dict[type, Callable[[Any], Any]] | None = None
    ) -> dict[str, Any]:
        """The outputs named in ``types`` (``{"o0": MyModel}``) as those types (see
        :func:`flyte._outputs.typed`); raises the run's error if it failed."""
        return typed(self.outputs().named_outputs, types, deserializers, what="typed_outputs")

    @syncify
    def typed_inputs(
        self, types: dict[str, type], deserializers: dict[type, Callable[[Any], Any]] | None = None
    ) -> dict[str, Any]:
        """The inputs named in ``types`` (``{"x": int}``) as those types (see :func:`flyte._outputs.typed`)."""
        return typed(self.inputs(), types, deserializers, what="typed_inputs")

    def to_dict(self) -> dict[str, Any]:
        """Its record as JSON-ready data: name, task, phase, times, error, backend and url."""
        return {
            "name": self.name,
            "task": self.task,
            "phase": str(self.phase),
            "created_at": self.created_at,
            "ended_at": self.ended_at,
            "error": self.error,
            "backend": self.backend,
            "url": self.url,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @syncify
    def inputs(self) -> dict[str, Any]:
        """The inputs the run's root task was called with, as recorded."""
        with st.reader() as conn:
            row = st.run_row(conn, self.name)
        text = row["inputs"] if row is not None else None
        if text is None:
            return {}
        if text.endswith("…"):
            raise RuntimeError(f"run {self.name}: its inputs were too large to keep in the run store")
        return _codec.loads(text)

    def notifications(self) -> list[dict[str, Any]]:
        """The outcome of each ``flyte.notify`` notification the run's end fired: ``kind``,
        ``target`` (never a credential), ``phase``, ``outcome`` ("delivered", "failed",
        "not delivered"), ``detail`` and ``at``."""
        with st.reader() as conn:
            return [
                {k: row[k] for k in ("kind", "target", "phase", "outcome", "detail", "at")}
                for row in st.notification_rows(conn, self.name)
            ]

    @syncify
    def outputs(self) -> ActionOutputs:
        """The root task's outputs as the reference SDK gives them (:class:`ActionOutputs`, a
        tuple: ``run.outputs()[0]`` is a ``-> int`` task's int); raises the run's error if it
        failed."""
        return action_outputs(self._result())

    def _result(self) -> Any:
        """The root task's result as it returned it (the value, not the tuple of outputs)."""
        if self._exception is not None:
            raise self._exception
        if self.phase != st.SUCCEEDED:
            raise RuntimeError(f"run {self.name} is {self.phase}: {self.error or 'no outputs'}")
        if self._outputs is not _MISSING:
            return self._outputs
        if self._outputs_json is None or self._outputs_json.endswith("…"):
            raise RuntimeError(f"run {self.name}: its outputs were too large to keep in the run store")
        return _codec.loads(self._outputs_json)

    def actions(self) -> list[Action]:
        """Every action of the run, in the order they were created (see :meth:`iter_actions`
        for a page of a large run)."""
        return list(self.iter_actions())

    def action_counts(self) -> dict[str, int]:
        """How many of the run's actions are in each phase."""
        with st.reader() as conn:
            return st.action_counts(conn, self.name)

    def iter_actions(
        self,
        phases: Sequence[Any] | None = None,
        *,
        failed_first: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> Iterator[Action]:
        """The run's actions, streamed: only those in ``phases`` (recorded names or ``ActionPhase``
        members; all when None), in creation
        order, or with ``failed_first`` grouped by phase (failed, aborted, retrying, running,
        queued, succeeded) and in creation order within each; ``offset`` and ``limit`` page
        through that order. Memory stays bounded by one row, whatever the run's size."""
        if phases is not None:
            phases = recorded(phases)
        with st.snapshot() as conn:  # one state of a run that may still be writing
            if failed_first:
                counts = st.action_counts(conn, self.name)
                groups = [[p] for p in st.by_severity(counts) if phases is None or p in phases]
                sizes = [counts[g[0]] for g in groups]
            else:
                groups, sizes = [list(phases) if phases is not None else None], [None]
            left = limit
            for group, size in zip(groups, sizes, strict=True):
                if size is not None and offset >= size:
                    offset -= size
                    continue
                take = -1 if left is None else left  # SQLite: LIMIT -1 is no limit
                for row in st.action_rows(conn, self.name, group, take, offset):
                    yield _action(row, self.name)
                    if left is not None:
                        left -= 1
                if left is not None and left <= 0:
                    return
                offset = 0

    @syncify
    @classmethod
    def get(cls, name: str) -> Run:
        with st.reader() as conn:
            row = st.run_row(conn, name)
            if row is None:
                raise ActionNotFoundError(f"no run named {name!r} in {st.db_path()}")
            return _run(conn, row)

    @syncify
    @classmethod
    def listall(
        cls,
        limit: int = 100,
        task: str | None = None,
        in_phase: Sequence[Any] | None = None,
        *,
        task_name: str | None = None,
    ) -> Iterator[Run]:
        """The most recent runs first; only those in ``in_phase`` (``ActionPhase`` members or
        phase names, any case) and of task ``task`` (``task_name``, the reference SDK's name
        for it) when given."""
        if task_name is not None:
            if task is not None and task != task_name:
                raise ValueError(f"Run.listall: task={task!r} and task_name={task_name!r} differ (give one)")
            task = task_name
        with st.reader() as conn:
            if in_phase is None:
                runs = [_run(conn, row) for row in st.run_rows(conn, limit, task)]
            else:
                runs = _runs_in(conn, recorded(in_phase), limit, task)
        yield from runs


# The reference SDK's names of a run's and an action's full record (``RunDetails.get(name=)``,
# ``ActionDetails.get(run_name=, name=)``): here a Run and an Action are read whole already.
RunDetails = Run
ActionDetails = Action


@attrs.define
class Trigger:
    """A trigger ``flyte.deploy`` recorded on this machine; ``flyte.run(trigger, **inputs)``
    fires it (its task with its inputs, env vars and notifications; keyword inputs override)."""

    name: str
    task_name: str
    schedule: str  # "cron 0 2 * * * (UTC)", "every 10 min", or "manual" (fired on demand only)
    is_active: bool
    file: str = attrs.field(repr=False)
    deployed_at: float | None = None
    last_fired: float | None = None

    @property
    def is_manual(self) -> bool:
        """Whether nothing fires it on its own (it has no automation)."""
        from flyte.runtime.schedule import MANUAL

        return self.schedule == MANUAL

    @syncify
    @classmethod
    def get(cls, *, name: str, task_name: str) -> Trigger:
        """The deployed trigger ``name`` of the task ``task_name`` (``<environment>.<function>``)."""
        rows = st.trigger_rows(name, task_name)
        if not rows:
            known = [f"{r['name']} ({r['task']})" for r in st.trigger_rows(task=task_name) or st.trigger_rows()]
            raise ActionNotFoundError(
                f"no deployed trigger {name!r} of task {task_name!r} "
                f"(deployed: {', '.join(known) or 'none'}; flyte deploy records them)"
            )
        return _trigger(rows[0])

    @syncify
    @classmethod
    def listall(
        cls, task_name: str | None = None, task_version: str | None = None, limit: int = 100
    ) -> Iterator[Trigger]:
        """The deployed triggers (of ``task_name`` when given), by task then name; at most
        ``limit``. ``task_version`` is the reference SDK's: locally a task has one deployed version."""
        rows = st.trigger_rows(task=task_name)
        yield from (_trigger(row) for row in rows[:limit])


TriggerDetails = Trigger  # the reference SDK's name for what get() returns


def _trigger(row: dict[str, Any]) -> Trigger:
    return Trigger(
        name=row["name"],
        task_name=row["task"],
        schedule=row["schedule"] or "",
        is_active=bool(row["active"]),
        file=row["file"] or "",
        deployed_at=row["deployed_at"],
        last_fired=row["last_fired"],
    )


def _run(conn: Any, row: Any) -> Run:
    phase = st.effective_status(row)
    if phase == st.ABORTED and row["status"] != st.ABORTED:
        st.mark_aborted(conn, row["name"])
        row = st.run_row(conn, row["name"])
    return Run(
        name=row["name"],
        task=row["task"],
        phase=phase,
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        error=row["error"],
        outputs_json=row["outputs"],
        backend=row["backend"],
    )


def _runs_in(conn: Any, phases: list[str], limit: int, task: str | None) -> list[Run]:
    """Up to ``limit`` runs whose phase is in ``phases``. A run recorded as live whose process is
    gone reads as ABORTED, so live rows are read when ABORTED is asked for, and every row is
    checked again by the phase it reads as."""
    stored = [*phases, *((st.RUNNING, st.QUEUED, st.RETRYING) if st.ABORTED in phases else ())]
    runs: list[Run] = []
    offset, page = 0, max(limit, 50)
    while len(runs) < limit:
        rows = st.run_rows_in(conn, list(dict.fromkeys(stored)), page, offset, task)
        runs += [run for run in (_run(conn, row) for row in rows) if run.phase in phases]
        if len(rows) < page:
            break
        offset += page
    return runs[:limit]


def _action(row: Any, run_name: str) -> Action:
    return Action(
        id=row["id"],
        parent=row["parent"],
        task=row["task"],
        short_name=row["short_name"],
        phase=row["status"],
        attempts=row["attempts"],
        cache=row["cache"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        error=row["error"],
        report=row["report"] if row["report"] and Path(row["report"]).exists() else None,
        group=row["grp"],
        outputs=row["outputs"],
        worker=row["worker"],
        run_name=run_name,
    )


_AUTO_VERSIONS = ("latest", "current")


@attrs.frozen
class Task:
    """A deployed task (:meth:`get`): call it inside a task (``await task(x=1)``), pass it to a
    task as an input, or ``flyte.run`` it, as the task it names. Locally a deployment is a
    record, not uploaded code: the task is loaded from the file it was deployed from, and only
    if that file is byte for byte what was deployed (its sha256 is recorded). A process that
    already imported the file (the script that deployed it) uses that module, as any import
    would: an edit made since it imported the file is not read again."""

    name: str
    version: str
    _template: Any = attrs.field(repr=False, eq=False)

    @classmethod
    def get(
        cls,
        name: str,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
        auto_version: str | None = None,
    ) -> Task:
        """The deployed task ``name`` (``"<environment>.<function>"``) at ``version``, or with
        ``auto_version="latest"`` the one deployed last (``"current"``: the deployment of the
        code here). ``project``/``domain`` are the reference SDK's; locally
        every deployment is in this state root."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"Task.get: name={name!r} is not valid (accepted: a task name such as 'env.task')")
        if version is None and auto_version not in _AUTO_VERSIONS:
            raise ValueError(
                f"Task.get: auto_version={auto_version!r} is not valid without a version "
                "(accepted: 'latest' or 'current', or pass version=)"
            )
        rows = st.deployed_task_rows(name)
        if not rows:
            raise TaskNotFoundError(f"Task.get: no deployment of task {name!r} is recorded (flyte deploy --list)")
        if version is not None:
            rows = [r for r in rows if r["version"] == version]
            if not rows:
                known = ", ".join(r["version"] for r in st.deployed_task_rows(name))
                raise TaskNotFoundError(f"Task.get: task {name!r} has no version {version!r} (deployed: {known})")
        if auto_version == "current" and version is None:
            rows = [r for r in rows if _unchanged(r)]  # the deployment of the code here
            if not rows:
                raise TaskNotFoundError(f"Task.get: the code of task {name!r} here is not what was deployed")
        row = rows[0]
        if not _unchanged(row):
            raise TaskNotFoundError(
                f"Task.get: {row['file']} changed since task {name!r} version {row['version']} was deployed "
                "from it: deploy it again"
            )
        chosen, template = row["version"], _deployed_template(name, row["file"])
        return cls(name, chosen, template)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._template(*args, **kwargs)

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Call it from async code whatever its body is (``await task.aio(...)``)."""
        return self._template.aio(*args, **kwargs)

    def override(self, **changes: Any) -> Any:
        """The task with ``changes`` (as ``TaskTemplate.override``)."""
        return self._template.override(**changes)

    @property
    def template(self) -> Any:
        """The :class:`~flyte.TaskTemplate` it names."""
        return self._template

    def __reduce__(self) -> Any:  # pickled (a task input, a pool worker): found again by name and version
        return (_get_version, (self.name, self.version))


def _get_version(name: str, version: str) -> Task:
    return Task.get(name, version=version)


def _unchanged(row: Any) -> bool:
    """Whether the file a deployment was made from still holds the deployed code (same bytes)."""
    from flyte._deploy import file_digest

    file = row["file"]
    return bool(file) and row["file_digest"] is not None and file_digest(Path(file)) == row["file_digest"]


def _deployed_template(name: str, file: str | None) -> Any:
    """The task ``name`` defined in ``file``: the module already loaded from it (the script that
    deployed it, say), or the file loaded now."""
    import sys

    from flyte.task import TaskTemplate

    if not file or not Path(file).is_file():
        raise TaskNotFoundError(f"Task.get: the file task {name!r} was deployed from ({file!r}) is gone")
    modules = [m for m in list(sys.modules.values()) if _file_of(m) == file]
    if not modules:
        from flyte._loader import load_file

        modules = [load_file(file)]
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, TaskTemplate) and value.spec.name == name:
                return value
    raise TaskNotFoundError(f"Task.get: {file} no longer defines task {name!r}: deploy it again")


def _file_of(module: Any) -> str | None:
    file = getattr(module, "__file__", None)
    try:
        return str(Path(file).resolve()) if file else None
    except (OSError, TypeError):
        return None
