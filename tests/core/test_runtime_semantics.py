"""The local runtime gives tasks a cluster's semantics: retries, timeouts, isolation, limits."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import warnings
from datetime import timedelta
from pathlib import Path

import pytest

import flyte
import flyte.errors
from flyte.remote import Run

env = flyte.TaskEnvironment(name="semantics")
calls: dict[str, int] = {}


def count(name: str) -> int:
    calls[name] = calls.get(name, 0) + 1
    return calls[name]


@pytest.fixture(autouse=True)
def local_backend():
    calls.clear()
    flyte.init()
    yield


# -- retries ---------------------------------------------------------------------------------


@env.task(retries=3)
async def always_fails() -> str:
    count("always_fails")
    raise ValueError("nope")


@env.task(retries=2)
async def fails_twice() -> str:
    if count("fails_twice") <= 2:
        raise ConnectionError("transient")
    return "ok"


@env.task(retries=5)
async def non_recoverable() -> str:
    count("non_recoverable")
    raise flyte.errors.NonRecoverableError("bad input, retrying cannot help")


def test_retries_mean_at_most_n_plus_one_attempts():
    with pytest.raises(ValueError, match="nope"):
        flyte.run(always_fails)
    assert calls["always_fails"] == 4


def test_a_retry_that_succeeds_returns_the_result_and_records_attempts():
    run = flyte.run(fails_twice)
    assert run.outputs() == "ok"
    (action,) = Run.get(run.name).actions()
    assert action.attempts == 3 and action.phase == "SUCCEEDED"


def test_override_retries_wins():
    with pytest.raises(ValueError):
        flyte.run(always_fails.override(retries=1))
    assert calls["always_fails"] == 2


def test_non_recoverable_error_fails_at_once():
    with pytest.raises(flyte.errors.NonRecoverableError):
        flyte.run(non_recoverable)
    assert calls["non_recoverable"] == 1


stamps: list[float] = []


@env.task(retries=flyte.RetryStrategy(count=3, backoff=flyte.Backoff(base=0.05, factor=2, cap=0.12)))
async def backs_off() -> None:
    stamps.append(time.monotonic())
    raise RuntimeError("again")


def test_backoff_waits_at_least_min_base_times_factor_power_n_cap():
    stamps.clear()
    with pytest.raises(RuntimeError):
        flyte.run(backs_off)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(gaps) == 3
    for gap, expected in zip(gaps, [0.05, 0.10, 0.12], strict=False):
        assert gap >= expected * 0.95  # a lower bound only: machines are noisy, never assert upper


# -- timeouts --------------------------------------------------------------------------------


@env.task(timeout=0.2, retries=1)
async def slow_async() -> str:
    count("slow_async")
    await asyncio.sleep(30)
    return "never"


@env.task(timeout=timedelta(seconds=0.2))
def slow_sync() -> str:
    count("slow_sync")
    time.sleep(1.5)
    return "never"


@env.task(retries=10, timeout=flyte.Timeout(max_runtime=0.1, deadline=0.5))
async def bounded_by_deadline() -> str:
    count("bounded_by_deadline")
    await asyncio.sleep(30)
    return "never"


def test_max_runtime_fails_the_attempt_and_the_attempt_is_retried():
    with pytest.raises(flyte.errors.TaskTimeoutError, match="slow_async"):
        flyte.run(slow_async)
    assert calls["slow_async"] == 2


def test_max_runtime_applies_to_sync_tasks():
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(slow_sync)


spin_state = {"stopped": False}


@env.task(timeout=0.3)
def spins() -> str:
    try:
        while True:  # a runaway CPU loop: nothing awaits, nothing checks a flag
            pass
    except flyte.errors.TaskInterruptedError:
        spin_state["stopped"] = True
        raise


def test_a_timed_out_sync_task_is_interrupted_not_left_running():
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(spins)
    deadline = time.monotonic() + 60  # wait for the loop to be interrupted (no speed assumed)
    while not spin_state["stopped"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spin_state["stopped"]


def test_deadline_wins_over_remaining_retries():
    start = time.monotonic()
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(bounded_by_deadline)
    assert calls["bounded_by_deadline"] < 11  # stopped by the deadline, not by the retry budget
    assert time.monotonic() - start >= 0.45


@env.task(timeout=flyte.Timeout(max_runtime=30, max_queued_time=0.2))
async def queued_child() -> str:
    return "ran"


@env.task
async def hog_then_child() -> str:
    # With one slot, the parent gives it up while it waits, so its child can run.
    return await queued_child()


@env.task
async def blocker() -> None:
    await asyncio.sleep(1.0)


@env.task
async def queue_parent() -> list[str]:
    results = await asyncio.gather(blocker(), queued_child(), return_exceptions=True)
    return [type(r).__name__ if isinstance(r, Exception) else str(r) for r in results]


def test_max_queued_time_fails_an_attempt_waiting_for_a_slot():
    flyte.init(max_concurrency=1)
    out = flyte.run(queue_parent).outputs()[0]
    assert out == ["None", "MaxQueuedTimeExceededError"]


def test_nested_calls_do_not_deadlock_under_a_concurrency_cap():
    flyte.init(max_concurrency=1)
    assert flyte.run(hog_then_child).outputs() == "ran"


# -- environment variables and secrets --------------------------------------------------------

iso_a = flyte.TaskEnvironment(name="iso-a", env_vars={"WHO": "a"})
iso_b = flyte.TaskEnvironment(name="iso-b", env_vars={"WHO": "b"})


@iso_a.task
async def read_a() -> str:
    await asyncio.sleep(0.05)
    first = os.environ["WHO"]
    await asyncio.sleep(0.05)
    return first + os.getenv("WHO")


@iso_b.task
def read_b() -> str:
    time.sleep(0.05)
    return os.environ["WHO"] + os.getenv("WHO")


root = flyte.TaskEnvironment(name="iso-root", depends_on=[iso_a, iso_b])


@root.task
async def read_both() -> list[str]:
    # Five async and five sync tasks of two environments, interleaved on one loop and threads.
    results = await asyncio.gather(*[read_a() for _ in range(5)], *[read_b.aio() for _ in range(5)])
    return [*results, os.environ.get("WHO", "unset")]


def test_env_vars_are_per_task_even_when_tasks_run_at_once():
    out = flyte.run(read_both).outputs()[0]
    assert out == ["aa"] * 5 + ["bb"] * 5 + ["unset"]
    assert "WHO" not in os.environ


def test_run_context_env_vars_reach_every_task():
    out = flyte.with_runcontext(env_vars={"RUN_LEVEL": "yes"}).run(env_value, name="RUN_LEVEL").outputs()[0]
    assert out == "yes"


@env.task
async def env_value(name: str) -> str | None:
    return os.environ.get(name)


secret_env = flyte.TaskEnvironment(
    name="secret-env",
    secrets=[
        flyte.Secret(key="api_token", as_env_var="API_TOKEN"),
        flyte.Secret(key="ssh_key", mount="/etc/flyte/secrets"),
    ],
)


@secret_env.task
def use_secrets() -> list[str]:
    with open(os.path.join(os.environ.get("FLYTE_SECRETS_MOUNT", "/etc/flyte/secrets"), "ssh_key")) as f:
        mounted = f.read()
    return [str(len(os.environ["API_TOKEN"])), str(len(mounted))]


def test_secrets_as_env_var_and_mount_and_no_trace_in_the_state_root(flyte_home):
    from flyte.runtime import secret_store

    token, key = "tok-3c1f9e-SECRETVALUE", "-----KEY 77ab SECRETFILE-----"
    secret_store.create("api_token", token.encode())
    secret_store.create("ssh_key", key.encode())
    run = flyte.run(use_secrets)
    assert run.outputs() == [str(len(token)), str(len(key))]
    assert "API_TOKEN" not in os.environ
    mount = os.environ.get("FLYTE_SECRETS_MOUNT", "/etc/flyte/secrets")
    assert not os.path.exists(os.path.join(mount, "ssh_key")), "a mounted secret outlived its task"
    # Nothing written by the run (store, cache, pages, reports) contains a secret value.
    for path in flyte_home.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(flyte_home).parts:
            data = path.read_bytes()
            assert token.encode() not in data and key.encode() not in data, path


def test_a_missing_secret_is_a_clear_error_naming_it_and_how_to_create_it():
    with pytest.raises(flyte.errors.SecretNotFoundError, match="flyte create secret api_token"):
        flyte.run(use_secrets)


# -- inline I/O --------------------------------------------------------------------------------


@env.task(max_inline_io_bytes=1024)
async def echo(data: str) -> str:
    return data


@env.task(max_inline_io_bytes=1024)
async def grow(n: int) -> str:
    return "x" * n


def test_inline_inputs_over_the_limit_are_refused_with_sizes():
    with pytest.raises(flyte.errors.InlineIOMaxBytesBreached, match="max_inline_io_bytes=1,024"):
        flyte.run(echo, data="y" * 5000)


def test_inline_outputs_over_the_limit_are_refused_and_not_retried():
    with pytest.raises(flyte.errors.InlineIOMaxBytesBreached, match="outputs"):
        flyte.run(grow, n=5000)
    assert flyte.run(grow, n=10).outputs() == "x" * 10


# -- reports and depends_on ---------------------------------------------------------------------


@env.task(report=True)
async def reporting() -> int:
    flyte.report.log("<p>hello report</p>")
    flyte.report.get_tab("Details").log("<b>more</b>")
    await flyte.report.log.aio("<i>async spelling</i>")
    await flyte.report.flush.aio()
    return 1


def test_report_is_saved_with_the_run_and_linked_from_its_page():
    run = flyte.run(reporting)
    (action,) = run.actions()
    text = Path(action.report).read_text()
    assert "hello report" in text and "<b>more</b>" in text and "async spelling" in text
    page = run.url.removeprefix("file://")
    assert "report.html" in Path(page).read_text()


lonely = flyte.TaskEnvironment(name="lonely")
caller = flyte.TaskEnvironment(name="caller")


@lonely.task
async def far_away() -> int:
    return 7


@caller.task
async def calls_far_away() -> int:
    return await far_away()


def test_calling_an_environment_outside_depends_on_warns_naming_both():
    from flyte.runtime.controller import DependencyWarning

    with pytest.warns(DependencyWarning, match="caller.*lonely"):
        assert flyte.run(calls_far_away).outputs() == 7


@lonely.task
def far_away_sync() -> int:
    return 8


@caller.task
def calls_far_away_sync() -> int:
    return far_away_sync()


@pytest.mark.parametrize(("task", "body"), [(calls_far_away, "return await far_away()"), (calls_far_away_sync, None)])
def test_the_dependency_warning_points_at_the_call_in_the_users_file(task, body):
    # Shown as "<file>:<line>: DependencyWarning" with that line's source: the user's call,
    # not the runtime's internals (the secrets example's task_1() call).
    import inspect

    from flyte.runtime.controller import DependencyWarning

    with pytest.warns(DependencyWarning) as caught:
        flyte.run(task)
    (warning,) = [w for w in caught if issubclass(w.category, DependencyWarning)]
    lines, first = inspect.getsourcelines(task.func)
    call = body or "return far_away_sync()"
    assert warning.filename == __file__
    assert warning.lineno == first + next(i for i, text in enumerate(lines) if call in text)


def test_strict_dependencies_turn_the_warning_into_an_error():
    flyte.init(strict_dependencies=True)
    with pytest.raises(flyte.errors.DependencyError, match="depends_on"):
        flyte.run(calls_far_away)


@env.task
async def takes_a_while() -> None:
    await asyncio.sleep(0.2)


def test_the_run_flyte_run_returns_has_the_recorded_start_and_end():
    """Not the time flyte.run returned: the run's record (what `flyte runs show` and Run.get say)."""
    run = flyte.run(takes_a_while)
    recorded = Run.get(run.name)
    assert (run.created_at, run.ended_at) == (recorded.created_at, recorded.ended_at)
    assert run.ended_at - run.created_at >= 0.2


@caller.task
async def calls_far_away_twice() -> list[str]:
    seen = []
    for _ in range(2):
        try:
            await far_away()
        except flyte.errors.DependencyError as exc:
            seen.append(type(exc).__name__)
    return seen


def test_strict_dependencies_refuse_every_call_not_only_the_first_of_a_run():
    flyte.init(strict_dependencies=True)
    assert flyte.run(calls_far_away_twice).outputs() == ["DependencyError", "DependencyError"]


def test_a_call_outside_depends_on_warns_once_per_run_however_often_it_is_made():
    from flyte.runtime.controller import DependencyWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert flyte.run(calls_far_away_twice).outputs() == []
    assert [type(w.message) for w in caught if issubclass(w.category, DependencyWarning)] == [DependencyWarning]
