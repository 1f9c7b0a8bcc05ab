"""The ``plugin_config`` of a task written with ``flyte.extend.TaskTemplate``: which registered
``AsyncConnector`` does its work, and what the task tells it. Kept apart from the authoring
classes so the core plugin can name the type without importing them."""

from __future__ import annotations

from typing import Any

import attrs

from flyte.frozen import FrozenDict, freeze


def _task_type(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"task_type: {value!r} is not accepted (the task_type_name of a registered AsyncConnector, "
            "e.g. 'batch_job')"
        )
    return value


def _version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"task_type_version: {value!r} is not accepted (an int >= 0, 0 by default)")
    return value


@attrs.frozen
class ConnectorTaskType:
    """``task_type`` and ``task_type_version`` pick the connector (``ConnectorRegistry``);
    ``outputs`` are the names the task declares (the connector's ``Resource.outputs`` must have
    exactly these); ``custom`` is what the task's ``custom_config(sctx)`` returned (JSON-able
    data, handed to the connector as ``task_template.custom``)."""

    task_type: str = attrs.field(converter=_task_type)
    task_type_version: int = attrs.field(default=0, converter=_version)
    outputs: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    custom: FrozenDict = attrs.field(factory=FrozenDict, converter=freeze)
