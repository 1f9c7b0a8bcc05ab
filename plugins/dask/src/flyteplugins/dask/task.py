"""The Dask plugin's configuration: ``Dask``, ``Scheduler``, ``WorkerGroup``.

Frozen value objects validated when they are created (so a bad value fails where the
environment is defined, not when the task runs); importing them does not import Dask.
"""

from __future__ import annotations

from typing import Any

import attrs

from flyte import Resources
from flyte.extend import ConfigurationError


def _image(param: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise TypeError(f"{param}: expected an image name such as 'ghcr.io/org/dask:2026.8' or None, got {value!r}")
        if not value.strip() or any(c.isspace() for c in value):
            raise ConfigurationError(
                f"{param}: {value!r} is not an image name (accepted: a name such as 'ghcr.io/org/dask:2026.8', "
                "or None for the task's image)"
            )

    return check


def _resources(param: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, Resources):
            raise TypeError(f"{param}: expected a flyte.Resources or None (the task's resources), got {value!r}")

    return check


def _worker_count(_instance: Any, _attribute: Any, value: Any) -> None:
    # The reference renders None as `"workers": {}`, which the operator reads as 0 replicas.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"WorkerGroup.number_of_workers: {value!r} is not a worker count (accepted: an int >= 1; "
            "leave it out for 1 worker)"
        )


@attrs.frozen
class Scheduler:
    """The Dask scheduler: its image and resources on Kubernetes (``None``: the task's).

    Locally the scheduler runs inside the task's process, so neither applies there.
    """

    image: str | None = attrs.field(default=None, validator=_image("Scheduler.image"))
    resources: Resources | None = attrs.field(default=None, validator=_resources("Scheduler.resources"))


@attrs.frozen
class WorkerGroup:
    """The Dask workers: how many, their image and their resources (``None``: the task's).

    Each worker gets threads from the CPU and a memory limit from the memory of ``resources``
    (limits, else requests), locally and in the rendered ``DaskJob`` alike.
    """

    number_of_workers: int = attrs.field(default=1, validator=_worker_count)
    image: str | None = attrs.field(default=None, validator=_image("WorkerGroup.image"))
    resources: Resources | None = attrs.field(default=None, validator=_resources("WorkerGroup.resources"))


def _instance_of(cls: type, param: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if not isinstance(value, cls):
            raise TypeError(f"{param}: expected a {cls.__name__}(...), got {value!r}")

    return check


@attrs.frozen
class Dask:
    """Run the task with a Dask cluster: locally a real ``distributed.LocalCluster`` of
    ``workers.number_of_workers`` worker processes; on Kubernetes a ``DaskJob``.

    Inside the task a plain ``distributed.Client()`` connects to that cluster, and
    ``dask.compute`` uses it with the default scheduler.
    """

    scheduler: Scheduler = attrs.field(factory=Scheduler, validator=_instance_of(Scheduler, "Dask.scheduler"))
    workers: WorkerGroup = attrs.field(factory=WorkerGroup, validator=_instance_of(WorkerGroup, "Dask.workers"))
