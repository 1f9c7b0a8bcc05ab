"""The public module for plugin and connector authors: everything a plugin may import.

A plugin (a ``plugin_config`` type with how it runs and renders), a connector, or a CLI
extension needs nothing from flyte beyond what this module re-exports; the in-tree plugins
(Ray, PyTorch, Spark, Dask, the connectors) import only from here, so the boundary a
third-party author sees is the one we use. Names here are stable API; everything else under
``flyte`` that starts with ``_`` or is not listed in ``flyte.__all__`` may change.

- Hooks: :data:`hookimpl` marks your implementations of the specs in :mod:`flyte.hookspecs`.
- Records: :class:`TaskPlugin` (what your config type does), :class:`TaskCall` (one attempt
  as your runner receives it), :class:`DataFrameHandler` (how a dataframe type is stored and
  read back; :func:`require_columns` for its ``select``).
- Task context: what a runner puts into ``TaskCall.data`` before ``invoke()`` (an engine
  handle, say) the task reads as ``flyte.ctx().data[key]``.
- Data: :mod:`storage` (``flyte.storage``: reading and writing the run's storage, all or
  nothing) and :mod:`io` (``flyte.io``: ``DataFrame``, ``File``, ``Dir``).
- Connectors: :class:`Connector` (``create``/``get``/``delete`` for your config type),
  :class:`ConnectorContext` (the task and its secrets, as those receive it),
  :class:`ConnectorStatus` and :class:`LogLink` (what ``get`` reports), :class:`PollPolicy`,
  :class:`ConnectorTask` (the task object users create, e.g. through your own constructor;
  :func:`declared_io` checks its ``inputs`` and output type before your constructor reads them),
  and the errors :class:`ConnectorError`, :class:`PermanentConnectorError`,
  :class:`ConnectorTransientError`. See ``docs/writing-a-connector.md``.
- Connectors written for the reference SDK: :class:`TaskTemplate` (its task declared by name,
  ``NativeInterface`` and ``task_type``, with ``flyte.connectors.AsyncConnectorExecutorMixin``);
  the connector itself uses :mod:`flyte.connectors`.
- Rendering: :class:`RenderContext` (settings plus builders for the task's container, pod
  spec, metadata, labels, entrypoint command and object name), :class:`RenderSettings`,
  :func:`resource_quantities`.
- Values: :class:`TaskSpec`, :func:`parse_quantity`, :func:`number_to_quantity`, and
  :func:`register_type_check` for a type whose inputs and outputs need a rule of their own (a
  dataframe type accepting the frames it wraps) instead of ``isinstance``. For config types,
  :class:`FrozenDict`, :func:`freeze` and :func:`thaw` (a config is deeply immutable and
  hashable: accept dicts, store them frozen, thaw them to render).
- Engines: :class:`SharedEngine` shares a process-wide engine (a Ray runtime, a Spark
  session, a Dask cluster) between tasks and keeps it warm for reusable environments
  (:func:`keep_warm_for`), the same way for every plugin: a reusable environment's task runs
  in a worker of its pool, so the engine stays warm in that worker.
- Local state: :func:`state_path` is a private folder under the state root (``FLYTE_HOME``,
  ``~/.flyte`` by default) for a plugin's local caches, e.g. ``state_path("spark", "jars")``.
- Running on a cluster: :mod:`entrypoint` is the container entrypoint of rendered objects
  (``entrypoint.main(["--module", M, "--task", T])``), for operators that must start it from
  a file of their own (spark-submit's application file).
- Running elsewhere: :mod:`shipping` (send a call to another Python process and bring its
  outcome back, exceptions included) and :mod:`process_groups` (stop the process groups a
  runner started, and have them die with the flyte process).
- Secrets: :mod:`redact` masks the task's secret values in text (``redact.redact(text)``;
  ``redact.remember(value)`` adds one, ``redact.known()`` says whether any is). What a task
  prints through the attempt is masked already; a plugin whose engine starts processes the
  attempt does not capture (e.g. Dask's local workers) masks their output with it.
- Warnings: :func:`warn_at_definition` shows a warning about a task at its definition (the
  user's ``def`` line), not at the plugin's code.
- Errors a plugin raises or handles: :class:`IgnoreOutputs` and the :mod:`flyte.errors`
  hierarchy re-exported below.

See ``docs/writing-a-plugin.md`` for a walk-through.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> module that defines it. Loaded on first access (PEP 562), so a plugin's entry-point
# module can import hookimpl and its records without pulling in rendering or pickling code.
_EXPORTS = {
    "shipping": "flyte.shipping",
    "redact": "flyte.runtime.redact",
    "process_groups": "flyte.process_groups",
    "entrypoint": "flyte.entrypoint",
    "number_to_quantity": "flyte._quantity",
    "parse_quantity": "flyte._quantity",
    "register_type_check": "flyte._typecheck",
    "ConfigurationError": "flyte.errors",
    "FlyteError": "flyte.errors",
    "IgnoreOutputs": "flyte.errors",
    "PluginConfigurationError": "flyte.errors",
    "RuntimeSystemError": "flyte.errors",
    "RuntimeUserError": "flyte.errors",
    "TaskInterruptedError": "flyte.errors",
    "hookimpl": "flyte.hookspecs",
    "ConnectorError": "flyte.errors",
    "ConnectorTransientError": "flyte.errors",
    "PermanentConnectorError": "flyte.errors",
    "Connector": "flyte.plugin_types",
    "ConnectorContext": "flyte.plugin_types",
    "ConnectorStatus": "flyte.plugin_types",
    "LogLink": "flyte.plugin_types",
    "PollPolicy": "flyte.plugin_types",
    "ConnectorTask": "flyte.connector_task",
    "declared_io": "flyte.connector_task",
    "TaskTemplate": "flyte.connectors._task",
    "TaskCall": "flyte.plugin_types",
    "TaskPlugin": "flyte.plugin_types",
    "DataFrameHandler": "flyte.plugin_types",
    "require_columns": "flyte.plugin_types",
    "storage": "flyte.storage",
    "io": "flyte.io",
    "RenderContext": "flyte.render.context",
    "RenderSettings": "flyte.render.context",
    "resource_quantities": "flyte.render.pod",
    "TaskSpec": "flyte.spec",
    "FrozenDict": "flyte.frozen",
    "freeze": "flyte.frozen",
    "thaw": "flyte.frozen",
    "SharedEngine": "flyte.runtime.engines",
    "keep_warm_for": "flyte.runtime.engines",
    "state_path": "flyte._home",
    "warn_at_definition": "flyte._validation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flyte.extend' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if module.endswith(f".{name}") else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    pass
