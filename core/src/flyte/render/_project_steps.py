"""The build steps of the project layers (uv, Poetry, pixi) and the files their build context
holds. uv and Poetry steps see the project through a BuildKit bind mount (nothing of it stays
in a layer but what gets installed, and the project is installed as a wheel, not editable);
a pixi project is copied, since its environment lives inside the project folder."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from flyte._image_projects import PixiProject, PoetryProject, UVProject

PIXI_IMAGE = "ghcr.io/prefix-dev/pixi:0.72.2"
POETRY = "poetry>=2,<3"
POETRY_HOME = "/opt/poetry"  # Poetry in a venv of its own: its dependencies never meet the project's
PIXI_HOME = "/opt/pixi"
UV_CACHE = "--mount=type=cache,target=/root/.cache/uv"
# Where an installer that manages environments (Poetry) must install: the Python the tasks run.
TARGET_PREFIX = "\"$(python3 -c 'import sys; print(sys.prefix)')\""


def context_name(layer: UVProject | PoetryProject | PixiProject, index: int) -> str:
    kind = {UVProject: "uvproject", PoetryProject: "poetryproject", PixiProject: "pixiproject"}[type(layer)]
    return f"{kind}-{index}"


def project_files(layer: UVProject | PoetryProject | PixiProject, index: int) -> dict[str, Path]:
    """Build-context name -> local file or folder (folders are copied less what is ignored).
    The manifest and lock are listed after the folder, so an ignore file cannot drop them."""
    name = context_name(layer, index)
    if isinstance(layer, UVProject):
        project = Path(layer.pyproject).parent
        here = f"{name}/{layer.project_dir}".removesuffix("/.")
        files: dict[str, Path] = {}
        if layer.project_install_mode == "install_project":
            files[here] = project
        for source in layer.path_sources:
            files[f"{name}/{Path(os.path.relpath(source, layer.root)).as_posix()}"] = Path(source)
        files[f"{here}/pyproject.toml"] = Path(layer.pyproject)
        if layer.uvlock:
            files[f"{here}/uv.lock"] = Path(layer.uvlock)
        return files
    manifest = Path(layer.pyproject if isinstance(layer, PoetryProject) else layer.manifest)
    lock = layer.poetry_lock if isinstance(layer, PoetryProject) else layer.pixi_lock
    files = {name: manifest.parent} if layer.project_install_mode == "install_project" else {}
    files[f"{name}/{manifest.name}"] = manifest
    if lock:
        files[f"{name}/{'poetry.lock' if isinstance(layer, PoetryProject) else 'pixi.lock'}"] = Path(lock)
    return files


def uv_project(layer: UVProject, index: int, secrets: str, dropped: set[str]) -> list[str]:
    name = context_name(layer, index)
    folder = f"/tmp/{name}"
    project = f"{folder}/{layer.project_dir}".removesuffix("/.")
    resolve = index_options(layer)
    export = ["uv", "export", "--no-hashes", "--no-editable"]
    if layer.uvlock:
        export.append("--frozen")  # exactly the locked versions
    if layer.project_install_mode == "dependencies_only":
        export.append("--no-emit-project")
    for package in sorted(dropped):  # the image's flyte, not the one the project lists, nor what only it needs
        export += ["--prune", package]
    command = " ".join(shlex.quote(a) for a in [*export, *resolve])
    if layer.extra_args:
        command += f" {layer.extra_args}"
    # The export is the whole locked closure: install exactly it, resolving nothing again
    # (and never by the project's sources, which would make its path dependencies editable).
    install = " ".join(shlex.quote(a) for a in ["uv", "pip", "install", "--system", "--no-deps", *resolve])
    return [
        f"RUN {UV_CACHE} --mount=type=bind,source={name},target={folder},rw {secrets}"
        f"cd {shlex.quote(project)} && {command} -o .flyte-requirements.txt && {install} -r .flyte-requirements.txt"
    ]


def poetry_project(layer: PoetryProject, index: int, secrets: str) -> list[str]:
    name = context_name(layer, index)
    folder = f"/tmp/{name}"
    args = shlex.split(layer.extra_args or "")
    no_root = "--no-root" in args
    if not no_root:
        args.append("--no-root")  # the project itself goes in as a wheel, below
    poetry = " ".join(shlex.quote(a) for a in [f"{POETRY_HOME}/bin/poetry", "install", "--no-interaction", *args])
    command = f"cd {folder} && POETRY_VIRTUALENVS_CREATE=false VIRTUAL_ENV={TARGET_PREFIX} {poetry}"
    if layer.project_install_mode == "install_project" and not no_root:
        command += " && uv pip install --system --no-deps ."
    return [
        f"RUN {UV_CACHE} [ -x {POETRY_HOME}/bin/poetry ] || "
        f'(uv venv --python python3 {POETRY_HOME} && uv pip install --python {POETRY_HOME}/bin/python "{POETRY}")',
        f"RUN {UV_CACHE} --mount=type=cache,target=/root/.cache/pypoetry "
        f"--mount=type=bind,source={name},target={folder},rw {secrets}{command}",
    ]


def pixi_project(layer: PixiProject, index: int, secrets: str) -> list[str]:
    name = context_name(layer, index)
    folder = f"{PIXI_HOME}/{index}"
    manifest = f"{folder}/{Path(layer.manifest).name}"
    args = shlex.split(layer.extra_args or "")
    if layer.pixi_lock and "--frozen" not in args:
        args.insert(0, "--locked")  # pixi refuses --locked with --frozen: the user's choice wins
    install = ["pixi", "install", "--manifest-path", manifest, "--environment", layer.environment, *args]
    env = f"{folder}/.pixi/envs/{layer.environment}"
    return [
        f"COPY --from={PIXI_IMAGE} /usr/local/bin/pixi /usr/local/bin/pixi",
        f"COPY {name}/ {folder}/",
        f"RUN --mount=type=cache,target=/root/.cache/rattler {secrets}{' '.join(shlex.quote(a) for a in install)}",
        # The environment is the Python from here on: tasks, later layers and flyte itself.
        f'ENV PATH="{env}/bin:$PATH" UV_PYTHON={env}/bin/python CONDA_PREFIX={env} PIXI_PROJECT_MANIFEST={manifest}',
    ]


def index_options(layer: Any) -> list[str]:
    """uv's options for a layer's ``pre``, ``index_url`` and ``extra_index_urls`` (a pip
    packages layer's or a uv project's)."""
    options = []
    if layer.pre:
        options.append("--prerelease=allow")
    if layer.index_url:
        options += ["--index-url", layer.index_url]
    for url in layer.extra_index_urls:
        options += ["--extra-index-url", url]
    return options
