"""The core plugin (entry point ``core``): how plain tasks render, and the core CLI commands.

It uses the same hooks as any third-party plugin; a plugin with ``@hookimpl(tryfirst=True)``
can replace any of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyte.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from flyte.plugin_types import DataFrameHandler
    from flyte.render.context import RenderContext
    from flyte.spec import TaskSpec


@hookimpl
def flyte_cli(cli: click.Group) -> None:
    from flyte.cli.build import build_command
    from flyte.cli.cache import cache_group
    from flyte.cli.deploy import deploy_command
    from flyte.cli.plugins import plugins_command
    from flyte.cli.pools import pools_command
    from flyte.cli.render import render_command
    from flyte.cli.run import run_command
    from flyte.cli.runs import runs_group
    from flyte.cli.secrets import create_group, delete_group, get_group
    from flyte.cli.triggers import delete_trigger, get_trigger, serve_group, update_group

    get_group.add_command(get_trigger)
    delete_group.add_command(delete_trigger)

    for command in (
        plugins_command,
        run_command,
        render_command,
        build_command,
        deploy_command,
        cache_group,
        runs_group,
        pools_command,
        create_group,
        get_group,
        delete_group,
        update_group,
        serve_group,
    ):
        cli.add_command(command)


@hookimpl
def flyte_dataframe_handlers() -> list[DataFrameHandler]:
    """pandas, pyarrow and polars frames, stored as Parquet (their engines imported on use)."""
    from flyte._builtin.dataframes import HANDLERS

    return list(HANDLERS)


@hookimpl(trylast=True)
def flyte_render_task(spec: TaskSpec, context: RenderContext) -> list[dict[str, Any]]:
    """A plain task renders as a batch/v1 Job, plus a CronJob per trigger."""
    from flyte.render.job import render_plain_task

    return render_plain_task(spec, context)
