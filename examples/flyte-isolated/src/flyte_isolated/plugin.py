"""The entry point of flyte-isolated (``flyte.plugins`` → ``isolated``).

flyte imports this module for ``flyte plugins`` and for every definition-time check, so it
stays light: the runner, which needs cloudpickle and subprocesses, is imported when a task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyte.extend import TaskCall, TaskPlugin, hookimpl
from flyte_isolated.config import Isolated

if TYPE_CHECKING:
    import click


async def _run(call: TaskCall) -> Any:
    from flyte_isolated._runner import run

    return await run(call)


@hookimpl
def flyte_task_plugins() -> list[TaskPlugin]:
    return [
        TaskPlugin(
            config_type=Isolated,
            run=_run,
            description="run each attempt in a fresh Python process",
        )
    ]


@hookimpl
def flyte_cli(cli: click.Group) -> None:
    import click

    @cli.command("isolated-check")
    @click.option("--python", "python", default=None, help="Check this interpreter instead of the default.")
    def isolated_check(python: str | None) -> None:
        """Print the interpreter flyte-isolated would run tasks with."""
        import shutil

        try:
            interpreter = Isolated(python=python).interpreter()
        except (TypeError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--python") from None
        found = shutil.which(interpreter)
        if found is None:
            raise click.ClickException(f"{interpreter}: no such interpreter")
        click.echo(found)
