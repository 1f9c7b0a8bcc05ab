"""The core plugin (entry point ``core``): how plain tasks render, and the core CLI commands.

It uses the same hooks as any third-party plugin; a plugin with ``@hookimpl(tryfirst=True)``
can replace any of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flyte.hookspecs import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def flyte_cli(cli: click.Group) -> None:
    from flyte.cli.plugins import plugins_command

    cli.add_command(plugins_command)
