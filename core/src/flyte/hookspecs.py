"""The whole plugin contract of flyte, on one screen.

A plugin is a module named by an entry point in the group ``flyte.plugins``; it defines
functions decorated with :data:`hookimpl` whose names match the specs below. The core's own
behaviour is registered the same way (``flyte._builtin.plugin``), so a third-party plugin can
replace it with ``@hookimpl(tryfirst=True)``.

The module an entry point names must import quickly: import your engine (ray, pyspark, torch)
inside the functions your records point to, never at module level. ``flyte plugins`` and every
definition-time check import the module.

See ``docs/writing-a-plugin.md`` for a walk-through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from flyte.plugin_types import Connector, DataFrameHandler, TaskPlugin
    from flyte.render.context import RenderContext
    from flyte.spec import TaskSpec

PROJECT = "flyte"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def flyte_task_plugins() -> list[TaskPlugin]:
    """Declare the ``plugin_config`` types this plugin owns, with how each runs and renders.

    Called once, when plugins are first loaded. Collecting: every plugin's list is gathered and
    indexed by config type; two plugins claiming one type is an error naming both. A task whose
    ``plugin_config`` is an instance of (a subclass of) ``config_type`` is run by the record's
    ``run`` and rendered by its ``render``.
    """


@hookspec(firstresult=True)
def flyte_render_task(spec: TaskSpec, context: RenderContext) -> list[dict[str, Any]] | None:
    """Render a task that has no ``plugin_config`` as Kubernetes objects (plain dicts).

    Called by ``flyte render`` and the Kubernetes backend for each plain task. firstresult: the
    first non-None list wins; the core's ``trylast`` implementation renders a ``batch/v1`` Job
    (and a CronJob per cron trigger). Return None to leave the task to the next implementation.
    """


@hookspec
def flyte_connectors() -> list[Connector]:
    """Declare connectors: services that run a task's work outside flyte (Snowflake, BigQuery).

    Called once, when plugins are first loaded. Collecting, indexed like task plugins by the
    connector's ``config_type`` (the ``plugin_config`` type of its ``ConnectorTask``s). Each
    ``Connector`` gives async ``create(context, inputs) -> metadata``, ``get(context, metadata)
    -> ConnectorStatus`` and ``delete(context, metadata)``; the core's connector runtime polls,
    records and cancels (see ``docs/writing-a-connector.md``). The core's own record runs the
    connectors written for the reference SDK (``flyte.connectors.AsyncConnector``).
    """


@hookspec
def flyte_dataframe_handlers() -> list[DataFrameHandler]:
    """Declare how dataframe types are stored and read (pandas, Arrow, polars, Spark, Dask ...).

    Called once, when plugins are first loaded. Collecting: every plugin's records are indexed by
    ``python_type``. A plugin's handler replaces the core's for the same type; two plugins
    claiming one type is an error naming both, raised when that type is used. A task may then
    return that type, and a consumer may declare it, or ``flyte.io.DataFrame`` and read it with
    ``df.open(T).all()``.
    """


@hookspec
def flyte_cli(cli: click.Group) -> None:
    """Add commands to the ``flyte`` command line. ``cli`` is the root group.

    Called once, when the CLI starts, for every plugin. Returns nothing.
    """
