"""The entry point: declares the connector (its module imports only the standard library)."""

from __future__ import annotations

from flyte.extend import Connector, PollPolicy, hookimpl
from flyte_batch_job import connector
from flyte_batch_job.config import BatchJobConfig


@hookimpl
def flyte_connectors() -> list[Connector]:
    return [
        Connector(
            config_type=BatchJobConfig,
            create=connector.create,
            get=connector.get,
            delete=connector.delete,
            transient=(connector.ServiceUnavailable,),
            poll=PollPolicy(first=0.05, factor=1.5, max_interval=2.0),
            description="jobs on a batch service over HTTP",
        )
    ]
