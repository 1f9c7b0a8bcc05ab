"""Engine-bound dataframes (a Spark DataFrame lives in its session) cross a task boundary only at
the body, inside the plugin's engine: read just before the body runs, stored just after it
returns; anywhere else they stay ``flyte.io.DataFrame`` references."""

from __future__ import annotations

import json
import threading
import types

import attrs
import pytest

import flyte
import flyte.io
from flyte.extend import DataFrameHandler, TaskCall, TaskPlugin, hookimpl, storage
from flyte.plugins import PluginRegistry, use_registry

ENGINE = threading.Event()  # set while the plugin's engine is up


class Table:
    """A dataframe that exists only inside the engine."""

    def __init__(self, rows: list[int]):
        self.rows = rows


@attrs.frozen
class Engine:
    """The plugin_config of tasks that run inside the engine."""


def _write(table: Table, uri: str, fmt: str) -> None:
    assert ENGINE.is_set(), "stored after the engine stopped"
    with storage.open_sync(uri, "w") as f:
        json.dump(table.rows, f)


def _read(uri: str, fmt: str) -> Table:
    if not ENGINE.is_set():
        raise RuntimeError("a Table needs the engine")
    with storage.open_sync(uri, "r") as f:
        return Table(json.load(f))


def _plugin() -> types.ModuleType:
    module = types.ModuleType("engine_plugin")

    async def run(call: TaskCall):
        ENGINE.set()
        try:
            return await call.invoke()
        finally:
            ENGINE.clear()

    @hookimpl
    def flyte_task_plugins():
        return [TaskPlugin(config_type=Engine, run=run)]

    @hookimpl
    def flyte_dataframe_handlers():
        return [DataFrameHandler(python_type=Table, write=_write, read=_read, formats=("json",), engine_bound=True)]

    module.flyte_task_plugins = flyte_task_plugins
    module.flyte_dataframe_handlers = flyte_dataframe_handlers
    return module


@pytest.fixture
def engine_plugin():
    registry = PluginRegistry()
    registry.register(_plugin(), "engine", distribution="engine-dist")
    with use_registry(registry):
        flyte.init()
        yield


def test_engine_bound_tables_are_read_and_stored_inside_the_engine(engine_plugin):
    engine = flyte.TaskEnvironment(name="in_engine", plugin_config=Engine())
    plain = flyte.TaskEnvironment(name="outside_engine")
    driver = flyte.TaskEnvironment(name="engine_driver", depends_on=[engine, plain])

    @engine.task
    async def produce(n: int) -> Table:
        return Table(list(range(n)))

    @engine.task
    async def total(table: Table) -> int:
        return sum(table.rows)

    @plain.task
    async def needs_engine(table: Table) -> int:
        return len(table.rows)

    @driver.task
    async def main(n: int) -> list:
        table = await produce(n)  # out here, a reference
        return [isinstance(table, flyte.io.DataFrame), await total(table)]

    assert flyte.run(main, 4).outputs() == [True, 6]
    ref = flyte.run(produce, 3).outputs()[0]
    assert isinstance(ref, flyte.io.DataFrame)
    with pytest.raises(RuntimeError, match="a Table needs the engine"):
        flyte.run(needs_engine, ref)
