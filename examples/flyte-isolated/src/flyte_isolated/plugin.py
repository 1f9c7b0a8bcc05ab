"""The entry point module (``flyte.plugins`` → ``isolated``): light, imports nothing heavy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyte.hookspecs import hookimpl
from flyte.plugin_types import TaskCall, TaskPlugin
from flyte_isolated.config import Isolated

if TYPE_CHECKING:
    import click


async def _run(call: TaskCall) -> Any:
    from flyte_isolated._runner import run  # the heavy part loads only when a task runs

    return await run(call)


def _render(spec: Any, context: Any) -> list[dict[str, Any]]:
    # On a cluster every task already runs in its own container: render it as the core
    # renders a plain task.
    from flyte.render.job import render_plain_task

    return render_plain_task(spec, context)


@hookimpl
def flyte_task_plugins() -> list[TaskPlugin]:
    return [
        TaskPlugin(config_type=Isolated, run=_run, render=_render, description="run the task in a fresh Python process")
    ]


@hookimpl
def flyte_cli(cli: click.Group) -> None:
    import click

    @cli.command("isolated-check")
    def isolated_check() -> None:
        """Print the interpreter flyte-isolated starts tasks with."""
        import sys

        click.echo(sys.executable)
