"""``flyte create config``: write a config file, laid out as the reference SDK writes it, that
``flyte.init_from_config()`` (and so ``flyte run``/``flyte deploy``) reads."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from flyte.cli.secrets import checked_name

DEFAULT_PATH = Path(".flyte") / "config.yaml"  # the reference's; found by init_from_config from this folder
# --devbox: the reference's shortcut for its local devbox cluster.
DEVBOX = {"endpoint": "dns:///localhost:30080", "insecure": True, "project": "flytesnacks", "domain": "development"}


@click.command("config")
@click.option("--endpoint", help="The reference SDK's control plane (admin.endpoint; ignored by this library).")
@click.option("--insecure", is_flag=True, help="admin.insecure, for the reference SDK.")
@click.option("--org", help="task.org, for the reference SDK.")
@click.option("--project", "-p", callback=checked_name, help="task.project: the project runs are recorded under.")
@click.option("--domain", "-d", callback=checked_name, help="task.domain: the domain runs are recorded under.")
@click.option(
    "--image-builder",
    "--builder",
    type=click.Choice(["local", "local-podman", "remote"]),
    default="local",
    show_default=True,
    help="image.builder, for the reference SDK (flyte build here uses the docker CLI).",
)
@click.option("--registry", help="image.registry: the base registry of built images, for the reference SDK.")
@click.option("--auth-type", help="admin.authType, for the reference SDK.")
@click.option(
    "--devbox",
    is_flag=True,
    help="The reference's devbox cluster: --endpoint dns:///localhost:30080 --insecure -p flytesnacks -d development.",
)
@click.option("--local-persistence", is_flag=True, help="Accepted: runs are always recorded here (flyte runs list).")
@click.option("--local-tracked", is_flag=True, help="Accepted: no control plane to report runs to here.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_PATH,
    show_default=True,
    help="The file to write.",
)
@click.option("--force", is_flag=True, help="Overwrite the file if it exists (without asking).")
def create_config(
    endpoint: str | None,
    insecure: bool,
    org: str | None,
    project: str | None,
    domain: str | None,
    image_builder: str,
    registry: str | None,
    auth_type: str | None,
    devbox: bool,
    local_persistence: bool,
    local_tracked: bool,
    output: Path,
    force: bool,
) -> None:
    """Write a config file (.flyte/config.yaml unless -o): task.project and task.domain, which
    flyte run, flyte deploy and flyte.init_from_config() read from it, and the reference SDK's
    admin and image settings, which this library accepts and ignores."""
    from flyte.cli.ignored import NO_CONTROL_PLANE, no_effect

    if devbox:
        if endpoint is not None:
            raise click.UsageError("--devbox names its endpoint; give --devbox or --endpoint, not both")
        endpoint, insecure = DEVBOX["endpoint"], True
        project, domain = project or DEVBOX["project"], domain or DEVBOX["domain"]
    if output.exists() and not force:
        if not sys.stdin.isatty():
            raise click.ClickException(f"{output} exists; --force overwrites it")
        click.confirm(f"Overwrite {output}?", abort=True)
    _write(output, _layout(endpoint, insecure, auth_type, org, project, domain, image_builder, registry))
    click.echo(f"Config file written to {output}")
    if local_tracked:
        no_effect("--local-tracked", why=NO_CONTROL_PLANE)
    if local_persistence:
        no_effect("--local-persistence", why="runs are always recorded under the state root (flyte runs list)")


def _layout(
    endpoint: str | None,
    insecure: bool,
    auth_type: str | None,
    org: str | None,
    project: str | None,
    domain: str | None,
    builder: str,
    registry: str | None,
) -> dict[str, Any]:
    """The file's sections, as the reference SDK lays them out (only what was given)."""
    admin = {"endpoint": endpoint, "insecure": insecure or None, "authType": auth_type}
    task = {"org": org, "project": project, "domain": domain}
    image = {"builder": builder, "registry": registry}
    sections = {"admin": admin, "image": image, "task": task}
    return {name: {k: v for k, v in body.items() if v is not None} for name, body in sections.items()}


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write the YAML whole or not at all: a crash leaves the old file (or none), never half."""
    import yaml

    text = yaml.safe_dump({k: v for k, v in data.items() if v}, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
