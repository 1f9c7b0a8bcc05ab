"""Images render as BuildKit Dockerfiles; `flyte build` shows and builds only what is needed."""

from __future__ import annotations

import shutil
import sys
import textwrap

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.render.dockerfile import dockerfile


def test_each_layer_becomes_a_dockerfile_step():
    image = (
        flyte.Image.from_debian_base(python_version=(3, 12), name="my-image", registry="ghcr.io/acme")
        .with_apt_packages("git", "libopenblas-dev")
        .with_pip_packages(
            "numpy",
            "pandas>=2",
            pre=True,
            index_url="https://pypi.example/simple",
            extra_index_urls=["https://extra.example/simple"],
        )
        .with_env_vars({"OMP_NUM_THREADS": "4"})
        .with_commands(["echo built > /built.txt"])
    )
    text = dockerfile(image)
    lines = text.splitlines()
    assert lines[0] == "# syntax=docker/dockerfile:1.10"
    assert lines[1] == "FROM python:3.12-slim-bookworm"
    assert any("apt-get install -y --no-install-recommends git libopenblas-dev" in line for line in lines)
    pip = next(line for line in lines if '"numpy"' in line)
    assert "--prerelease=allow" in pip and "--index-url https://pypi.example/simple" in pip
    assert "--extra-index-url https://extra.example/simple" in pip
    assert "ENV OMP_NUM_THREADS=4" in lines and "RUN echo built > /built.txt" in lines
    assert any('uv pip install --system "flyte-core==' in line for line in lines)


def test_a_source_folder_is_copied_as_a_folder_unless_only_its_contents_are_asked_for(tmp_path):
    """As the reference SDK copies: with_source_folder(src) puts src/ under the working
    directory; copy_contents_only=True spreads its files there; an explicit dst takes them."""
    src = tmp_path / "my_pkg"
    src.mkdir()
    (src / "mod.py").write_text("X = 1\n")
    base = flyte.Image.from_debian_base(python_version=(3, 12))

    def copy_line(image: flyte.Image) -> str:
        return next(line for line in dockerfile(image).splitlines() if line.startswith("COPY src-"))

    assert copy_line(base.with_source_folder(src)).endswith(" ./my_pkg")
    assert copy_line(base.with_source_folder(src, copy_contents_only=True)).endswith(" .")
    assert copy_line(base.with_source_folder(src, "/app")).endswith(" /app")
    assert base.with_source_folder(src).tag != base.with_source_folder(src, copy_contents_only=True).tag
    with pytest.raises(TypeError, match=r"copy_contents_only: expected True or False, got str 'yes'"):
        base.with_source_folder(src, copy_contents_only="yes")


def test_secret_mounts_never_land_in_a_layer():
    private = "git+https://$GITHUB_PAT@github.com/acme/private.git@2e20a2ac"
    image = (
        flyte.Image.from_debian_base()
        .with_apt_packages("git")
        .with_pip_packages(private, pre=True, secret_mounts=flyte.Secret("GITHUB_PAT"))
    )
    text = dockerfile(image)
    step = next(line for line in text.splitlines() if "private.git" in line)
    assert "--mount=type=secret,id=GITHUB_PAT,env=GITHUB_PAT" in step
    assert f'"{private}"' in step  # double quotes: $GITHUB_PAT expands from the mount at build time
    assert "ARG" not in text and "ENV GITHUB_PAT" not in text


def test_the_tag_changes_when_and_only_when_the_definition_changes(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("requests==2.32.0\n")
    base = flyte.Image.from_debian_base(python_version=(3, 11)).with_requirements(req)
    same = flyte.Image.from_debian_base(python_version=(3, 11)).with_requirements(req)
    assert base.tag == same.tag
    assert base.clone(registry="ghcr.io/elsewhere", name="renamed", registry_secret="creds").tag == base.tag
    assert base.with_pip_packages("numpy").tag != base.tag
    assert flyte.Image.from_debian_base(python_version=(3, 12)).with_requirements(req).tag != base.tag
    req.write_text("requests==2.32.3\n")
    assert flyte.Image.from_debian_base(python_version=(3, 11)).with_requirements(req).tag != base.tag


def test_a_requirements_file_installs_with_the_index_options_pip_packages_take(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy\n")
    plain = flyte.Image.from_debian_base(name="req").with_requirements(req)
    image = flyte.Image.from_debian_base(name="req").with_requirements(
        req,
        index_url="https://pypi.example/simple",
        extra_index_urls=["https://extra.example/simple"],
        pre=True,
        extra_args="--no-build-isolation",
    )
    text = dockerfile(image)
    assert (
        "uv pip install --system --prerelease=allow --index-url https://pypi.example/simple "
        "--extra-index-url https://extra.example/simple --no-build-isolation -r /tmp/requirements-"
    ) in text
    assert image.tag != plain.tag  # where the packages come from is part of the image
    assert "--index-url" not in dockerfile(plain)
    with pytest.raises(flyte.errors.ConfigurationError, match="extra_index_urls"):
        flyte.Image.from_debian_base().with_requirements(req, extra_index_urls=["not a url"])
    with pytest.raises(flyte.errors.ConfigurationError, match="pre"):
        flyte.Image.from_debian_base().with_requirements(req, pre="yes")


BUILD = textwrap.dedent("""
    import flyte
    fold_image = flyte.Image.from_debian_base(name="fold").with_pip_packages("ruff")
    msa_image = flyte.Image.from_debian_base(name="msa").with_pip_packages("pytest")
    fold_env = flyte.TaskEnvironment(name="fold_env", image=fold_image)
    msa_env = flyte.TaskEnvironment(name="msa_env", image=msa_image)
    env = flyte.TaskEnvironment(name="multi_env", depends_on=[fold_env, msa_env],
                                image=fold_image.with_pip_packages("pytest"))
    other = flyte.TaskEnvironment(name="other", image=flyte.Image.from_debian_base(name="other").with_pip_packages("polars"))
    prebuilt = flyte.TaskEnvironment(name="prebuilt", image="docker.io/myorg/myimage:mytag")

    @env.task
    def main() -> None: ...

    @fold_env.task
    def fold() -> None: ...

    @prebuilt.task
    def ready() -> None: ...
""")


def test_build_dry_run_prints_only_the_images_reachable_through_depends_on(tmp_path):
    path = tmp_path / "build_tasks.py"
    path.write_text(BUILD)
    out = CliRunner().invoke(build_cli(), ["build", str(path), "main", "--dry-run"]).output
    headers = [line for line in out.splitlines() if line.startswith("# image ")]
    assert len(headers) == 3
    assert '"ruff"' in out and '"pytest"' in out and "polars" not in out
    one = CliRunner().invoke(build_cli(), ["build", str(path), "fold", "--dry-run"]).output
    assert len([line for line in one.splitlines() if line.startswith("# image ")]) == 1
    ready = CliRunner().invoke(build_cli(), ["build", str(path), "ready", "--dry-run"]).output
    assert "docker.io/myorg/myimage:mytag: an existing image, nothing to build" in ready


def test_build_without_an_engine_says_what_is_missing(tmp_path, monkeypatch):
    path = tmp_path / "build_tasks.py"
    path.write_text(BUILD)
    if shutil.which("docker"):
        from flyte.cli import build

        if build.engine_problem() is None:  # a real engine: nothing to prove here
            return
    result = CliRunner().invoke(build_cli(), ["build", str(path), "main"])
    assert result.exit_code == 1
    assert "Docker" in result.output and "--dry-run" in result.output


def test_the_task_code_is_not_copied_twice_only_when_a_source_layer_puts_it_where_it_is_imported(tmp_path, monkeypatch):
    """The pods import ``shop.tasks`` from /root/shop/tasks.py: a source layer that puts the
    file exactly there replaces the code copy; one that puts it elsewhere does not."""
    import sys

    from flyte.render.build_context import context_for

    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "shop", raising=False)
    monkeypatch.delitem(sys.modules, "shop.tasks", raising=False)
    __import__("shop.tasks")
    base = flyte.Image.from_debian_base(python_version=(3, 12))

    def copies_code(image: flyte.Image) -> bool:
        return context_for(image, "shop.tasks").code is not None

    assert copies_code(base)
    assert not copies_code(base.with_source_folder(package))  # /root/shop/tasks.py
    assert not copies_code(base.with_source_folder(tmp_path, copy_contents_only=True))  # the root's contents
    assert copies_code(base.with_source_folder(package, copy_contents_only=True))  # /root/tasks.py: not importable
    assert copies_code(base.with_source_file(package / "tasks.py"))  # /root/tasks.py
    assert not copies_code(base.with_source_file(package / "tasks.py", "shop/"))  # /root/shop/tasks.py
    assert copies_code(base.with_workdir("/app").with_source_folder(package))  # /app/shop/tasks.py


PLACEHOLDER_PROGRAM = """
import flyte

env = flyte.TaskEnvironment(
    name="docs_env",
    image=flyte.Image.from_debian_base(name="polars_image", registry="<my-container-registry>"),
)


@env.task
def hello() -> str:
    return "hi"
"""


def test_the_docs_registry_placeholder_runs_locally_and_is_refused_where_a_registry_is_needed(tmp_path):
    """The public container-image examples set registry="<my-container-registry>": defining and
    running them locally works; rendering (or building, deploying) says to name the registry."""
    from flyte._loader import load_file

    program = tmp_path / "docs_env.py"
    program.write_text(PLACEHOLDER_PROGRAM)
    module = load_file(program)
    assert flyte.run(module.hello).outputs() == "hi"
    result = CliRunner().invoke(build_cli(), ["render", str(program), "hello"])
    assert result.exit_code == 1
    assert "registry: '<my-container-registry>' is a placeholder: name your registry" in result.output
    with pytest.raises(flyte.errors.ConfigurationError, match="accepted: a registry host"):
        _ = module.env.image.uri
    with pytest.raises(flyte.errors.ConfigurationError, match="registry: 'my registry' is not valid"):
        flyte.Image.from_debian_base(registry="my registry")  # anything else is refused at once


def test_a_loaded_module_with_a_relative_file_name_is_not_user_code(tmp_path, monkeypatch):
    """torch.classes is a module whose ``__file__`` is just "_classes.py": a program that imports
    torch still renders, from any folder."""
    import types

    from flyte.render.build_context import user_modules

    fake = types.ModuleType("fake_classes")
    fake.__file__ = "_classes.py"
    monkeypatch.setitem(sys.modules, "fake_classes", fake)
    monkeypatch.chdir(tmp_path)
    assert "fake_classes" not in user_modules(tmp_path.resolve())


UV_SCRIPT_PROGRAM = """# /// script
# requires-python = ">=3.11"
# dependencies = [
#    "flyte>=2.0.0b0",
#    "numpy",
# ]
# ///
import flyte

env = flyte.TaskEnvironment(
    name="uv_env",
    image=flyte.Image.from_uv_script(__file__, name="my-image", registry="registry.example.com/my-org")
    .with_pip_packages("Flyte==2.12.1", "flyte-kit-extras"),
)


@env.task
def main() -> None: ...
"""


def test_an_image_never_installs_the_reference_sdk_over_the_flyte_it_ships(tmp_path):
    # The public uv-script examples list "flyte>=2..." (the reference SDK's distribution): it
    # provides the same `flyte` package, so installing it would replace this one in the image.
    path = tmp_path / "uv_tasks.py"
    path.write_text(UV_SCRIPT_PROGRAM)
    result = CliRunner().invoke(build_cli(), ["build", str(path), "main", "--dry-run"])
    assert result.exit_code == 0, result.output
    installs = [line for line in result.output.splitlines() if "uv pip install" in line]
    assert installs[0].endswith("/tmp/flyte-wheels/*.whl") or "flyte-core" in installs[0]  # ours first
    assert any('"numpy"' in line for line in installs)
    assert any('"flyte-kit-extras"' in line for line in installs)  # only the name "flyte" is dropped
    assert not [line for line in installs[1:] if '"flyte>=' in line or '"Flyte==' in line]


IGNORING = """
from pathlib import Path
import flyte

HERE = Path(__file__).parent
image = flyte.Image.from_debian_base(name="ignoring", python_version=(3, 12)).with_source_folder(HERE / "assets")
env = flyte.TaskEnvironment(name="ignoring", image=image.with_dockerignore(HERE / "build.ignore"))


@env.task
def work() -> int:
    return 1
"""


def test_with_dockerignore_leaves_its_patterns_out_of_the_code_and_source_folders(tmp_path, monkeypatch):
    from flyte.spec import TaskSpec

    (tmp_path / "ignoring.py").write_text(IGNORING)
    (tmp_path / "notes.log").write_text("scratch")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "logo.svg").write_text("<svg/>")
    (tmp_path / "assets" / "raw.log").write_text("big")
    (tmp_path / "build.ignore").write_text("*.log\n")
    monkeypatch.delitem(sys.modules, "ignoring", raising=False)
    context = tmp_path / "ctx"
    result = CliRunner().invoke(
        build_cli(), ["build", str(tmp_path / "ignoring.py"), "ignoring", "--dry-run", "--context", str(context)]
    )
    assert result.exit_code == 0, result.output
    (folder,) = context.iterdir()
    copied = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert "code/ignoring.py" in copied and any(p.endswith("/logo.svg") for p in copied)
    assert not any(p.endswith(".log") for p in copied), copied

    from flyte._loader import load_file

    module = load_file(tmp_path / "ignoring.py")
    spec = module.work.spec
    assert TaskSpec.from_dict(spec.to_dict()).image == spec.image  # the layer round-trips
    before = spec.image.tag
    (tmp_path / "build.ignore").write_text("*.log\nassets/\n")
    assert module.env.image.with_dockerignore(tmp_path / "build.ignore").tag != before  # its contents are its identity

    base = flyte.Image.from_base("python:3.12-slim")
    missing = base.with_dockerignore(tmp_path / "absent.ignore")  # defined without the file: fine
    assert missing.is_prebuilt  # an ignore file alone builds nothing
    (tmp_path / "other.py").write_text(
        IGNORING.replace('"build.ignore"', '"absent.ignore"').replace("ignoring", "absent")
    )
    monkeypatch.delitem(sys.modules, "other", raising=False)
    failed = CliRunner().invoke(build_cli(), ["build", str(tmp_path / "other.py"), "absent", "--dry-run"])
    assert failed.exit_code == 1  # (the CLI's main prints this one line; the runner keeps the exception)
    assert isinstance(failed.exception, flyte.errors.ConfigurationError)
    assert "with_dockerignore: " in str(failed.exception) and "absent.ignore' does not exist" in str(failed.exception)


def test_with_source_file_takes_a_list_and_refuses_names_that_would_collide(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for path in (tmp_path / "a" / "config.yaml", tmp_path / "a" / "model.json", tmp_path / "b" / "config.yaml"):
        path.write_text(path.as_posix())
    base = flyte.Image.from_debian_base(python_version=(3, 12))
    image = base.with_source_file([tmp_path / "a" / "config.yaml", str(tmp_path / "a" / "model.json")], "/etc/app/")
    copies = [line for line in dockerfile(image).splitlines() if line.startswith("COPY src-")]
    assert copies == ["COPY src-0 /etc/app/", "COPY src-1 /etc/app/"]
    assert (
        image.tag
        == base.with_source_file(tmp_path / "a" / "config.yaml", "/etc/app/")
        .with_source_file(tmp_path / "a" / "model.json", "/etc/app/")
        .tag
    )
    with pytest.raises(
        flyte.errors.ConfigurationError, match=r"src: .* would overwrite each other in '.': \['config.yaml'\]"
    ):
        base.with_source_file([tmp_path / "a" / "config.yaml", tmp_path / "b" / "config.yaml"])
    with pytest.raises(flyte.errors.ConfigurationError, match=r"src: '.*missing.txt' does not exist"):
        base.with_source_file([tmp_path / "a" / "model.json", tmp_path / "missing.txt"])
    with pytest.raises(flyte.errors.ConfigurationError, match=r"src: \[\] is not valid"):
        base.with_source_file([])


def test_env_vars_may_extend_the_base_images_path():
    # As in any Dockerfile: "$PATH" is the base image's value at build time, not the text "$PATH".
    image = flyte.Image.from_base("python:3.10-slim").with_env_vars(
        {"PATH": "/opt/venv/bin:$PATH", "GREETING": 'say "hi" \\o/', "EMPTY": ""}
    )
    (env,) = [line for line in dockerfile(image).splitlines() if line.startswith("ENV EMPTY")]
    assert env == 'ENV EMPTY="" GREETING="say \\"hi\\" \\\\o/" PATH=/opt/venv/bin:$PATH'


def test_from_ref_name_stands_for_the_image_init_names(tmp_path):
    from flyte.render.context import RenderContext
    from flyte.render.render import render_environment

    training = flyte.Image.from_ref_name("training")
    env = flyte.TaskEnvironment(name="refs", image=training)

    @env.task
    def train(x: int) -> int:
        return x + 1

    flyte.init()
    assert flyte.run(train, x=1).outputs() == 2  # a run on this machine needs no image
    with pytest.raises(
        flyte.errors.ConfigurationError, match=r"Image.from_ref_name: 'training' is not a known image name"
    ):
        _ = training.uri
    flyte.init(images=("training=ghcr.io/acme/training:1.2", "ghcr.io/acme/default:3"))
    assert training.uri == "ghcr.io/acme/training:1.2" and flyte.Image.from_ref_name().uri == "ghcr.io/acme/default:3"
    objects = render_environment(env, RenderContext())
    assert "ghcr.io/acme/training:1.2" in str(objects)
    layered = training.with_pip_packages("numpy")
    assert dockerfile(layered).splitlines()[1] == "FROM ghcr.io/acme/training:1.2"
    before = layered.tag
    flyte.init(images={"training": "ghcr.io/acme/training:1.3"})
    assert layered.tag != before  # a new base is a new image
    config = tmp_path / "config.yaml"
    config.write_text("image:\n  image_refs:\n    training: ghcr.io/acme/training:2.0\n")
    flyte.init_from_config(config)
    assert training.uri == "ghcr.io/acme/training:2.0"
    flyte.init_from_config(config, images=("training=ghcr.io/acme/training:2.1",))
    assert training.uri == "ghcr.io/acme/training:2.1"  # init's images win over the file's
    with pytest.raises(flyte.errors.ConfigurationError, match=r"images\['training'\]: 'Not An Image' is not a valid"):
        flyte.init(images={"training": "Not An Image"})
    with pytest.raises(flyte.errors.ConfigurationError, match=r"name: 'two words' is not valid"):
        flyte.Image.from_ref_name("two words")
    flyte.init()


CODE_BUNDLE = """
import flyte

env = flyte.TaskEnvironment(
    name="bundled",
    image=flyte.Image.from_debian_base(name="bundled", python_version=(3, 12)).with_code_bundle(copy_style=STYLE),
)


@env.task
def work() -> int:
    return 1
"""


@pytest.mark.parametrize("style", ["loaded_modules", "all"])
def test_with_code_bundle_chooses_which_of_the_programs_files_the_image_holds(tmp_path, monkeypatch, style):
    (tmp_path / "bundled.py").write_text(CODE_BUNDLE.replace("STYLE", repr(style)))
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "system.txt").write_text("be brief")
    (tmp_path / ".gitignore").write_text("*.secret\n")
    (tmp_path / "token.secret").write_text("never copied")
    monkeypatch.delitem(sys.modules, "bundled", raising=False)
    context = tmp_path / "ctx"
    result = CliRunner().invoke(
        build_cli(), ["build", str(tmp_path / "bundled.py"), "bundled", "--dry-run", "--context", str(context)]
    )
    assert result.exit_code == 0, result.output
    (folder,) = context.iterdir()
    code = sorted(p.relative_to(folder / "code").as_posix() for p in (folder / "code").rglob("*") if p.is_file())
    expected = ["bundled.py"] if style == "loaded_modules" else [".gitignore", "bundled.py", "prompts/system.txt"]
    assert code == expected


def test_with_code_bundle_refuses_what_the_pods_could_not_find():
    base = flyte.Image.from_debian_base()
    assert base.with_code_bundle().tag != base.with_code_bundle("all").tag
    with pytest.raises(flyte.errors.ConfigurationError, match=r"copy_style: 'everything' is not valid"):
        base.with_code_bundle("everything")
    with pytest.raises(flyte.errors.ConfigurationError, match=r"dst: '/app' is not supported: the pods would not find"):
        base.with_code_bundle(dst="/app")


TEAM_IMAGES = """
import flyte

trained = flyte.TaskEnvironment(name="training", image=flyte.Image.from_ref_name("training"))
built = flyte.TaskEnvironment(
    name="built",
    image=flyte.Image.from_base("<your-registry>/training-base:latest")
    .clone(name="<your-org>/<your-image>", registry="<your-registry>", extendable=True)
    .with_env_vars({"PATH": "/opt/venv/bin:$PATH"}),
)


@trained.task
def train(x: int) -> int:
    return x * 2


@built.task
def fit(x: int) -> int:
    return x + 2
"""


def test_team_images_by_name_and_placeholder_references_run_here_and_render_once_named(tmp_path, monkeypatch):
    """Images each team builds on its own (from_ref_name, and the docs' "<your-registry>/..."
    stand-ins): the program runs here; render/build/deploy take the names with --image or
    the config file, and say which image is still a placeholder."""
    from flyte._loader import load_file

    program = tmp_path / "teams.py"
    program.write_text(TEAM_IMAGES)
    monkeypatch.chdir(tmp_path)
    module = load_file(program)
    assert flyte.run(module.train, x=2).outputs() == 4 and flyte.run(module.fit, x=2).outputs() == 4
    runner = CliRunner()
    missing = runner.invoke(build_cli(), ["render", str(program), "train"])
    assert missing.exit_code == 1 and "'training' is not a known image name" in missing.output
    named = runner.invoke(build_cli(), ["render", str(program), "train", "--image", "training=ghcr.io/acme/train:7"])
    assert named.exit_code == 0, named.output
    assert "image: ghcr.io/acme/train:7" in named.output
    (tmp_path / "config.yaml").write_text("image:\n  image_refs:\n    training: ghcr.io/acme/train:8\n")
    from_file = runner.invoke(build_cli(), ["render", str(program), "train"])
    assert from_file.exit_code == 0 and "image: ghcr.io/acme/train:8" in from_file.output
    deployed = runner.invoke(
        build_cli(), ["deploy", str(program), "training", "--dry-run", "--image", "training=ghcr.io/acme/train:9"]
    )
    assert deployed.exit_code == 0, deployed.output
    bad = runner.invoke(build_cli(), ["render", str(program), "train", "--image", "training=Not An Image"])
    assert bad.exit_code == 2 and "images['training']: 'Not An Image' is not a valid image reference" in bad.output
    placeholder = runner.invoke(build_cli(), ["build", str(program), "fit", "--dry-run"])
    assert placeholder.exit_code == 1 and "is a placeholder" in str(placeholder.exception or placeholder.output)
    with pytest.raises(
        flyte.errors.ConfigurationError, match=r"base_image: '<your-registry>/training-base:latest' is a placeholder"
    ):
        _ = flyte.Image.from_base("<your-registry>/training-base:latest").with_pip_packages("numpy").base
    with pytest.raises(flyte.errors.ConfigurationError, match=r"image_uri: '<your registry>/x' is not a valid"):
        flyte.Image.from_base("<your registry>/x")  # only the docs' <name> stand-ins, nothing looser
    with pytest.raises(TypeError, match=r"extendable: expected True or False, got str 'yes'"):
        flyte.Image.from_base("python:3.12-slim").clone(extendable="yes")


def test_a_from_dockerfile_image_takes_no_layers_it_would_drop(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\n")
    image = flyte.Image.from_dockerfile(tmp_path / "Dockerfile", registry="ghcr.io/acme", name="mine")
    with pytest.raises(
        flyte.errors.ConfigurationError, match=r"PipPackages: .* cannot be added to a from_dockerfile image"
    ):
        image.with_pip_packages("numpy")
    assert image.with_dockerignore(tmp_path / ".dockerignore").dockerfile == image.dockerfile
