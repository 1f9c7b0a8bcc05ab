"""Plugin discovery: entry points in the group ``flyte.plugins``, loaded lazily and once.

Nothing here runs at ``import flyte``. The first call that needs plugins (defining an
environment with ``plugin_config``, running or rendering a task, ``flyte plugins``) loads every
entry point, each in its own ``try``: one broken plugin is reported once, with its
distribution and the error, and every other plugin keeps working.

``FLYTE_PLUGINS`` restricts what loads: a comma-separated list of entry-point names (the core's
own ``core`` always loads). Unset means every installed plugin; empty means only the core.
Tests build their own :class:`PluginRegistry` and install it with :func:`use_registry`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import traceback
import warnings
from collections.abc import Iterable, Iterator
from importlib.metadata import EntryPoint, distributions, entry_points
from typing import Any

import attrs
import pluggy

from flyte import hookspecs
from flyte.errors import PluginConflictError, PluginNotFoundError
from flyte.plugin_types import Connector, DataFrameHandler, TaskPlugin

ENTRY_POINT_GROUP = "flyte.plugins"
CORE_PLUGIN = "core"
ENV_ONLY = "FLYTE_PLUGINS"


class PluginLoadWarning(UserWarning):
    """An installed plugin could not be loaded; the others still work."""


@attrs.frozen
class PluginInfo:
    """What ``flyte plugins`` shows for one entry point."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    config_types: tuple[str, ...] = ()
    connector_types: tuple[str, ...] = ()
    dataframe_types: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: list(v) if isinstance(v, tuple) else v)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def install_hint(config_type: type) -> str:
    """The distribution that provides a ``flyteplugins.<name>`` type, as a pip command."""
    parts = config_type.__module__.split(".")
    if len(parts) >= 2 and parts[0] == "flyteplugins":
        return f"pip install flyteplugins-{parts[1]}"
    return "install the plugin that provides it"


def installed_entry_points(path: list[str] | None = None) -> list[EntryPoint]:
    """The ``flyte.plugins`` entry points of the installed distributions (or those on ``path``)."""
    if path is None:
        return list(entry_points(group=ENTRY_POINT_GROUP))
    found = []
    for dist in distributions(path=path):
        found.extend(ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP)
    return found


class PluginRegistry:
    """A pluggy manager plus the index of what the loaded plugins declared.

    ``entry_points`` defaults to the installed ones; ``only`` to ``FLYTE_PLUGINS``.
    """

    def __init__(
        self,
        entry_points: Iterable[EntryPoint] | None = None,
        only: Iterable[str] | None = None,
    ):
        self._entry_points = None if entry_points is None else list(entry_points)
        if only is None and ENV_ONLY in os.environ:
            only = [n.strip() for n in os.environ[ENV_ONLY].split(",") if n.strip()]
        self._only = None if only is None else {*only, CORE_PLUGIN}
        self._lock = threading.RLock()
        self._loaded = False
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        # Errors from importing/registering, kept apart from hook errors so re-indexing
        # (after a later ``register``) neither duplicates nor re-reports them.
        self._load_errors: dict[str, tuple[str, ...]] = {}
        self._task_plugins: dict[type, tuple[TaskPlugin, str]] = {}
        self._connectors: dict[type, tuple[Connector, str]] = {}
        self._conflicts: dict[type, list[str]] = {}
        # dataframe handlers by "module:Qualname", with the plugin names claiming each
        self._dataframe_handlers: dict[str, tuple[DataFrameHandler, str]] = {}
        self._dataframe_conflicts: dict[str, list[str]] = {}

    # -- loading -------------------------------------------------------------------------
    def load(self) -> PluginRegistry:
        """Load every selected entry point once; later calls return at once."""
        if self._loaded:
            return self
        with self._lock:
            if self._loaded:
                return self
            eps = self._entry_points
            if eps is None:
                eps = installed_entry_points()
            seen: set[tuple[str, str, str | None]] = set()
            for ep in sorted(eps, key=lambda e: (e.name != CORE_PLUGIN, e.name)):
                if self._only is not None and ep.name not in self._only:
                    continue
                dist = getattr(ep, "dist", None)
                identity = (ep.name, ep.value, dist.metadata["Name"] if dist else None)
                if identity in seen:  # the same distribution found twice on sys.path
                    continue
                seen.add(identity)
                self._load_one(ep)
            self._index()
            self._loaded = True
        return self

    def register(self, module: Any, name: str, distribution: str | None = None) -> None:
        """Register an already imported plugin object (for plugins defined in a test or script)."""
        with self._lock:
            self.pm.register(module, name=name)
            self._load_errors.pop(name, None)
            self._infos[name] = PluginInfo(
                name=name, module=getattr(module, "__name__", repr(module)), distribution=distribution
            )
            if self._loaded:
                self._index()

    def _load_one(self, ep: EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
        )
        try:
            plugin = ep.load()
            if self.pm.is_registered(plugin):  # the same module under two names
                raise ValueError(f"module {ep.value} is already registered under another name")
            self.pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            info = attrs.evolve(info, errors=(_describe(exc),))
            self._load_errors[ep.name] = info.errors
            self._warn(info)
        self._infos[ep.name] = info

    def _index(self) -> None:
        self._task_plugins.clear()
        self._connectors.clear()
        self._conflicts.clear()
        self._dataframe_handlers.clear()
        self._dataframe_conflicts.clear()
        for name in list(self._infos):
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                continue
            info = self._infos[name]
            load_errors = self._load_errors.get(name, ())
            errors = list(load_errors)
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            tasks = self._collect(plugin, "flyte_task_plugins", TaskPlugin, errors)
            conns = self._collect(plugin, "flyte_connectors", Connector, errors)
            frames = self._collect(plugin, "flyte_dataframe_handlers", DataFrameHandler, errors)
            for record in frames:
                self._claim_dataframe(record, name)
            for record in tasks:
                self._claim(self._task_plugins, record, name)
            for record in conns:
                self._claim(self._connectors, record, name)
            new = attrs.evolve(
                info,
                hooks=hooks,
                config_types=tuple(_qualname(r.config_type) for r in tasks),
                connector_types=tuple(_qualname(r.config_type) for r in conns),
                dataframe_types=tuple(r.type_path for r in frames),
                errors=tuple(errors),
            )
            if len(new.errors) > len(load_errors) and new.errors != info.errors:
                self._warn(new)  # only errors not reported by an earlier index
            self._infos[name] = new

    def _collect(self, plugin: Any, hook: str, kind: type, errors: list[str]) -> list[Any]:
        impls = [i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin is plugin]
        records: list[Any] = []
        for impl in impls:
            try:
                result = impl.function() or []
                for record in result:
                    if not isinstance(record, kind):
                        raise TypeError(f"{hook}() returned {record!r}, not a {kind.__name__}")
                    records.append(record)
            except Exception as exc:
                errors.append(f"{hook}: {_describe(exc)}")
        return records

    def _claim(self, index: dict[type, tuple[Any, str]], record: Any, name: str) -> None:
        t = record.config_type
        if t in index and index[t][1] != name:
            self._conflicts.setdefault(t, [index[t][1]]).append(name)
            return
        index[t] = (record, name)

    def _claim_dataframe(self, record: DataFrameHandler, name: str) -> None:
        # The core's handler is a default a plugin may replace; two plugins is a conflict.
        key = record.type_path
        held = self._dataframe_handlers.get(key)
        if held is None or held[1] == CORE_PLUGIN:
            self._dataframe_handlers[key] = (record, name)
        elif name != CORE_PLUGIN and held[1] != name:
            self._dataframe_conflicts.setdefault(key, [held[1]]).append(name)

    def dataframe_handlers(self) -> dict[str, DataFrameHandler]:
        """Every dataframe handler by ``"module:Qualname"``; a type two plugins claim raises
        :class:`PluginConflictError` when it is looked up (see :meth:`dataframe_handler`)."""
        self.load()
        return {key: record for key, (record, _) in self._dataframe_handlers.items()}

    def dataframe_conflict(self, key: str) -> None:
        """Raise if two plugins claim the dataframe type ``key``."""
        owners = self._dataframe_conflicts.get(key)
        if owners:
            names = ", ".join(self._describe_owner(n) for n in owners)
            raise PluginConflictError(
                f"dataframe type {key} is claimed by several plugins ({names}); uninstall all but one"
            )

    def _warn(self, info: PluginInfo) -> None:
        source = info.distribution or info.module
        warnings.warn(
            f"flyte plugin {info.name!r} (from {source}) failed to load: {info.errors[-1]}; "
            "other plugins are unaffected",
            PluginLoadWarning,
            stacklevel=4,
        )

    # -- queries -------------------------------------------------------------------------
    def infos(self) -> list[PluginInfo]:
        self.load()
        return sorted(self._infos.values(), key=lambda i: (i.name != CORE_PLUGIN, i.name))

    def task_plugin_for(self, config: Any) -> TaskPlugin:
        """The record owning ``type(config)`` (by MRO), or a clear error."""
        return self._lookup(self._task_plugins, config, "plugin_config")

    def connector_for(self, config: Any) -> Connector:
        return self._lookup(self._connectors, config, "connector config")

    def _lookup(self, index: dict[type, tuple[Any, str]], config: Any, what: str) -> Any:
        self.load()
        for klass in type(config).__mro__:
            if klass in self._conflicts:
                owners = ", ".join(self._describe_owner(n) for n in self._conflicts[klass])
                raise PluginConflictError(
                    f"{what}: {klass.__name__} is claimed by several plugins ({owners}); uninstall all but one"
                )
            if klass in index:
                return index[klass][0]
        t = type(config)
        handled = ", ".join(sorted(k.__name__ for k in index)) or "none"
        raise PluginNotFoundError(
            f"{what}: no installed plugin handles {t.__name__} ({_qualname(t)}), got {_shown(config)}: "
            f"{install_hint(t)} (accepted: an instance of an installed plugin's config type: {handled})"
        )

    def _describe_owner(self, name: str) -> str:
        info = self._infos.get(name)
        return info.distribution or name if info else name

    @property
    def hook(self) -> Any:
        self.load()
        return self.pm.hook


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


_registry: PluginRegistry | None = None
_registry_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry, created and loaded on first use."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = PluginRegistry()
    return _registry.load()


@contextlib.contextmanager
def use_registry(registry: PluginRegistry) -> Iterator[PluginRegistry]:
    """Make ``registry`` the process-wide one for the duration of the block (tests)."""
    global _registry
    previous = _registry
    _registry = registry
    try:
        yield registry.load()
    finally:
        _registry = previous


def import_object(path: str) -> Any:
    """Import ``package.module.attr`` (or ``package.module:attr``)."""
    module, _, attr = path.replace(":", ".").rpartition(".")
    return getattr(importlib.import_module(module), attr)
