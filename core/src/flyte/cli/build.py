"""``flyte build FILE TARGET``: the images a task or environment tree needs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from flyte._build import engine_problem
from flyte.cli.images import image_refs_option


def images_for(obj: object) -> list:
    """The distinct images of every environment reachable from a task's or environment's
    environment through depends_on (and only those), each with a module of a task using it
    (which decides the code the image ships) and the environment's ``include`` files (an
    image shared by environments that include different files is built once for each)."""
    from flyte.environment import TaskEnvironment
    from flyte.image import Image

    env = obj if isinstance(obj, TaskEnvironment) else obj.env  # type: ignore[attr-defined]
    seen: dict[tuple[str, tuple[str, ...]], tuple[object, str | None, tuple[str, ...]]] = {}
    for each in env.reachable():
        image = each.settings.get("image") or Image.from_debian_base()
        include = each.settings.get("include", ())
        key = (image.uri if isinstance(image, Image) else image, include)
        module = next((t.spec.module for t in each.tasks.values()), None)
        if key not in seen or seen[key][1] is None:
            seen[key] = (image, module, include)
    return list(seen.values())


@click.command("build")
@image_refs_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("target")
@click.option("--dry-run", is_flag=True, help="Print each image and its Dockerfile; build nothing.")
@click.option(
    "--context",
    "context_dir",
    type=click.Path(file_okay=False),
    help="Write each image's build context (Dockerfile, flyte wheels, your code) under this folder and keep it.",
)
@click.option("--push", is_flag=True, help="Push each image after building it.")
def build_command(file: str, target: str, dry_run: bool, context_dir: str | None, push: bool) -> None:
    """Build the images TARGET (a task or an environment) needs in FILE.

    Each image gets the flyte distributions in use (wheels built from a source install, or
    pinned versions) and the program's code, copied into /root."""
    from flyte._loader import find, load_file
    from flyte.environment import TaskEnvironment
    from flyte.image import Image
    from flyte.render.build_context import BuildContext, context_for
    from flyte.task import TaskTemplate

    obj = find(load_file(file), target, (TaskTemplate, TaskEnvironment))
    images = images_for(obj)
    problem = None if dry_run else engine_problem()
    if problem and any(isinstance(i, Image) and not i.is_prebuilt for i, _, _ in images):
        raise click.ClickException(problem + " (use --dry-run to see the Dockerfiles)")
    for image, module, include in images:
        if not isinstance(image, Image) or image.is_prebuilt:
            ref = image if isinstance(image, str) else image.uri
            click.echo(f"# {ref}: an existing image, nothing to build")
            continue
        context = context_for(image, module, include) if module else BuildContext(image)
        if context_dir:
            folder = context.write(Path(context_dir) / context.uri.rpartition("/")[2].replace(":", "-"))
            click.echo(f"# build context of {context.uri}: {folder}", err=True)
        if dry_run:
            click.echo(f"# image {context.uri}\n{context.dockerfile()}")
            continue
        if context_dir:
            _docker_build(context, folder, push)
        else:
            with tempfile.TemporaryDirectory(prefix="flyte-build-") as tmp:
                _docker_build(context, context.write(Path(tmp)), push)


def _docker_build(context: object, folder: Path, push: bool) -> None:
    from flyte._build import docker_build
    from flyte.errors import ImageBuildError

    try:
        docker_build(context, folder, push)
    except ImageBuildError as exc:
        raise click.ClickException(str(exc)) from None
