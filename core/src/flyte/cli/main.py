"""The root ``flyte`` command. Sub-commands come from plugins' ``flyte_cli`` hook, the core's
own included, so a plugin adds commands the same way the core does."""

from __future__ import annotations

import sys

import click

from flyte._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="flyte")
@click.option("--debug", "-v", is_flag=True, help="Show the traceback of an error (also FLYTE_DEBUG=1).")
def cli(debug: bool) -> None:
    """Define compute tasks with rich configuration; run them locally or on Kubernetes."""
    from flyte.cli.errors import set_debug
    from flyte.runtime import secret_mounts

    set_debug(debug)
    secret_mounts.sweep()  # secret files of a killed flyte process go at the next command


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

    from flyte.cli.errors import report

    warnings.showwarning = _one_line_warning  # the CLI shows warnings as one line, no source
    try:
        build_cli()(prog_name="flyte")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # every command's errors: one line (the traceback with --debug)
        report(exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
