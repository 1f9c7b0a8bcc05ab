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

from flyte.connectors._registry import AsyncConnector, ConnectorRegistry, Resource, ResourceMeta
from flyte.connectors._task import AsyncConnectorExecutorMixin
from flyte.errors import ConnectorNotFoundError

# The reference SDK's name for the error.
FlyteConnectorNotFound = ConnectorNotFoundError

__all__ = [
    "AsyncConnector",
    "AsyncConnectorExecutorMixin",
    "ConnectorNotFoundError",
    "ConnectorRegistry",
    "FlyteConnectorNotFound",
    "Resource",
    "ResourceMeta",
]
