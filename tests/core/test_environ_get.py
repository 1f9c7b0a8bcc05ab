"""``os.environ.get`` inside and outside a task: the task's overlay first, then the process's
environment (``flyte.runtime.environ.OverlayEnviron.get``, a path of its own for speed, must
say what ``__getitem__`` and ``in`` say)."""

from __future__ import annotations

import os

import pytest

import flyte
from flyte.runtime import environ

env = flyte.TaskEnvironment(name="environ_get", env_vars={"FLYTE_TEST_TASK_VAR": "task"})


@env.task
def seen() -> list:
    os.environ["FLYTE_TEST_WRITTEN"] = "written"  # stays in the task's overlay
    del os.environ["FLYTE_TEST_PROCESS_VAR"]  # hidden from the task only
    return [
        os.environ.get("FLYTE_TEST_TASK_VAR"),
        os.environ.get("FLYTE_TEST_WRITTEN"),
        os.environ.get("FLYTE_TEST_PROCESS_VAR"),
        os.environ.get("FLYTE_TEST_PROCESS_VAR", "gone"),
        os.environ.get("FLYTE_TEST_OTHER"),
        os.getenv("FLYTE_TEST_TASK_VAR"),
    ]


def test_get_reads_the_tasks_overlay_then_the_process(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLYTE_TEST_PROCESS_VAR", "process")
    monkeypatch.setenv("FLYTE_TEST_OTHER", "other")
    flyte.init()
    assert flyte.run(seen).outputs() == ["task", "written", None, "gone", "other", "task"]
    assert isinstance(os.environ, environ.OverlayEnviron)
    assert os.environ.get("FLYTE_TEST_PROCESS_VAR") == "process"  # the process never lost it
    assert os.environ.get("FLYTE_TEST_TASK_VAR") is None and os.environ.get("FLYTE_TEST_WRITTEN", 1) == 1


def test_get_agrees_with_getitem_and_in(monkeypatch: pytest.MonkeyPatch):
    environ.install()
    monkeypatch.setenv("FLYTE_TEST_BASE", "base")
    token = environ.enter({"FLYTE_TEST_MINE": "mine"})
    try:
        del os.environ["FLYTE_TEST_BASE"]
        for key in ("FLYTE_TEST_MINE", "FLYTE_TEST_BASE", "FLYTE_TEST_NONE"):
            try:
                expected = os.environ[key]
            except KeyError:
                expected = "default"
            assert os.environ.get(key, "default") == expected
            assert (key in os.environ) == (expected != "default")
    finally:
        environ.leave(token)
    assert os.environ.get("FLYTE_TEST_BASE") == "base" and os.environ.get("FLYTE_TEST_MINE") is None
    with pytest.raises(TypeError):
        os.environ.get(b"FLYTE_TEST_BASE")  # as os.environ says of a key that is not str
