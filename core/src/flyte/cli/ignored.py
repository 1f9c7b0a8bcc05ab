"""Options of the reference SDK's CLI that change nothing here (a Flyte control plane's, a
cluster's code bundling, ...): accepted so command lines copied from its docs work, and never
silently, one line on stderr each saying why."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

# Why the root's remote-only options change nothing (as init_from_config says of admin.endpoint).
NO_CONTROL_PLANE = (
    "no Flyte control plane is used (tasks run on this machine, or on the cluster of the config's kubernetes: section)"
)


def no_effect(*options: str, why: str) -> None:
    """Say on stderr, in one line, that ``options`` were accepted and have no effect, and ``why``."""
    verb = "have" if len(options) > 1 else "has"
    click.echo(f"flyte: {', '.join(options)} {verb} no effect here: {why}", err=True)


def root_param(name: str) -> Any:
    """The value of the root ``flyte`` command's option ``name`` in the command running now
    (None outside a command, or when it was not given)."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.find_root().params.get(name)


def run_scope_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The reference's ``-p/--project`` and ``-d/--domain`` on a command that names runs: a run
    name is unique under the state root here, so they select nothing (said on stderr)."""

    @functools.wraps(command)
    def wrapper(*args: Any, project: str | None, domain: str | None, **kwargs: Any) -> Any:
        given = [option for option, value in (("--project", project), ("--domain", domain)) if value is not None]
        if given:
            no_effect(*given, why="a run's name is unique under the state root, whatever its project and domain")
        return command(*args, **kwargs)

    wrapper = click.option("--domain", "-d", help="The reference's run scope: no effect here.")(wrapper)
    return click.option("--project", "-p", help="The reference's run scope: no effect here.")(wrapper)
