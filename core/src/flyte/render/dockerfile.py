"""``flyte.Image`` as a Dockerfile (BuildKit syntax).

Layers map one to one: apt packages, pip packages (installed with uv, honouring ``pre``,
``index_url`` and ``extra_index_urls``), requirements files, env vars, commands, workdir,
copied sources and projects (uv, Poetry, pixi: :mod:`flyte.render._project_steps`).
``secret_mounts`` become BuildKit secret mounts (``RUN --mount=type=secret,id=NAME,env=NAME``):
the value exists while that one step runs and never lands in a layer. Build with
``--secret id=NAME,env=NAME`` (``flyte build`` does).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import attrs

from flyte._version import __version__
from flyte.image import (
    AptPackages,
    Commands,
    CopySource,
    EnvVars,
    Image,
    Layer,
    PipPackages,
    PixiProject,
    PoetryProject,
    Requirements,
    UVProject,
    WorkDir,
)
from flyte.render import _project_steps as projects
from flyte.render.build_context import REFERENCE_CORE, requirement_name

SYNTAX = "# syntax=docker/dockerfile:1.10"
UV_IMAGE = "ghcr.io/astral-sh/uv:0.9"


def _secret_mounts(secrets: tuple) -> str:
    mounts = []
    for secret in secrets:
        env = secret.as_env_var or secret.env_var or secret.key.upper()
        mounts.append(f"--mount=type=secret,id={secret.key},env={env}")
    return " ".join(mounts) + (" " if mounts else "")


def _pip(layer: PipPackages) -> str:
    args = ["uv", "pip", "install", "--system", *projects.index_options(layer)]
    command = " ".join(shlex.quote(a) for a in args)
    if layer.extra_args:
        command += f" {layer.extra_args}"
    # Packages are double-quoted, not single-quoted: "$TOKEN" in a package URL must expand
    # from the secret mounted for this step.
    packages = " ".join(f'"{p}"' for p in layer.packages)
    return f"RUN --mount=type=cache,target=/root/.cache/uv {_secret_mounts(layer.secret_mounts)}{command} {packages}"


def context_files(image: Image) -> dict[str, Path]:
    """Files the build context must hold: name in the context -> local file or folder."""
    files: dict[str, Path] = {}
    for index, layer in enumerate(image.layers):
        if isinstance(layer, Requirements):
            files[f"requirements-{index}.txt"] = Path(layer.file)
        elif isinstance(layer, CopySource):
            files[f"src-{index}"] = Path(layer.src)
        elif isinstance(layer, (UVProject, PoetryProject, PixiProject)):
            files.update(projects.project_files(layer, index))
    return files


def dockerfile(
    image: Image,
    *,
    flyte_wheels: bool = False,
    flyte_pins: tuple[str, ...] | None = None,
    replaced: tuple[str, ...] = (),
    code: bool = False,
) -> str:
    """The Dockerfile that builds ``image``.

    How flyte gets in (when ``install_flyte``): ``flyte_wheels`` installs every wheel of the
    context's ``flyte-wheels/``, ``flyte_pins`` are requirements installed with them (default:
    this ``flyte-core`` version). Requirements of pip layers that name a distribution in
    ``replaced`` are dropped (the context delivers that distribution). ``code`` copies the
    context's ``code/`` into the work dir, last, since it changes most often.
    (:class:`flyte.render.build_context.BuildContext` sets all of these.)
    """
    if image.dockerfile is not None:
        return image.dockerfile
    lines = [SYNTAX, f"FROM {image.base}"]
    needs_uv = image.install_flyte or any(
        isinstance(layer, (PipPackages, Requirements, UVProject, PoetryProject, PixiProject)) for layer in image.layers
    )
    if needs_uv:
        lines.append(f"COPY --from={UV_IMAGE} /uv /usr/local/bin/uv")
    lines += ["ENV PYTHONUNBUFFERED=1", "WORKDIR /root"]
    dropped = {name for name in map(requirement_name, replaced) if name}
    # flyte goes in first (it changes least), except where a layer replaces the Python (pixi)
    # or installs what it is given whole (Poetry, pixi): then right after the last such layer.
    whole = [i for i, layer in enumerate(image.layers) if isinstance(layer, (PoetryProject, PixiProject))]
    last = whole[-1] if whole else -1
    if image.install_flyte and last < 0:
        lines += _install_flyte(flyte_wheels, flyte_pins)
    for index, layer in enumerate(image.layers):
        lines += _layer(layer, index, dropped)
        if image.install_flyte and index == last:
            lines += _install_flyte(flyte_wheels, flyte_pins, dropped)
    if code:
        lines.append("COPY code/ /root/")
    return "\n".join(lines) + "\n"


def _install_flyte(wheels: bool, pins: tuple[str, ...] | None, dropped: set[str] = frozenset()) -> list[str]:
    """flyte's own distributions; after a Poetry or pixi layer, the reference SDK's ``flyte``
    that a project may list is removed first (it holds the same ``flyte`` package)."""
    pins = (f"flyte-core=={__version__}",) if pins is None else pins
    wanted = [f'"{p}"' for p in pins]
    lines = []
    if wheels:
        lines.append("COPY flyte-wheels/ /tmp/flyte-wheels/")
        wanted.insert(0, "/tmp/flyte-wheels/*.whl")
    command = f"uv pip install --system {' '.join(wanted)}"
    if REFERENCE_CORE in dropped:
        command = f"uv pip uninstall --system {REFERENCE_CORE} && {command} --reinstall"
    lines.append(f"RUN --mount=type=cache,target=/root/.cache/uv {command}")
    return lines


def _layer(layer: Layer, index: int, dropped: set[str]) -> list[str]:
    secrets = _secret_mounts(getattr(layer, "secret_mounts", ()))
    if isinstance(layer, AptPackages):
        packages = " ".join(shlex.quote(p) for p in layer.packages)
        return [
            "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
            f"{secrets}apt-get update && apt-get install -y --no-install-recommends {packages} "
            "&& rm -rf /var/lib/apt/lists/*"
        ]
    if isinstance(layer, PipPackages):
        kept = tuple(p for p in layer.packages if requirement_name(p) not in dropped)
        return [_pip(attrs.evolve(layer, packages=kept))] if kept else []
    if isinstance(layer, Requirements):
        name = f"requirements-{index}.txt"
        command = " ".join(shlex.quote(a) for a in ["uv", "pip", "install", "--system", *projects.index_options(layer)])
        if layer.extra_args:
            command += f" {layer.extra_args}"
        return [
            f"COPY {name} /tmp/{name}",
            f"RUN --mount=type=cache,target=/root/.cache/uv {secrets}{command} -r /tmp/{name}",
        ]
    if isinstance(layer, EnvVars):
        return ["ENV " + " ".join(f"{k}={_env_value(v)}" for k, v in layer.env_vars)]
    if isinstance(layer, Commands):
        return [f"RUN {secrets}{command}" for command in layer.commands]
    if isinstance(layer, WorkDir):
        return [f"WORKDIR {layer.workdir}"]
    if isinstance(layer, CopySource):
        return [f"COPY src-{index} {layer.dst}"]
    if isinstance(layer, UVProject):
        return projects.uv_project(layer, index, secrets, dropped)
    if isinstance(layer, PoetryProject):
        return projects.poetry_project(layer, index, secrets)
    if isinstance(layer, PixiProject):
        return projects.pixi_project(layer, index, secrets)
    return []  # DockerIgnore, CodeBundle: they shape the build context, not a step


def _env_value(value: str) -> str:
    """A value for ENV: bare when it has no space or quote, else double-quoted (quotes and
    backslashes escaped); either way ``$PATH`` expands to the base image's value, as in any
    Dockerfile (``{"PATH": "/opt/venv/bin:$PATH"}``)."""
    if re.fullmatch(r"[\w./:@%+,=${}-]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
