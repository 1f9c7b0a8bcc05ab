"""``flyte.extend.TaskTemplate`` with ``AsyncConnectorExecutorMixin``: a task written the
reference SDK's way (a name, a ``NativeInterface``, a ``task_type`` and ``custom_config``) whose
work the ``AsyncConnector`` registered for its task type does.

It is a :class:`~flyte.connector_task.ConnectorTask`, so it gets what every connector task gets
(retries, timeouts, the cache, records, cancellation, secrets by key); its ``plugin_config`` for
the runtime is a :class:`~flyte.connectors._config.ConnectorTaskType`, made when the task is
resolved, since authors set ``self.plugin_config`` after ``super().__init__``.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from typing import Any

import attrs

from flyte import _codec
from flyte.connector_task import ConnectorTask
from flyte.connectors._config import ConnectorTaskType
from flyte.errors import ConfigurationError, ConfigurationTypeError, LevelError
from flyte.models import NativeInterface, SerializationContext, _required
from flyte.spec import TaskSpec

# Reference TaskTemplate parameters that mean nothing for a task a connector runs; their
# unset values are accepted (the public example passes image=None), others are refused.
_UNSET_VALUES: dict[str, tuple[Any, ...]] = {
    "image": (None, "auto"),
    "resources": (None,),
    "reusable": (None,),
    "env_vars": (None, {}),
    "pod_template": (None,),
    "report": (False,),
    "debuggable": (False,),
    "produces_artifacts": (False,),
    "parent_env": (None,),
    "parent_env_name": (None,),
    "triggers": ((), [], None),
}


class AsyncConnectorExecutorMixin:
    """Mixed into a ``flyte.extend.TaskTemplate`` subclass: the ``AsyncConnector`` registered for
    the task's ``task_type`` does its work, followed by flyte's connector runtime."""

    async def execute(self, **kwargs: Any) -> Any:
        """Do the work now, outside any run (unrecorded), as the reference SDK's ``execute``."""
        from flyte.runtime.connectors import run_unrecorded

        task: Any = self
        return await run_unrecorded(task, task.bind((), kwargs))


class TaskTemplate(ConnectorTask):
    """A task without a Python body, declared as the reference SDK declares one: ``name``, an
    ``interface`` (:class:`flyte.models.NativeInterface`), ``task_type`` (the
    ``task_type_name`` of the connector that runs it) and task settings (``retries``,
    ``timeout``, ``cache``, ``secrets``, ...). Subclass it with
    :class:`AsyncConnectorExecutorMixin` first, and override ``custom_config(sctx)`` to hand
    the connector your config (as ``task_template.custom``)."""

    _author_config: Any = None

    def __init__(
        self,
        name: str,
        interface: NativeInterface,
        short_name: str = "",
        task_type: str = "python",
        task_type_version: int = 0,
        secrets: Any = None,
        **settings: Any,
    ):
        kind = type(self).__name__
        if not isinstance(self, AsyncConnectorExecutorMixin):
            raise TypeError(
                f"{kind}: a flyte.extend.TaskTemplate has no Python body here; mix in "
                f"flyte.connectors.AsyncConnectorExecutorMixin (class {kind}(AsyncConnectorExecutorMixin, "
                "TaskTemplate)) so the connector registered for its task_type does the work"
            )
        if not isinstance(interface, NativeInterface):
            raise ConfigurationTypeError(
                f"{kind} {name!r}: interface: {interface!r} is not accepted (a flyte.models.NativeInterface)"
            )
        if task_type == "python":
            raise ConfigurationError(
                f"{kind} {name!r}: task_type: 'python' is not accepted (the task_type_name of the "
                "AsyncConnector that runs it, e.g. 'batch_job')"
            )
        for param, unset in _UNSET_VALUES.items():
            if param in settings:
                value = settings.pop(param)
                if not any(value is u or value == u for u in unset):
                    raise LevelError(
                        f"{kind} {name!r}: {param}={value!r} does not apply to a task a connector runs "
                        f"(leave it unset; the connector's service decides where the work runs)"
                    )
        if short_name:
            settings["short_name"] = short_name
        try:
            config = ConnectorTaskType(task_type, task_type_version, tuple(interface.outputs))
        except ValueError as exc:
            raise ConfigurationError(f"{kind} {name!r}: {exc}") from None
        self.interface = interface
        self.task_type = task_type
        self.task_type_version = task_type_version
        inputs = {n: t for n, (t, _) in interface.inputs.items()}
        super().__init__(
            name, config, inputs=inputs, output_type=_output_type(interface.outputs), secrets=secrets, **settings
        )

    @property  # type: ignore[override]
    def plugin_config(self) -> Any:
        """The author's own config (what ``custom_config`` reads), as the reference SDK keeps it."""
        return self._author_config

    @plugin_config.setter
    def plugin_config(self, value: Any) -> None:
        self._author_config = value
        self._spec = self._cache_part = self._plan = None  # its custom config changes

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any] | None:
        """What the connector receives as ``task_template.custom`` (JSON-able data; no secrets)."""
        return None

    def _input_defaults(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {n: d for n, (_, d) in self.interface.inputs.items() if not _required(d)}

    def _resolve(self) -> TaskSpec:
        spec = super()._resolve()
        config = attrs.evolve(spec.plugin_config, custom=self._custom())
        # What the task does, for cache versions: its connector's task type and custom config.
        # Versions are memoised per function, so a changed config gets a function of its own.
        source = _codec.dumps(config, canonical=True)
        if getattr(self.func, "__flyte_source__", None) != source:
            self.func = _with_source(self.func, source)
        return attrs.evolve(spec, plugin_config=config)

    def _custom(self) -> dict[str, Any]:
        from flyte.runtime import settings as cfg

        settings = cfg.current()
        sctx = SerializationContext(version="local", project=settings.project, domain=settings.domain)
        custom = self.custom_config(sctx)
        if custom is None:
            return {}
        try:
            if not isinstance(custom, Mapping):
                raise TypeError("not a dict")
            json.dumps(custom)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"{type(self).__name__} {self.name!r}: custom_config() returned {custom!r}, which is not "
                f"accepted ({exc}; a dict of JSON-able data: str, int, float, bool, None, lists, dicts)"
            ) from None
        return dict(custom)

    def _check_plugin_config(self, config: Any) -> None:
        raise LevelError(
            f"{type(self).__name__} {self.name!r}: override(plugin_config=...) does not apply to a "
            "TaskTemplate task (set task.plugin_config; custom_config() says what the connector gets)"
        )


def _with_source(func: Any, source: str) -> Any:
    """A copy of the body ``func`` whose ``__flyte_source__`` is ``source``."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    copy.__dict__.update(func.__dict__)  # its __signature__
    copy.__annotations__ = dict(func.__annotations__)
    copy.__qualname__, copy.__module__, copy.__doc__ = func.__qualname__, func.__module__, func.__doc__
    copy.__flyte_source__ = source  # type: ignore[attr-defined]
    return copy


def _output_type(outputs: Mapping[str, Any]) -> Any:
    types = list(outputs.values())
    if not types:
        return None
    if len(types) == 1:
        return types[0]
    return tuple[tuple(types)]  # type: ignore[misc]
