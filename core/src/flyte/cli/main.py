"""The root ``flyte`` command. Sub-commands come from plugins' ``flyte_cli`` hook, the core's
own included, so a plugin adds commands the same way the core does."""

from __future__ import annotations

import sys

import click

from flyte._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="flyte")
def cli() -> None:
    """Define compute tasks with rich configuration; run them locally or on Kubernetes."""


def build_cli() -> click.Group:
    """The root group with every plugin's commands added (each plugin guarded on its own)."""
    from flyte.plugins import get_registry

    registry = get_registry()
    for impl in registry.hook.flyte_cli.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # one plugin's broken command must not take the CLI down
            click.echo(f"flyte: plugin {impl.plugin_name!r} could not add its commands: {exc}", err=True)
    return cli


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    click.echo(f"flyte: {category.__name__}: {message}", err=True)


def main() -> None:
    import warnings

    warnings.showwarning = _one_line_warning  # the CLI shows warnings as one line, no source
    try:
        build_cli()(prog_name="flyte")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
