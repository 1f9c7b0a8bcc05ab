"""The one output convention of every command that can print data: ``-o/--output FORMAT``
(as kubectl spells it), with ``--json`` accepted as a short alias for ``-o json``; the root's
``flyte --output-format/-of FORMAT`` (the reference SDK's) is the default of every command
that has that format."""

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
            default=lambda: _from_root(formats, default),
            show_default=default,
            help="Output format.",
        )(wrapper)

    return decorate


# The reference's root formats that are spelt differently here.
_ROOT_FORMATS = {"table-simple": "table", "json-raw": "json"}


def _from_root(formats: tuple[str, ...], default: str) -> str:
    from flyte.cli.ignored import root_param

    chosen = root_param("output_format")
    chosen = _ROOT_FORMATS.get(chosen, chosen)
    return chosen if chosen in formats else default
