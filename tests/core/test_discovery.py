"""Plugins are found through entry points, lazily, and a broken one never breaks the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest
from click.testing import CliRunner
from flyte_isolated import Isolated

import flyte
from flyte import hookspecs
from flyte.cli.main import build_cli
from flyte.errors import PluginConflictError, PluginNotFoundError
from flyte.plugin_types import TaskCall, TaskPlugin
from flyte.plugins import PluginLoadWarning, PluginRegistry, installed_entry_points, use_registry


def test_the_example_plugin_is_discovered_through_its_entry_point(fresh_registry):
    infos = {i.name: i for i in fresh_registry.infos()}
    isolated = infos["isolated"]
    assert isolated.distribution == "flyte-isolated" and isolated.version == "0.1.0"
    assert isolated.config_types == ("flyte_isolated.config.Isolated",)
    assert isolated.hooks == ("flyte_cli", "flyte_task_plugins")
    assert infos["core"].hooks == (
        "flyte_cli",
        "flyte_connectors",
        "flyte_dataframe_handlers",
        "flyte_render_task",
        "flyte_task_plugins",
    )
    assert infos["core"].config_types == ("flyte.clustered.config.ClusteredSettings",)
    # flyte.connectors: the reference SDK's AsyncConnectors, run by one core connector record
    assert infos["core"].connector_types == ("flyte.connectors._config.ConnectorTaskType",)
    assert next(iter(infos)) == "core"


def test_plugin_config_is_checked_when_the_environment_is_defined():
    assert flyte.TaskEnvironment(name="iso", plugin_config=Isolated()).plugin_config == Isolated()

    class Unknown:
        pass

    with pytest.raises(PluginNotFoundError, match="no installed plugin handles Unknown"):
        flyte.TaskEnvironment(name="x", plugin_config=Unknown())
    known = type("SparkLike", (), {"__module__": "flyteplugins.spark.task"})
    with pytest.raises(TypeError, match="pip install flyteplugins-spark"):
        flyte.TaskEnvironment(name="x", plugin_config=known())


def test_config_types_are_routed_by_their_mro():
    class Stricter(Isolated):
        pass

    assert flyte.TaskEnvironment(name="sub", plugin_config=Stricter()).plugin_config == Stricter()


def _broken_distribution(tmp_path):
    dist = tmp_path / "broken_dist-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[flyte.plugins]\nbroken = broken_plugin_module\n")
    (tmp_path / "broken_plugin_module.py").write_text("raise ImportError('needs libfoo, which is missing')\n")
    return installed_entry_points(path=[str(tmp_path)])


def test_a_broken_entry_point_is_reported_once_and_the_others_keep_working(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = _broken_distribution(tmp_path)
    registry = PluginRegistry(entry_points=[*installed_entry_points(), *broken])
    with pytest.warns(PluginLoadWarning, match=r"'broken' \(from broken-dist\).*needs libfoo") as caught:
        infos = {i.name: i for i in registry.infos()}
    assert len([w for w in caught if issubclass(w.category, PluginLoadWarning)]) == 1
    assert infos["broken"].distribution == "broken-dist"
    assert "ImportError: needs libfoo" in infos["broken"].errors[0]
    with use_registry(registry):
        assert flyte.TaskEnvironment(name="still-works", plugin_config=Isolated())
        result = CliRunner().invoke(build_cli(), ["plugins", "--json"])
    listed = {p["name"]: p for p in json.loads(result.output)}
    assert listed["broken"]["errors"] and listed["isolated"]["errors"] == []
    registry.infos()  # asking again does not warn again (nothing loads twice)


def test_a_hook_that_raises_is_reported_and_does_not_break_the_others():
    bad = types.ModuleType("bad_hooks")

    @hookspecs.hookimpl
    def flyte_task_plugins():
        raise RuntimeError("bug in plugin")

    bad.flyte_task_plugins = flyte_task_plugins
    registry = PluginRegistry()
    registry.register(bad, "bad", distribution="bad-dist")
    with pytest.warns(PluginLoadWarning, match="bug in plugin"), use_registry(registry):
        infos = {i.name: i for i in registry.infos()}
        assert "flyte_task_plugins: RuntimeError: bug in plugin" in infos["bad"].errors[0]
        assert flyte.TaskEnvironment(name="ok", plugin_config=Isolated())


def test_two_plugins_claiming_one_type_is_an_error_naming_both():
    rival = types.ModuleType("rival")

    @hookspecs.hookimpl
    def flyte_task_plugins():
        return [TaskPlugin(config_type=Isolated)]

    rival.flyte_task_plugins = flyte_task_plugins
    registry = PluginRegistry()
    registry.load()
    registry.register(rival, "rival", distribution="rival-dist")
    with use_registry(registry), pytest.raises(PluginConflictError, match="flyte-isolated.*rival-dist"):
        flyte.TaskEnvironment(name="x", plugin_config=Isolated())


def test_flyte_plugins_env_var_restricts_what_loads(monkeypatch):
    monkeypatch.setenv("FLYTE_PLUGINS", "")
    assert [i.name for i in PluginRegistry().infos()] == ["core"]
    monkeypatch.setenv("FLYTE_PLUGINS", "isolated")
    assert [i.name for i in PluginRegistry().infos()] == ["core", "isolated"]


def test_the_plugins_command_prints_a_table_and_json():
    runner = CliRunner()
    table = runner.invoke(build_cli(), ["plugins"])
    assert table.exit_code == 0 and "flyte-isolated" in table.output and "Isolated" in table.output
    data = json.loads(runner.invoke(build_cli(), ["plugins", "--json"]).output)
    assert {"name", "distribution", "version", "config_types", "hooks", "errors"} <= set(data[0])
    assert runner.invoke(build_cli(), ["isolated-check"]).output.strip() == sys.executable


def test_nothing_is_discovered_at_import_flyte():
    code = "import flyte, sys; print('flyte_isolated' in sys.modules, 'flyte.plugins' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_every_hook_spec_is_documented():
    specs = [getattr(hookspecs, name) for name in dir(hookspecs) if name.startswith("flyte_")]
    assert len(specs) >= 4
    for spec in specs:
        assert spec.__doc__ and "Called" in spec.__doc__, spec.__name__


# -- the example plugin's runner, used for real ------------------------------------------------

iso_env = flyte.TaskEnvironment(
    name="isolated-env", plugin_config=Isolated(env={"CHILD_ONLY": "1"}), env_vars={"TASK_VAR": "t"}
)


@iso_env.task
def where(x: int) -> dict:
    return {
        "pid": os.getpid(),
        "double": x * 2,
        "child": os.environ.get("CHILD_ONLY"),
        "task_var": os.environ.get("TASK_VAR"),
    }


@iso_env.task
async def boom() -> None:
    raise KeyError("from the child")


def test_the_example_plugin_runs_tasks_in_another_process():
    flyte.init()
    out = flyte.run(where, 21).outputs()[0]
    assert out["pid"] != os.getpid() and out["double"] == 42
    assert out["child"] == "1" and out["task_var"] == "t"
    with pytest.raises(KeyError, match="from the child") as info:
        flyte.run(boom)
    assert any("in the isolated process" in note for note in getattr(info.value, "__notes__", []))


def test_the_example_plugins_runner_kills_its_child_when_cancelled():
    import asyncio

    from flyte_isolated._runner import run

    def sleeper() -> None:
        import time

        time.sleep(60)

    call = TaskCall(spec=where.spec, function=sleeper, inputs={}, environ=dict(os.environ), invoke=None)

    async def main() -> None:
        task = asyncio.create_task(run(call))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = set(_children())
    asyncio.run(main())
    assert not (set(_children()) - before), "the child process outlived the cancelled task"


def _children() -> list[int]:
    """Live (not zombie) child processes of this process, from /proc."""
    found = []
    for stat in __import__("glob").glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(stat.split("/")[2]))
    return found


def test_docs_walk_through_the_example_plugin():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "writing-a-plugin.md").read_text()
    for needle in ("flyte.plugins", "flyte_task_plugins", "TaskPlugin", "TaskCall", "flyte-isolated", "FLYTE_PLUGINS"):
        assert needle in doc


PLAIN_TASK = """
import flyte

env = flyte.TaskEnvironment(name="plain")


@env.task
def one() -> int:
    return 1
"""

LOADED_PLUGINS = """
import runpy, sys
sys.argv = ["flyte", *sys.argv[1:]]
try:
    runpy.run_module("flyte.cli.main", run_name="__main__")
except SystemExit:
    pass
print("PLUGINS", sorted(m for m in sys.modules if m.startswith(("flyteplugins", "flyte_batch_job"))))
"""


def test_the_cli_imports_plugins_only_for_a_command_that_needs_them(tmp_path):
    (tmp_path / "plain.py").write_text(PLAIN_TASK)
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home")}

    def plugins_after(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", LOADED_PLUGINS, *args], capture_output=True, text=True, cwd=tmp_path, env=env
        )
        return next(line for line in out.stdout.splitlines() if line.startswith("PLUGINS"))

    assert plugins_after("run", "plain.py", "one") == "PLUGINS []"
    assert plugins_after("plugins") != "PLUGINS []"  # listing plugins loads them
