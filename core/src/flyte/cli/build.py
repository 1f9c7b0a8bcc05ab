"""``flyte build FILE TARGET``: the images a task or environment tree needs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import click


def images_for(obj: object) -> list:
    """The distinct images of every environment reachable from a task's or environment's
    environment through depends_on (and only those)."""
    from flyte.environment import TaskEnvironment
    from flyte.image import Image

    env = obj if isinstance(obj, TaskEnvironment) else obj.env  # type: ignore[attr-defined]
    seen: dict[str, object] = {}
    for each in env.reachable():
        image = each.settings.get("image") or Image.from_debian_base()
        key = image.uri if isinstance(image, Image) else image
        seen.setdefault(key, image)
    return list(seen.values())


def engine_problem() -> str | None:
    """Why no local container engine can build, or None when one can."""
    docker = shutil.which("docker")
    if docker is None:
        return "no container engine found: install Docker (with BuildKit) to build images"
    probe = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"the docker CLI is installed but no Docker engine answers ({reason}); start one to build images"
    return None


@click.command("build")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("target")
@click.option("--dry-run", is_flag=True, help="Print each image and its Dockerfile; build nothing.")
@click.option("--push", is_flag=True, help="Push each image after building it.")
def build_command(file: str, target: str, dry_run: bool, push: bool) -> None:
    """Build the images TARGET (a task or an environment) needs in FILE."""
    from flyte._loader import find, load_file
    from flyte.environment import TaskEnvironment
    from flyte.image import Image
    from flyte.render.dockerfile import context_files, dockerfile
    from flyte.task import TaskTemplate

    obj = find(load_file(file), target, (TaskTemplate, TaskEnvironment))
    images = images_for(obj)
    problem = None if dry_run else engine_problem()
    if problem and any(isinstance(i, Image) and not i.is_prebuilt for i in images):
        raise click.ClickException(problem + " (use --dry-run to see the Dockerfiles)")
    for image in images:
        if not isinstance(image, Image) or image.is_prebuilt:
            ref = image if isinstance(image, str) else image.uri
            click.echo(f"# {ref}: an existing image, nothing to build")
            continue
        text = dockerfile(image)
        if dry_run:
            click.echo(f"# image {image.uri}\n{text}")
            continue
        with tempfile.TemporaryDirectory(prefix="flyte-build-") as tmp:
            context = Path(tmp)
            (context / "Dockerfile").write_text(text)
            for name, source in context_files(image).items():
                if source.is_dir():
                    shutil.copytree(source, context / name)
                else:
                    shutil.copy2(source, context / name)
            command = ["docker", "buildx", "build", "-t", image.uri, "--platform", ",".join(image.platform)]
            for secret in {s.key for layer in image.layers for s in getattr(layer, "secret_mounts", ())}:
                command += ["--secret", f"id={secret},env={secret}"]
            if push:
                command.append("--push")
            click.echo(f"building {image.uri}", err=True)
            result = subprocess.run([*command, str(context)])
            if result.returncode != 0:
                raise click.ClickException(f"building {image.uri} failed (exit {result.returncode})")
