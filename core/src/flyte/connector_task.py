"""``ConnectorTask``: a task whose work an outside service does, through a connector.

A connector task has no Python body. It is made from a ``plugin_config`` that an installed
connector owns (the query, the account ...), the names and types of its inputs and the type
of its result; ``flyteplugins-snowflake``'s ``Snowflake(...)`` and ``flyteplugins-bigquery``'s
``BigQueryTask(...)`` are thin constructors of one. It behaves like any task: called from a
running task it is a child action (retries, cache, timeouts and records apply); ``flyte.run``
runs it; ``flyte.TaskEnvironment.from_task(name, *tasks)`` groups such tasks in an
environment another can ``depends_on``. Called outside any run it starts the remote work,
follows it and returns the result, with no records.
"""

from __future__ import annotations

import copy
import inspect
import keyword
import re
import sys
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from flyte import _codec, _levels
from flyte._settings import normalise
from flyte._validation import invalid, safe_name, wrong_type
from flyte.errors import ConfigurationError, LevelError
from flyte.secret import to_secrets
from flyte.spec import TaskSpec
from flyte.task import TaskTemplate

if TYPE_CHECKING:
    from flyte.environment import TaskEnvironment

# The task-level settings a connector task takes (the decorator's, less those that only mean
# something for a Python body: report, pod_template, triggers).
SETTINGS = (
    "short_name",
    "cache",
    "retries",
    "timeout",
    "docs",
    "interruptible",
    "max_inline_io_bytes",
    "queue",
    "service_account",
    "links",
    "entrypoint",
)


class ConnectorTask(TaskTemplate):
    """A task whose work is done by the connector that owns ``type(plugin_config)``.

    ``name``: the task's name (letters, digits, ``_``, ``-``, ``.``). ``inputs``: input names
    and their types (they become the task's parameters, all required). ``output_type``: the
    type of the result (e.g. ``flyte.io.DataFrame``; None: no result). ``secrets``: the
    secrets the connector reads (keys or ``flyte.Secret``), handed to it by key in
    ``ConnectorContext.secrets``. Task settings (``retries``, ``timeout``, ``cache``,
    ``short_name``, ...) are accepted as keywords, and ``task.override(...)`` works as for any
    task.
    """

    def __init__(
        self,
        name: str,
        plugin_config: Any,
        inputs: Mapping[str, Any] | None = None,
        output_type: Any = None,
        secrets: Any = None,
        **settings: Any,
    ):
        safe_name("name", name)
        self._check_connector(plugin_config)
        for param in settings:
            if param not in SETTINGS:
                if param in _levels.LEVELS:
                    raise LevelError(
                        f"{type(self).__name__}: `{param}` does not apply to a connector task "
                        f"(accepted: {', '.join(SETTINGS)})"
                    )
                _levels.check_unexpected(_levels.TASK, {param: settings[param]})
        self._name = name
        self._own_secrets = to_secrets(secrets)
        self._adopted = False
        types = _input_types(name, inputs)
        func = _body(self, name, types, output_type, plugin_config, self._input_defaults(types))
        from flyte.environment import TaskEnvironment

        env = TaskEnvironment(_env_name(name))
        super().__init__(
            func, env, {**normalise(settings), "plugin_config": plugin_config}, given=_levels.as_given(settings)
        )
        env._tasks[self.name] = self

    # -- identity ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The name given to the task (connector tasks keep it in any environment)."""
        return self._name

    def __repr__(self) -> str:
        return f"<connector task {self.name}>"

    @property
    def plugin_config(self) -> Any:
        """The connector's config for this task."""
        return self.spec.plugin_config

    def _resolve(self) -> TaskSpec:
        spec = super()._resolve()
        # The connector's own secrets come with the task; the environment's and an
        # override's are added (a connector reads them by key).
        return attrs.evolve(spec, secrets=tuple(dict.fromkeys((*self._own_secrets, *spec.secrets))))

    # -- environments and overrides ----------------------------------------------------------
    def _adopt(self, env: TaskEnvironment) -> None:
        if self.env is env:
            return
        if self._adopted:
            raise ConfigurationError(
                f"from_task: task {self.name!r} already belongs to environment {self.env.name!r}; "
                f"a task belongs to one environment (define another task for {env.name!r})"
            )
        self.env._tasks.pop(self.name, None)
        self.env = env
        self._adopted = True
        self._spec = None
        self._cache_part = None  # made from the spec: another name, another key
        self._plan = None
        env._tasks[self.name] = self

    def _with_overrides(self, overrides: dict[str, Any], given: dict[str, Any]) -> TaskTemplate:
        copied = copy.copy(self)
        copied.overrides = overrides
        copied._given = given
        copied._spec = None
        copied._cache_part = None  # made from the spec
        copied._plan = None
        return copied

    def _check_plugin_config(self, config: Any) -> None:
        self._check_connector(config)

    def _check_with_plugin(self) -> None:
        """No task plugin runs a connector task (its config is a connector's, checked above)."""

    def _input_defaults(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults of some of ``inputs`` (by name); a connector task's inputs are all required,
        a subclass whose interface declares defaults (``flyte.extend.TaskTemplate``) gives them."""
        return {}

    @staticmethod
    def _check_connector(config: Any) -> None:
        from flyte.plugins import get_registry

        if config is None:
            raise ConfigurationError("plugin_config: a connector task needs the config its connector owns, not None")
        get_registry().connector_for(config)  # a clear error if no installed connector handles it


def declared_io(owner: str, inputs: Any, output_type: Any) -> dict[str, Any]:
    """A connector task's declared ``inputs`` (a dict of input name -> type) as a new dict,
    after checking it and ``output_type`` (a class, a parameterised type such as
    ``Annotated[pd.DataFrame, ...]``, or None). ``owner`` starts each error, e.g.
    ``"BigQueryTask 'q'"``: a subclass checks what it is given before reading it."""
    if inputs is not None and not isinstance(inputs, Mapping):
        raise TypeError(
            f"{owner}: inputs: {inputs!r} is not accepted (a dict of input name -> type, e.g. {{'day': str}})"
        )
    if output_type is not None and not (isinstance(output_type, type) or typing.get_origin(output_type) is not None):
        raise TypeError(
            f"{owner}: output_dataframe_type: {output_type!r} is not accepted "
            "(a dataframe type such as flyte.io.DataFrame, pandas.DataFrame or pyarrow.Table, or None)"
        )
    return dict(inputs or {})


def _input_types(name: str, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        wrong_type("inputs", inputs, "a dict of input name -> type, e.g. {'report_date': str}")
    for key in inputs:
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
            invalid("inputs", key, "input names that are Python identifiers (they become the task's parameters)")
    return dict(inputs)


def _env_name(name: str) -> str:
    # Until TaskEnvironment.from_task adopts it, a connector task has an environment of its own.
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "connector"


def _caller_module(task: ConnectorTask) -> str:
    """The module that created ``task``: the first frame outside its constructors."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_locals.get("self") is not task:
        frame = frame.f_back
    while frame is not None and frame.f_locals.get("self") is task:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "__main__") if frame is not None else "__main__"


def _body(
    task: ConnectorTask, name: str, inputs: dict[str, Any], output: Any, config: Any, defaults: Mapping[str, Any]
) -> Any:
    """The stand-in for a Python body: its signature and annotations are the task's interface,
    and calling it outside a run does the work through the connector with no records."""

    async def body(*args: Any, **kwargs: Any) -> Any:
        from flyte.runtime.connectors import run_unrecorded

        return await run_unrecorded(task, task.bind(args, kwargs))

    kind, empty = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty
    parameters = []
    for n, t in inputs.items():
        default = defaults.get(n, empty)
        if default is empty and parameters and parameters[-1].default is not empty:
            kind = inspect.Parameter.KEYWORD_ONLY  # a required input after one with a default
        parameters.append(inspect.Parameter(n, kind, default=default, annotation=t))
    body.__signature__ = inspect.Signature(parameters, return_annotation=output)  # type: ignore[attr-defined]
    body.__annotations__ = {**inputs, "return": output}
    body.__name__ = body.__qualname__ = name
    body.__module__ = _caller_module(task)
    body.__doc__ = f"Connector task {name} ({type(config).__name__})."
    # What the task does, for cache versions (flyte._cache.policy.function_source): its config.
    body.__flyte_source__ = _codec.dumps(config, canonical=True)  # type: ignore[attr-defined]
    return body
