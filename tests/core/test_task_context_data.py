"""A plugin hands values to the running task through ``TaskCall.data``: the task reads them as
``flyte.ctx().data`` and through the reference SDK's ``flyte._context.internal_ctx()``."""

from __future__ import annotations

import types

import attrs
import pytest

import flyte
from flyte._context import internal_ctx
from flyte.extend import TaskCall, TaskPlugin, hookimpl
from flyte.plugins import PluginRegistry, use_registry


@attrs.frozen
class Handle:
    """A plugin_config whose runner puts an engine handle into the task's context."""

    name: str


def _plugin_module() -> types.ModuleType:
    module = types.ModuleType("handle_plugin")

    async def run(call: TaskCall):
        assert call.data == {}  # each attempt starts empty
        call.data["engine"] = f"engine:{call.spec.plugin_config.name}"
        return await call.invoke()

    @hookimpl
    def flyte_task_plugins():
        return [TaskPlugin(config_type=Handle, run=run)]

    module.flyte_task_plugins = flyte_task_plugins
    return module


@pytest.fixture
def registry():
    registry = PluginRegistry()
    registry.register(_plugin_module(), "handle", distribution="handle-dist")
    with use_registry(registry):
        flyte.init()
        yield registry


def test_a_plugin_puts_values_into_the_task_context(registry):
    env = flyte.TaskEnvironment(name="handled", plugin_config=Handle("a"))
    plain = flyte.TaskEnvironment(name="plain_ctx")
    env.add_dependency(plain)

    @plain.task
    async def child() -> dict:
        return dict(flyte.ctx().data)  # a plain task's context carries nothing

    @env.task
    async def parent() -> list:
        ctx = internal_ctx()
        return [
            flyte.ctx().data["engine"],
            ctx.data.task_context.data["engine"],
            await child(),
            flyte.ctx().data["engine"],  # still the parent's after the child ran
        ]

    @env.task
    def sync_body() -> str:  # runs on a worker thread: the context follows it
        return flyte.ctx().data["engine"]

    assert flyte.run(parent).outputs() == ["engine:a", "engine:a", {}, "engine:a"]
    assert flyte.run(sync_body.override(plugin_config=Handle("b"))).outputs() == "engine:b"


def test_outside_a_task_there_is_no_task_context():
    assert internal_ctx().data.task_context is None
    assert flyte.ctx() is None
