"""How the core plugin's one :class:`~flyte.plugin_types.Connector` record
(:mod:`flyte._builtin.plugin`) runs every reference-SDK connector: its
``create``/``get``/``delete`` find the ``AsyncConnector`` registered for the task's type and
translate between the two shapes, so polling, retries, timeouts, records, cancellation and
``flyte runs cancel`` are the connector runtime's, as for any connector.

- ``create`` calls ``connector.create(task_template=..., output_prefix=..., inputs=..., **secrets)``
  and keeps the encoded ``ResourceMeta``, with the connector's module, as the work's metadata.
- ``get`` decodes it, calls ``connector.get(resource_meta=..., **secrets)`` and reads the
  ``Resource``: its phase (RETRYABLE_FAILED is a failure the task's retries apply to; a value that
  is not a phase fails the attempt), log links, and outputs by the task's declared names. When
  the work has ended, the connector's ``get_logs`` pages are copied into the task's log.
- ``delete`` calls ``connector.delete(resource_meta=..., **secrets)``.
"""

from __future__ import annotations

import base64
import inspect
import logging
import sys
from collections.abc import Mapping
from typing import Any

from flyte.connectors import _idl
from flyte.connectors._config import ConnectorTaskType
from flyte.connectors._registry import AsyncConnector, Resource, ResourceMeta, find, has_logs
from flyte.errors import ConfigurationError, OutputTypeError, PermanentConnectorError
from flyte.plugin_types import SUCCEEDED, TERMINAL_PHASES, ConnectorContext, ConnectorStatus

logger = logging.getLogger("flyte.connectors")

# The keyword arguments flyte passes itself; a secret key may not take one of these names.
RESERVED = ("task_template", "output_prefix", "inputs", "resource_meta", "token", "task_execution_metadata")
MAX_LOG_PAGES = 1000  # a get_logs that hands back tokens forever is stopped here


# -- the work's metadata: the encoded ResourceMeta and where its connector comes from ----------


def _metadata(connector: AsyncConnector[Any], meta: ResourceMeta) -> dict[str, Any]:
    data = meta.encode()
    module = type(connector).__module__
    file = getattr(sys.modules.get(module), "__file__", None)
    try:
        encoded: dict[str, str] = {"resource_meta": data.decode("utf-8")}
    except UnicodeDecodeError:  # an author's encode() may return any bytes
        encoded = {"resource_meta_base64": base64.b64encode(data).decode("ascii")}
    return {"connector": f"{module}:{type(connector).__qualname__}", "file": file, **encoded}


def _connector(config: ConnectorTaskType, metadata: Mapping[str, Any] | None = None) -> AsyncConnector[Any]:
    module = file = None
    if metadata is not None:
        module = str(metadata.get("connector", "")).partition(":")[0] or None
        file = metadata.get("file")
    return find(config.task_type, config.task_type_version, module, file)


def _resource_meta(connector: AsyncConnector[Any], metadata: Mapping[str, Any]) -> Any:
    if "resource_meta" in metadata:
        data = str(metadata["resource_meta"]).encode("utf-8")
    else:
        data = base64.b64decode(metadata["resource_meta_base64"])
    return connector.metadata_type.decode(data)


def _secrets(context: ConnectorContext) -> dict[str, str]:
    clash = [key for key in context.secrets if key in RESERVED]
    if clash:
        raise ConfigurationError(
            f"{context.spec.name}: secret key {clash[0]!r} is not accepted for a reference-SDK connector "
            f"(its secrets are passed as keyword arguments by key; not one of: {', '.join(RESERVED)})"
        )
    return dict(context.secrets)


def _label(connector: AsyncConnector[Any], config: ConnectorTaskType) -> str:
    return f"connector {connector.name!r} (task type {config.task_type!r})"


# -- create / get / delete -------------------------------------------------------------------


async def create(context: ConnectorContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
    config: ConnectorTaskType = context.config
    connector = _connector(config)
    secrets = _secrets(context)
    meta = await connector.create(
        task_template=task_template(context.spec.name, config),
        output_prefix=_output_prefix(context),
        inputs=dict(inputs),
        **secrets,
    )
    if not isinstance(meta, connector.metadata_type):
        raise TypeError(
            f"{_label(connector, config)}: create() returned {meta!r}, not accepted (an instance of its "
            f"metadata_type, {connector.metadata_type.__name__})"
        )
    return _metadata(connector, meta)


async def get(context: ConnectorContext, metadata: Mapping[str, Any]) -> ConnectorStatus:
    config: ConnectorTaskType = context.config
    connector = _connector(config, metadata)
    meta = _resource_meta(connector, metadata)
    resource = await connector.get(resource_meta=meta, **_secrets(context))
    if not isinstance(resource, Resource) and not hasattr(resource, "phase"):
        raise TypeError(f"{_label(connector, config)}: get() returned {resource!r}, not a flyte.connectors.Resource")
    phase = _idl.runtime_phase(resource.phase)
    if phase is None:
        raise PermanentConnectorError(
            f"{_label(connector, config)}: get() returned Resource(phase={resource.phase!r}), which is not a "
            f"phase it may report (accepted: flyteidl2 TaskExecution phases, as the enum number or name: "
            f"{_idl.ACCEPTED_PHASES})"
        )
    name, retryable = phase
    if name in TERMINAL_PHASES and has_logs(connector):
        await copy_logs(connector, meta)
    return ConnectorStatus(
        phase=name,
        message=resource.message or "",
        retryable=retryable,
        log_links=_idl.log_links(resource.log_links),
        outputs=_outputs(context, config, resource.outputs) if name == SUCCEEDED else None,
    )


async def delete(context: ConnectorContext, metadata: Mapping[str, Any]) -> None:
    config: ConnectorTaskType = context.config
    connector = _connector(config, metadata)
    await connector.delete(resource_meta=_resource_meta(connector, metadata), **_secrets(context))


# -- what the connector receives and gives back ----------------------------------------------


def _output_prefix(context: ConnectorContext) -> str:
    from flyte.storage._paths import storage_root

    run = context.action.partition("/")[0]
    return f"{storage_root()}/{run}/data" if run else f"{storage_root()}/data"


def _outputs(context: ConnectorContext, config: ConnectorTaskType, outputs: Any) -> Any:
    declared = config.outputs
    given = {} if outputs is None else outputs
    if not isinstance(given, Mapping) or set(given) != set(declared):
        shown = list(given) if isinstance(given, Mapping) else repr(given)
        raise OutputTypeError(
            f"{context.spec.name}: the connector's Resource.outputs has {shown or 'no outputs'}, but the task "
            f"declares {list(declared) or 'none'} (a dict of output name -> value, with exactly those names)",
            task=context.spec.name,
            expected=f"outputs {list(declared)}",
        )
    if not declared:
        return None
    if len(declared) == 1:
        return given[declared[0]]
    return tuple(given[name] for name in declared)


def task_template(name: str, config: ConnectorTaskType) -> Any:
    """What ``create`` receives as ``task_template``: flyteidl2's ``TaskTemplate`` when flyteidl2
    is installed (authors read ``json_format.MessageToDict(task_template.custom)``), else an
    object with the same fields flyte fills (``id.name``, ``type``, ``task_type_version``,
    ``custom`` as a dict)."""
    custom = _plain(config.custom)
    try:
        from flyteidl2.core import tasks_pb2
        from google.protobuf import struct_pb2
    except ImportError:
        return TaskTemplateView(name, config.task_type, config.task_type_version, custom)
    struct = struct_pb2.Struct()
    struct.update(custom)
    template = tasks_pb2.TaskTemplate(type=config.task_type, task_type_version=config.task_type_version, custom=struct)
    template.id.name = name
    return template


class _Identifier:
    def __init__(self, name: str):
        self.name = name


class TaskTemplateView:
    """The parts of a flyteidl2 ``TaskTemplate`` a connector reads, without flyteidl2."""

    def __init__(self, name: str, task_type: str, task_type_version: int, custom: dict[str, Any]):
        self.id = _Identifier(name)
        self.type = task_type
        self.task_type_version = task_type_version
        self.custom = custom

    def __repr__(self) -> str:
        return f"TaskTemplateView(name={self.id.name!r}, type={self.type!r}, custom={self.custom!r})"


def _plain(value: Any) -> Any:
    from flyte.frozen import thaw

    return thaw(value)


# -- logs ------------------------------------------------------------------------------------


async def copy_logs(connector: AsyncConnector[Any], meta: Any) -> None:
    """Copy every page of the connector's log into the task's log (masked as it is written);
    a connector whose logs cannot be read leaves a note there, never a failed task."""
    from flyte.runtime import logs

    log = logs.current()

    def write(line: str) -> None:
        if log is not None:
            log.write(line + "\n")
        else:
            logger.info("%s", line)

    token, seen = "", set()
    try:
        for _ in range(MAX_LOG_PAGES):
            seen.add(token)
            next_token = ""
            async for response in _log_responses(connector, meta, token):
                lines, page_token = _idl.log_page(response)
                for line in lines:
                    write(line)
                next_token = page_token or next_token
            if not next_token or next_token in seen:
                return
            token = next_token
    except Exception as exc:
        write(f"flyte: could not read the logs of connector {connector.name!r}: {type(exc).__name__}: {exc}")


async def _log_responses(connector: AsyncConnector[Any], meta: Any, token: str) -> Any:
    result = connector.get_logs(resource_meta=meta, token=token)
    if inspect.isasyncgen(result):
        async for response in result:
            yield response
    elif inspect.isawaitable(result):
        yield await result
    else:
        raise TypeError(f"get_logs() returned {result!r} (accepted: an async generator or an async def's result)")
