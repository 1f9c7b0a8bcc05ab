"""``flyte deploy FILE [ENV]...``: publish environments, their tasks and triggers."""

from __future__ import annotations

import click

from flyte.cli.images import image_refs_option


@click.command("deploy")
@image_refs_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False), required=False)
@click.argument("envs", nargs=-1)
@click.option("--dry-run", "dryrun", is_flag=True, help="Validate and render; record and apply nothing.")
@click.option("--version", help="The version of every task (default: a hash of its resolved spec).")
@click.option("--list", "list_", is_flag=True, help="List recorded deployments instead.")
@click.option(
    "--config", "config", type=click.Path(dir_okay=False), help="Config file (default: as flyte.init_from_config)."
)
@click.option("--project", "-p", help="The project to deploy in, as flyte.init(project=...) (default: the config's).")
@click.option("--domain", "-d", help="The domain to deploy in, as flyte.init(domain=...) (default: the config's).")
def deploy_command(
    file: str | None,
    envs: tuple[str, ...],
    dryrun: bool,
    version: str | None,
    list_: bool,
    config: str | None,
    project: str | None,
    domain: str | None,
) -> None:
    """Deploy the environments ENVS of FILE (all of them when none is named) and every
    environment they depend on. Locally the deployment is recorded (see --list); with a
    `kubernetes:` config section the rendered objects, CronJobs for triggers included, are
    applied to the cluster."""
    import flyte
    from flyte._deploy import deploy, deployments
    from flyte._loader import find, load_file
    from flyte.environment import TaskEnvironment
    from flyte.errors import FlyteError

    if list_:
        for row in deployments():
            triggers = f"  triggers: {', '.join(row['triggers'])}" if row["triggers"] else ""
            click.echo(f"{row['env']}  {row['task']}  {row['version']}  ({row['backend']}){triggers}")
        return
    if file is None:
        raise click.UsageError("FILE is required (or pass --list)")
    module = load_file(file)
    if envs:
        targets = [find(module, name, (TaskEnvironment,)) for name in envs]
    else:
        targets = list({id(v): v for v in vars(module).values() if isinstance(v, TaskEnvironment)}.values())
        if not targets:
            raise click.BadParameter(f"{file} defines no flyte.TaskEnvironment", param_hint="FILE")
    import contextlib
    import io

    from flyte import _image_refs

    scope = {k: v for k, v in (("project", project), ("domain", domain)) if v is not None}
    scope["images"] = _image_refs.known()  # --image's and the config file's, which init would reset
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # the one-line backend note: shown below instead
            flyte.init_from_config(config, **scope)
    except (FlyteError, ValueError, TypeError) as exc:  # e.g. a project name that is not one
        raise click.ClickException(str(exc)) from None
    try:
        results = deploy(*targets, dryrun=dryrun, version=version)
    except (FlyteError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    for result in results:
        click.echo(result.summary_repr())
        if dryrun:
            click.echo(f"  (dry run: {len(result.objects)} object(s) rendered, nothing recorded or applied)")
