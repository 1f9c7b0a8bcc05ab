"""What a user installs and what an image holds actually runs, away from this repository.

- Every distribution builds a wheel (``pip wheel``), with the metadata an index shows.
- ``flyte build`` of a user project writes a build context holding the flyte wheels and the
  user's code; a fresh virtualenv that installs only those wheels (core + a plugin), with only
  the context's code on ``PYTHONPATH``, runs the rendered container command: inputs read from
  storage, outputs written there.

Docker is not needed: the context's Dockerfile does exactly these steps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = [
    "core",
    "plugins/ray",
    "plugins/pytorch",
    "connectors/bigquery",
    "connectors/snowflake",
    "examples/flyte-isolated",
]

HELPERS = """
def scale(values, factor):
    return [v * factor for v in values]
"""
TASKS = """
import os

import flyte
from flyte_isolated import Isolated

from shop.helpers import scale

image = flyte.Image.from_debian_base(name="shop")
env = flyte.TaskEnvironment(name="shop", image=image, plugin_config=Isolated(env={"MODE": "boxed"}),
                            env_vars={"CURRENCY": "EUR"})


@env.task
def total(prices: list[float], tax: float = 0.1) -> dict:
    import flyte as f
    return {
        "total": round(sum(scale(prices, 1 + tax)), 2),
        "currency": os.environ["CURRENCY"],
        "mode": os.environ.get("MODE"),
        "flyte_from": f.__file__,
        "data": open(os.path.join(os.path.dirname(__file__), "rates.json")).read().strip(),
    }
"""


def flyte_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user-project")
    package = root / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(HELPERS)
    (package / "tasks.py").write_text(textwrap.dedent(TASKS))
    (package / "rates.json").write_text('{"EUR": 1}\n')
    (package / "local-secrets.txt").write_text("do not ship\n")
    (package / "notes.tmp").write_text("scratch\n")
    (root / ".gitignore").write_text("local-secrets.txt\n")
    (root / ".dockerignore").write_text("*.tmp\n")
    (root / "unrelated.py").write_text("raise SystemExit('never imported, never shipped')\n")
    return root


@pytest.fixture(scope="module")
def context(project, tmp_path_factory) -> tuple[Path, str]:
    """(the build context folder, the image reference flyte build printed)."""
    out = tmp_path_factory.mktemp("contexts")
    result = flyte_cli("build", "shop/tasks.py", "shop", "--dry-run", "--context", str(out), cwd=project)
    assert result.returncode == 0, result.stderr
    (folder,) = out.iterdir()
    image = next(line.split()[2] for line in result.stdout.splitlines() if line.startswith("# image "))
    return folder, image


def test_every_distribution_builds_a_wheel_with_honest_metadata(tmp_path):
    for dist in DISTRIBUTIONS:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO / dist)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    wheels = sorted(tmp_path.glob("*.whl"))
    assert len(wheels) == len(DISTRIBUTIONS)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), wheel.name
        assert "Requires-Python: >=3.11" in metadata and "License-Expression: Apache-2.0" in metadata
        assert "Classifier: Programming Language :: Python :: 3.11" in metadata and "Project-URL: " in metadata
        description = metadata.split("\n\n", 1)[1]
        assert len(description) > 500, f"{wheel.name}: the README is its long description"
        if not wheel.name.startswith("flyte_core-"):
            assert re.search(r"^Requires-Dist: flyte-core(\[\w+\])?<0\.2,>=0\.1\.0", metadata, re.M), wheel.name


def test_the_build_context_holds_the_flyte_wheels_and_only_the_users_code(context, project):
    folder, image = context
    dockerfile = (folder / "Dockerfile").read_text()
    assert "COPY flyte-wheels/ /tmp/flyte-wheels/" in dockerfile and "/tmp/flyte-wheels/*.whl" in dockerfile
    assert "flyte-core==" not in dockerfile  # a source install ships its wheel, never an index pin
    assert dockerfile.rstrip().endswith("COPY code/ /root/")
    wheels = sorted(p.name.split("-")[0] for p in (folder / "flyte-wheels").glob("*.whl"))
    assert wheels == ["flyte_core", "flyte_isolated"]  # the core and the plugin the task uses
    shipped = sorted(p.relative_to(folder / "code").as_posix() for p in (folder / "code").rglob("*") if p.is_file())
    assert shipped == ["shop/__init__.py", "shop/helpers.py", "shop/rates.json", "shop/tasks.py"]
    rendered = flyte_cli("render", "shop/tasks.py", "total", "-o", "json", cwd=project)
    assert rendered.returncode == 0, rendered.stderr
    assert json.loads(rendered.stdout)["spec"]["template"]["spec"]["containers"][0]["image"] == image


@pytest.fixture(scope="module")
def image(context, tmp_path_factory) -> Path:
    """A folder standing for the image: the context, and a fresh virtualenv holding only the
    context's wheels (and what they depend on, from the index)."""
    folder, _ = context
    alone = tmp_path_factory.mktemp("image")
    shutil.copytree(folder, alone / "context")
    venv.create(alone / "venv", with_pip=True)
    wheels = sorted(map(str, (alone / "context" / "flyte-wheels").glob("*.whl")))
    install = subprocess.run(
        [str(alone / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", *wheels], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr
    return alone


def test_the_rendered_command_runs_from_the_context_alone(image, project, tmp_path):
    alone = image
    python = alone / "venv" / "bin" / "python"
    storage = tmp_path / "storage"
    rendered = flyte_cli("render", "shop/tasks.py", "total", "-o", "json", "--storage", str(storage), cwd=project)
    assert rendered.returncode == 0, rendered.stderr
    (container,) = json.loads(rendered.stdout)["spec"]["template"]["spec"]["containers"]
    workdir = alone / "context" / "code"  # COPY code/ /root/
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FLYTE_HOME": str(tmp_path / "flyte-home")}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"].replace(container["workingDir"], str(workdir))
    inputs = storage / "given" / "inputs.json"
    inputs.parent.mkdir(parents=True)
    inputs.write_text(json.dumps({"prices": [10.0, 20.0], "tax": 0.5}))
    del env["FLYTE_INPUTS"]
    env["FLYTE_INPUTS_URI"] = str(inputs)
    command = [str(python), *container["command"][1:]]
    run = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    outputs = json.loads(Path(env["FLYTE_OUTPUTS_URI"]).read_text())
    assert outputs["total"] == 45.0 and outputs["currency"] == "EUR" and outputs["mode"] == "boxed"
    assert outputs["data"] == '{"EUR": 1}'
    assert Path(outputs["flyte_from"]).is_relative_to(alone / "venv")  # the wheel's flyte, not the repo's


def test_flyte_installed_from_a_wheel_is_copied_and_from_an_index_is_pinned(image, project, tmp_path):
    """The same build, by a flyte installed from wheel files (copied into the context), then as
    if from an index (no direct_url.json, as pip records an index install: pinned versions)."""
    python = str(image / "venv" / "bin" / "python")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FLYTE_HOME": str(tmp_path / "home")}

    def build(out: Path) -> str:
        result = subprocess.run(
            [python, "-m", "flyte.cli.main", "build", "shop/tasks.py", "shop", "--dry-run", "--context", str(out)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    copied = build(tmp_path / "from-wheels")
    (folder,) = (tmp_path / "from-wheels").iterdir()
    assert sorted(p.name for p in (folder / "flyte-wheels").glob("*.whl")) == sorted(
        p.name for p in (image / "context" / "flyte-wheels").glob("*.whl")
    )
    assert "/tmp/flyte-wheels/*.whl" in copied
    for record in (image / "venv").glob("lib/python*/site-packages/flyte*.dist-info/direct_url.json"):
        record.unlink()
    pinned = build(tmp_path / "from-index")
    assert '"flyte-core==0.1.0"' in pinned and '"flyte-isolated==0.1.0"' in pinned
    assert "flyte-wheels" not in pinned
