"""``TaskEnvironment(include=...)``: extra files (templates, configs) shipped with the
environment's code, as the reference SDK takes them: paths, folders or glob patterns, a relative
one from the folder of the file that defines the environment."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli

PROGRAM = textwrap.dedent("""
    from pathlib import Path
    import flyte

    env = flyte.TaskEnvironment(name="web", include=("templates/index.html", "configs", "data/*.csv"))
    plain = flyte.TaskEnvironment(name="plain_web")

    @env.task
    def page() -> str:
        return (Path(__file__).parent / "templates" / "index.html").read_text()

    @plain.task
    def nothing() -> str:
        return "-"
""")


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "index.html").write_text("<h1>hi</h1>")
    (tmp_path / "templates" / "unlisted.html").write_text("not shipped")
    (tmp_path / "configs" / "deep").mkdir(parents=True)
    (tmp_path / "configs" / "app.yaml").write_text("a: 1\n")
    (tmp_path / "configs" / "deep" / "more.yaml").write_text("b: 2\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "one.csv").write_text("x\n1\n")
    (tmp_path / "data" / "two.csv").write_text("x\n2\n")
    (tmp_path / "data" / "notes.txt").write_text("not shipped")
    path = tmp_path / "webapp.py"
    path.write_text(PROGRAM)
    monkeypatch.delitem(sys.modules, "webapp", raising=False)
    return path


def _load(path: Path):
    from flyte._loader import load_file

    return load_file(path)


def test_include_reads_back_as_written_and_resolves_from_the_defining_file(program):
    module = _load(program)
    assert module.env.include == ("templates/index.html", "configs", "data/*.csv")
    folder = program.parent
    assert module.page.spec.include == tuple(str(folder / p) for p in ("templates/index.html", "configs", "data/*.csv"))
    assert module.plain.include == () and module.nothing.spec.include == ()
    assert flyte.run(module.page).outputs() == "<h1>hi</h1>"  # locally the files are where they are


def test_the_image_carries_the_included_files_where_the_program_finds_them(program, tmp_path):
    context = tmp_path / "contexts"
    result = CliRunner().invoke(build_cli(), ["build", str(program), "web", "--dry-run", "--context", str(context)])
    assert result.exit_code == 0, result.output
    (web_context,) = [p for p in context.iterdir() if (p / "code" / "templates").exists()]
    shipped = sorted(
        p.relative_to(web_context / "code").as_posix() for p in (web_context / "code").rglob("*") if p.is_file()
    )
    assert shipped == [
        "configs/app.yaml",
        "configs/deep/more.yaml",
        "data/one.csv",
        "data/two.csv",
        "templates/index.html",
        "webapp.py",
    ]
    # The image's tag covers them: change an included file and the rendered pods get another image.
    before = yaml.safe_load(CliRunner().invoke(build_cli(), ["render", str(program), "page"]).output)
    (program.parent / "configs" / "app.yaml").write_text("a: 2\n")
    after = yaml.safe_load(CliRunner().invoke(build_cli(), ["render", str(program), "page"]).output)
    image = lambda job: job["spec"]["template"]["spec"]["containers"][0]["image"]  # noqa: E731
    assert image(before) != image(after)
    plain = yaml.safe_load(CliRunner().invoke(build_cli(), ["render", str(program), "nothing"]).output)
    assert image(plain) != image(after)  # the same base image without the files: another tag


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (
            "templates",
            TypeError,
            r"include: expected a sequence of paths, folders or glob patterns, such as \('templates',\)",
        ),
        (("ok.txt", 3), TypeError, r"include: expected a non-empty str .* got int 3"),
        (5, TypeError, r"include: expected a sequence of paths"),
    ],
)
def test_a_bad_include_is_refused_by_name(value, error, message):
    with pytest.raises(error, match=message):
        flyte.TaskEnvironment(name="bad_include", include=value)


def test_an_entry_that_names_nothing_or_lies_outside_the_program_is_refused_when_rendered(program, tmp_path):
    missing = program.with_name("webapp_missing.py")
    missing.write_text(PROGRAM.replace('"data/*.csv"', '"data/*.parquet"'))
    result = CliRunner().invoke(build_cli(), ["render", str(missing), "page"])
    assert result.exit_code == 1 and "include: " in result.output and "data/*.parquet' names no file" in result.output
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("elsewhere")
    try:
        elsewhere = program.with_name("webapp_outside.py")
        elsewhere.write_text(PROGRAM.replace('"data/*.csv"', repr(str(outside))))
        result = CliRunner().invoke(build_cli(), ["render", str(elsewhere), "page"])
        assert result.exit_code == 1 and "is outside the program's folder" in result.output
    finally:
        outside.unlink()


def test_a_relative_entry_needs_a_file_to_resolve_from():
    import subprocess

    code = "import flyte\nflyte.TaskEnvironment(name='repl_env', include=('x.txt',))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)  # as in a REPL
    assert result.returncode == 1
    assert "include: 'x.txt' is relative, and the environment is not defined in a file" in result.stderr
    assert flyte.TaskEnvironment(name="abs_env", include=("/etc/hostname",)).include == ("/etc/hostname",)
