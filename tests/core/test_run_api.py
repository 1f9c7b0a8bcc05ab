"""``flyte.run``'s ``Run`` and ``flyte.remote.Action`` used as code written for the reference SDK
uses them: each method called sync and as ``await obj.method.aio(...)``, from outside and inside a
running event loop, on a succeeded, a failed and an aborted run, and on a run another process is
still running (the waits poll without blocking the caller's loop)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import flyte
import flyte.errors
from ctrl_c import finish
from flyte._phase import RawPhase
from flyte.models import ActionPhase
from flyte.remote import Action, Run
from flyte.runtime import store as st

env = flyte.TaskEnvironment(name="runapi")


@dataclasses.dataclass
class Point:
    x: int
    y: int


@env.task
def leaf(n: int) -> Point:
    print(f"leaf {n}")
    if n < 0:
        raise ValueError(f"n={n} is negative")
    return Point(n, n + 1)


@env.task(report=True)
def root(n: int) -> Point:
    print("root starts")
    flyte.report.log("<h1>the root's report</h1>")
    flyte.report.flush()
    return leaf(n)


@env.task
async def stops_itself() -> int:
    name = flyte.ctx().action.run_name
    while not st.run_exists(name):  # the run's row is written a moment after it starts
        await asyncio.sleep(0.02)
    Run.get(name).abort("enough of this")
    await asyncio.sleep(60)
    return 1


@env.task(timeout=0.2)
async def too_slow() -> int:
    await asyncio.sleep(5)
    return 1


@pytest.fixture
def runs() -> dict[str, Run]:
    flyte.init()
    ok = flyte.with_runcontext(name="ok").run(root, 3)
    with pytest.raises(ValueError):
        flyte.with_runcontext(name="failed").run(root, -1)
    with pytest.raises(flyte.errors.ActionAbortedError):
        flyte.with_runcontext(name="aborted").run(stops_itself)
    return {"ok": ok, "failed": Run.get("failed"), "aborted": Run.get("aborted")}


def _both_ways(obj: object, method: str, *args: object, **kwargs: object) -> list[object]:
    """``obj.method(...)`` outside any loop, inside a running loop, and ``.aio`` inside one."""

    async def inside() -> list[object]:
        bound = getattr(obj, method)
        return [bound(*args, **kwargs), await bound.aio(*args, **kwargs)]

    return [getattr(obj, method)(*args, **kwargs), *asyncio.run(inside())]


def test_a_succeeded_run_answers_every_method_both_ways(runs):
    run = runs["ok"]
    assert _both_ways(run, "outputs") == [(Point(3, 4),)] * 3
    assert _both_ways(run, "inputs") == [{"n": 3}] * 3
    assert _both_ways(run, "wait") == [run] * 3
    assert _both_ways(run, "sync") == [run] * 3
    assert _both_ways(run, "raise_for_status") == [None] * 3
    assert _both_ways(run, "first_failure") == [None] * 3
    assert _both_ways(run, "get_report") == [run.action.get_report()] * 3
    assert "<h1>the root's report</h1>" in run.get_report()
    assert _both_ways(run, "typed_outputs", {"o0": Point}) == [{"o0": Point(3, 4)}] * 3
    assert _both_ways(run, "typed_inputs", {"n": float, "absent": int}) == [{"n": 3.0}] * 3
    assert run.done() is True and run.done and run.raw_phase == RawPhase.ACTION_PHASE_SUCCEEDED == 5
    assert _both_ways(run, "code_bundle") == [None] * 3


def test_get_logs_is_an_iterator_sync_and_an_async_iterator_with_aio(runs, capsys):
    run = runs["ok"]
    assert list(run.get_logs()) == ["root starts"]
    leaf_action = Action.get("ok", "a1")
    assert list(leaf_action.get_logs()) == ["leaf 3"]

    async def read() -> list[str]:
        return [line async for line in run.get_logs.aio()]

    assert asyncio.run(read()) == ["root starts"]
    capsys.readouterr()
    run.show_logs()
    leaf_action.show_logs(max_lines=1)
    assert capsys.readouterr().out == "root starts\nleaf 3\n"
    with pytest.raises(
        ValueError, match=r"get_logs: attempt=2 is not valid for action a0 of run ok \(accepted: 1 to 1"
    ):
        list(run.get_logs(attempt=2))
    with pytest.raises(flyte.errors.NotAvailableLocallyError, match="show_ts=True is not available locally"):
        list(run.get_logs(show_ts=True))
    with pytest.raises(ValueError, match=r"show_logs: max_lines=0 is not valid \(accepted: an int of at least 1\)"):
        run.show_logs(max_lines=0)
    with pytest.raises(RuntimeError, match="No report is available for action 'a1' in run 'ok'"):
        leaf_action.get_report()


def test_a_failed_run_raises_its_error_as_a_parent_task_would_see_it(runs):
    run = runs["failed"]
    assert run.done() and run.raw_phase == RawPhase.ACTION_PHASE_FAILED
    for call in (run.raise_for_status, lambda: asyncio.run(run.raise_for_status.aio())):
        with pytest.raises(ValueError, match="n=-1 is negative") as caught:
            call()
        assert isinstance(caught.value, flyte.errors.RuntimeUserError) and caught.value.code == "ValueError"
    with pytest.raises(RuntimeError, match="run failed is FAILED: ValueError: n=-1 is negative"):
        run.outputs()  # as before: a RuntimeError naming the phase; raise_for_status() raises the error itself
    failure = run.first_failure()
    assert (failure.name, failure.task_name, failure.parent_name) == ("a1", "runapi.leaf", "a0")
    assert failure.error_message == "ValueError: n=-1 is negative"
    assert asyncio.run(run.first_failure.aio()) == failure
    assert list(run.get_logs()) == ["root starts"]


def test_a_timed_out_run_raises_the_timeout_error_of_the_bound_that_fired():
    flyte.init()
    with pytest.raises(flyte.errors.MaxRuntimeExceededError):
        flyte.with_runcontext(name="slow").run(too_slow)
    with pytest.raises(flyte.errors.MaxRuntimeExceededError, match="ran longer than 0.2s"):
        Run.get("slow").raise_for_status()


def test_an_aborted_run_raises_action_aborted_error_with_its_reason(runs):
    run = runs["aborted"]
    assert run.phase == ActionPhase.ABORTED and run.done() and run.raw_phase == 7
    with pytest.raises(flyte.errors.ActionAbortedError, match=r"^Run aborted was aborted: enough of this$"):
        run.raise_for_status()
    with pytest.raises(flyte.errors.ActionAbortedError, match="enough of this"):
        asyncio.run(run.raise_for_status.aio())
    assert run.first_failure() is None  # aborted is not failed
    assert asyncio.run(run.wait.aio()) is run


def test_done_is_callable_and_still_reads_as_a_bool(runs):
    run, action = runs["ok"], runs["ok"].action
    for done in (run.done, action.done):
        assert done() is True and bool(done) and done == True and done != False  # noqa: E712
        assert repr(done) == "True"
    assert f"{run.done}" == "True"


def test_the_root_action_and_its_reference_names(runs):
    action = runs["ok"].action
    assert (action.name, action.run_name, action.task_name, action.parent_name) == ("a0", "ok", "runapi.root", None)
    assert action.phase == ActionPhase.SUCCEEDED and action.raw_phase == RawPhase.ACTION_PHASE_SUCCEEDED
    assert action.start_time.tzinfo is not None and abs(action.start_time.timestamp() - action.started_at) < 1e-5
    assert action.relation is None
    assert action.wait() is action and asyncio.run(action.wait.aio()) is action

    async def in_loop() -> object:
        return action.wait()  # the reference's coroutine-function form, done already

    assert asyncio.run(_awaited(in_loop())) is action
    assert _both_ways(Action, "get", "ok", "a1")[0].task_name == "runapi.leaf"
    assert [a.name for a in Action.listall("ok", parent_name="a0")] == ["a1"]

    async def listed() -> list[str]:
        return [a.name async for a in Action.listall.aio(for_run_name="ok")]

    assert asyncio.run(listed()) == ["a0", "a1"]

    async def reference_form() -> Action:  # the reference's Action.wait and sync are coroutine functions
        return await (await action.wait()).sync()

    assert asyncio.run(reference_form()) == action


async def _awaited(made: object) -> object:
    return await (await made)


def test_listall_and_get_work_both_ways(runs):
    assert [r.name for r in Run.listall(limit=2)] == ["aborted", "failed"]

    async def listed() -> list[str]:
        return [r.name async for r in Run.listall.aio(in_phase=[ActionPhase.SUCCEEDED])]

    assert asyncio.run(listed()) == ["ok"]
    assert asyncio.run(Run.get.aio("ok")).outputs() == (Point(3, 4),)
    with pytest.raises(flyte.errors.ActionNotFoundError):
        asyncio.run(Run.get.aio("no-such-run"))


def test_details_are_the_records_read_again(runs):
    run = runs["failed"]
    details = run.details()
    assert details is run and details.done() and details.action_details.name == "a0"
    leaf_details = asyncio.run(Action.get("failed", "a1").details.aio())
    assert (leaf_details.task_name, leaf_details.error_message) == ("runapi.leaf", "ValueError: n=-1 is negative")
    assert leaf_details.attempts == 1 and not leaf_details.is_running
    assert leaf_details.runtime.total_seconds() == pytest.approx(leaf_details.duration, abs=1e-5)
    assert [r.name for r in Run.listall(task_name="runapi.root")] == ["failed", "ok"]
    with pytest.raises(ValueError, match=r"Run.listall: task='a' and task_name='b' differ"):
        list(Run.listall(task="a", task_name="b"))


def test_to_dict_and_to_json(runs):
    data = runs["failed"].to_dict()
    assert data["name"] == "failed" and data["phase"] == "FAILED" and data["error"] == "ValueError: n=-1 is negative"
    assert json.loads(runs["failed"].to_json()) == data
    action = json.loads(runs["ok"].action.to_json())
    assert (action["name"], action["phase"], action["run_name"]) == ("a0", "SUCCEEDED", "ok")


def test_what_has_no_local_meaning_is_refused_by_name(runs):
    run = runs["ok"]
    with pytest.raises(flyte.errors.NotAvailableLocallyError, match="get_debug_url: run ok ran locally"):
        run.get_debug_url()
    with pytest.raises(flyte.errors.NotAvailableLocallyError, match=r"output_literals: .*run.outputs\(\)"):
        run.output_literals()
    with pytest.raises(flyte.errors.NotAvailableLocallyError, match=r"input_literals: .*run.inputs\(\)"):
        asyncio.run(run.input_literals.aio())
    with pytest.raises(RuntimeError, match="No code bundle is associated with action 'a0' in run 'ok'"):
        run.download_code()
    with pytest.raises(flyte.errors.NotAvailableLocallyError, match="only a whole run can be aborted"):
        Action.get("ok", "a1").abort()


def test_wait_takes_quiet_and_wait_for_first_as_the_reference_does(runs):
    # A public example ends with run.wait(run): the reference's first parameter is quiet, so any
    # truthy value is a quiet wait, never a timeout.
    run = runs["ok"]
    assert run.wait(run) is run and run.wait(True, "running") is run
    assert asyncio.run(run.wait.aio(True)) is run
    assert run.action.wait(False, "terminal") is not None
    with pytest.raises(TypeError):
        run.wait(True, "terminal", 5)  # timeout and poll are keywords only
    assert run.wait(timeout=5, poll=0.01) is run


def test_bad_arguments_name_the_parameter_the_value_and_what_is_accepted(runs):
    run = runs["ok"]
    with pytest.raises(ValueError, match=r"Run.wait: wait_for='soon' is not valid \(accepted: 'terminal', 'running'"):
        run.wait(wait_for="soon")
    with pytest.raises(ValueError, match=r"Run.wait: poll=0 is not valid \(accepted: seconds > 0\)"):
        asyncio.run(run.wait.aio(poll=0))
    with pytest.raises(ValueError, match=r"Action.wait: timeout=-1 is not valid"):
        run.action.wait(timeout=-1)
    with pytest.raises(TypeError, match=r"typed_outputs: types=\['o0'\] is not valid \(accepted: a dict"):
        run.typed_outputs(["o0"])
    with pytest.raises(TypeError, match=r"typed_outputs: o0: .* cannot be read as int"):
        run.typed_outputs({"o0": int})


SCRIPT = textwrap.dedent(
    """
    import pathlib, sys, time
    import flyte

    env = flyte.TaskEnvironment("waited_on")


    @env.task
    def gated(go: str) -> int:
        print("waiting for the gate")
        while not pathlib.Path(go).exists():
            time.sleep(0.05)
        return 7


    if __name__ == "__main__":
        flyte.init()
        flyte.with_runcontext(name=sys.argv[2]).run(gated, sys.argv[1])
    """
)


def _start(tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], Path]:
    script, gate = tmp_path / "gated.py", tmp_path / "go"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(gate), name], env=os.environ, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120  # a guard against a hung child, not a speed check
    while time.monotonic() < deadline and proc.poll() is None:
        with st.reader() as conn:  # the run's and its root's rows are written a moment apart
            row = st.action_row(conn, name, "a0")
        if row is not None and row["status"] == "RUNNING":
            return proc, gate
        time.sleep(0.05)
    proc.kill()
    finish(proc)
    pytest.fail("the run never started")


def test_waiting_on_a_run_another_process_runs_keeps_the_event_loop_going(tmp_path):
    proc, gate = _start(tmp_path, "gated")
    try:
        run = Run.get("gated")
        assert not run.done and run.done() is False and run.raw_phase == RawPhase.ACTION_PHASE_RUNNING
        with pytest.raises(flyte.errors.RuntimeUserError, match="Run gated is RUNNING, call wait") as caught:
            run.raise_for_status()
        assert caught.value.code == "RunNotDoneError"
        with pytest.raises(TimeoutError, match="run gated did not finish within 0.3s"):
            run.wait(timeout=0.3, poll=0.05)
        assert run.wait(wait_for="running") is run  # it runs already

        async def wait_while_ticking() -> tuple[int, Run, Action]:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.create_task(tick())
            action = Action.get("gated", "a0")
            waited = asyncio.ensure_future(action.wait(poll=0.05, timeout=60))  # the reference's form: a coroutine
            await asyncio.sleep(0.3)
            before = ticks
            gate.touch()
            result = await run.wait.aio(poll=0.05, timeout=60)
            await waited
            ticker.cancel()
            assert before >= 5  # the loop ran while both waits polled
            return ticks, result, action

        _, result, action = asyncio.run(wait_while_ticking())
        assert result is run and run.phase == "SUCCEEDED" and run.done() and action.done()
        assert run.outputs() == (7,) and list(run.get_logs()) == ["waiting for the gate"]
        run.raise_for_status()
    finally:
        gate.touch()
        code, stderr = finish(proc)
    assert code == 0, stderr


def test_watch_gives_each_phase_until_the_end(tmp_path):
    proc, gate = _start(tmp_path, "watched")
    try:
        seen = []
        for state in Run.get("watched").watch(poll=0.05):
            seen.append(str(state.phase))
            gate.touch()
        assert seen == ["RUNNING", "SUCCEEDED"]
    finally:
        gate.touch()
        finish(proc)

    async def watch_async() -> list[str]:
        return [str(a.phase) async for a in Action.get("watched", "a0").watch()]

    assert asyncio.run(watch_async()) == ["SUCCEEDED"]


# The shapes of public examples (unionai-examples v2): a script awaiting a run's wait and
# outputs, and a driver task that launches a run by name, waits on it and raises its error.
EXAMPLES = textwrap.dedent(
    """
    import asyncio
    import flyte
    import flyte.errors
    from flyte.remote import Run

    env = flyte.TaskEnvironment("shapes")


    @env.task
    async def square(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x * x


    async def outcome(run_name: str) -> int:
        run = await Run.get.aio(run_name)
        await run.wait.aio(quiet=True)
        await run.raise_for_status.aio()
        return (await run.outputs.aio())[0]


    @env.task
    async def driver(x: int) -> int:
        name = flyte.ctx().action.run_name + "-child"
        try:
            await flyte.with_runcontext(name=name).run.aio(square, x)
        except ValueError:
            pass  # the child's failure is read back below, as the example does
        try:
            return await outcome(name)
        except ValueError as e:
            print("child failed:", e)
            return -1


    async def main() -> None:
        run = await flyte.run.aio(square, 4)
        print(run.url.startswith("file://"))
        await run.wait.aio()
        print(await run.outputs.aio())
        for x in (3, -3):
            parent = flyte.with_runcontext(name=f"parent{x}").run(driver, x)
            parent.wait()
            print(parent.outputs()[0], parent.done())


    if __name__ == "__main__":
        flyte.init()
        asyncio.run(main())
    """
)


def test_the_public_examples_shapes_run_unchanged(tmp_path):
    script = tmp_path / "shapes.py"
    script.write_text(EXAMPLES)
    result = subprocess.run([sys.executable, str(script)], env=os.environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True", "ActionOutputs(o0=16)", "9 True", "child failed: negative", "-1 True"]
