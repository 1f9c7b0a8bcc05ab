"""The root ``flyte`` command. Sub-commands come from plugins' ``flyte_cli`` hook, the core's
own included, so a plugin adds commands the same way the core does."""

from __future__ import annotations

import sys

import click

from flyte._version import __version__
from flyte.cli import commands


class _RootGroup(click.Group):
    """The root group: a core command is imported when it is asked for, the other plugins'
    commands only when a command the core does not have is asked for or every command is
    listed (``--help``), so ``flyte run`` of a plain task imports no plugin and no other
    command's modules."""

    plugins_added = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in commands.NAMES:
            found = commands.core_command(cmd_name)
            self.add_command(found)
        if found is None and not self.plugins_added:
            _add_plugin_commands(self)
            found = super().get_command(ctx, cmd_name)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        for name in commands.NAMES:
            if name not in self.commands:
                self.add_command(commands.core_command(name))
        _add_plugin_commands(self)
        return super().list_commands(ctx)


# Commands that take --config themselves: the root's --config is their default.
CONFIG_COMMANDS = ("run", "deploy")
OUTPUT_FORMATS = ("table", "json", "table-simple", "json-raw")


@click.group(cls=_RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="flyte")
@click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False),
    help="Config file of every command that reads one (as flyte run --config FILE).",
)
@click.option("--verbose", "-v", count=True, help="Show the traceback of an error (-v, -vv, -vvv: the same).")
@click.option("--debug", is_flag=True, help="Show the traceback of an error (also FLYTE_DEBUG=1).")
@click.option(
    "--output-format",
    "-of",
    type=click.Choice(OUTPUT_FORMATS),
    help="Default -o/--output of commands that print data (table-simple: table, json-raw: json).",
)
@click.option("--no-progress", is_flag=True, help="No live progress display in flyte run (for CI logs).")
@click.option("--endpoint", help="The reference SDK's control plane: accepted, no effect here.")
@click.option("--org", help="The reference SDK's organisation: accepted, no effect here.")
@click.option("--insecure", is_flag=True, help="The reference SDK's plaintext connection: accepted, no effect here.")
@click.option("--auth-type", help="The reference SDK's authentication: accepted, no effect here.")
@click.option(
    "--image-builder",
    "--builder",
    type=click.Choice(["local", "local-podman", "remote"]),
    help="local: flyte build uses the docker CLI (the only builder here).",
)
@click.option("--log-format", type=click.Choice(["console", "json"]), help="Accepted; task logs are kept as printed.")
@click.option(
    "--user-log-level",
    type=click.Choice(["debug", "info", "warning", "error", "critical"]),
    help="Accepted; task logs keep every level.",
)
@click.option("--reset-root-logger", is_flag=True, help="Accepted; the root logger is left alone.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int, debug: bool, **reference: object) -> None:
    """Define compute tasks with rich configuration; run them locally or on Kubernetes."""
    from flyte.cli.errors import set_debug
    from flyte.runtime import secret_mounts

    set_debug(debug or verbose > 0)
    if config is not None:
        from flyte.config_file import explicit_config
        from flyte.errors import InitializationError

        try:  # a missing file is a usage error now, whichever command follows
            explicit_config(config, "--config")
        except InitializationError as exc:
            raise click.BadParameter(str(exc).removeprefix("--config: "), param_hint="--config") from None
        ctx.default_map = {name: {"config": config} for name in CONFIG_COMMANDS}
    _note_reference_options(reference)
    secret_mounts.sweep()  # secret files of a killed flyte process go at the next command


def _note_reference_options(values: dict[str, object]) -> None:
    """One line for each reference option given that changes nothing here."""
    from flyte.cli.ignored import NO_CONTROL_PLANE, no_effect

    remote = [f"--{o.replace('_', '-')}" for o in ("endpoint", "org", "insecure", "auth_type") if values.get(o)]
    if remote:
        no_effect(*remote, why=NO_CONTROL_PLANE)
    if values.get("image_builder") not in (None, "local"):
        no_effect(f"--image-builder {values['image_builder']}", why="flyte build builds with the local docker CLI")
    for option in ("log_format", "user_log_level", "reset_root_logger"):
        if values.get(option):
            no_effect(
                f"--{option.replace('_', '-')}",
                why="each attempt's log keeps what the task printed, every level (flyte logs RUN)",
            )


def build_cli() -> click.Group:
    """The root group; commands are added when first needed (each plugin guarded on its own)."""
    return cli


def _add_plugin_commands(group: _RootGroup) -> None:
    if group.plugins_added:
        return
    group.plugins_added = True
    from flyte.plugins import CORE_PLUGIN, get_registry

    for impl in get_registry().hook.flyte_cli.get_hookimpls():
        if impl.plugin_name == CORE_PLUGIN:
            continue  # its commands are added by name, when asked for
        try:
            impl.function(cli=group)
        except Exception as exc:  # one plugin's broken command must not take the CLI down
            click.echo(f"flyte: plugin {impl.plugin_name!r} could not add its commands: {exc}", err=True)


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
