"""``flyte run FILE TASK`` reads the config file as ``python FILE`` with
``flyte.init_from_config()`` does, so both ways of starting a script see the same project,
domain and settings (a secret created for the config's project is found by both)."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.runtime import secret_store, settings

TASKS = textwrap.dedent("""
    import os
    import flyte

    env = flyte.TaskEnvironment(
        name="cfg_run",
        secrets=[flyte.Secret(key="api_key", as_env_var="API_KEY")],
    )

    @env.task
    def call_api() -> str:
        return f"{flyte.current_project()}: key of {len(os.environ['API_KEY'])} chars"

    plain = flyte.TaskEnvironment(name="cfg_plain")

    @plain.task
    def where() -> str:
        return f"{flyte.current_project()}/{flyte.current_domain()}"
""")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A project folder holding the tasks and a config naming project 'flytesnacks'; flyte not
    initialised (as in a fresh `flyte run` process)."""
    for var in ("FLYTE_CONFIG", "UCTL_CONFIG", "FLYTECTL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings, "_current", None)
    (tmp_path / "cfg_tasks.py").write_text(TASKS)
    (tmp_path / "config.yaml").write_text("task:\n  project: flytesnacks\n  domain: staging\n")
    yield tmp_path
    flyte.init()  # the tests that follow in this process start from local defaults


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), prog_name="flyte")


def test_the_configs_project_scopes_the_run_as_with_python_file(folder):
    secret_store.create("api_key", b"sk-12345", project="flytesnacks")
    result = invoke("run", "cfg_tasks.py", "call_api")
    assert result.exit_code == 0, result.output
    assert "flytesnacks: key of 8 chars" in result.stdout
    assert "config.yaml names no remote backend; running locally" in result.output


def test_options_win_over_the_config(folder):
    result = invoke("run", "-p", "other", "cfg_tasks.py", "where", "--domain", "production")
    assert result.exit_code == 0, result.output
    assert "other/production" in result.stdout
    # The secret exists only for the config's project: under another it is not found.
    secret_store.create("api_key", b"sk-12345", project="flytesnacks")
    missing = invoke("run", "--project", "other", "cfg_tasks.py", "call_api")
    assert missing.exit_code == 1 and "secret 'api_key' not found for project 'other'" in missing.output


def test_config_option_names_the_file(folder):
    (folder / "elsewhere.yaml").write_text("task:\n  project: from-option\n")
    result = invoke("run", "--config", "elsewhere.yaml", "cfg_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert "from-option/development" in result.stdout


def test_a_missing_config_file_is_a_usage_error_naming_the_option(folder):
    result = invoke("run", "--config", "nope.yaml", "cfg_tasks.py", "where")
    assert result.exit_code == 2
    assert "--config: 'nope.yaml' does not exist (accepted: the path of a YAML config file)" in result.output


def test_without_a_config_file_nothing_is_said_and_defaults_apply(folder):
    (folder / "config.yaml").unlink()
    result = invoke("run", "cfg_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert "default/development" in result.stdout and "flyte:" not in result.output


def test_local_runs_here_when_the_config_names_a_cluster(folder):
    (folder / "config.yaml").write_text("task:\n  project: flytesnacks\nkubernetes:\n  context: unreachable\n")
    result = invoke("run", "--local", "cfg_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert "flytesnacks/development" in result.stdout
    assert "--local: running on this machine instead" in result.output
    assert settings.current().backend == "local" and settings.current().project == "flytesnacks"


def test_a_found_config_yaml_that_is_not_a_flyte_config_is_skipped(folder):
    """A project's own broken ./config.yaml does not stop `flyte run` (as with the reference
    SDK); named with --config, it must be a config."""
    (folder / "config.yaml").write_text("model: [layers, 4\n")
    result = invoke("run", "cfg_tasks.py", "where")
    assert result.exit_code == 0, result.output
    assert "default/development" in result.stdout
    assert "config.yaml is not a flyte config (is not valid YAML); ignoring it" in result.output
    settings._current = None  # (a fresh `flyte run` process again)
    named = invoke("run", "--config", "config.yaml", "cfg_tasks.py", "where")
    assert named.exit_code == 2 and "config.yaml is not valid YAML" in named.output


PICKER = textwrap.dedent("""
    import flyte

    # chosen when the file is imported, from the domain the command line or config set
    env = flyte.TaskEnvironment(name="prod_env" if flyte.current_domain() == "production" else "dev_env")
    IMPORTED_IN = f"{flyte.current_project()}/{flyte.current_domain()}"

    @env.task
    def which() -> str:
        return f"{env.name} imported in {IMPORTED_IN}"
""")


def test_the_file_sees_the_runs_project_and_domain_while_it_is_imported(folder):
    (folder / "picker.py").write_text(PICKER)
    result = invoke("run", "-p", "other", "-d", "production", "picker.py", "which")
    assert result.exit_code == 0, result.output
    assert "prod_env imported in other/production" in result.stdout
    assert result.output.count("names no remote backend") == 1  # said once, by the run
    settings._current = None  # (a fresh process) the config's domain, staging, when none is given
    (folder / "picker2.py").write_text(PICKER)  # (a module not imported yet)
    result = invoke("run", "picker2.py", "which")
    assert result.exit_code == 0, result.output
    assert "dev_env imported in flytesnacks/staging" in result.stdout


def test_deploy_imports_the_file_in_the_domain_it_deploys_to(folder):
    (folder / "picker.py").write_text(PICKER)
    result = invoke("deploy", "-d", "production", "picker.py")
    assert result.exit_code == 0, result.output
    assert "environment prod_env" in result.output and "dev_env" not in result.output


def test_a_config_that_fails_while_the_file_is_imported_is_still_reported(folder):
    (folder / "config.yaml").write_text("task:\n  project: flytesnacks\nstorage:\n  s3: 5\n")
    (folder / "picker3.py").write_text(PICKER)
    result = invoke("run", "picker3.py", "which")
    assert result.exit_code == 2 and "flyte.init_from_config: config.yaml:" in result.output
