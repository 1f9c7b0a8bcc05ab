"""The core plugin (entry point ``core``): how plain tasks render, clustered tasks run, and the
core CLI commands.

It uses the same hooks as any third-party plugin; a plugin with ``@hookimpl(tryfirst=True)``
can replace any of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flyte.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from flyte.plugin_types import Connector, ConnectorContext, ConnectorStatus, DataFrameHandler, TaskCall, TaskPlugin
    from flyte.render.context import RenderContext
    from flyte.spec import TaskSpec


@hookimpl
def flyte_cli(cli: click.Group) -> None:
    from flyte.cli.commands import NAMES, core_command

    for name in NAMES:
        cli.add_command(core_command(name))


@hookimpl
def flyte_connectors() -> list[Connector]:
    """``flyte.connectors``: every connector written for the reference SDK (``AsyncConnector``),
    looked up by the task's ``task_type`` in ``ConnectorRegistry``. The adapter is imported
    when such a task runs, not when plugins load."""
    from flyte.connectors._config import ConnectorTaskType
    from flyte.plugin_types import Connector

    return [
        Connector(
            config_type=ConnectorTaskType,
            create=_reference_create,
            get=_reference_get,
            delete=_reference_delete,
            description="flyte.connectors: connectors written for the reference SDK (AsyncConnector), by task type",
        )
    ]


async def _reference_create(context: ConnectorContext, inputs: Mapping[str, Any]) -> Any:
    from flyte.connectors import _adapter

    return await _adapter.create(context, inputs)


async def _reference_get(context: ConnectorContext, metadata: Any) -> ConnectorStatus:
    from flyte.connectors import _adapter

    return await _adapter.get(context, metadata)


async def _reference_delete(context: ConnectorContext, metadata: Any) -> None:
    from flyte.connectors import _adapter

    await _adapter.delete(context, metadata)


@hookimpl
def flyte_dataframe_handlers() -> list[DataFrameHandler]:
    """pandas, pyarrow and polars frames, stored as Parquet (their engines imported on use)."""
    from flyte._builtin.dataframes import HANDLERS

    return list(HANDLERS)


@hookimpl
def flyte_task_plugins() -> list[TaskPlugin]:
    """``flyte.clustered``: a gang of worker processes (torchrun's contract) per attempt;
    a JobSet on Kubernetes."""
    from flyte.clustered.config import ClusteredSettings
    from flyte.plugin_types import TaskPlugin

    return [
        TaskPlugin(
            config_type=ClusteredSettings,
            run=_run_clustered,
            render=_render_clustered,
            phase=_jobset_phase,
            pods=_jobset_pods,
            description="flyte.clustered: replicas × nproc_per_node workers locally; a JobSet on Kubernetes",
        )
    ]


async def _run_clustered(call: TaskCall) -> Any:
    from flyte.clustered import _pod

    if _pod.current_node(call.spec) is not None:  # the entrypoint runs as one pod of the JobSet
        return await _pod.run(call)
    from flyte.clustered._launch import run

    return await run(call)


def _render_clustered(spec: TaskSpec, context: RenderContext) -> list[dict[str, Any]]:
    from flyte.clustered._render import render

    return render(spec, context)


def _jobset_phase(status: dict[str, Any]) -> str | None:
    from flyte.clustered._render import phase

    return phase(status)


def _jobset_pods(obj: dict[str, Any]) -> str:
    from flyte.clustered._render import pods

    return pods(obj)


@hookimpl(trylast=True)
def flyte_render_task(spec: TaskSpec, context: RenderContext) -> list[dict[str, Any]]:
    """A plain task renders as a batch/v1 Job, plus a CronJob per trigger."""
    from flyte.render.job import render_plain_task

    return render_plain_task(spec, context)
