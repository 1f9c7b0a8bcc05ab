"""``flyte.Image`` as a Dockerfile (BuildKit syntax).

Layers map one to one: apt packages, pip packages (installed with uv, honouring ``pre``,
``index_url`` and ``extra_index_urls``), requirements files, env vars, commands, workdir and
copied sources. ``secret_mounts`` become BuildKit secret mounts
(``RUN --mount=type=secret,id=NAME,env=NAME``): the value exists while that one step runs and
never lands in a layer. Build with ``--secret id=NAME,env=NAME`` (``flyte build`` does).
"""

from __future__ import annotations

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
    PipPackages,
    Requirements,
    UVProject,
    WorkDir,
)
from flyte.render.build_context import requirement_name

SYNTAX = "# syntax=docker/dockerfile:1.10"
UV_IMAGE = "ghcr.io/astral-sh/uv:0.9"


def _secret_mounts(secrets: tuple) -> str:
    mounts = []
    for secret in secrets:
        env = secret.as_env_var or secret.env_var or secret.key.upper()
        mounts.append(f"--mount=type=secret,id={secret.key},env={env}")
    return " ".join(mounts) + (" " if mounts else "")


def _pip(layer: PipPackages) -> str:
    args = ["uv", "pip", "install", "--system"]
    if layer.pre:
        args.append("--prerelease=allow")
    if layer.index_url:
        args += ["--index-url", layer.index_url]
    for url in layer.extra_index_urls:
        args += ["--extra-index-url", url]
    command = " ".join(shlex.quote(a) for a in args)
    if layer.extra_args:
        command += f" {layer.extra_args}"
    # Packages are double-quoted, not single-quoted: "$TOKEN" in a package URL must expand
    # from the secret mounted for this step.
    packages = " ".join(f'"{p}"' for p in layer.packages)
    return f"RUN --mount=type=cache,target=/root/.cache/uv {_secret_mounts(layer.secret_mounts)}{command} {packages}"


def context_files(image: Image) -> dict[str, Path]:
    """Files the build context must hold: name in the context -> local source."""
    files: dict[str, Path] = {}
    for index, layer in enumerate(image.layers):
        if isinstance(layer, Requirements):
            files[f"requirements-{index}.txt"] = Path(layer.file)
        elif isinstance(layer, CopySource):
            files[f"src-{index}"] = Path(layer.src)
        elif isinstance(layer, UVProject):
            files[f"uvproject-{index}.toml"] = Path(layer.pyproject)
            if layer.uvlock:
                files[f"uvproject-{index}.lock"] = Path(layer.uvlock)
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
    lines = [SYNTAX, f"FROM {image.base_image}"]
    needs_uv = image.install_flyte or any(
        isinstance(layer, (PipPackages, Requirements, UVProject)) for layer in image.layers
    )
    if needs_uv:
        lines.append(f"COPY --from={UV_IMAGE} /uv /usr/local/bin/uv")
    lines += ["ENV PYTHONUNBUFFERED=1", "WORKDIR /root"]
    dropped = {requirement_name(r) for r in replaced}
    if image.install_flyte:
        pins = (f"flyte-core=={__version__}",) if flyte_pins is None else flyte_pins
        wanted = [f'"{p}"' for p in pins]
        if flyte_wheels:
            lines.append("COPY flyte-wheels/ /tmp/flyte-wheels/")
            wanted.insert(0, "/tmp/flyte-wheels/*.whl")
        lines.append(f"RUN --mount=type=cache,target=/root/.cache/uv uv pip install --system {' '.join(wanted)}")
    for index, layer in enumerate(image.layers):
        if isinstance(layer, AptPackages):
            packages = " ".join(shlex.quote(p) for p in layer.packages)
            lines.append(
                "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
                f"{_secret_mounts(layer.secret_mounts)}"
                f"apt-get update && apt-get install -y --no-install-recommends {packages} "
                "&& rm -rf /var/lib/apt/lists/*"
            )
        elif isinstance(layer, PipPackages):
            kept = tuple(p for p in layer.packages if requirement_name(p) not in dropped)
            if kept:
                lines.append(_pip(attrs.evolve(layer, packages=kept)))
        elif isinstance(layer, Requirements):
            name = f"requirements-{index}.txt"
            lines.append(f"COPY {name} /tmp/{name}")
            lines.append(
                f"RUN --mount=type=cache,target=/root/.cache/uv {_secret_mounts(layer.secret_mounts)}"
                f"uv pip install --system -r /tmp/{name}"
            )
        elif isinstance(layer, EnvVars):
            lines.append("ENV " + " ".join(f"{k}={shlex.quote(v)}" for k, v in layer.env_vars))
        elif isinstance(layer, Commands):
            for command in layer.commands:
                lines.append(f"RUN {_secret_mounts(layer.secret_mounts)}{command}")
        elif isinstance(layer, WorkDir):
            lines.append(f"WORKDIR {layer.workdir}")
        elif isinstance(layer, CopySource):
            lines.append(f"COPY src-{index} {layer.dst}")
        elif isinstance(layer, UVProject):
            lines += _uv_project(layer, index)
    if code:
        lines.append("COPY code/ /root/")
    return "\n".join(lines) + "\n"


def _uv_project(layer: UVProject, index: int) -> list[str]:
    folder = f"/tmp/uvproject-{index}"
    lines = [f"COPY uvproject-{index}.toml {folder}/pyproject.toml"]
    extra = f" {layer.extra_args}" if layer.extra_args else ""
    index_url = f" --index-url {shlex.quote(layer.index_url)}" if layer.index_url else ""
    if layer.uvlock:
        lines.append(f"COPY uvproject-{index}.lock {folder}/uv.lock")
        # The locked versions, exactly; the project itself is not installed (its code is the task's).
        install = (
            f"uv export --project {folder} --frozen --no-emit-project --no-hashes{extra} -o {folder}/requirements.txt"
            f" && uv pip install --system{index_url} -r {folder}/requirements.txt"
        )
    else:
        install = f"uv pip install --system{index_url} -r {folder}/pyproject.toml{extra}"
    lines.append(f"RUN --mount=type=cache,target=/root/.cache/uv {_secret_mounts(layer.secret_mounts)}{install}")
    return lines
