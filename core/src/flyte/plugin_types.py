"""The records plugins and connectors hand to the core through the hooks in :mod:`flyte.hookspecs`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from flyte.spec import TaskSpec


@attrs.frozen
class TaskCall:
    """One attempt of a task, as a plugin's ``run`` receives it.

    ``invoke()`` runs the task function in this process with the task's context (environment
    variables, secrets, nested task calls) and returns its result, with the dataframes in it
    already stored as ``flyte.io.DataFrame`` references (so an engine's frames are written
    while the engine is up); a plugin that only needs to set an engine up around the function
    awaits it. A plugin that runs the function elsewhere (other processes, a remote service)
    uses ``function``, ``inputs`` and ``environ`` instead.

    ``data`` is this attempt's task-context data: what a plugin puts in it before ``invoke()``
    (an engine handle, say) the task reads as ``flyte.ctx().data[key]`` (the reference SDK's
    spelling ``flyte._context.internal_ctx().data.task_context.data[key]`` works too).

    ``context`` is the :class:`flyte.TaskContext` the body sees as ``flyte.ctx()`` (action,
    attempt, run folders, custom context); a plugin that runs the body in other processes
    hands it to them (``flyte.clustered`` does).
    """

    spec: TaskSpec
    function: Callable[..., Any]
    inputs: Mapping[str, Any]
    # Its secrets' values among them: a plugin that prints or logs the call shows the names only.
    environ: Mapping[str, str] = attrs.field(repr=lambda environ: f"<{len(environ)} variables: {', '.join(environ)}>")
    invoke: Callable[[], Awaitable[Any]]
    action: str = ""
    data: dict[str, Any] = attrs.field(factory=dict)
    context: Any = None


@attrs.frozen
class TaskPlugin:
    """What a plugin contributes for one ``plugin_config`` type.

    ``run(call)`` is awaited for every attempt of a task with that config, beneath the core's
    retries, timeouts, cache and records; None means the function runs in-process like a plain
    task. ``render(spec, context)`` returns the Kubernetes objects (plain dicts) for the task;
    the first is the one the Kubernetes backend creates and follows; None means the task renders
    as a plain task does (a Job whose container runs the plugin). ``phase(status)`` reads
    that object's ``status`` and returns ``"SUCCEEDED"``, ``"FAILED"`` or None while it runs;
    None means the common convention (``conditions`` of type Succeeded/Complete/Failed).
    ``pods(obj)`` returns the label selector of the pods the operator makes for that object
    (what ``kubectl logs -l`` takes, shown with a cluster run's record); None: not known.
    ``check(spec)`` is called when such a task is defined (and overridden), with its resolved
    spec: it raises :class:`~flyte.errors.PluginConfigurationError` for settings the engine
    cannot run together (a reusable Ray task with two replicas); None: every spec is fine.
    """

    config_type: type
    run: Callable[[TaskCall], Awaitable[Any]] | None = None
    render: Callable[[TaskSpec, Any], list[dict[str, Any]]] | None = None
    phase: Callable[[dict[str, Any]], str | None] | None = None
    pods: Callable[[dict[str, Any]], str | None] | None = None
    description: str = ""
    check: Callable[[TaskSpec], None] | None = None


# -- connectors -------------------------------------------------------------------------------

# The phases a connector's ``get`` reports. Any other word is treated as still running (and
# warned about once per word), never as a failure: a service that adds a state must not fail
# every task that meets it.
QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
ABORTED = "ABORTED"
PHASES = (QUEUED, RUNNING, SUCCEEDED, FAILED, ABORTED)
TERMINAL_PHASES = (SUCCEEDED, FAILED, ABORTED)


def _seconds(param: str, *, minimum: float = 0.0) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, timedelta):
            value = value.total_seconds()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise ValueError(
                f"PollPolicy.{param}: {value!r} is not accepted (a number of seconds >= {minimum:g}, or a timedelta)"
            )
        return float(value)

    return convert


def _factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        raise ValueError(f"PollPolicy.factor: {value!r} is not accepted (a number >= 1)")
    return float(value)


def _jitter(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"PollPolicy.jitter: {value!r} is not accepted (a fraction from 0 to below 1, e.g. 0.2)")
    return float(value)


@attrs.frozen
class PollPolicy:
    """How the connector runtime follows remote work: the n-th ``get`` comes
    ``min(first * factor**n, max_interval)`` seconds after the previous one, each wait
    multiplied by a random factor in ``[1 - jitter, 1 + jitter]`` (so many tasks started
    together do not poll in step).

    ``outage``: how long ``get`` may keep failing with transient errors (the connector's
    ``transient`` exceptions) before the attempt fails; the task's timeout bounds it too.
    ``delete_timeout``: how long one ``delete`` may take when the work is abandoned.
    """

    first: float = attrs.field(default=0.2, converter=_seconds("first", minimum=0.001))
    factor: float = attrs.field(default=1.5, converter=_factor)
    max_interval: float = attrs.field(default=10.0, converter=_seconds("max_interval", minimum=0.001))
    jitter: float = attrs.field(default=0.2, converter=_jitter)
    outage: float = attrs.field(default=300.0, converter=_seconds("outage"))
    delete_timeout: float = attrs.field(default=30.0, converter=_seconds("delete_timeout", minimum=0.001))

    def interval(self, n: int, random: Callable[[], float]) -> float:
        """The wait before the ``n``-th poll (0-based); ``random()`` returns a float in [0, 1)."""
        base = min(self.first * self.factor ** min(n, 64), self.max_interval)
        return base * (1 - self.jitter + 2 * self.jitter * random())


@attrs.frozen
class LogLink:
    """Where a person can follow the remote work (a query's page in the service's console)."""

    name: str
    uri: str


def _links(value: Any) -> tuple[LogLink, ...]:
    if isinstance(value, Mapping):
        return tuple(LogLink(str(k), str(v)) for k, v in value.items())
    links = tuple(value or ())
    for link in links:
        if not isinstance(link, LogLink):
            raise TypeError(f"ConnectorStatus.log_links: {link!r} is not a LogLink (or pass a dict name -> uri)")
    return links


@attrs.frozen
class ConnectorStatus:
    """What a connector's ``get`` says about the remote work.

    ``phase``: one of ``QUEUED``, ``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``ABORTED`` (cancelled
    outside flyte); any other word counts as still running. ``message``: the service's own
    words (a failed query's error is what the user sees). ``retryable``: for ``FAILED``, whether
    another attempt could succeed (the task's ``retries`` then apply; otherwise it fails at
    once). ``log_links``: shown by ``flyte runs show``. ``outputs``: for ``SUCCEEDED``, the
    task's result (a ``flyte.io.DataFrame``, a table, a dict ...), as the task declares it.
    """

    phase: str
    message: str = ""
    retryable: bool = False
    log_links: tuple[LogLink, ...] = attrs.field(default=(), converter=_links)
    outputs: Any = None

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL_PHASES


@attrs.frozen
class ConnectorContext:
    """The task a connector works for, as ``create``, ``get`` and ``delete`` receive it.

    ``spec.plugin_config`` is the connector's own config (the query, the account ...);
    ``secrets`` maps each secret key the task declares to its value (never logged, never
    stored: use them to authenticate and keep them out of the metadata); ``action`` is
    ``run/action`` (for labels on the remote work), empty when a task is called outside a run.
    """

    spec: TaskSpec
    secrets: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    action: str = ""

    @property
    def config(self) -> Any:
        """The task's ``plugin_config``: the connector's config type."""
        return self.spec.plugin_config


@attrs.frozen
class Connector:
    """A service that does a task's work outside flyte: a warehouse query, a batch job.

    ``config_type``: the ``plugin_config`` type of the tasks it serves (routed by MRO).
    All three callables are async; run blocking client libraries off the event loop
    (``asyncio.to_thread``).

    - ``create(context, inputs)`` starts the work and returns its *metadata*: JSON-able data
      that names it (a query id). It is written to the run store at once, so the work can be
      followed or cancelled from another process; never put a secret in it.
    - ``get(context, metadata)`` returns a :class:`ConnectorStatus`.
    - ``delete(context, metadata)`` cancels the work. The runtime calls it at most once per
      piece of work, on a timeout, a cancellation, Ctrl-C, process exit or ``flyte runs
      cancel``; it must succeed when the work has already finished.

    ``transient``: exception types that, raised by ``get``, mean "ask again later" (a network
    blip) rather than a failure (``flyte.errors.ConnectorTransientError`` and ``ConnectionError``
    always do). ``poll``: how often ``get`` is called.
    """

    config_type: type
    create: Callable[[ConnectorContext, Mapping[str, Any]], Awaitable[Any]]
    get: Callable[[ConnectorContext, Any], Awaitable[ConnectorStatus]]
    delete: Callable[[ConnectorContext, Any], Awaitable[None]]
    transient: tuple[type[BaseException], ...] = attrs.field(default=(), converter=tuple)
    poll: PollPolicy = attrs.field(factory=PollPolicy)
    description: str = ""


@attrs.frozen
class DataFrameHandler:
    """How one dataframe type is stored and read back (``flyte_dataframe_handlers`` hook).

    - ``python_type``: the dataframe class, or its import path ``"package.module:Class"`` so the
      hook need not import the engine; it is resolved only once that package is imported.
    - ``write(value, uri, format)``: store ``value`` at ``uri`` (a fresh location nobody else
      writes) as one file or a folder of files, all or nothing (``flyte.storage.open_sync(uri,
      "wb")`` is all-or-nothing; a folder is complete when the handler returns).
    - ``read(uri, format)``: the whole dataset at ``uri`` as this type; ``uri`` may be one file or
      a folder of files (written by any handler, e.g. Spark's part files).
    - ``iter(uri, format)``: the dataset in chunks of this type, holding one chunk at a time
      (None: one chunk, from ``read``).
    - ``tracker(value)``: returns a predicate that tells whether ``value`` is still unchanged, so a
      value passed on from one task to the next is not stored twice (None: store every time).
    - ``select(value, columns)``: ``value`` with only ``columns`` (names, in that order), for a
      type declared with its columns (``Annotated[pd.DataFrame, {"a": int}]``, or
      ``Annotated[flyte.io.DataFrame, ...]`` opened as this type); a name ``value`` lacks is a
      ``ValueError`` naming it and the columns there are (None: such a declaration cannot be
      read as this type, and says so).
    - ``formats``: the storage formats ``write``/``read`` accept; the first is the default.
    - ``engine_bound``: values of this type live in an engine that a task plugin runs around the
      body (a Spark session). They cross the task boundary inside the body's ``invoke()``,
      while the plugin's engine is up: inputs are read as this type just before the body runs,
      outputs stored just after it returns. Anywhere else (the caller's side, a run's outputs)
      they stay ``flyte.io.DataFrame`` references.
    """

    python_type: type | str
    write: Callable[[Any, str, str], None]
    read: Callable[[str, str], Any]
    iter: Callable[[str, str], Iterator[Any]] | None = None
    tracker: Callable[[Any], Callable[[Any], bool]] | None = None
    formats: tuple[str, ...] = ("parquet",)
    select: Callable[[Any, tuple[str, ...]], Any] | None = None
    description: str = ""
    engine_bound: bool = False

    @property
    def type_path(self) -> str:
        """``"module:Qualname"`` of the handled class."""
        t = self.python_type
        return t if isinstance(t, str) else f"{t.__module__}:{t.__qualname__}"


def require_columns(available: Iterable[str], columns: Iterable[str]) -> None:
    """For a handler's ``select``: a ``ValueError`` when a declared column is not in the data,
    naming the missing ones and the columns there are."""
    have = [str(c) for c in available]
    missing = [c for c in columns if c not in have]
    if missing:
        there = ", ".join(have) or "none"
        raise ValueError(f"declared column(s) {', '.join(map(repr, missing))} not in the data (its columns: {there})")
