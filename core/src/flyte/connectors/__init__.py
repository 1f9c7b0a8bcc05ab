"""``flyte.connectors``: the reference SDK's connector-authoring API, run by flyte's connector runtime.

A connector written for the reference SDK runs here unchanged::

    @dataclass
    class JobMetadata(ResourceMeta):
        job_id: str

    class JobConnector(AsyncConnector):
        name = "Job Connector"
        task_type_name = "job"
        metadata_type = JobMetadata

        async def create(self, task_template, inputs=None, **kwargs) -> JobMetadata: ...
        async def get(self, resource_meta, **kwargs) -> Resource: ...
        async def delete(self, resource_meta, **kwargs): ...

    ConnectorRegistry.register(JobConnector())

and so does its task, a ``flyte.extend.TaskTemplate`` subclass with
:class:`AsyncConnectorExecutorMixin`. flyte's connector runtime follows the work: polling with
backoff, retries, timeouts, the cache, run records, ``delete`` on every abort path and from
``flyte runs cancel``, secrets by key, and the connector's logs in the task's log. See
``docs/writing-a-plugin.md`` ("Porting a connector written for the reference SDK").
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it, loaded on first access (PEP 562): the core plugin's connector
# record imports this package's light modules when plugins load, not the task classes.
_EXPORTS = {
    "AsyncConnector": "flyte.connectors._registry",
    "ConnectorRegistry": "flyte.connectors._registry",
    "Resource": "flyte.connectors._registry",
    "ResourceMeta": "flyte.connectors._registry",
    "AsyncConnectorExecutorMixin": "flyte.connectors._task",
    "ConnectorNotFoundError": "flyte.errors",
}
# The reference SDK's name for the error.
_ALIASES = {"FlyteConnectorNotFound": "ConnectorNotFoundError"}

__all__ = sorted([*_EXPORTS, *_ALIASES])


def __getattr__(name: str) -> Any:
    target = _ALIASES.get(name, name)
    module = _EXPORTS.get(target)
    if module is None:
        raise AttributeError(f"module 'flyte.connectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), target)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
