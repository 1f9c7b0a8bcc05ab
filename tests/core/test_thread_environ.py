"""Threads a task body starts (``threading.Thread``, a ``ThreadPoolExecutor``'s items,
``loop.run_in_executor``) see the task's ``env_vars`` in ``os.environ``, as threads in its
container would; threads outside tasks, and a shared executor's items submitted elsewhere, see
the process's environment (``flyte.runtime.environ``)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

import flyte

VAR = "FLYTE_TEST_THREAD_VAR"
red = flyte.TaskEnvironment(name="thread_env_red", env_vars={VAR: "red"})
blue = flyte.TaskEnvironment(name="thread_env_blue", env_vars={VAR: "blue"})
shared = ThreadPoolExecutor(max_workers=1)  # one worker: the tasks' items run on one thread


def _in_thread(fn) -> list:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out


@red.task
def plain_thread() -> list:
    def look():
        os.environ["FLYTE_TEST_FROM_THREAD"] = "written"  # goes to the task's environment, as in a container
        nested = _in_thread(lambda: os.environ.get(VAR))[0]  # a thread's thread too
        child = subprocess.run(
            [sys.executable, "-c", f"import os; print(os.environ.get({VAR!r}))"], capture_output=True, text=True
        ).stdout.strip()
        return [os.environ.get(VAR), os.getenv(VAR), VAR in os.environ, nested, child, flyte.ctx() is None]

    return [*_in_thread(look)[0], os.environ.get("FLYTE_TEST_FROM_THREAD")]


def test_a_thread_the_task_starts_sees_its_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(VAR, "process")
    flyte.init()
    # flyte.ctx() stays the body's own: only the environment is handed on.
    assert flyte.run(plain_thread).outputs()[0] == ["red", "red", True, "red", "red", True, "written"]
    assert os.environ.get(VAR) == "process" and "FLYTE_TEST_FROM_THREAD" not in os.environ
    assert _in_thread(lambda: os.environ.get(VAR)) == ["process"]  # a thread started outside a task


@red.task
async def executors() -> list:
    with ThreadPoolExecutor(max_workers=2) as pool:
        mapped = list(pool.map(lambda _: os.environ.get(VAR), range(3)))
        submitted = pool.submit(os.getenv, VAR).result()
    in_executor = await asyncio.get_running_loop().run_in_executor(None, os.getenv, VAR)
    to_thread = await asyncio.to_thread(os.getenv, VAR)
    return [*mapped, submitted, in_executor, to_thread]


def test_executor_items_submitted_in_the_task_see_its_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(VAR, "process")
    flyte.init()
    assert flyte.run(executors).outputs()[0] == ["red"] * 6


@red.task
def red_item() -> str:
    return shared.submit(os.getenv, VAR).result()


@blue.task
def blue_item() -> str:
    return shared.submit(os.getenv, VAR).result()


def test_a_shared_executors_items_each_see_their_submitters_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(VAR, "process")
    flyte.init()
    # The one worker thread was started in the first task: it does not keep that task's values.
    assert flyte.run(red_item).outputs()[0] == "red"
    assert flyte.run(blue_item).outputs()[0] == "blue"
    assert shared.submit(os.getenv, VAR).result() == "process"
    assert flyte.run(red_item).outputs()[0] == "red"


both = flyte.TaskEnvironment(name="thread_env_both", env_vars={VAR: "both"}, depends_on=[red, blue])


@both.task
async def both_at_once() -> list:
    return list(await asyncio.gather(red_item.aio(), blue_item.aio(), red_item.aio()))


def test_tasks_running_at_once_each_hand_on_their_own(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(VAR, "process")
    flyte.init()
    assert flyte.run(both_at_once).outputs()[0] == ["red", "blue", "red"]


def test_flytes_own_threads_keep_the_process_environment(monkeypatch: pytest.MonkeyPatch):
    from flyte.runtime import environ

    environ.install()
    monkeypatch.setenv(VAR, "process")
    token = environ.enter({VAR: "task"})
    try:
        named = []
        own = threading.Thread(target=lambda: named.append(os.environ.get(VAR)), name="flyte-test-own")
        own.start()
        own.join()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flyte-test-pool") as pool:
            pooled = pool.submit(os.getenv, VAR).result()
        users = _in_thread(lambda: os.environ.get(VAR))
    finally:
        environ.leave(token)
    assert named == ["process"] and pooled == "process"
    assert users == ["task"]


secretive = flyte.TaskEnvironment(name="thread_env_secret", secrets=flyte.Secret(key="thread_env_token"))


@secretive.task
def secret_in_threads() -> list:
    with ThreadPoolExecutor(max_workers=1) as pool:
        pooled = pool.submit(os.getenv, "THREAD_ENV_TOKEN").result()
    return [len(_in_thread(lambda: os.environ["THREAD_ENV_TOKEN"])[0]), len(pooled)]


def test_a_tasks_secret_reaches_its_threads_and_no_others(flyte_home: object, monkeypatch: pytest.MonkeyPatch):
    from flyte.runtime import secret_store

    secret_store.create("thread_env_token", b"thread-env-s3cret")
    monkeypatch.delenv("THREAD_ENV_TOKEN", raising=False)
    flyte.init()
    assert flyte.run(secret_in_threads).outputs()[0] == [len("thread-env-s3cret")] * 2
    assert _in_thread(lambda: os.environ.get("THREAD_ENV_TOKEN")) == [None]
    assert shared.submit(os.getenv, "THREAD_ENV_TOKEN").result() is None


# A library's background thread, started lazily by whichever task first needs it, then serving
# every later caller (a client's I/O loop, a connection pool's reaper).
_requests: queue.Queue = queue.Queue()
_server: list[threading.Thread] = []


def _serve(fn):
    if not _server:

        def loop() -> None:
            while True:
                request, reply = _requests.get()
                reply.put(request())

        _server.append(threading.Thread(target=loop, daemon=True))
        _server[0].start()
    reply: queue.Queue = queue.Queue()
    _requests.put((fn, reply))
    return reply.get(timeout=30)


_kept: list[ThreadPoolExecutor] = []


@secretive.task
def starts_a_server() -> list:
    _kept.append(ThreadPoolExecutor(max_workers=1))  # made here, used after the task too
    return [
        len(_serve(lambda: os.environ["THREAD_ENV_TOKEN"])),
        len(_kept[0].submit(os.getenv, "THREAD_ENV_TOKEN").result()),
    ]


@blue.task
def uses_the_server() -> list:
    return [_serve(lambda: os.getenv("THREAD_ENV_TOKEN")), _kept[0].submit(os.getenv, VAR).result()]


def test_a_thread_outliving_its_task_does_not_hand_its_secret_to_later_callers(
    flyte_home: object, monkeypatch: pytest.MonkeyPatch
):
    from flyte.runtime import secret_store

    secret_store.create("thread_env_token", b"thread-env-s3cret")
    monkeypatch.delenv("THREAD_ENV_TOKEN", raising=False)
    monkeypatch.setenv(VAR, "process")
    flyte.init()
    assert flyte.run(starts_a_server).outputs()[0] == [len("thread-env-s3cret")] * 2
    # The thread runs on, serving others: the task that started it has ended, and its secret
    # is no one else's (in a container the thread would have ended with it).
    assert flyte.run(uses_the_server).outputs()[0] == [None, "blue"]
    assert _serve(lambda: os.getenv("THREAD_ENV_TOKEN")) is None
    assert _kept[0].submit(os.getenv, "THREAD_ENV_TOKEN").result() is None


_process_pool: list[ProcessPoolExecutor] = []


@red.task
def makes_a_process_pool() -> list:
    # Its workers are forked here, from this task's thread, and serve later callers too.
    _process_pool.append(ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")))
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as spawned:
        fresh = spawned.submit(os.getenv, VAR).result()
    return [_process_pool[0].submit(os.getenv, VAR).result(), fresh]


@blue.task
def uses_the_process_pool() -> str:
    return _process_pool[0].submit(os.getenv, VAR).result()


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method")
def test_a_process_pool_item_sees_its_submitters_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(VAR, "process")
    flyte.init()
    try:
        # A spawned worker starts from the process's environment: the item gets the task's.
        assert flyte.run(makes_a_process_pool).outputs()[0] == ["red", "red"]
        assert flyte.run(uses_the_process_pool).outputs()[0] == "blue"
        assert _process_pool[0].submit(os.getenv, VAR).result() == "process"
    finally:
        _process_pool[0].shutdown()
