"""The error ``flyte.run`` raises carries the user's frames, not the runtime's: a script run
with ``python FILE`` (the public examples) prints its own lines above the message, not thirty
frames of controller and asyncio. flyte's own bugs keep every frame."""

from __future__ import annotations

import traceback

import pytest

import flyte
from flyte.errors import FlyteError, SecretNotFoundError
from flyte.runtime.user_traceback import user_traceback

env = flyte.TaskEnvironment(name="user_tb")


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


@env.task
def leaf(n: int) -> int:
    if n < 0:
        raise ValueError("n must not be negative")
    return n


@env.task
async def parent(n: int) -> int:
    return await leaf.aio(n) + 1


needs_secret = flyte.TaskEnvironment(name="user_tb_secret", secrets=[flyte.Secret(key="user-tb-absent")])


@needs_secret.task
def secretive() -> int:
    return 1


def _printed(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_a_task_error_shows_the_users_frames_not_the_runtimes():
    with pytest.raises(ValueError, match="n must not be negative") as caught:
        flyte.run(parent, n=-1)
    printed = _printed(caught.value)
    assert "in parent" in printed and "in leaf" in printed and 'raise ValueError("n must' in printed
    assert "flyte/runtime/controller.py" not in printed and "asyncio/" not in printed
    assert "in test_a_task_error_shows_the_users_frames_not_the_runtimes" in printed  # the call site


def test_flytes_own_error_about_the_run_is_its_message():
    with pytest.raises(SecretNotFoundError, match="user-tb-absent") as caught:
        flyte.run(secretive)
    printed = _printed(caught.value)
    assert "flyte/runtime/controller.py" not in printed and "secrets_runtime.py" not in printed
    assert printed.rstrip().splitlines()[-1].startswith("flyte.errors.SecretNotFoundError: secret 'user-tb-absent'")


def _raiser(error: BaseException):
    """A function whose frame is flyte's (its module is named flyte.*), as a runtime frame is."""
    namespace: dict = {"__name__": "flyte.runtime.fake", "error": error}
    exec("def fail():\n    raise error\n", namespace)
    return namespace["fail"]


def _caught(error: BaseException) -> BaseException:
    try:
        _raiser(error)()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_a_bug_inside_flyte_keeps_every_frame():
    exc = _caught(KeyError("internal"))
    assert user_traceback(exc) is exc.__traceback__  # the runtime's frames are the evidence


def test_flytes_deliberate_error_drops_the_runtimes_frames():
    exc = _caught(FlyteError("told the user"))
    kept = user_traceback(exc)
    names = [frame.f_code.co_name for frame, _ in traceback.walk_tb(kept)]
    assert names == ["_caught"]  # the user's frame only
