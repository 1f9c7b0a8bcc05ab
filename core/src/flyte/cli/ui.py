"""``flyte ui`` (also ``flyte serve ui``): the local UI over the run store."""

from __future__ import annotations

import click

DEFAULT_PORT = 8765


@click.command("ui")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless --allow-remote)."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host: anyone who reaches it reads every run (there is no login).",
)
@click.option("--verbose", is_flag=True, help="Log every request.")
def ui_command(host: str, port: int, allow_remote: bool, verbose: bool) -> None:
    """Serve the runs recorded under the state root as a web UI: the runs list (filter by
    phase, task, date), each run's action tree and timeline, attempts, errors with tracebacks,
    logs, inputs, outputs and reports; pages follow running runs live. Ctrl-C stops it."""
    from flyte.ui import server

    problem = server.check_host(host, allow_remote)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--host")
    if not server.is_loopback(host):
        click.secho(
            f"warning: serving on {host}: anyone who can reach this address reads every run's "
            "inputs, outputs and logs (there is no login)",
            fg="yellow",
            err=True,
        )
    try:
        httpd = server.UIServer(host, port, verbose=verbose)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another with --port (0: any free port)"
        ) from None
    click.echo(f"flyte ui: {httpd.url} (Ctrl-C stops it)", err=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
