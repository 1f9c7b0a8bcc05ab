"""The task object ``@env.task`` returns, and ``task.override(...)``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flyte import _levels
from flyte._binding import Binder
from flyte._context import current_body
from flyte._settings import DEFAULT_MAX_INLINE_IO_BYTES, normalise
from flyte._typecheck import SignatureCheck, signature_check
from flyte._validation import wrong_type
from flyte.docs import Documentation
from flyte.errors import (
    ConfigurationAttributeError,
    ConfigurationError,
    InputTypeError,
    LevelError,
    TaskCallError,
    as_user_error,
)
from flyte.image import Image
from flyte.interface import check_parameters, interface_of
from flyte.spec import TaskSpec

if TYPE_CHECKING:
    from flyte.environment import TaskEnvironment

_UNSET: Any = object()

# The settings a task object exposes as attributes (name and short_name are properties).
_SETTING_ATTRIBUTES = frozenset(_levels.LEVELS) - {"name", "short_name", "depends_on"}


class _Setting:
    """A resolved setting read as an attribute of a task object, named as the guide names the
    parameter (task.cache, task.retries, task.override(...).resources), as on the reference
    SDK's task objects; task.spec holds them all. _levels.AS_GIVEN's read back as given, the
    most specific level winning.

    A descriptor on the class, not a ``__getattr__``: CPython specialises no attribute read
    on an instance of a class with a ``__getattr__`` (every ``task.spec``, ``task.env``, ...
    of a call went through the hook, ~500 instructions each). It has no ``__set__``, so a
    value in the instance's ``__dict__`` still wins, as it did over ``__getattr__``."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __get__(self, task: TaskTemplate | None, owner: Any = None) -> Any:
        if task is None:  # read on the class (help(), inspect): the descriptor itself
            return self
        name = self.name
        if name in _levels.AS_GIVEN:
            for given in (task._given, task.env._given):
                if name in given:
                    return given[name]
            return _levels.AS_GIVEN[name]
        return getattr(task.spec, name)


class TaskTemplate:
    """A function bound to a :class:`~flyte.TaskEnvironment`, with its decorator settings.

    It keeps the function's name, docstring and signature. Call it inside a running task to
    run it as a child action (retries, cache, timeouts and records apply); outside any run it
    is a plain call of the function. ``task.spec`` is the resolved :class:`~flyte.TaskSpec`.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        env: TaskEnvironment,
        settings: dict[str, Any],
        overrides: dict[str, Any] | None = None,
        given: dict[str, Any] | None = None,
    ):
        if not inspect.isfunction(func) or func.__name__ == "<lambda>":
            # An AttributeError too: the reference SDK fails reading the value's __name__.
            wrong_type("@env.task", func, "a function defined with def or async def", ConfigurationAttributeError)
        self.func = func
        self.env = env
        self.settings = settings
        self.overrides = overrides or {}
        self._given = given or {}  # decorator and override values of _levels.AS_GIVEN, as given
        self.is_async = inspect.iscoroutinefunction(func)
        self.signature = inspect.signature(func)
        check_parameters(func, self.signature)
        self._spec: TaskSpec | None = None
        self._checks: SignatureCheck | None = None
        self._binder: Binder | None = None
        # The part of its cache keys every call shares, made from its spec on first use by the
        # runtime (flyte.runtime.controller: a flyte._cache.key.TaskPart, or what stands for
        # none); whatever sets _spec back to None sets this back too.
        self._cache_part: Any = None
        # Its bound inputs' record text, from their values (flyte._codec.flat_encoder of its
        # parameters), made by the runtime on first use.
        self._inputs_encoder: Any = None
        # What its calls need beyond the body, from its spec (flyte.runtime.controller._plan_of),
        # made by the runtime on first use; whatever sets _spec back to None sets this back too.
        self._plan: Any = None
        _wrap(self, func)
        self._check_ignored_inputs()
        self._check_with_plugin()
        if not self.overrides:
            self._check_triggers()

    # -- identity --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The fully-qualified name, ``env_name.function_name``."""
        return f"{self.env.name}.{self.func.__name__}"

    @property
    def short_name(self) -> str:
        return self.spec.short_name

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        return self  # a task stored on a class stays a task, not a bound method

    # -- resolution ------------------------------------------------------------------------
    @property
    def spec(self) -> TaskSpec:
        """Everything resolved about this task, most specific level winning."""
        if self._spec is None:
            self._spec = self._resolve()
        return self._spec

    def _resolve(self) -> TaskSpec:
        env = self.env
        merged: dict[str, Any] = {**env.settings, **self.settings, **self.overrides}
        if merged.get("reusable") == "off":
            merged["reusable"] = None
        func = self.func
        return TaskSpec(
            name=self.name,
            env_name=env.name,
            function_name=func.__name__,
            module=func.__module__,
            interface=interface_of(func),
            short_name=merged.get("short_name") or func.__name__,
            image=merged.get("image") or Image.from_debian_base(),
            resources=merged.get("resources"),
            env_vars=merged.get("env_vars") or {},
            secrets=merged.get("secrets") or (),
            cache=merged["cache"] if "cache" in merged else normalise({"cache": "disable"})["cache"],
            pod_template=merged.get("pod_template"),
            reusable=merged.get("reusable"),
            depends_on=tuple(e.name for e in env.depends_on),
            description=merged.get("description"),
            plugin_config=merged.get("plugin_config"),
            report=merged.get("report", False),
            max_inline_io_bytes=merged.get("max_inline_io_bytes", DEFAULT_MAX_INLINE_IO_BYTES),
            retries=merged.get("retries") or normalise({"retries": 0})["retries"],
            timeout=merged.get("timeout"),
            triggers=merged.get("triggers", ()),
            links=merged.get("links", ()),
            interruptible=bool(merged.get("interruptible") or False),
            queue=merged.get("queue"),
            service_account=merged.get("service_account"),
            include=env.settings.get("include", ()),
            docs=merged.get("docs") or Documentation.from_function(func),
            entrypoint=bool(merged.get("entrypoint", False)),
        )

    # -- override --------------------------------------------------------------------------
    def override(
        self,
        *,
        short_name: str | None = _UNSET,
        resources: Any = _UNSET,
        cache: Any = _UNSET,
        retries: Any = _UNSET,
        timeout: Any = _UNSET,
        reusable: Any = _UNSET,
        env_vars: dict[str, str] | None = _UNSET,
        secrets: Any = _UNSET,
        max_inline_io_bytes: int | None = _UNSET,
        pod_template: Any = _UNSET,
        queue: str | None = _UNSET,
        interruptible: bool | None = _UNSET,
        service_account: str | None = _UNSET,
        links: Any = _UNSET,
        plugin_config: Any = _UNSET,
        entrypoint: bool = _UNSET,
        **unexpected: Any,
    ) -> TaskTemplate:
        """A copy of this task with invocation-level settings; the original is unchanged.

        ``plugin_config`` reshapes the task's engine (more nodes, another cluster shape).
        """
        _levels.check_unexpected(_levels.OVERRIDE, unexpected)
        raw = _levels.given(
            dict(
                short_name=short_name,
                resources=resources,
                cache=cache,
                retries=retries,
                timeout=timeout,
                reusable=reusable,
                env_vars=env_vars,
                secrets=secrets,
                max_inline_io_bytes=max_inline_io_bytes,
                pod_template=pod_template,
                queue=queue,
                interruptible=interruptible,
                service_account=service_account,
                links=links,
                entrypoint=entrypoint,
            ),
            _UNSET,
            none_unset=True,
        )
        given = normalise(raw)
        if "timeout" in given and given["timeout"] is None:
            # timeout=0 overrides nothing: the reference SDK's override keeps the task's timeout
            # (``timeout or self.timeout``); Timeout(max_runtime=0) is an override to no limit.
            del given["timeout"], raw["timeout"]
        if plugin_config is not _UNSET:
            self._check_plugin_config(plugin_config)
            given["plugin_config"] = plugin_config
        overrides = {**self.overrides, **given}
        policy = overrides.get("reusable", self.env.settings.get("reusable"))
        if policy is not None and policy != "off":
            for param in _levels.NOT_OVERRIDABLE_WHEN_REUSABLE:
                if param in given:
                    raise LevelError(
                        f"override: `{param}` cannot be overridden because environment "
                        f"{self.env.name!r} is reusable (its replicas share one {param}); "
                        f'set it on the TaskEnvironment, or pass reusable="off" as well'
                    )
        return self._with_overrides(overrides, {**self._given, **_levels.as_given(raw)})

    def _with_overrides(self, overrides: dict[str, Any], given: dict[str, Any]) -> TaskTemplate:
        return TaskTemplate(self.func, self.env, self.settings, overrides, given)

    def _check_with_plugin(self) -> None:
        """Let the plugin of the task's ``plugin_config`` refuse settings its engine cannot run
        together (``TaskPlugin.check``), when the task is defined or overridden."""
        config = self.overrides.get("plugin_config", self.settings.get("plugin_config", self.env.plugin_config))
        if config is None:
            return
        from flyte.plugins import get_registry

        check = get_registry().task_plugin_for(config).check
        if check is not None:
            check(self._resolve())  # not cached: the environment may still gain dependencies

    def _check_plugin_config(self, config: Any) -> None:
        if config is not None:
            from flyte.plugins import get_registry

            get_registry().task_plugin_for(config)  # a clear error if nothing handles it

    def _adopt(self, env: TaskEnvironment) -> None:
        """Join ``env`` (``TaskEnvironment.from_task``): only tasks made without one may."""
        if self.env is not env:
            raise ConfigurationError(
                f"from_task: task {self.name} was defined with environment {self.env.name!r}; "
                "from_task groups tasks made without an environment (connector tasks)"
            )

    # -- calling ---------------------------------------------------------------------------
    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's inputs by name, defaults applied; a clear error for a bad call, and an
        :class:`~flyte.errors.InputTypeError` for an input that does not match its annotation."""
        try:
            inputs = (self._binder or self._compile_binder()).bind(args, kwargs)
        except TypeError as exc:
            # Python's message names the argument; the signature says what the task takes.
            raise TaskCallError(f"{self.name}: {exc} (accepted: {_inputs_text(self.signature)})") from None
        checks = self._checks or self._compile_checks()
        if checks.inputs:
            checks.check_inputs(self, inputs)  # a default, given or not, is always accepted
        return inputs

    @property
    def type_checks(self) -> SignatureCheck:
        """The compiled checks of the task's inputs and output against their annotations."""
        return self._checks or self._compile_checks()

    def check_output(self, value: Any) -> None:
        """Raise :class:`~flyte.errors.OutputTypeError` if ``value`` does not match the return
        annotation."""
        checks = self._checks or self._compile_checks()
        checks.check_output(self, value)

    def _compile_binder(self) -> Binder:
        self._binder = Binder(self.signature)
        return self._binder

    def _compile_checks(self) -> SignatureCheck:
        self._checks = signature_check(self.func)
        return self._checks

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        caller = current_body.get().caller
        if caller is None:
            try:
                return self.func(*args, **kwargs)
            except Exception as exc:
                if isinstance(exc, TypeError):  # the call's, or the body's? Only a failed call fails to bind.
                    try:
                        self.signature.bind(*args, **kwargs)
                    except TypeError as call:  # as flyte.run says it: the call, and what the task takes
                        raise TaskCallError(f"{self.name}: {call} (accepted: {_inputs_text(self.signature)})") from None
                # As the reference SDK raises it (a RuntimeUserError with .code), and still its own
                # type: t(y=1) is a TypeError, a sync body's ValueError a ValueError.
                seen = as_user_error(exc)
                if seen is exc:
                    raise
                raise seen from exc.__cause__
        return caller.call(self, args, kwargs)

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task from async code and get an awaitable, whether it is sync or async."""
        caller = current_body.get().caller
        if caller is None:
            if self.is_async:
                return self.func(*args, **kwargs)
            import asyncio

            return asyncio.to_thread(self.func, *args, **kwargs)
        return caller.aio(self, args, kwargs)

    def _check_ignored_inputs(self) -> None:
        """The task's cache (from whichever level sets it) may only ignore inputs it has."""
        cache = self.overrides.get("cache") or self.settings.get("cache") or self.env.settings.get("cache")
        unknown = [n for n in getattr(cache, "ignored_inputs", ()) if n not in self.signature.parameters]
        if unknown:
            inputs = ", ".join(self.signature.parameters) or "none"
            raise ConfigurationError(
                f"task {self.name}: cache.ignored_inputs names {', '.join(map(repr, unknown))}, which "
                f"is not an input of the task (its inputs: {inputs})"
            )

    def _check_triggers(self) -> None:
        """Triggers must be able to supply every required input (checked again at render)."""
        for problem in trigger_problems(self):
            import warnings

            warnings.warn(problem, TriggerInputWarning, stacklevel=4)


for _name in _SETTING_ATTRIBUTES:
    setattr(TaskTemplate, _name, _Setting(_name))
del _name


def _wrap(task: TaskTemplate, func: Callable[..., Any]) -> None:
    """``functools.update_wrapper(task, func)`` (the function's name, docstring, attributes and
    ``__wrapped__`` on the task) without reading ``task.__dict__``: on Python 3.11 an object
    whose ``__dict__`` was ever read gets no specialised attribute reads (each ``task.env``,
    ``task.func``, ... of every call would go the slow, generic way)."""
    for name in functools.WRAPPER_ASSIGNMENTS:
        try:
            value = getattr(func, name)
        except AttributeError:
            continue
        setattr(task, name, value)
    for name, value in func.__dict__.items():
        setattr(task, name, value)
    task.__wrapped__ = func


def _inputs_text(signature: inspect.Signature) -> str:
    """``(x: int = 1, *, y: str)``: the inputs as written, annotations unquoted."""
    params = []
    for param in signature.parameters.values():
        annotation = param.annotation
        if annotation is not param.empty:
            shown = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
            param = param.replace(annotation=_Shown(shown))
        params.append(param)
    return str(signature.replace(parameters=params, return_annotation=inspect.Signature.empty))


class _Shown(str):
    """An annotation that prints as its text (``int``, not ``'int'``)."""

    def __repr__(self) -> str:
        return str(self)


class TriggerInputWarning(UserWarning):
    """A trigger cannot supply an input its task requires (the trigger would fail to run)."""


def trigger_problems(task: TaskTemplate) -> list[str]:
    triggers = task.settings.get("triggers", ())
    if not triggers:
        return []
    from datetime import UTC, datetime

    from flyte.triggers import TriggerTime

    fire_time = datetime.now(UTC)
    params = task.signature.parameters
    problems = []
    for trigger in triggers:
        inputs = trigger.inputs or {}
        key = trigger.trigger_time_input_key
        for name in inputs:
            if name not in params and not (name == key and not trigger.trigger_time_required):
                problems.append(
                    f"trigger {trigger.name!r} of {task.name}: input {name!r} is not a parameter of the task"
                )
            elif name in params:
                # A value of the wrong type would fail every triggered run when it starts; the
                # fire time is a datetime.
                value = fire_time if inputs[name] is TriggerTime else inputs[name]
                try:
                    task.type_checks.check_inputs(task, {name: value})
                except InputTypeError as exc:
                    problems.append(
                        f"trigger {trigger.name!r} of {task.name}: input {name!r} expects {exc.expected}, but "
                        "flyte.TriggerTime gives it the fire time, a datetime"
                        if value is fire_time
                        else f"trigger {trigger.name!r} of {exc}"
                    )
        for name, param in params.items():
            if param.default is param.empty and name not in inputs:
                problems.append(
                    f"trigger {trigger.name!r} of {task.name}: the required input {name!r} has no "
                    "value; add it to the trigger's inputs or give the parameter a default"
                )
    return problems


def ensure_no_trigger_problems(task: TaskTemplate) -> None:
    problems = trigger_problems(task)
    if problems:
        raise ConfigurationError("; ".join(problems))
