"""What users write: the connector's config type and the task constructor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from flyte.extend import ConnectorTask


def _endpoint(value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"BatchJobConfig.endpoint: {value!r} is not accepted (an http(s) URL, e.g. http://127.0.0.1:8080)"
        )
    return value.rstrip("/")


def _queue(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"BatchJobConfig.queue: {value!r} is not accepted (a non-empty queue name)")
    return value


@attrs.frozen
class BatchJobConfig:
    """Where and how jobs run: the service's ``endpoint``, its ``queue``, and the key of the
    ``flyte.Secret`` holding the service's API token (``token_secret``)."""

    endpoint: str = attrs.field(converter=_endpoint)
    queue: str = attrs.field(default="default", converter=_queue)
    token_secret: str = "batch-token"


class BatchJobTask(ConnectorTask):
    """A task whose work is a batch job: its inputs are the job's payload; its result is what
    the job returns (a dict)."""

    def __init__(
        self, name: str, plugin_config: BatchJobConfig, inputs: Mapping[str, Any] | None = None, **settings: Any
    ):
        if not isinstance(plugin_config, BatchJobConfig):
            raise TypeError(f"BatchJobTask: plugin_config must be a BatchJobConfig, not {type(plugin_config).__name__}")
        super().__init__(
            name, plugin_config, inputs=inputs, output_type=dict, secrets=[plugin_config.token_secret], **settings
        )
