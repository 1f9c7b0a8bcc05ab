"""``flyte.build(image)`` (public examples call it before deploying): the image built with the
local Docker engine as ``flyte build`` builds it, pushed when it names a registry; without an
engine a clear ImageBuildError; ``dry_run`` only names it."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

import flyte
from flyte.errors import ConfigurationError, ImageBuildError

IMAGE = flyte.Image.from_debian_base(name="built", registry="localhost:5000").with_pip_packages("ruff")


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker CLI on PATH whose engine answers, has no image yet, and records each build."""
    log = tmp_path / "docker.log"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'case "$1" in info) echo 27.0;; image) [ -e "' + str(tmp_path / "have") + '" ] || exit 1;; esac\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def test_build_runs_the_engine_pushes_to_the_registry_and_skips_what_it_has(fake_docker: Path, tmp_path: Path):
    uri = flyte.build(IMAGE, dry_run=True).uri  # the image with flyte in it: its own tag
    assert uri.startswith("localhost:5000/built:") and not fake_docker.exists()
    result = flyte.build(IMAGE)
    assert isinstance(result, flyte.ImageBuild) and result.uri == uri and result.remote_run is None
    (build,) = [line for line in fake_docker.read_text().splitlines() if line.startswith("buildx build")]
    assert f"-t {uri}" in build and "--push" in build
    (tmp_path / "have").touch()  # the engine has it now: built again only with force=True
    assert asyncio.run(flyte.build.aio(IMAGE)).uri == uri
    assert fake_docker.read_text().count("buildx build") == 1
    flyte.build(IMAGE, force=True)
    assert fake_docker.read_text().count("buildx build") == 2


@pytest.fixture
def env_with_task() -> flyte.TaskEnvironment:
    env = flyte.TaskEnvironment(name="build_api_env", image=IMAGE)

    @env.task
    def hello() -> str:
        return "hi"

    return env


def test_an_environment_builds_the_image_its_pods_run_and_existing_images_are_not_built(
    fake_docker: Path, env_with_task: flyte.TaskEnvironment
):
    from flyte.render.build_context import context_for

    (task,) = env_with_task.tasks.values()
    rendered = context_for(IMAGE, task.spec.module).uri  # what a rendered pod of the task runs
    assert flyte.build(env_with_task, dry_run=True).uri == rendered
    assert flyte.build(flyte.Image.from_base("python:3.12-slim")).uri == "python:3.12-slim"
    assert flyte.build("docker.io/myorg/myimage:v1").uri == "docker.io/myorg/myimage:v1"
    assert not fake_docker.exists()  # nothing was asked of the engine


def test_no_engine_bad_arguments_and_placeholders_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker at all
    with pytest.raises(ImageBuildError, match=r"no container engine found: install Docker .*dry_run=True"):
        flyte.build(IMAGE)
    assert flyte.build(IMAGE, dry_run=True).uri.startswith("localhost:5000/built:")  # needs no engine
    with pytest.raises(ConfigurationError, match="image: expected a flyte.Image or a flyte.TaskEnvironment"):
        flyte.build(5)
    with pytest.raises(ConfigurationError, match="force: expected True or False, got str 'yes'"):
        flyte.build(IMAGE, force="yes")
    placeholder = flyte.Image.from_debian_base(name="x", registry="<my-container-registry>")
    with pytest.raises(ConfigurationError, match="is a placeholder: name your registry"):
        flyte.build(placeholder, dry_run=True)


def test_build_images_builds_each_environment_it_reaches_once(fake_docker: Path, env_with_task: flyte.TaskEnvironment):
    other = flyte.TaskEnvironment(
        name="build_api_other", image=IMAGE.with_pip_packages("pytest"), depends_on=[env_with_task]
    )
    cache = flyte.build_images(other)
    assert set(cache.image_lookup) == {"build_api_other", "build_api_env"}
    assert cache.image_lookup["build_api_env"] == flyte.build(env_with_task, dry_run=True).uri
    assert fake_docker.read_text().count("buildx build") == 2
    assert cache.repr()[0][0] == ("Name", "build_api_other")
    again = flyte.build_images(other, seed_cache=cache)  # seeded: nothing is built again
    assert again == cache and fake_docker.read_text().count("buildx build") == 2
    with pytest.raises(ConfigurationError, match="copy_style: 'some' is not valid"):
        flyte.build_images(other, copy_style="some")
    with pytest.raises(ConfigurationError, match="envs: expected flyte.TaskEnvironment objects, got Image"):
        flyte.build_images(IMAGE)
