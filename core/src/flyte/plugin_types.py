"""The records plugins hand to the core through the hooks in :mod:`flyte.hookspecs`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
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
    awaits it. A plugin that runs the function elsewhere
    (other processes, a remote service) uses ``function``, ``inputs`` and ``environ`` instead.
    """

    spec: TaskSpec
    function: Callable[..., Any]
    inputs: Mapping[str, Any]
    environ: Mapping[str, str]
    invoke: Callable[[], Awaitable[Any]]
    action: str = ""


@attrs.frozen
class TaskPlugin:
    """What a plugin contributes for one ``plugin_config`` type.

    ``run(call)`` is awaited for every attempt of a task with that config, beneath the core's
    retries, timeouts, cache and records; None means the function runs in-process like a plain
    task. ``render(spec, context)`` returns the Kubernetes objects (plain dicts) for the task;
    the first is the one the Kubernetes backend creates and follows. ``phase(status)`` reads
    that object's ``status`` and returns ``"SUCCEEDED"``, ``"FAILED"`` or None while it runs;
    None means the common convention (``conditions`` of type Succeeded/Complete/Failed).
    """

    config_type: type
    run: Callable[[TaskCall], Awaitable[Any]] | None = None
    render: Callable[[TaskSpec, Any], list[dict[str, Any]]] | None = None
    phase: Callable[[dict[str, Any]], str | None] | None = None
    description: str = ""


@attrs.frozen
class Connector:
    """A service that runs a task's work outside flyte; all three callables are async.

    ``create(spec, inputs)`` starts the work and returns a JSON-able handle, ``get(handle)``
    returns ``(done, outputs_or_None)``, ``delete(handle)`` cancels it.
    """

    config_type: type
    create: Callable[[TaskSpec, Mapping[str, Any]], Awaitable[Any]]
    get: Callable[[Any], Awaitable[tuple[bool, Any]]]
    delete: Callable[[Any], Awaitable[None]]
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
    - ``formats``: the storage formats ``write``/``read`` accept; the first is the default.
    """

    python_type: type | str
    write: Callable[[Any, str, str], None]
    read: Callable[[str, str], Any]
    iter: Callable[[str, str], Iterator[Any]] | None = None
    tracker: Callable[[Any], Callable[[Any], bool]] | None = None
    formats: tuple[str, ...] = ("parquet",)
    description: str = ""

    @property
    def type_path(self) -> str:
        """``"module:Qualname"`` of the handled class."""
        t = self.python_type
        return t if isinstance(t, str) else f"{t.__module__}:{t.__qualname__}"
