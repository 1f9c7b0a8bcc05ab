"""``flyte.build(image)``: the reference SDK's Python call that builds an image, as ``flyte build
FILE TARGET`` does from the command line: with the local Docker engine (BuildKit), pushed when
the image names a registry (the guide's local image building). Without an engine it is an
``ImageBuildError`` saying what is missing; ``dry_run=True`` only names the image."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs

from flyte._validation import wrong_type
from flyte.errors import ConfigurationError, ImageBuildError


@attrs.frozen
class ImageBuild:
    """What :func:`build` gives back: the image's ``uri``. ``remote_run`` and ``build_run`` are
    the reference's remote builder's run, None here (a local build runs no task)."""

    uri: str | None
    remote_run: Any = None
    build_run: Any = None


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


def docker_build(context: Any, folder: Path, push: bool) -> None:
    """Build (and with ``push``, push) the image of a written build context."""
    image, uri = context.image, context.uri
    command = ["docker", "buildx", "build", "-t", uri, "--platform", ",".join(image.platform)]
    for secret in {s.key for layer in image.layers for s in getattr(layer, "secret_mounts", ())}:
        command += ["--secret", f"id={secret},env={secret}"]
    if push:
        command.append("--push")
    print(f"building {uri}", file=sys.stderr)
    result = subprocess.run([*command, str(folder)])
    if result.returncode != 0:
        raise ImageBuildError(f"building {uri} failed (exit {result.returncode})")


def build(image: Any, dry_run: bool = False, force: bool = False, wait: bool = True) -> ImageBuild:
    """Build ``image`` (a ``flyte.Image``; a ``TaskEnvironment`` builds its image with the code
    of its tasks, as ``flyte build`` does) and return its :class:`ImageBuild`. An existing image
    (``Image.from_base("repo:tag")``, an image reference string) is not built. ``force``
    rebuilds an image the engine already has; ``wait=False`` is accepted (a local build is
    finished before the call returns)."""
    from flyte.environment import TaskEnvironment
    from flyte.image import Image
    from flyte.render.build_context import BuildContext, _flyte_distributions, context_for

    for param, value in (("dry_run", dry_run), ("force", force), ("wait", wait)):
        if not isinstance(value, bool):
            wrong_type(param, value, "True or False")
    env = image if isinstance(image, TaskEnvironment) else None
    if env is not None:
        image = env.settings.get("image") or Image.from_debian_base()
    if isinstance(image, str):  # an image reference: built elsewhere
        return ImageBuild(uri=image)
    if not isinstance(image, Image):
        wrong_type("image", image, "a flyte.Image or a flyte.TaskEnvironment (whose image is built)")
    if image.is_prebuilt:
        return ImageBuild(uri=image.uri)
    # The image as the program's tasks run in it (flyte and their code in it, as flyte build and
    # the rendered pods have it): of the environment given, else of the running script's
    # environment with this image; else the image with flyte and no code.
    env = env or next((e for e in _script_environments() if _image_of(e) == image and e.tasks), None)
    module = next((t.spec.module for t in env.tasks.values()), None) if env is not None else None
    if module is not None:
        context = context_for(image, module, env.settings.get("include", ()))
    else:
        context = BuildContext(image, _flyte_distributions(image, {}) if image.install_flyte else ())
    uri = context.uri  # (a placeholder registry or name is refused here, naming it)
    if dry_run:
        return ImageBuild(uri=uri)
    problem = engine_problem()
    if problem is not None:
        raise ImageBuildError(f"flyte.build: {problem} (flyte.build(image, dry_run=True) names {uri} without building)")
    if not force and _built(uri):
        return ImageBuild(uri=uri)
    with tempfile.TemporaryDirectory(prefix="flyte-build-") as tmp:
        docker_build(context, context.write(Path(tmp)), push=image.registry is not None)
    return ImageBuild(uri=uri)


@attrs.frozen
class ImageCache:
    """What :func:`build_images` gives back: each environment's name and its image's uri."""

    image_lookup: dict[str, str]

    def repr(self) -> list[list[tuple[str, str]]]:
        """Rows of (field, value) pairs, one per environment, as the reference prints them."""
        return [[("Name", name), ("image", uri)] for name, uri in self.image_lookup.items()]


COPY_STYLES = ("loaded_modules", "all", "none")


def build_images(*envs: Any, copy_style: str = "loaded_modules", seed_cache: ImageCache | None = None) -> ImageCache:
    """Build the images of ``envs`` and of every environment they depend on (each distinct
    image once), as :func:`build` builds one; environments in ``seed_cache`` keep the uri it
    records. ``copy_style`` is the reference's code-shipping choice: the image's
    ``with_code_bundle`` decides it here."""
    from flyte.environment import TaskEnvironment

    if copy_style not in COPY_STYLES:
        from flyte._validation import invalid

        invalid("copy_style", copy_style, ", ".join(repr(c) for c in COPY_STYLES))
    if seed_cache is not None and not isinstance(seed_cache, ImageCache):
        wrong_type("seed_cache", seed_cache, "the ImageCache a previous build_images returned")
    if not envs:
        raise ConfigurationError("flyte.build_images: name at least one flyte.TaskEnvironment")
    lookup: dict[str, str] = {}
    seeded = seed_cache.image_lookup if seed_cache is not None else {}
    for env in envs:
        if not isinstance(env, TaskEnvironment):
            wrong_type("envs", env, "flyte.TaskEnvironment objects")
        for each in env.reachable():
            if each.name not in lookup:
                lookup[each.name] = seeded.get(each.name) or build(each).uri  # type: ignore[assignment]
    return ImageCache(image_lookup=lookup)


async def _build_images_aio(*envs: Any, **options: Any) -> ImageCache:
    """``await flyte.build_images.aio(env)``: :func:`build_images` off the caller's event loop."""
    return await asyncio.to_thread(lambda: build_images(*envs, **options))


build_images.aio = _build_images_aio  # type: ignore[attr-defined]


def _image_of(env: Any) -> Any:
    from flyte.image import Image

    return env.settings.get("image") or Image.from_debian_base()


def _script_environments() -> list[Any]:
    """The TaskEnvironments the running script (``__main__``) defines."""
    from flyte.environment import TaskEnvironment

    main = sys.modules.get("__main__")
    return [v for v in list(vars(main).values()) if isinstance(v, TaskEnvironment)] if main else []


def _built(uri: str) -> bool:
    """Whether the engine already has the image (its tag is derived from its definition)."""
    return subprocess.run(["docker", "image", "inspect", uri], capture_output=True).returncode == 0


async def _build_aio(image: Any, dry_run: bool = False, force: bool = False, wait: bool = True) -> ImageBuild:
    """``await flyte.build.aio(image)``: :func:`build` off the caller's event loop."""
    return await asyncio.to_thread(build, image, dry_run, force, wait)


build.aio = _build_aio  # type: ignore[attr-defined]
