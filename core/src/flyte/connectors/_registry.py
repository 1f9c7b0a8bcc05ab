"""The reference SDK's connector-authoring classes: ``AsyncConnector``, ``ResourceMeta``,
``Resource``, and the ``ConnectorRegistry`` they are registered in by task type.

They are the author's side only: the work is followed by flyte's connector runtime
(:mod:`flyte.runtime.connectors`) through the adapter in :mod:`flyte.connectors._adapter`.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import importlib.util
import inspect
import json
import sys
import threading
import warnings
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, TypeVar

from flyte.errors import ConnectorNotFoundError

ENTRY_POINT_GROUP = "flyte.connectors"  # the reference SDK's group: a module that registers on import


@dataclasses.dataclass
class ResourceMeta:
    """What names a connector's remote work (a job id): subclass it as a dataclass.

    ``encode()`` turns it into JSON bytes and ``decode(data)`` back; flyte keeps it in the run
    store, so ``get`` and ``delete`` can be called for it from another process (``flyte runs
    cancel``). Never put a secret in it.
    """

    def encode(self) -> bytes:
        from flyte._converter import unstructure

        return json.dumps(unstructure(self)).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> Any:
        from flyte._converter import structure

        return structure(json.loads(data.decode("utf-8")), cls)


@dataclasses.dataclass
class Resource:
    """What ``get`` reports.

    ``phase``: a flyteidl2 ``TaskExecution`` phase, as its enum number (``TaskExecution.RUNNING``)
    or its name (``"RUNNING"``). ``message``: the service's words (a failure's message is the
    task's error). ``log_links``: objects with ``name`` and ``uri`` (flyteidl2 ``TaskLog``) or a
    dict name -> uri. ``outputs``: for SUCCEEDED, the task's outputs by the names it declares.
    ``custom_info``: free-form data about the job.
    """

    phase: Any
    message: str | None = None
    log_links: Any = None
    outputs: dict[str, Any] | None = None
    custom_info: dict[str, Any] | None = None


M = TypeVar("M", bound=ResourceMeta)


class AsyncConnector(abc.ABC, Generic[M]):
    """A connector written the reference SDK's way: set ``name``, ``task_type_name`` (the
    ``task_type`` of the tasks it serves) and ``metadata_type`` (your ``ResourceMeta``
    subclass), implement the async ``create``, ``get`` and ``delete`` (and optionally an async
    generator ``get_logs``), then ``ConnectorRegistry.register(YourConnector())``.

    Each method receives the task's secrets as keyword arguments, by key.
    """

    name: ClassVar[str] = "Async Connector"
    task_type_name: ClassVar[str]
    task_type_version: ClassVar[int] = 0
    metadata_type: ClassVar[type]

    @abc.abstractmethod
    async def create(
        self, task_template: Any, output_prefix: str, inputs: dict[str, Any] | None = None, **kwargs: Any
    ) -> M:
        """Start the work; return the ``ResourceMeta`` that names it."""

    @abc.abstractmethod
    async def get(self, resource_meta: M, **kwargs: Any) -> Resource:
        """The work's status (and, once it SUCCEEDED, its outputs)."""

    @abc.abstractmethod
    async def delete(self, resource_meta: M, **kwargs: Any) -> None:
        """Cancel the work; must succeed when it has already ended."""

    async def get_metrics(self, resource_meta: M, **kwargs: Any) -> Any:
        raise NotImplementedError

    def get_logs(self, resource_meta: M, **kwargs: Any) -> Any:
        """The work's log: an async generator of flyteidl2 ``GetTaskLogsResponse`` (lines in
        ``body.lines[].message``, the next page's token in ``header.token``), or an async
        function returning one. flyte copies the lines into the task's log when the work ends."""
        raise NotImplementedError


def has_logs(connector: AsyncConnector[Any]) -> bool:
    return type(connector).get_logs is not AsyncConnector.get_logs


def _check(connector: Any) -> tuple[str, int]:
    if not isinstance(connector, AsyncConnector):
        raise TypeError(
            f"ConnectorRegistry.register: connector: {connector!r} is not accepted "
            "(an instance of a flyte.connectors.AsyncConnector subclass)"
        )
    kind = type(connector).__name__
    task_type = getattr(connector, "task_type_name", None)
    if not isinstance(task_type, str) or not task_type.strip():
        raise ValueError(
            f"ConnectorRegistry.register: {kind}.task_type_name: {task_type!r} is not accepted (a non-empty "
            f"str naming the task type it serves, e.g. task_type_name = 'batch_job')"
        )
    version = getattr(connector, "task_type_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(
            f"ConnectorRegistry.register: {kind}.task_type_version: {version!r} is not accepted (an int >= 0)"
        )
    meta = getattr(connector, "metadata_type", None)
    if not (isinstance(meta, type) and issubclass(meta, ResourceMeta) and dataclasses.is_dataclass(meta)):
        raise ValueError(
            f"ConnectorRegistry.register: {kind}.metadata_type: {meta!r} is not accepted (a dataclass "
            "subclassing flyte.connectors.ResourceMeta, e.g. metadata_type = BatchJobMetadata)"
        )
    for method in ("create", "get", "delete"):
        if not inspect.iscoroutinefunction(getattr(connector, method)):
            raise TypeError(f"ConnectorRegistry.register: {kind}.{method} is not accepted (an async def method)")
    return task_type, version


class ConnectorRegistry:
    """Connectors by ``(task_type_name, task_type_version)``.

    ``register`` at import time is enough (the module that defines the task or the run must
    import the connector's module); modules named by entry points in the group
    ``flyte.connectors`` are imported the first time a task type is not found. flyte also
    remembers which module registered a connector, so ``flyte runs cancel`` in another process
    finds it again.
    """

    _REGISTRY: ClassVar[dict[tuple[str, int], AsyncConnector[Any]]] = {}
    _lock: ClassVar[threading.RLock] = threading.RLock()
    _entry_points_loaded: ClassVar[bool] = False

    @staticmethod
    def register(connector: AsyncConnector[Any], override: bool = False) -> None:
        """Register ``connector`` for its ``task_type_name`` and ``task_type_version``; another
        one for the same type is an error unless ``override=True``."""
        key = _check(connector)
        with ConnectorRegistry._lock:
            held = ConnectorRegistry._REGISTRY.get(key)
            if held is not None and not override and type(held) is not type(connector):
                raise ValueError(
                    f"ConnectorRegistry.register: task type {key[0]!r} (version {key[1]}) already has a "
                    f"connector, {_qualname(type(held))}; pass override=True to replace it"
                )
            # The same class registered again (its module imported twice: as a script and by
            # name) replaces itself quietly.
            ConnectorRegistry._REGISTRY[key] = connector

    @staticmethod
    def get_connector(task_type_name: str, task_type_version: int = 0) -> AsyncConnector[Any]:
        """The connector registered for the task type, or :class:`ConnectorNotFoundError`
        naming the registered ones."""
        key = (task_type_name, task_type_version)
        found = ConnectorRegistry._REGISTRY.get(key)
        if found is None:
            _load_entry_points()
            found = ConnectorRegistry._REGISTRY.get(key)
        if found is None:
            registered = ", ".join(f"{t!r} (version {v})" for t, v in sorted(ConnectorRegistry._REGISTRY)) or "none"
            raise ConnectorNotFoundError(
                f"task_type: no connector is registered for {task_type_name!r} (version {task_type_version}); "
                f"registered: {registered}. Import the module that calls ConnectorRegistry.register before "
                f"the task runs, or install a package declaring it as a {ENTRY_POINT_GROUP!r} entry point"
            )
        return found

    # flytekit's name for the same lookup.
    get_agent = get_connector

    @staticmethod
    def registered() -> dict[tuple[str, int], AsyncConnector[Any]]:
        """Every registered connector by ``(task_type_name, task_type_version)``."""
        with ConnectorRegistry._lock:
            return dict(ConnectorRegistry._REGISTRY)


def _load_entry_points() -> None:
    """Import each ``flyte.connectors`` entry point once, each on its own (one that fails is
    warned about with its name and error; the others still register)."""
    with ConnectorRegistry._lock:
        if ConnectorRegistry._entry_points_loaded:
            return
        ConnectorRegistry._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as exc:  # a broken connector package must not hide the others
                from flyte.plugins import PluginLoadWarning

                dist = getattr(ep, "dist", None)
                source = dist.metadata["Name"] if dist else ep.value
                warnings.warn(
                    f"flyte connector entry point {ep.name!r} (from {source}) failed to load: "
                    f"{type(exc).__name__}: {exc}; other connectors are unaffected",
                    PluginLoadWarning,
                    stacklevel=3,
                )


def find(task_type: str, version: int, module: str | None = None, file: str | None = None) -> AsyncConnector[Any]:
    """The connector for a task type, importing ``module`` (the one that registered it when the
    work was created; ``file`` when it was a script) if it is not registered in this process."""
    try:
        return ConnectorRegistry.get_connector(task_type, version)
    except ConnectorNotFoundError:
        if not module:
            raise
    _import_registering(module, file)
    return ConnectorRegistry.get_connector(task_type, version)


def _import_registering(module: str, file: str | None) -> None:
    if module != "__main__":
        try:
            importlib.import_module(module)
            return
        except ImportError:
            if not file:
                raise
    if file:
        # A script (or a module off sys.path): its top level registers the connector; under
        # another name than __main__, its `if __name__ == "__main__":` part does not run.
        spec = importlib.util.spec_from_file_location(f"_flyte_connector_{abs(hash(file))}", file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {file}")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = loaded  # dataclasses look their module up while it runs
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[spec.name]
            raise


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
