"""The one output convention of every command that can print data: ``-o/--output FORMAT``
(as kubectl spells it), with ``--json`` accepted as a short alias for ``-o json``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click


def output_option(*formats: str, default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``-o/--output`` (one of ``formats``) and ``--json`` to a command; the command
    receives ``output``."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(*args: Any, json_alias: bool, **kwargs: Any) -> Any:
            if json_alias:
                given = click.get_current_context().get_parameter_source("output")
                if given is click.core.ParameterSource.COMMANDLINE and kwargs["output"] != "json":
                    raise click.BadParameter(f"--json contradicts -o {kwargs['output']}", param_hint="--json")
                kwargs["output"] = "json"
            return command(*args, **kwargs)

        wrapper = click.option("--json", "json_alias", is_flag=True, help="Same as -o json.")(wrapper)
        return click.option(
            "-o",
            "--output",
            type=click.Choice(formats),
            default=default,
            show_default=True,
            help="Output format.",
        )(wrapper)

    return decorate
