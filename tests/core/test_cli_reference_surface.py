"""Command lines copied from the reference SDK's docs work: its root options (``flyte --config
c.yaml run ...``, ``-vvv``, ``--endpoint``), ``flyte run``'s options, and its nouns
(``flyte get run``, ``flyte get logs``, ``flyte create config``, ``--value``). An option with
a local meaning has it; one without is accepted and says so in one line on stderr."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.runtime import settings

TASKS = textwrap.dedent("""
    import os
    import flyte
    from flyte.io import File

    env = flyte.TaskEnvironment(name="surface")

    @env.task
    def where(x: int = 1) -> str:
        print("where ran", flush=True)
        return f"{flyte.current_project()}/{flyte.current_domain()}/{x}/{os.environ.get('COLOUR', '-')}"

    @env.task
    async def make_file() -> File:
        f = File.new_remote()
        async with f.open("wb") as fh:
            await fh.write(b"payload")
        return f

    @env.task
    def boom() -> int:
        raise ValueError("it broke")
""")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A project folder with the tasks, no config file found by default, flyte not initialised
    (as in a fresh `flyte` process)."""
    for var in ("FLYTE_CONFIG", "UCTL_CONFIG", "FLYTECTL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings, "_current", None)
    (tmp_path / "surface_tasks.py").write_text(TASKS)
    yield tmp_path
    flyte.init()  # the tests that follow in this process start from local defaults


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(build_cli(), list(args), prog_name="flyte", input=input)


def last_run() -> str:
    listed = invoke("runs", "list", "--limit", "1", "-o", "json")
    return json.loads(listed.stdout)[0]["name"]


# --- the root group ----------------------------------------------------------------------


def test_root_config_reaches_run_as_run_config_does(folder):
    (folder / "c.yaml").write_text("task:\n  project: from-root\n  domain: staging\n")
    result = invoke("--config", "c.yaml", "run", "surface_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("from-root/staging/1/-")
    short = invoke("-c", "c.yaml", "run", "surface_tasks.py", "where")
    assert short.exit_code == 0 and "from-root/staging" in short.stdout


def test_subcommand_config_wins_over_the_roots(folder):
    (folder / "root.yaml").write_text("task:\n  project: from-root\n")
    (folder / "mine.yaml").write_text("task:\n  project: from-run\n")
    result = invoke("--config", "root.yaml", "run", "--config", "mine.yaml", "surface_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert "from-run/" in result.stdout


def test_root_config_reaches_deploy(folder):
    (folder / "c.yaml").write_text("task:\n  project: deployed-here\n")
    result = invoke("--config", "c.yaml", "deploy", "surface_tasks.py")
    assert result.exit_code == 0, result.output
    assert settings.current().project == "deployed-here"


def test_root_config_that_does_not_exist_is_a_usage_error_naming_it(folder):
    result = invoke("--config", "missing.yaml", "run", "surface_tasks.py", "where")
    assert result.exit_code == 2
    assert "--config" in result.stderr and "missing.yaml" in result.stderr and "does not exist" in result.stderr


def test_remote_only_root_options_are_accepted_and_noted_once(folder):
    result = invoke(
        "--endpoint", "dns:///flyte.example.com", "--org", "acme", "--insecure", "run", "surface_tasks.py", "where"
    )
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "--endpoint" in line]
    assert notes == [
        "flyte: --endpoint, --org, --insecure have no effect here: no Flyte control plane is used (tasks run "
        "on this machine, or on the cluster of the config's kubernetes: section)"
    ]
    assert "flyte.example.com" not in result.stderr  # the value is not echoed back


def test_counted_verbose_shows_the_traceback(folder):
    quiet = invoke("run", "surface_tasks.py", "nope")
    assert "Traceback" not in quiet.output
    from flyte.cli import errors

    try:
        loud = CliRunner().invoke(build_cli(), ["-vvv", "run", "surface_tasks.py", "nope"], prog_name="flyte")
        assert loud.exit_code != 0
        assert errors.debugging()
    finally:
        errors._debug = False  # the flag is process-wide: leave it as other tests expect


def test_output_format_is_the_default_of_commands_with_that_format(folder):
    assert invoke("run", "surface_tasks.py", "where").exit_code == 0
    as_json = invoke("-of", "json", "runs", "list")
    assert json.loads(as_json.stdout)[0]["task"] == "surface.where"
    raw = invoke("--output-format", "json-raw", "runs", "list")
    assert json.loads(raw.stdout)[0]["task"] == "surface.where"
    # The command's own -o wins.
    table = invoke("-of", "json", "runs", "list", "-o", "table")
    assert "surface.where" in table.stdout and not table.stdout.lstrip().startswith("[")
    bad = invoke("-of", "xml", "runs", "list")
    assert bad.exit_code == 2 and "xml" in bad.stderr and "table" in bad.stderr


# --- flyte run ---------------------------------------------------------------------------


def test_env_short_option(folder):
    result = invoke("run", "-e", "COLOUR=blue", "surface_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("/blue")
    bad = invoke("run", "-e", "COLOUR", "surface_tasks.py", "where")
    assert bad.exit_code == 2 and "'COLOUR' is not KEY=VALUE" in bad.stderr


def test_root_dir_names_the_module_from_that_folder(folder):
    package = folder / "src" / "shop"  # a monorepo package without __init__.py
    package.mkdir(parents=True)
    (package / "helpers.py").write_text("VALUE = 41\n")
    (package / "flow.py").write_text(
        textwrap.dedent("""
            import flyte
            from shop.helpers import VALUE

            env = flyte.TaskEnvironment(name="rooted")

            @env.task
            def answer() -> int:
                return VALUE + 1
        """)
    )
    without = invoke("run", "src/shop/flow.py", "answer")
    assert isinstance(without.exception, ModuleNotFoundError)  # `flyte` (main) reports it in one line
    result = invoke("run", "--root-dir", "src", "src/shop/flow.py", "answer")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "42"
    (folder / "other").mkdir()
    outside = invoke("run", "--root-dir", "other", "src/shop/flow.py", "answer")
    assert outside.exit_code == 2
    assert "--root-dir" in outside.stderr and "'other' does not hold FILE" in outside.stderr


def test_raw_data_path_is_where_the_runs_data_goes(folder):
    raw = folder / "raw"
    result = invoke("run", "--raw-data-path", str(raw), "surface_tasks.py", "make_file")
    assert result.exit_code == 0, result.output
    written = [p for p in raw.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in written] == [b"payload"]
    assert str(raw) in result.stdout
    empty = invoke("run", "--raw-data-path", "", "surface_tasks.py", "make_file")
    assert empty.exit_code == 2 and "--raw-data-path" in empty.stderr and "is empty" in empty.stderr


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("url", ["ftp://x", "sftp://host/data", "nosuch://bucket"])
def test_a_raw_data_path_no_store_can_hold_is_refused_before_the_run(folder, url, where):
    """Not the storage layer's TypeError from the run's first file: a usage error naming the
    option, the value and the schemes accepted, and no run."""
    args = ["--raw-data-path", url, "surface_tasks.py", "make_file"]
    result = invoke("run", *(args if where == "before" else [*args[2:], *args[:2]]))
    assert result.exit_code == 2, result.output
    scheme = url.partition("://")[0]
    assert f"--raw-data-path: {url!r}: {scheme}:// cannot hold a run's data" in result.stderr
    assert "file://, local://, s3://, s3a://, gs://, gcs://, abfs://, abfss://, az://, memory://" in result.stderr
    assert "TypeError" not in result.output
    assert invoke("runs", "list", "-o", "json").stdout.strip() in ("", "[]")


def test_a_storage_url_whose_filesystem_needs_a_host_is_a_storage_error_naming_it(folder):
    from flyte.errors import StorageError
    from flyte.storage._filesystem import filesystem

    with pytest.raises(
        StorageError, match=r"ftp://x/data: ftp:// cannot be opened from a URL alone: its filesystem needs host; "
    ):
        filesystem("ftp://x/data")


def test_raw_data_path_wins_over_the_configs_storage(folder):
    (folder / "config.yaml").write_text(f"local:\n  storage: {folder / 'from-config'}\n")
    result = invoke("run", "surface_tasks.py", "make_file", "--raw-data-path", str(folder / "raw"))
    assert result.exit_code == 0, result.output
    assert any((folder / "raw").rglob("*")) and not (folder / "from-config").exists()


def test_image_names_what_from_ref_name_stands_for(folder):
    (folder / "imaged.py").write_text(
        textwrap.dedent("""
            import flyte

            env = flyte.TaskEnvironment(name="imaged", image=flyte.Image.from_ref_name("gpu"))

            @env.task
            def which() -> str:
                return env.image.uri
        """)
    )
    result = invoke("run", "--image", "gpu=ghcr.io/acme/gpu:v2", "imaged.py", "which")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "ghcr.io/acme/gpu:v2"
    bad = invoke("run", "--image", "gpu=not a ref", "imaged.py", "which")
    assert bad.exit_code == 2 and "--image" in bad.stderr


def test_labels_are_checked_then_noted(folder):
    result = invoke("run", "--label", "team=ml", "--label", "env=prod", "surface_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert "flyte: --label has no effect here: the local run store does not record labels" in result.stderr
    not_pair = invoke("run", "--label", "teamml", "surface_tasks.py", "where")
    assert not_pair.exit_code == 2 and "'teamml' is not KEY=VALUE" in not_pair.stderr
    bad_value = invoke("run", "--label", "team=ml!", "surface_tasks.py", "where")
    assert bad_value.exit_code == 2 and "'ml!' is not a valid Kubernetes label value" in bad_value.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--follow"], "--follow"),
        (["-f"], "--follow"),
        (["--copy-style", "all"], "--copy-style"),
        (["--version", "v1"], "--version"),
        (["--queue", "gpu-pool"], "--queue"),
        (["--debug"], "--debug"),
        (["--run-project", "p"], "--run-project"),
        (["--run-domain", "d"], "--run-domain"),
        (["--tui"], "--tui"),
        (["--tracked"], "--tracked"),
        (["--no-sync-local-sys-paths"], "--no-sync-local-sys-paths"),
    ],
)
def test_reference_run_options_without_a_local_meaning_run_and_say_so(folder, args, option):
    result = invoke("run", *args, "surface_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("/1/-")
    notes = [line for line in result.stderr.splitlines() if "no effect here" in line]
    assert len(notes) == 1 and notes[0].startswith(f"flyte: {option} has no effect here: ")


def test_run_options_after_the_task_too(folder):
    result = invoke("run", "surface_tasks.py", "where", "--x", "3", "-f", "-e", "COLOUR=red")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("/3/red")
    assert "--follow has no effect here" in result.stderr


def test_reference_option_values_are_checked(folder):
    style = invoke("run", "--copy-style", "everything", "surface_tasks.py", "where")
    assert style.exit_code == 2 and "everything" in style.stderr and "loaded_modules" in style.stderr
    queue = invoke("run", "--queue", "not a queue", "surface_tasks.py", "where")
    assert queue.exit_code == 2 and "--queue" in queue.stderr and "'not a queue'" in queue.stderr


def test_a_task_parameter_named_like_a_reference_option_wins(folder):
    (folder / "named.py").write_text(
        textwrap.dedent("""
            import flyte

            env = flyte.TaskEnvironment(name="named")

            @env.task
            def tag(version: str, follow: bool = False) -> str:
                return f"{version}/{follow}"
        """)
    )
    result = invoke("run", "named.py", "tag", "--version", "v7", "--follow")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "v7/True"
    assert "no effect" not in result.stderr


# --- the reference's nouns ---------------------------------------------------------------


def test_get_run_lists_and_shows(folder):
    assert invoke("run", "surface_tasks.py", "where").exit_code == 0
    assert invoke("run", "surface_tasks.py", "boom").exit_code == 1
    listed = invoke("get", "run", "-o", "json")
    assert [r["task"] for r in json.loads(listed.stdout)] == ["surface.boom", "surface.where"]
    failed = invoke("get", "run", "--in-phase", "failed", "-o", "json")
    assert [r["task"] for r in json.loads(failed.stdout)] == ["surface.boom"]
    paused = invoke("get", "run", "--in-phase", "paused", "-o", "json")  # never recorded here
    assert json.loads(paused.stdout) == []
    by_task = invoke("get", "run", "--task-name", "surface.where", "--limit", "5", "-o", "json")
    assert [r["task"] for r in json.loads(by_task.stdout)] == ["surface.where"]
    name = json.loads(listed.stdout)[1]["name"]
    shown = invoke("get", "run", name)
    assert shown.exit_code == 0 and f"run {name}" in shown.stdout and "a0" in shown.stdout
    mixed = invoke("get", "run", name, "--in-phase", "failed")
    assert mixed.exit_code == 2 and "--in-phase" in mixed.stderr and "not with NAME" in mixed.stderr
    missing = invoke("get", "run", "rnope")
    assert missing.exit_code == 1 and "rnope" in missing.output


def test_get_logs_is_flyte_logs(folder):
    assert invoke("run", "surface_tasks.py", "where").exit_code == 0
    name = last_run()
    logs = invoke("get", "logs", name)
    assert logs.exit_code == 0 and "where ran" in logs.stdout
    one = invoke("get", "logs", name, "a0", "-a", "1")
    assert one.exit_code == 0 and "where ran" in one.stdout
    beyond = invoke("get", "logs", name, "a0", "-a", "2")
    assert beyond.exit_code == 1 and "--attempt 2 is not one" in beyond.output


def test_runs_list_status_filter(folder):
    assert invoke("run", "surface_tasks.py", "where").exit_code == 0
    assert invoke("run", "surface_tasks.py", "boom").exit_code == 1
    both = invoke("runs", "list", "--status", "failed,succeeded", "-o", "json")
    assert len(json.loads(both.stdout)) == 2
    bad = invoke("runs", "list", "--status", "done")
    assert bad.exit_code == 2 and "'DONE' is not a phase" in bad.stderr


def test_create_secret_value_option(folder):
    made = invoke("create", "secret", "api_key", "--value", "sk-123", "-p", "shop")
    assert made.exit_code == 0 and "sk-123" not in made.output
    assert invoke("get", "secret", "-p", "shop").stdout.split() == ["api_key"]
    twice = invoke("create", "secret", "other", "v1", "--value", "v2")
    assert twice.exit_code == 2 and "give the value once" in twice.stderr
    none = invoke("create", "secret", "other")
    assert none.exit_code == 2 and "--value VALUE" in none.stderr


def test_create_config_writes_a_file_flyte_run_reads(folder):
    made = invoke(
        "create", "config", "--endpoint", "dns:///flyte.example.com", "--org", "acme", "-p", "shop", "-d", "staging"
    )
    assert made.exit_code == 0, made.output
    written = folder / ".flyte" / "config.yaml"
    assert made.stdout.strip() == f"Config file written to {written.relative_to(folder)}"
    assert yaml.safe_load(written.read_text()) == {
        "admin": {"endpoint": "dns:///flyte.example.com"},
        "image": {"builder": "local"},
        "task": {"org": "acme", "project": "shop", "domain": "staging"},
    }
    ran = invoke("run", "surface_tasks.py", "where")  # found where init_from_config looks
    assert ran.exit_code == 0, ran.output
    assert "shop/staging" in ran.stdout
    assert "admin.endpoint dns:///flyte.example.com is ignored" in ran.stderr


def test_create_config_never_overwrites_unasked(folder):
    assert invoke("create", "config", "-p", "first").exit_code == 0
    written = folder / ".flyte" / "config.yaml"
    again = invoke("create", "config", "-p", "second")
    assert again.exit_code == 1 and "exists; --force overwrites it" in again.output
    assert yaml.safe_load(written.read_text())["task"] == {"project": "first"}
    forced = invoke("create", "config", "-p", "second", "--force")
    assert forced.exit_code == 0
    assert yaml.safe_load(written.read_text())["task"] == {"project": "second"}
    assert [p.name for p in written.parent.iterdir()] == ["config.yaml"]  # no temporary file left


def test_create_config_devbox_and_output_and_bad_names(folder):
    made = invoke("create", "config", "--devbox", "-o", "dev.yaml")
    assert made.exit_code == 0, made.output
    assert yaml.safe_load((folder / "dev.yaml").read_text()) == {
        "admin": {"endpoint": "dns:///localhost:30080", "insecure": True},
        "image": {"builder": "local"},
        "task": {"project": "flytesnacks", "domain": "development"},
    }
    both = invoke("create", "config", "--devbox", "--endpoint", "x", "-o", "other.yaml")
    assert both.exit_code == 2 and "--devbox" in both.stderr and not (folder / "other.yaml").exists()
    bad = invoke("create", "config", "-p", "bad name", "-o", "bad.yaml")
    assert bad.exit_code == 2 and "'bad name' is not valid" in bad.stderr and not (folder / "bad.yaml").exists()


# --- flyte deploy ------------------------------------------------------------------------


@pytest.fixture
def tree(folder):
    """A folder of two files with an environment each, and one that fails to import."""
    for sub, name in (("a", "one"), ("b", "two")):
        (folder / "tree" / sub).mkdir(parents=True)
        (folder / "tree" / sub / f"{name}.py").write_text(
            textwrap.dedent(f"""
                import flyte

                env_{name} = flyte.TaskEnvironment(name="tree_{name}")

                @env_{name}.task
                def t_{name}() -> int:
                    return 1
            """)
        )
    (folder / "tree" / "b" / "broken.py").write_text("import not_a_module_anywhere\n")
    return folder / "tree"


def test_deploy_recursive_and_load_errors(tree):
    failed = invoke("deploy", "--dryrun", "--recursive", "tree")
    assert failed.exit_code == 1
    assert "broken.py: ModuleNotFoundError" in failed.output and "--ignore-load-errors" in failed.output
    skipped = invoke("deploy", "--dry-run", "-r", "-i", "tree")
    assert skipped.exit_code == 0, skipped.output
    assert "environment tree_one" in skipped.stdout and "environment tree_two" in skipped.stdout
    assert "flyte: skipped" in skipped.stderr and "broken.py" in skipped.stderr
    one = invoke("deploy", "-r", "-i", "tree", "env_two")
    assert one.exit_code == 0, one.output
    assert "tree_two" in one.stdout and "tree_one" not in one.stdout
    assert [line.split()[0] for line in invoke("deploy", "--list").stdout.splitlines()] == ["tree_two"]


def test_deploy_folder_needs_recursive_and_all_takes_no_envs(tree):
    folder = invoke("deploy", "tree")
    assert folder.exit_code == 2 and "'tree': a folder needs --recursive" in folder.stderr
    file = invoke("deploy", "-r", "surface_tasks.py")
    assert file.exit_code == 2 and "--recursive needs a folder" in file.stderr
    everything = invoke("deploy", "--all", "--dryrun", "surface_tasks.py")
    assert everything.exit_code == 0 and "environment surface" in everything.stdout
    both = invoke("deploy", "--all", "surface_tasks.py", "env")
    assert both.exit_code == 2 and "not with ENVS" in both.stderr


def test_deploy_copy_style_is_noted(folder):
    result = invoke("deploy", "--dryrun", "--copy-style", "all", "surface_tasks.py")
    assert result.exit_code == 0, result.output
    assert "flyte: --copy-style has no effect here: code is not uploaded" in result.stderr


def test_run_scope_options_on_commands_that_name_a_run(folder):
    assert invoke("run", "surface_tasks.py", "where").exit_code == 0
    name = last_run()
    why = "a run's name is unique under the state root, whatever its project and domain"
    logs = invoke("get", "logs", name, "-p", "shop", "-d", "development")
    assert logs.exit_code == 0 and "where ran" in logs.stdout
    assert f"flyte: --project, --domain have no effect here: {why}" in logs.stderr
    shown = invoke("get", "run", name, "--project", "shop")
    assert shown.exit_code == 0 and f"run {name}" in shown.stdout
    assert f"flyte: --project has no effect here: {why}" in shown.stderr
    aborted = invoke("abort", "run", name, "-d", "development")
    assert aborted.exit_code == 0 and "had already ended: SUCCEEDED" in aborted.stdout


def test_root_config_reaches_the_image_refs_of_render(folder):
    (folder / "imaged.py").write_text(
        textwrap.dedent("""
            import flyte

            env = flyte.TaskEnvironment(name="imaged", image=flyte.Image.from_ref_name("gpu"))

            @env.task
            def which() -> str:
                return "x"
        """)
    )
    (folder / "c.yaml").write_text("image:\n  image_refs:\n    gpu: ghcr.io/acme/gpu:v3\n")
    unknown = invoke("render", "imaged.py", "which")
    assert unknown.exit_code != 0
    rendered = invoke("--config", "c.yaml", "render", "imaged.py", "which", "-o", "json")
    assert rendered.exit_code == 0, rendered.output
    assert "ghcr.io/acme/gpu:v3" in rendered.stdout
