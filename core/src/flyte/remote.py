"""Runs and deployed triggers as records: read what the run store holds, from any process.

``Run.get(name)`` and ``Run.listall()`` read the local run store (``<state root>/runs.db``); a
run still marked running whose process is gone shows as ``ABORTED``. ``flyte.run(...)``
returns the same type for the run it just executed, with its outputs in memory.
``run.outputs()`` is an :class:`ActionOutputs`, the reference SDK's tuple of outputs.
``Trigger.get(name=, task_name=)`` and ``Trigger.listall(task_name=)`` read the triggers
``flyte.deploy`` recorded; ``flyte.run(trigger, **overrides)`` fires one. ``Task.get(name,
auto_version="latest")`` is a task ``flyte.deploy`` recorded, to call from a task or pass to one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from flyte import _codec
from flyte._home import state_root
from flyte._outputs import ActionOutputs, action_outputs
from flyte._phase import Phase, recorded
from flyte.errors import ActionNotFoundError, TaskNotFoundError
from flyte.runtime import store as st

_MISSING: Any = object()


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
    def done(self) -> bool:
        return self.phase.is_terminal

    @classmethod
    def listall(cls, for_run_name: str, in_phase: Sequence[Any] | None = None) -> Iterator[Action]:
        """The actions of run ``for_run_name`` in creation order, only those in ``in_phase``
        (``ActionPhase`` members or phase names, any case) when given."""
        yield from Run.get(for_run_name).iter_actions(in_phase)

    @classmethod
    def get(cls, run_name: str, name: str) -> Action:
        """Action ``name`` (its id) of run ``run_name``."""
        for action in Run.get(run_name).iter_actions():
            if action.id == name:
                return action
        raise ActionNotFoundError(f"run {run_name} has no action {name!r}")

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


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
        return (state_root() / "runs" / self.name / "index.html").as_uri()

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
    def done(self) -> bool:
        return self.phase in st.TERMINAL

    def abort(self, reason: str = "Manually aborted from the SDK api.") -> None:
        """Ask the run to stop, for ``reason`` (also what ``flyte abort run NAME`` does). The
        process running it sees the request within about a second (following its object on
        Kubernetes, within a 10 s watch window) and stops it as a cancel does: its tasks are
        cancelled, it is recorded ABORTED with the reason, and its ``flyte.run`` raises
        ``ActionAbortedError``. Returns at once: :meth:`wait` waits for the end. A run that
        has ended stays as it ended."""
        from flyte.runtime import aborts

        self.phase = aborts.request(self.name, reason)

    def wait(
        self, timeout: float | None = None, poll: float = 0.2, quiet: bool = False, wait_for: str = "terminal"
    ) -> Run:
        """Wait until the run has ended (local runs end before ``flyte.run`` returns).

        ``quiet`` and ``wait_for`` are the reference SDK's; the local wait prints nothing and
        always waits for the end.
        """
        start = time.monotonic()
        while not self.done:
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"run {self.name} did not finish within {timeout}s")
            time.sleep(poll)
            fresh = Run.get(self.name)
            self.phase, self.ended_at, self.error = fresh.phase, fresh.ended_at, fresh.error
            self._outputs_json = fresh._outputs_json
        return self

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
                    yield _action(row, self.phase)
                    if left is not None:
                        left -= 1
                if left is not None and left <= 0:
                    return
                offset = 0

    @classmethod
    def get(cls, name: str) -> Run:
        with st.reader() as conn:
            row = st.run_row(conn, name)
            if row is None:
                raise ActionNotFoundError(f"no run named {name!r} in {st.db_path()}")
            return _run(conn, row)

    @classmethod
    def listall(cls, limit: int = 100, task: str | None = None, in_phase: Sequence[Any] | None = None) -> Iterator[Run]:
        """The most recent runs first; only those in ``in_phase`` (``ActionPhase`` members or
        phase names, any case) when given."""
        with st.reader() as conn:
            if in_phase is None:
                runs = [_run(conn, row) for row in st.run_rows(conn, limit, task)]
            else:
                runs = _runs_in(conn, recorded(in_phase), limit, task)
        yield from runs


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

    @classmethod
    def listall(
        cls, task_name: str | None = None, task_version: str | None = None, limit: int = 100
    ) -> Iterator[Trigger]:
        """The deployed triggers (of ``task_name`` when given), by task then name; at most
        ``limit``. ``task_version`` is the reference SDK's: locally a task has one deployed version."""
        rows = st.trigger_rows(task=task_name)
        yield from (_trigger(row) for row in rows[:limit])


async def _listall_aio(
    task_name: str | None = None, task_version: str | None = None, limit: int = 100
) -> AsyncIterator[Trigger]:
    """``async for trigger in Trigger.listall.aio(...)``, as with the reference SDK."""
    for trigger in Trigger.listall(task_name, task_version, limit):
        yield trigger


async def _get_aio(*, name: str, task_name: str) -> Trigger:
    return Trigger.get(name=name, task_name=task_name)


Trigger.listall.__func__.aio = _listall_aio  # type: ignore[attr-defined]
Trigger.get.__func__.aio = _get_aio  # type: ignore[attr-defined]
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


def _action(row: Any, run_phase: str) -> Action:
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
        run_name=row["run"] if "run" in row.keys() else None,  # noqa: SIM118 (a Row's `in` reads values)
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
