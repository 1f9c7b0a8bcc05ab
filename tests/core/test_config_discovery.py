"""flyte.init_from_config() with no path finds the config file where the reference SDK does.

A Flyte 1 user who migrates keeps ``$FLYTECTL_CONFIG`` (or a Union user ``$UCTL_CONFIG``, or a
repository's ``.flyte/config.yaml``) and calls ``flyte.init_from_config()`` as the migration
examples do: that file must be the one read, not skipped for "no config file".
"""

from __future__ import annotations

from pathlib import Path

import pytest

import flyte
from flyte.errors import InitializationError

VARS = ("FLYTE_CONFIG", "UCTL_CONFIG", "FLYTECTL_CONFIG")


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No config variable set, an empty home, and the current folder a fresh one (outside any
    git repository); returns that folder."""
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def config(path: Path, project: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"task:\n  project: {project}\n  domain: development\n")
    return path


def init_project(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The project flyte.init_from_config() selected, and the line it printed."""
    flyte.init_from_config()
    return flyte.current_project(), capsys.readouterr().err.strip()


def test_flytectl_config_variable_is_read(clean, tmp_path, monkeypatch, capsys):
    assert init_project(capsys)[0] == "default"  # nothing anywhere: local defaults
    sandbox = config(tmp_path / "flyte1" / "config-sandbox.yaml", "from-flytectl")
    monkeypatch.setenv("FLYTECTL_CONFIG", str(sandbox))
    project, line = init_project(capsys)
    assert project == "from-flytectl"
    assert str(sandbox) in line and "running locally" in line


def test_uctl_config_wins_over_flytectl_config(clean, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLYTECTL_CONFIG", str(config(tmp_path / "a.yaml", "from-flytectl")))
    monkeypatch.setenv("UCTL_CONFIG", str(config(tmp_path / "b.yaml", "from-uctl")))
    assert init_project(capsys)[0] == "from-uctl"


def test_current_folder_wins_and_config_yaml_before_dot_flyte(clean, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLYTECTL_CONFIG", str(config(tmp_path / "a.yaml", "from-flytectl")))
    config(clean / ".flyte" / "config.yaml", "from-dot-flyte")
    assert init_project(capsys)[0] == "from-dot-flyte"
    config(clean / "config.yaml", "from-cwd")
    assert init_project(capsys)[0] == "from-cwd"


def test_repository_config_found_from_a_subfolder_before_the_variables(tmp_path, monkeypatch, capsys, clean):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    sub = repo / "v2" / "migration"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    monkeypatch.setenv("FLYTECTL_CONFIG", str(config(tmp_path / "a.yaml", "from-flytectl")))
    assert init_project(capsys)[0] == "from-flytectl"  # the repository has no config yet
    config(repo / ".flyte" / "config.yaml", "from-repo")
    assert init_project(capsys)[0] == "from-repo"


def test_home_configs_last(clean, tmp_path, monkeypatch, capsys, flyte_home):
    config(flyte_home / "config.yaml", "from-state-root")
    assert init_project(capsys)[0] == "from-state-root"
    config(tmp_path / "home" / ".union" / "config.yaml", "from-union-home")
    assert init_project(capsys)[0] == "from-union-home"
    monkeypatch.setenv("FLYTECTL_CONFIG", str(config(tmp_path / "a.yaml", "from-flytectl")))
    assert init_project(capsys)[0] == "from-flytectl"


def test_flyte_config_variable_wins_over_every_place(clean, tmp_path, monkeypatch, capsys):
    config(clean / "config.yaml", "from-cwd")
    monkeypatch.setenv("FLYTE_CONFIG", str(config(tmp_path / "ours.yaml", "from-flyte-config")))
    assert init_project(capsys)[0] == "from-flyte-config"


@pytest.mark.parametrize("var", VARS)
def test_a_variable_naming_a_missing_file_is_an_error_naming_it(clean, tmp_path, monkeypatch, var, flyte_home):
    config(flyte_home / "config.yaml", "would-be-a-silent-fallback")
    missing = tmp_path / "gone.yaml"
    monkeypatch.setenv(var, str(missing))
    with pytest.raises(InitializationError, match=rf"\${var}: '{missing}' does not exist \(accepted: the path"):
        flyte.init_from_config()


@pytest.mark.parametrize("var", VARS)
def test_a_variable_naming_a_directory_says_it_is_one(clean, tmp_path, monkeypatch, var):
    monkeypatch.setenv(var, str(tmp_path))
    with pytest.raises(InitializationError, match=rf"\${var}: '{tmp_path}' is a directory; a config is a file"):
        flyte.init_from_config()


def test_a_named_directory_says_it_is_one(clean, tmp_path):
    with pytest.raises(InitializationError, match=rf"'{tmp_path}' is a directory; a config is a file \(accepted: the"):
        flyte.init_from_config(tmp_path)


def test_the_variable_selects_a_cluster_as_it_does_for_the_reference(clean, tmp_path, monkeypatch, capsys):
    """The point of reading it: a config naming a Kubernetes backend is not replaced by a
    silently local run."""
    kube = tmp_path / "kube.yaml"
    kube.write_text("kubernetes:\n  context: some-context\n  namespace: ns\n")
    monkeypatch.setenv("FLYTECTL_CONFIG", str(kube))
    flyte.init_from_config()
    assert f"Kubernetes backend from {kube}" in capsys.readouterr().err
    flyte.init()  # back to local for the tests that follow in this process


@pytest.mark.parametrize(
    ("text", "section"),
    [
        ("image: python:3.11\n", "image"),  # e.g. a deployment tool's own config.yaml
        ("task: build\n", "task"),
        ("local: 5\n", "local"),
        ("admin: [1, 2]\n", "admin"),
        ("kubernetes: yes\n", "kubernetes"),
        ("storage: 3\n", "storage"),
    ],
)
def test_a_found_config_yaml_whose_sections_are_not_mappings_is_skipped(clean, capsys, text, section):
    """Another tool's ./config.yaml that happens to use one of flyte's section names is not a
    flyte config: skipped with one line (the reference SDK runs too), not an AttributeError.
    Named by the caller, it is an error naming the section, its value and what is accepted."""
    (clean / "config.yaml").write_text(text)
    flyte.init_from_config()
    err = capsys.readouterr().err
    assert "config.yaml is not a flyte config" in err and "ignoring it" in err
    assert "running locally" in err
    with pytest.raises(InitializationError, match=rf"config.yaml: {section}: expected a mapping, got"):
        flyte.init_from_config("config.yaml")


def test_a_found_config_yaml_that_is_not_text_is_skipped(clean, capsys):
    (clean / "config.yaml").write_bytes(b"\xff\xfe\x00binary\n")
    flyte.init_from_config()
    err = capsys.readouterr().err
    assert "config.yaml is not a flyte config (is not valid YAML); ignoring it" in err
    with pytest.raises(InitializationError, match="config.yaml is not valid YAML"):
        flyte.init_from_config("config.yaml")
