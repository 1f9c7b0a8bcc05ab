"""``TaskSpec``: everything resolved about a task, as one frozen record.

The three configuration levels (environment, decorator, override) merge into a ``TaskSpec``;
it is the one thing the runtime, the renderers and the plugins read. ``to_dict()`` gives plain
JSON-able data and ``TaskSpec.from_dict()`` rebuilds an equal spec (see
:mod:`flyte._converter`).
"""

from __future__ import annotations

from typing import Any

import attrs

from flyte._cache import Cache
from flyte.docs import Documentation
from flyte.frozen import FrozenDict
from flyte.image import Image
from flyte.interface import Interface
from flyte.pod_template import PodTemplate
from flyte.resources import Resources
from flyte.retry import RetryStrategy
from flyte.reuse import ReusePolicy
from flyte.secret import Secret
from flyte.timeout import Timeout
from flyte.triggers import Trigger


@attrs.frozen
class TaskSpec:
    """A task, fully resolved. Field names are the guide's parameter names.

    Identity: ``name`` is the fully-qualified ``env_name.function_name``; ``short_name`` the
    display name; ``module`` and ``function_name`` say where the task object is defined.
    """

    name: str
    env_name: str
    function_name: str
    module: str
    interface: Interface
    short_name: str
    image: Image | str
    resources: Resources | None = None
    env_vars: FrozenDict = attrs.field(factory=FrozenDict, converter=FrozenDict)
    secrets: tuple[Secret, ...] = ()
    cache: Cache = attrs.field(factory=lambda: Cache("disable"))
    pod_template: PodTemplate | str | None = None
    reusable: ReusePolicy | None = None
    depends_on: tuple[str, ...] = ()
    description: str | None = None
    plugin_config: Any = None
    report: bool = False
    max_inline_io_bytes: int = 10 * 1024 * 1024
    retries: RetryStrategy = attrs.field(factory=lambda: RetryStrategy(0))
    timeout: Timeout | None = None
    triggers: tuple[Trigger, ...] = ()
    links: tuple[Any, ...] = ()
    interruptible: bool = False
    queue: str | None = None
    service_account: str | None = None
    include: tuple[str, ...] = ()  # the environment's extra code files (absolute paths or globs)
    docs: Documentation = attrs.field(factory=Documentation)
    entrypoint: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; ``TaskSpec.from_dict`` rebuilds an equal spec."""
        from flyte._converter import unstructure_spec

        return unstructure_spec(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        """Rebuild a spec from :meth:`to_dict` output; errors name the bad field's path."""
        from flyte._converter import structure_spec

        return structure_spec(data)
