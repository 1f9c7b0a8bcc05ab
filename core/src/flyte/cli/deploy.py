"""``flyte deploy FILE [ENV]...``: publish environments, their tasks and triggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flyte.cli.images import image_refs_option


@click.command("deploy")
@image_refs_option
@click.argument("file", type=click.Path(exists=True), required=False)
@click.argument("envs", nargs=-1)
@click.option("--dry-run", "--dryrun", "dryrun", is_flag=True, help="Validate and render; record and apply nothing.")
@click.option("--version", help="The version of every task (default: a hash of its resolved spec).")
@click.option("--list", "list_", is_flag=True, help="List recorded deployments instead.")
@click.option(
    "--config", "config", type=click.Path(dir_okay=False), help="Config file (default: as flyte.init_from_config)."
)
@click.option("--project", "-p", help="The project to deploy in, as flyte.init(project=...) (default: the config's).")
@click.option("--domain", "-d", help="The domain to deploy in, as flyte.init(domain=...) (default: the config's).")
@click.option(
    "--recursive",
    "-r",
    is_flag=True,
    help="FILE is a folder: deploy the environments of every Python file under it (.gitignore'd files left out).",
)
@click.option("--all", "all_", is_flag=True, help="Every environment of FILE (as when no ENVS are named).")
@click.option(
    "--ignore-load-errors", "-i", is_flag=True, help="With --recursive: skip files that fail to import (each named)."
)
@click.option(
    "--root-dir",
    type=click.Path(exists=True, file_okay=False),
    help="The folder FILE's module name is taken from (dir/pkg/mod.py is pkg.mod), as flyte run --root-dir.",
)
@click.option(
    "--copy-style",
    type=click.Choice(["loaded_modules", "all", "none", "custom"]),
    help="The reference's code upload: no effect here (a cluster's images get the code from flyte build).",
)
@click.option("--no-sync-local-sys-paths", is_flag=True, help="The reference's code upload: no effect here.")
def deploy_command(
    file: str | None,
    envs: tuple[str, ...],
    dryrun: bool,
    version: str | None,
    list_: bool,
    config: str | None,
    project: str | None,
    domain: str | None,
    recursive: bool,
    all_: bool,
    ignore_load_errors: bool,
    root_dir: str | None,
    copy_style: str | None,
    no_sync_local_sys_paths: bool,
) -> None:
    """Deploy the environments ENVS of FILE (all of them when none is named, or with --all;
    with --recursive FILE is a folder) and every environment they depend on. Locally the
    deployment is recorded (see --list); with a `kubernetes:` config section the rendered
    objects, CronJobs for triggers included, are applied to the cluster."""
    import flyte
    from flyte._deploy import deploy, deployments
    from flyte.cli.ignored import no_effect
    from flyte.environment import TaskEnvironment
    from flyte.errors import FlyteError

    if list_:
        for row in deployments():
            triggers = f"  triggers: {', '.join(row['triggers'])}" if row["triggers"] else ""
            click.echo(f"{row['env']}  {row['task']}  {row['version']}  ({row['backend']}){triggers}")
        return
    if file is None:
        raise click.UsageError("FILE is required (or pass --list)")
    if all_ and envs:
        raise click.UsageError(f"--all deploys every environment; not with ENVS ({', '.join(envs)})")
    if copy_style is not None or no_sync_local_sys_paths:
        option = "--copy-style" if copy_style is not None else "--no-sync-local-sys-paths"
        no_effect(option, why="code is not uploaded; a cluster's images get it from flyte build")
    import contextlib
    import io

    from flyte import _image_refs

    scope = {k: v for k, v in (("project", project), ("domain", domain)) if v is not None}
    # FILE's module-level code sees the project and domain deployed to (flyte.current_domain()
    # choosing an environment), as with the reference SDK: settle them quietly before the
    # import (errors are reported by the initialisation below).
    with contextlib.suppress(FlyteError, ValueError, TypeError), contextlib.redirect_stderr(io.StringIO()):
        flyte.init_from_config(config, **scope, images=_image_refs.known())
    modules = _load(file, recursive, ignore_load_errors, root_dir)
    if envs:
        targets = [_find_env(modules, name, file) for name in envs]
    else:
        found = (v for m in modules for v in vars(m).values() if isinstance(v, TaskEnvironment))
        targets = list({id(v): v for v in found}.values())
        if not targets:
            raise click.BadParameter(f"{file} defines no flyte.TaskEnvironment", param_hint="FILE")
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


def _load(file: str, recursive: bool, ignore_errors: bool, root_dir: str | None) -> list[Any]:
    """The modules to deploy from: FILE's, or with --recursive those of every Python file
    under the folder FILE (in path order; those .gitignore leaves out are skipped)."""
    from flyte._loader import load_file

    path = Path(file)
    if path.is_dir() != recursive:
        hint = "a folder needs --recursive" if path.is_dir() else "--recursive needs a folder"
        raise click.BadParameter(
            f"{file!r}: {hint} (accepted: a Python file, or a folder with --recursive)", param_hint="FILE"
        )
    if not recursive:
        return [load_file(file, root_dir)]
    from flyte._ignore import kept_files

    modules = []
    for relative, found in kept_files(path):
        if not relative.endswith(".py"):
            continue
        try:
            modules.append(load_file(found, root_dir))
        except Exception as exc:
            if not ignore_errors:
                raise click.ClickException(
                    f"{found}: {type(exc).__name__}: {exc} (--ignore-load-errors skips such files)"
                ) from None
            click.echo(f"flyte: skipped {found}: {type(exc).__name__}: {exc}", err=True)
    return modules


def _find_env(modules: list[Any], name: str, file: str) -> Any:
    """Environment ``name`` of the only module, or of any module of a folder."""
    from flyte._loader import find
    from flyte.environment import TaskEnvironment

    if len(modules) == 1:
        return find(modules[0], name, (TaskEnvironment,))
    for module in modules:
        value = getattr(module, name, None)
        if isinstance(value, TaskEnvironment):
            return value
    raise click.BadParameter(f"no flyte.TaskEnvironment {name!r} in the files under {file}", param_hint="ENVS")
