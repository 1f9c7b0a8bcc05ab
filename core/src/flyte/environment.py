"""``TaskEnvironment``: the first configuration level, shared by every task defined with it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, overload

from flyte import _levels
from flyte._settings import env_name, normalise
from flyte._validation import invalid, wrong_type
from flyte.errors import ConfigurationError, LevelError

_UNSET: Any = object()


def _depends_on(value: Any) -> tuple[TaskEnvironment, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):  # one environment too: the reference SDK iterates it
        wrong_type("depends_on", value, "a list of flyte.TaskEnvironment, e.g. depends_on=[other_env]")
    for item in value:
        if not isinstance(item, TaskEnvironment):
            wrong_type("depends_on", item, "flyte.TaskEnvironment objects")
    return tuple(dict.fromkeys(value))  # keep order, drop repeats


def clone_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The settings ``clone_with`` replaces: as in the reference SDK, one passed as None keeps
    the original's value, except ``reusable=None`` (a copy that is not reusable)."""
    return {k: v for k, v in changes.items() if v is not None or k == "reusable"}


def _declaring_folder() -> Path | None:
    """The folder of the user's file that is defining an environment: the first caller
    outside flyte's own code (None in a REPL or ``exec`` of a string)."""
    own = Path(__file__).resolve().parent
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<"):
            path = Path(name).resolve()
            if not path.is_relative_to(own):
                return path.parent if path.is_file() else None
        frame = frame.f_back
    return None


def _anchored(entries: tuple[str, ...]) -> tuple[str, ...]:
    """``include`` entries as absolute paths: a relative one from the declaring file's folder."""
    folder = None
    anchored = []
    for entry in entries:
        if not Path(entry).is_absolute():
            folder = folder or _declaring_folder()
            if folder is None:
                invalid(
                    "include",
                    entry,
                    "an absolute path here",
                    "is relative, and the environment is not defined in a file to resolve it from",
                )
            entry = str(folder / entry)
        anchored.append(os.path.normpath(entry))
    return tuple(anchored)


class TaskEnvironment:
    """Settings shared by every task of the environment, and the ``@env.task`` decorator.

    ``name`` (snake_case or kebab-case) prefixes each task's fully-qualified name
    (``name.function``). ``depends_on`` lists the environments whose tasks this one calls,
    so that deploying or rendering this environment brings theirs along.
    """

    __slots__ = ("_given", "_name", "_settings", "_tasks", "depends_on")

    def __init__(
        self,
        name: str,
        depends_on: Iterable[TaskEnvironment] | None = None,
        pod_template: Any = _UNSET,
        description: str | None = _UNSET,
        secrets: Any = _UNSET,
        env_vars: dict[str, str] | None = _UNSET,
        resources: Any = _UNSET,
        interruptible: bool | None = _UNSET,
        queue: str | None = _UNSET,
        service_account: str | None = _UNSET,
        cache: Any = _UNSET,
        reusable: Any = _UNSET,
        plugin_config: Any = _UNSET,
        image: Any = _UNSET,
        include: Any = _UNSET,
        **unexpected: Any,
    ):
        _levels.check_unexpected(_levels.ENV, unexpected)
        self._name = env_name(name)
        self.depends_on = _depends_on(depends_on)
        check_unique_names(self.reachable())
        given = _levels.given(
            dict(
                pod_template=pod_template,
                description=description,
                secrets=secrets,
                env_vars=env_vars,
                resources=resources,
                interruptible=interruptible,
                queue=queue,
                service_account=service_account,
                cache=cache,
                reusable=reusable,
                image=image,
                include=include,
            ),
            _UNSET,
        )
        settings = normalise(given)
        if settings.get("include"):
            given["include"] = settings["include"]  # reads back as a tuple, as written
            settings["include"] = _anchored(settings["include"])
        if settings.get("reusable") == "off":  # a TypeError, as the reference SDK raises for any str here
            wrong_type("reusable", "off", 'a flyte.ReusePolicy or None ("off" only applies in task.override)')
        if plugin_config is not _UNSET and plugin_config is not None:
            from flyte.plugins import get_registry

            get_registry().task_plugin_for(plugin_config)  # a clear error if nothing handles it
            settings["plugin_config"] = plugin_config
        self._settings: dict[str, Any] = settings
        self._given = _levels.as_given(given, _levels.ENV_AS_GIVEN)  # read back as given
        self._tasks: dict[str, Any] = {}

    @property
    def name(self) -> str:
        """The environment's name; immutable once set, as the guide says (its tasks' names
        begin with it). ``clone_with(name=...)`` makes a renamed copy."""
        return self._name

    # -- settings ------------------------------------------------------------------------
    def __getattr__(self, item: str) -> Any:
        # Settings read as attributes (env.resources, env.cache, ...), None when unset unless
        # the reference SDK's environment reads otherwise (_levels.ENV_AS_GIVEN, ENV_UNSET).
        if item in _levels.LEVELS and _levels.ENV in _levels.LEVELS[item]:
            if item in _levels.ENV_AS_GIVEN:
                return self._given.get(item, _levels.ENV_AS_GIVEN[item])
            return self._settings.get(item, _levels.ENV_UNSET.get(item))
        raise AttributeError(f"{type(self).__name__!s} has no attribute {item!r}")

    @property
    def plugin_config(self) -> Any:
        """The environment's ``plugin_config``, None when unset (a property: every task
        definition reads it)."""
        return self._settings.get("plugin_config")

    @property
    def settings(self) -> dict[str, Any]:
        """The parameters this environment sets, normalised."""
        return dict(self._settings)

    @property
    def tasks(self) -> dict[str, Any]:
        """The tasks defined with this environment, by fully-qualified name."""
        return dict(self._tasks)

    def __repr__(self) -> str:
        return f"TaskEnvironment(name={self.name!r})"

    # -- dependencies ---------------------------------------------------------------------
    def add_dependency(self, *envs: TaskEnvironment) -> None:
        """Declare more environments this one calls into; a cycle is rejected."""
        new = _depends_on(list(envs))
        for env in new:
            if env is self or self in env.reachable():
                raise ConfigurationError(
                    f"depends_on: {self.name} -> {env.name} would make a cycle "
                    f"({' -> '.join(_path(env, self))} -> {env.name}); environments must form a tree"
                )
        check_unique_names([*self.reachable(), *(e for env in new for e in env.reachable())])
        self.depends_on = tuple(dict.fromkeys((*self.depends_on, *new)))

    def reachable(self) -> list[TaskEnvironment]:
        """This environment and every one reachable through ``depends_on``, each once."""
        seen: dict[int, TaskEnvironment] = {}
        stack = [self]
        while stack:
            env = stack.pop()
            if id(env) in seen:
                continue
            seen[id(env)] = env
            stack.extend(reversed(env.depends_on))
        return list(seen.values())

    @classmethod
    def from_task(cls, name: str, *tasks: Any, depends_on: Iterable[TaskEnvironment] | None = None) -> TaskEnvironment:
        """An environment named ``name`` holding ``tasks``, which were made without one
        (connector tasks such as ``Snowflake(...)``), so that another environment can list it
        in ``depends_on`` and deploying or rendering that one brings these tasks along."""
        from flyte.task import TaskTemplate

        env = cls(name, depends_on=depends_on)
        for task in tasks:
            if not isinstance(task, TaskTemplate):
                wrong_type("from_task", task, "tasks (e.g. connector tasks such as Snowflake(...))")
        for task in tasks:
            task._adopt(env)
        return env

    def clone_with(
        self, name: str, depends_on: Iterable[TaskEnvironment] | None = None, **changes: Any
    ) -> TaskEnvironment:
        """A new environment with this one's settings, some replaced. A setting passed as None
        keeps this environment's value, as in the reference SDK, except ``reusable=None``,
        which makes the copy not reusable."""
        settings = {**self._settings, **self._given, **clone_changes(changes)}
        deps = self.depends_on if depends_on is None else depends_on
        return TaskEnvironment(name, depends_on=deps, **settings)

    # -- the decorator ---------------------------------------------------------------------
    @overload
    def task(self, _func: Callable[..., Any], /) -> Any: ...
    @overload
    def task(self, _func: None = None, /, **settings: Any) -> Callable[[Callable[..., Any]], Any]: ...

    def task(
        self,
        _func: Callable[..., Any] | None = None,
        /,
        *,
        short_name: str | None = _UNSET,
        cache: Any = _UNSET,
        retries: Any = _UNSET,
        timeout: Any = _UNSET,
        docs: Any = _UNSET,
        pod_template: Any = _UNSET,
        report: bool = _UNSET,
        interruptible: bool | None = _UNSET,
        max_inline_io_bytes: int = _UNSET,
        queue: str | None = _UNSET,
        service_account: str | None = _UNSET,
        triggers: Any = _UNSET,
        links: Any = _UNSET,
        entrypoint: bool = _UNSET,
        **unexpected: Any,
    ) -> Any:
        """Make a function a task of this environment; usable bare or with settings."""
        _levels.check_unexpected(_levels.TASK, unexpected)
        raw = _levels.given(
            dict(
                short_name=short_name,
                cache=cache,
                retries=retries,
                timeout=timeout,
                docs=docs,
                pod_template=pod_template,
                report=report,
                interruptible=interruptible,
                max_inline_io_bytes=max_inline_io_bytes,
                queue=queue,
                service_account=service_account,
                triggers=triggers,
                links=links,
                entrypoint=entrypoint,
            ),
            _UNSET,
            none_unset=True,
        )
        settings = normalise(raw)
        if self._settings.get("reusable") is not None:
            self._check_shared_by_replicas(settings)

        def decorate(func: Callable[..., Any]) -> Any:
            from flyte.task import TaskTemplate

            task = TaskTemplate(func, self, settings, given=_levels.as_given(raw))
            existing = self._tasks.get(task.name)
            if existing is not None and _origin(existing.func) != _origin(func):
                raise ConfigurationError(
                    f"task name {task.name!r} is already used by {_origin(existing.func)}; "
                    "give one of the functions another name"
                )
            self._tasks[task.name] = task
            return task

        return decorate(_func) if _func is not None else decorate

    def _check_shared_by_replicas(self, settings: dict[str, Any]) -> None:
        """What the replicas of a reusable environment share cannot differ per task (the
        reference SDK refuses these two in the decorator too)."""
        account = self._settings.get("service_account")
        shared = (
            ("pod_template", "pod_template" in settings),
            ("service_account", settings.get("service_account", account) != account),
        )
        for param, differs in shared:
            if differs:
                raise LevelError(
                    f"@env.task: `{param}` cannot be set on a task of environment {self.name!r}: it is "
                    f"reusable and its replicas share one pod (accepted: set {param} on the TaskEnvironment)"
                )


def check_unique_names(envs: Iterable[TaskEnvironment]) -> None:
    """Distinct environments deployed or rendered together need distinct names, also once
    normalised for Kubernetes (``my_env`` and ``my-env`` both name objects ``my-env-...``)."""
    seen: dict[str, TaskEnvironment] = {}
    for env in envs:
        key = env.name.replace("_", "-")
        other = seen.setdefault(key, env)
        if other is not env:
            same = "the same name" if other.name == env.name else f"names that both become {key!r} in Kubernetes"
            raise ConfigurationError(
                f"environments {other.name!r} and {env.name!r} have {same}; deployed or rendered together "
                "(depends_on, flyte.deploy), their Kubernetes objects would replace each other; rename one"
            )


def _origin(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _path(start: TaskEnvironment, goal: TaskEnvironment) -> list[str]:
    """Names along a depends_on path from start to goal (for the cycle message)."""
    stack: list[tuple[TaskEnvironment, list[str]]] = [(start, [start.name])]
    seen: set[int] = set()
    while stack:
        env, path = stack.pop()
        if env is goal:
            return path
        if id(env) in seen:
            continue
        seen.add(id(env))
        stack.extend((dep, [*path, dep.name]) for dep in env.depends_on)
    return [start.name]


# The reference SDK's base-class name for environments.
Environment = TaskEnvironment
