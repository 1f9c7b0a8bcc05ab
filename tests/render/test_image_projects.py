"""Project layers (uv, Poetry, pixi) as users of the reference SDK write them: what the image
installs, when its tag changes, and the errors for bad input. The uv steps run for real on a
local project (offline); Poetry and pixi are checked by the steps they emit."""

from __future__ import annotations

import subprocess

import pytest

import flyte
from flyte.render.dockerfile import context_files, dockerfile

from .project_builds import installed, new_venv, package, run_steps, uv_binary, write_wheel

needs_uv = pytest.mark.skipif(uv_binary() is None, reason="uv is not installed (it is in the dev dependency group)")


def uv_workspace(tmp_path):
    """app/ (locked with uv) depends on a wheel, a sibling folder lib/ and, like the public
    examples, on the reference SDK's distribution "flyte"; a dependency group adds another."""
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "dep-a", "1.0", {"dep_a/__init__.py": "A = 1\n"})
    write_wheel(wheels, "dep-b", "2.0", {"dep_b/__init__.py": "B = 2\n"})
    write_wheel(wheels, "flyte", "9.9", {"flyte/__init__.py": "raise ImportError('the reference SDK')\n"})
    package(tmp_path / "lib", "mylib", "mylib", "def mean(xs):\n    return sum(xs) / len(xs)\n")
    app = package(
        tmp_path / "app",
        "app",
        "app_pkg",
        "from mylib import mean\n",
        dependencies='["dep-a", "mylib", "flyte"]',
        extra=(
            '\n[dependency-groups]\netl = ["dep-b"]\n\n[tool.uv.sources]\n'
            'dep-a = { path = "../wheels/dep_a-1.0-py3-none-any.whl" }\n'
            'dep-b = { path = "../wheels/dep_b-2.0-py3-none-any.whl" }\n'
            'flyte = { path = "../wheels/flyte-9.9-py3-none-any.whl" }\n'
            'mylib = { path = "../lib", editable = true }\n'
        ),
    )
    (app / "notes.txt").write_text("not part of any install\n")
    (app / ".dockerignore").write_text("scratch/\n")
    (app / "scratch").mkdir()
    (app / "scratch" / "big.bin").write_text("ignored")
    lock = subprocess.run(
        [uv_binary(), "lock", "--offline", "--project", str(app)], capture_output=True, text=True, check=False
    )
    assert lock.returncode == 0, lock.stderr
    return app


@needs_uv
def test_a_uv_project_installs_its_locked_dependencies_and_local_sources_but_not_itself(tmp_path):
    app = uv_workspace(tmp_path)
    image = flyte.Image.from_debian_base(name="app").with_uv_project(app / "pyproject.toml", extra_args="--group etl")
    python = new_venv(tmp_path / "target")
    run_steps(image, 0, tmp_path / "build", python, replaced=("flyte-core", "flyte"))
    found = installed(python)
    assert found.get("dep-a") == "1.0" and found.get("dep-b") == "2.0" and found.get("mylib") == "1.0"
    assert "app" not in found  # dependencies_only
    assert "flyte" not in found  # the image's flyte stays the one it ships (and what only it needs: --prune)
    # mylib went in as a wheel, not as a link to the build's copy of ../lib
    check = subprocess.run([str(python), "-c", "import mylib; print(mylib.__file__)"], capture_output=True, text=True)
    assert "site-packages" in check.stdout, check


@needs_uv
def test_install_project_installs_the_project_from_a_copy_that_leaves_ignored_files_out(tmp_path):
    app = uv_workspace(tmp_path)
    image = flyte.Image.from_debian_base(name="app").with_uv_project(
        app / "pyproject.toml", project_install_mode="install_project"
    )
    python = new_venv(tmp_path / "target")
    run_steps(image, 0, tmp_path / "build", python)
    found = installed(python)
    assert found.get("app") == "1.0" and found.get("mylib") == "1.0" and "dep-b" not in found
    copied = {name for name in context_files(image)}
    assert "uvproject-0/app" in copied and "uvproject-0/lib" in copied
    context = tmp_path / "build" / "context" / "uvproject-0" / "app"
    assert (context / "notes.txt").is_file() and not (context / "scratch").exists()


@needs_uv
def test_a_uv_project_layer_changes_the_tag_exactly_when_a_file_it_installs_from_changes(tmp_path):
    app = uv_workspace(tmp_path)

    def tag(**options) -> str:
        return flyte.Image.from_debian_base(name="app").with_uv_project(app / "pyproject.toml", **options).tag

    deps, whole = tag(), tag(project_install_mode="install_project")
    assert deps != whole
    (app / "notes.txt").write_text("edited\n")  # read only when the project is installed
    assert tag() == deps and tag(project_install_mode="install_project") != whole
    whole = tag(project_install_mode="install_project")
    (app / "scratch" / "big.bin").write_text("ignored, edited")  # .dockerignore'd: never read
    assert tag(project_install_mode="install_project") == whole
    (tmp_path / "lib" / "mylib" / "__init__.py").write_text("def mean(xs):\n    return 0\n")  # a path source
    assert tag() != deps
    deps = tag()
    (app / "uv.lock").write_text((app / "uv.lock").read_text() + "\n")
    assert tag() != deps
    assert tag(pre=True) != tag() and tag(extra_index_urls=["https://extra.example/simple"]) != tag()


def test_uv_project_options_reach_the_install_and_bad_ones_are_named(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "0.1"\ndependencies = ["requests"]\n')
    base = flyte.Image.from_debian_base(name="app")
    image = base.with_uv_project(
        tmp_path / "pyproject.toml",
        index_url="https://pypi.example/simple",
        extra_index_urls="https://extra.example/simple",
        pre=True,
        secret_mounts=["PYPI_TOKEN"],
    )
    (step,) = [line for line in dockerfile(image).splitlines() if "uvproject-0" in line]
    assert "--prerelease=allow --index-url https://pypi.example/simple" in step
    assert "--extra-index-url https://extra.example/simple" in step
    assert "--mount=type=secret,id=PYPI_TOKEN" in step and "--frozen" not in step  # no lock: uv resolves
    with pytest.raises(flyte.errors.ConfigurationError, match=r"project_install_mode: 'everything' is not valid"):
        base.with_uv_project(tmp_path / "pyproject.toml", project_install_mode="everything")
    with pytest.raises(TypeError, match=r"pre: expected True or False, got str 'yes'"):
        base.with_uv_project(tmp_path / "pyproject.toml", pre="yes")
    with pytest.raises(flyte.errors.ConfigurationError, match=r"extra_index_urls: 'pypi.example' is not valid"):
        base.with_uv_project(tmp_path / "pyproject.toml", extra_index_urls=["pypi.example"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'pre_release'"):
        base.with_uv_project(tmp_path / "pyproject.toml", pre_release=True)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n[tool.uv.sources]\nlib = { path = "../nope" }\n')
    with pytest.raises(flyte.errors.ConfigurationError, match=r"names '../nope' for lib, which does not exist"):
        base.with_uv_project(tmp_path / "pyproject.toml")


def poetry_project(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "app"\nversion = "0.1.0"\ndescription = ""\nauthors = []\n\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nidna = "3.7"\n'
    )
    (tmp_path / "poetry.lock").write_text("# locked by poetry\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    return tmp_path / "pyproject.toml"


def test_a_poetry_project_installs_what_its_lock_pins_with_poetry(tmp_path):
    pyproject = poetry_project(tmp_path)
    image = flyte.Image.from_debian_base(name="app").with_poetry_project(
        pyproject_file=pyproject, poetry_lock=tmp_path / "poetry.lock", project_install_mode="dependencies_only"
    )
    text = dockerfile(image, replaced=("flyte-core", "flyte"))
    install = next(line for line in text.splitlines() if "poetry install" in line)
    assert "--mount=type=bind,source=poetryproject-0,target=/tmp/poetryproject-0" in install
    assert "POETRY_VIRTUALENVS_CREATE=false" in install and "install --no-interaction --no-root" in install
    assert "uv pip install --system --no-deps ." not in install  # not the project itself
    assert set(context_files(image)) == {"poetryproject-0/pyproject.toml", "poetryproject-0/poetry.lock"}
    # flyte goes in after the project, replacing a reference SDK the project may have listed
    lines = text.splitlines()
    flyte_step = next(i for i, line in enumerate(lines) if "flyte-core==" in line)
    assert flyte_step > lines.index(install) and "uv pip uninstall --system flyte" in lines[flyte_step]

    whole = flyte.Image.from_debian_base(name="app").with_poetry_project(
        pyproject, project_install_mode="install_project", extra_args="--only main"
    )
    step = next(line for line in dockerfile(whole).splitlines() if "poetry install" in line)
    assert "--only main --no-root" in step and step.endswith("&& uv pip install --system --no-deps .")
    assert "poetryproject-0" in context_files(whole)  # the whole folder
    no_root = flyte.Image.from_debian_base().with_poetry_project(
        pyproject, extra_args="--no-root", secret_mounts=[flyte.Secret("POETRY_HTTP_BASIC_PRIVATE_PASSWORD")]
    )
    step = next(line for line in dockerfile(no_root).splitlines() if "poetry install" in line)
    assert step.count("--no-root") == 1 and "id=POETRY_HTTP_BASIC_PRIVATE_PASSWORD" in step


def test_a_poetry_project_layer_changes_the_tag_exactly_when_its_files_change(tmp_path):
    pyproject = poetry_project(tmp_path)

    def tag(**options) -> str:
        return flyte.Image.from_debian_base().with_poetry_project(pyproject, **options).tag

    deps, whole = tag(), tag(project_install_mode="install_project")
    (tmp_path / "app" / "__init__.py").write_text("X = 1\n")
    assert tag() == deps and tag(project_install_mode="install_project") != whole
    (tmp_path / "poetry.lock").write_text("# relocked\n")
    assert tag() != deps
    assert tag(extra_args="--only main") != tag()


def test_what_the_images_dockerignore_leaves_out_of_a_project_never_changes_its_tag(tmp_path):
    pyproject = poetry_project(tmp_path)
    (tmp_path / "data.csv").write_text("a,b\n")
    (tmp_path / "build.ignore").write_text("*.csv\n")

    def tag() -> str:
        image = flyte.Image.from_debian_base().with_dockerignore(tmp_path / "build.ignore")
        return image.with_poetry_project(pyproject, project_install_mode="install_project").tag

    before = tag()
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")  # not copied into the build
    assert tag() == before
    (tmp_path / "app" / "__init__.py").write_text("X = 2\n")  # copied and installed
    assert tag() != before


def test_a_poetry_project_needs_its_lock(tmp_path):
    pyproject = poetry_project(tmp_path)
    (tmp_path / "poetry.lock").unlink()
    with pytest.raises(
        flyte.errors.ConfigurationError, match=r"poetry_lock: '.*poetry.lock' does not exist.*poetry lock"
    ):
        flyte.Image.from_debian_base().with_poetry_project(pyproject)
    with pytest.raises(flyte.errors.ConfigurationError, match=r"poetry_lock: '.*elsewhere.lock' does not exist"):
        flyte.Image.from_debian_base().with_poetry_project(pyproject, poetry_lock=tmp_path / "elsewhere.lock")
    with pytest.raises(flyte.errors.ConfigurationError, match=r"pyproject_file: .* is not one"):
        flyte.Image.from_debian_base().with_poetry_project(tmp_path / "app")


PIXI = '[workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n\n[dependencies]\npython = "3.12.*"\n\n[environments]\ngpu = []\n'


def test_a_pixi_project_becomes_the_python_the_tasks_and_flyte_run_in(tmp_path):
    (tmp_path / "pixi.toml").write_text(PIXI)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.pixi.workspace]\nplatforms = []\n')
    (tmp_path / "pixi.lock").write_text("version: 6\n")
    image = flyte.Image.from_debian_base(name="pixi").with_pixi_project(tmp_path)  # the folder: pixi.toml wins
    lines = dockerfile(image).splitlines()
    install = next(i for i, line in enumerate(lines) if line.startswith("RUN") and "pixi install" in line)
    assert "pixi install --manifest-path /opt/pixi/0/pixi.toml --environment default --locked" in lines[install]
    assert lines[install - 1] == "COPY pixiproject-0/ /opt/pixi/0/"
    env = lines[install + 1]
    assert env.startswith('ENV PATH="/opt/pixi/0/.pixi/envs/default/bin:$PATH"')
    assert "UV_PYTHON=/opt/pixi/0/.pixi/envs/default/bin/python" in env
    assert any("flyte-core==" in line for line in lines[install + 2 :])  # flyte into the pixi env
    assert not any("flyte-core==" in line for line in lines[:install])
    assert set(context_files(image)) == {"pixiproject-0/pixi.toml", "pixiproject-0/pixi.lock"}

    frozen = flyte.Image.from_debian_base().with_pixi_project(
        tmp_path / "pixi.toml", environment="gpu", extra_args="--frozen"
    )
    step = next(line for line in dockerfile(frozen).splitlines() if "pixi install" in line)
    assert "--environment gpu --frozen" in step and "--locked" not in step
    assert frozen.tag != flyte.Image.from_debian_base().with_pixi_project(tmp_path / "pixi.toml", environment="gpu").tag
    before = image.tag
    (tmp_path / "pixi.lock").write_text("version: 6\n# relocked\n")
    assert flyte.Image.from_debian_base(name="pixi").with_pixi_project(tmp_path).tag != before


def test_pixi_project_errors_name_the_parameter(tmp_path):
    (tmp_path / "pixi.toml").write_text(PIXI)
    base = flyte.Image.from_debian_base()
    with pytest.raises(flyte.errors.ConfigurationError, match=r"environment: 'cuda' is not defined .*default, gpu"):
        base.with_pixi_project(tmp_path / "pixi.toml", environment="cuda")
    with pytest.raises(flyte.errors.ConfigurationError, match=r"environment: 'GPU' is not valid"):
        base.with_pixi_project(tmp_path / "pixi.toml", environment="GPU")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(flyte.errors.ConfigurationError, match=r"manifest_file: .* \[tool.pixi\] table"):
        base.with_pixi_project(tmp_path / "plain")
    with pytest.raises(flyte.errors.ConfigurationError, match=r"manifest_file: .*empty.* has neither"):
        (tmp_path / "empty").mkdir()
        base.with_pixi_project(tmp_path / "empty")
    with pytest.raises(flyte.errors.ConfigurationError, match=r"pixi_lock: .* does not exist"):
        base.with_pixi_project(tmp_path / "pixi.toml", pixi_lock=tmp_path / "nope.lock")


POD_PROGRAM = """
from pathlib import Path

import flyte

HERE = Path(__file__).parent
image = (
    flyte.Image.from_debian_base(name="pod")
    .with_uv_project(HERE.parent / "pyproject.toml", extra_args="--only-group etl")
    .with_poetry_project(HERE / "poetry" / "pyproject.toml", project_install_mode="install_project")
    .with_pixi_project(HERE / "pixi")
    .with_requirements(HERE / "requirements.txt")
    .with_source_file([HERE / "config.yaml"])
    .with_source_folder(HERE.parent / "my_lib")
)
env = flyte.TaskEnvironment(name="pod", image=image)


@env.task
def double(x: int) -> int:
    return 2 * x
"""


def test_a_task_container_imports_image_definitions_whose_files_stayed_where_it_was_built(tmp_path):
    """Module-level image definitions run again in the pod, where the project files they name
    are absent (only the code is in /root): the task runs; outside a container they are errors."""
    import os
    import sys

    (tmp_path / "pod_program.py").write_text(POD_PROGRAM)
    outputs = tmp_path / "bucket" / "outputs.json"
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
        "FLYTE_INPUTS": '{"x": 21}',
        "FLYTE_OUTPUTS_URI": str(outputs),
        "FLYTE_STORAGE": str(tmp_path / "bucket"),
    }
    command = [sys.executable, "-m", "flyte.entrypoint", "--module", "pod_program", "--task", "double"]
    pod = subprocess.run(command, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert pod.returncode == 0, pod.stderr
    assert outputs.read_text() == "42"
    with pytest.raises(flyte.errors.ConfigurationError, match=r"pyproject_file: .* is not one"):
        flyte.Image.from_debian_base().with_uv_project(tmp_path / "pyproject.toml")
