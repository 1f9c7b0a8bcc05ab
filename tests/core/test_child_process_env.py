"""A process a task starts sees the environment the task sees, as in its container: the
task's ``env_vars``, its secrets, what it set or removed in ``os.environ``; two tasks running at
once each hand on their own; an explicit ``env=`` is the caller's to decide."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

import flyte
from flyte.runtime import secret_store

PRINT = "import os, sys; print(os.environ.get(sys.argv[1], '<unset>'))"


def child_sees(name: str, **kwargs: object) -> str:
    done = subprocess.run([sys.executable, "-c", PRINT, name], capture_output=True, text=True, check=True, **kwargs)
    return done.stdout.strip()


env = flyte.TaskEnvironment(
    name="child_env",
    env_vars={"CHILD_ENV_COLOUR": "blue"},
    secrets=flyte.Secret(key="child_env_token", as_env_var="CHILD_ENV_TOKEN"),
)
pool = flyte.TaskEnvironment(
    name="child_env_pool",
    env_vars={"CHILD_ENV_COLOUR": "green"},
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=30),
)


@env.task
def sees() -> dict[str, str]:
    os.environ["CHILD_ENV_WRITTEN"] = "set in the task"
    del os.environ["CHILD_ENV_PROCESS"]
    return {
        "colour": child_sees("CHILD_ENV_COLOUR"),
        "token_length": str(len(child_sees("CHILD_ENV_TOKEN"))),
        "written": child_sees("CHILD_ENV_WRITTEN"),
        "removed": child_sees("CHILD_ENV_PROCESS"),
        "explicit": child_sees("CHILD_ENV_COLOUR", env={"PATH": os.environ.get("PATH", "")}),
        "shell": subprocess.run("echo $CHILD_ENV_COLOUR", shell=True, capture_output=True, text=True).stdout.strip(),
    }


@env.task
async def colour_of(value: str) -> str:
    os.environ["CHILD_ENV_COLOUR"] = value  # this task's own
    await asyncio.sleep(0.05)  # the other task writes its value meanwhile
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", PRINT, "CHILD_ENV_COLOUR", stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.decode().strip()


@env.task
async def two_at_once() -> list[str]:
    return list(await asyncio.gather(colour_of("red"), colour_of("yellow")))


@pool.task
def sees_in_a_pool() -> str:
    return child_sees("CHILD_ENV_COLOUR")


@pytest.fixture
def token(flyte_home: object) -> str:
    value = "child-env-token-value"
    secret_store.create("child_env_token", value.encode())
    return value


def test_a_child_process_gets_the_tasks_variables_secrets_and_changes(token: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHILD_ENV_PROCESS", "the process's")
    flyte.init()
    seen = flyte.run(sees).outputs()
    assert seen == {
        "colour": "blue",
        "token_length": str(len(token)),
        "written": "set in the task",
        "removed": "<unset>",
        "explicit": "<unset>",  # env= given: exactly what the caller passed
        "shell": "blue",
    }
    assert "CHILD_ENV_WRITTEN" not in os.environ  # the task's write stayed in the task
    assert child_sees("CHILD_ENV_COLOUR") == "<unset>"  # outside a task: the process's own


def test_two_tasks_running_at_once_each_hand_on_their_own_values(token: str):
    flyte.init()
    assert flyte.run(two_at_once).outputs() == ["red", "yellow"]


def test_a_pool_worker_hands_its_job_s_variables_to_a_child():
    flyte.init()
    assert flyte.run(sees_in_a_pool).outputs() == "green"


@env.task
def through_os_system(folder: str) -> list[int]:
    """os.system's children see the task's variables and secrets, and its result is os.system's."""
    out = os.path.join(folder, "seen.txt")
    return [
        os.system(f'echo "$CHILD_ENV_COLOUR ${{#CHILD_ENV_TOKEN}}" > {out}'),
        os.system("exit 3"),
        os.system("kill -TERM $$"),
    ]


def test_os_system_in_a_task_gets_the_tasks_environment_and_returns_the_wait_status(token: str, tmp_path):
    flyte.init()
    statuses = flyte.run(through_os_system, str(tmp_path)).outputs()
    assert (tmp_path / "seen.txt").read_text().split() == ["blue", str(len(token))]
    # The same statuses os.system gives outside a task (its own, unpatched there).
    assert statuses == [os.system("true"), os.system("exit 3"), os.system("kill -TERM $$")]
    assert statuses == [0, 3 << 8, 15]


@env.task
def os_system_refuses(command_kind: str) -> str:
    command: object = {"list": ["true"], "int": 3, "none": None, "null byte": "true\0"}[command_kind]
    try:
        os.system(command)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return "accepted"


@pytest.mark.parametrize("command", [["true"], 3, None, "true\0"], ids=["list", "int", "none", "null byte"])
def test_os_system_in_a_task_refuses_what_os_system_refuses_with_the_same_error(command: object, request, token: str):
    with pytest.raises((TypeError, ValueError)) as outside:
        os.system(command)  # type: ignore[arg-type]
    flyte.init()
    kind = request.node.callspec.id
    assert flyte.run(os_system_refuses, kind).outputs() == f"{outside.type.__name__}: {outside.value}"


DUMPS_CORE = "ulimit -c unlimited 2>/dev/null; kill -SEGV $$"


@env.task
def os_system_of(command: str) -> int:
    return os.system(command)


def test_os_system_in_a_task_keeps_the_core_dump_bit_of_a_signal_status(
    tmp_path, monkeypatch: pytest.MonkeyPatch, token: str
):
    monkeypatch.chdir(tmp_path)  # where a core file goes (kernel.core_pattern "core")
    outside = os.system(DUMPS_CORE)
    flyte.init()
    inside = flyte.run(os_system_of, DUMPS_CORE).outputs()[0]
    assert inside == outside
    assert os.WIFSIGNALED(inside) and os.WTERMSIG(inside) == signal.SIGSEGV
    assert os.waitstatus_to_exitcode(inside) == -signal.SIGSEGV
    if outside & 0x80:  # this machine dumps cores: the bit is os.system's too
        assert os.WCOREDUMP(inside)


SIGNALS_THE_CALLER = """
import asyncio, os, signal, sys, time
import flyte

env = flyte.TaskEnvironment(name="system_signals")
quits = []
signal.signal(signal.SIGQUIT, lambda signum, frame: quits.append(signum))


@env.task
def interrupts_its_caller() -> int:
    # system(3)'s caller ignores both while it waits: neither ends the run nor reaches a handler.
    return os.system("kill -INT $PPID; kill -QUIT $PPID; sleep 0.3; exit 4")


@env.task
def waits(seconds: float) -> int:
    return os.system(f"sleep {seconds}")


@env.task
async def two_overlapping() -> list[int]:
    # The first to finish must not restore the handlers under the other's feet, nor the last
    # leave them ignored.
    return list(await asyncio.gather(waits.aio(0.2), waits.aio(0.6), interrupts_its_caller.aio()))


flyte.init()
status = flyte.run(interrupts_its_caller).outputs()[0]
print("status", status, "quits", len(quits), flush=True)
print("overlapping", flyte.run(two_overlapping).outputs()[0], "quits", len(quits), flush=True)
os.kill(os.getpid(), signal.SIGQUIT)  # restored afterwards: the handler runs again
time.sleep(0.2)
print("quits", len(quits), flush=True)
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    print("SIGINT still ignored", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
"""


def test_os_system_in_a_task_ignores_sigint_and_sigquit_while_it_waits_then_restores_them(tmp_path):
    script = tmp_path / "signals.py"
    script.write_text(SIGNALS_THE_CALLER)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == [
        "status 1024 quits 0",
        "overlapping [0, 0, 1024] quits 0",
        "quits 1",
        "KeyboardInterrupt",
    ], done.stderr


FORKS_WHILE_ANOTHER_WAITS = """
import asyncio, os, sys, time
from pathlib import Path
import flyte

env = flyte.TaskEnvironment(name="system_fork")
started, released = Path("started"), Path("released")


@env.task
def waits_for_release() -> int:
    return os.system("touch started; while [ ! -e released ]; do sleep 0.05; done")


def ignored_interrupts() -> list[bool]:
    mask = int(next(line for line in open("/proc/self/status") if line.startswith("SigIgn:")).split()[1], 16)
    return [bool(mask & (1 << (signum - 1))) for signum in (2, 3)]


@env.task
def forks_meanwhile() -> str:
    while not started.exists():
        time.sleep(0.05)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, repr(ignored_interrupts()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    seen = os.read(read, 100).decode()
    released.touch()
    return seen


@env.task
async def both() -> list:
    return list(await asyncio.gather(waits_for_release.aio(), forks_meanwhile.aio()))


flyte.init()
print(flyte.run(both).outputs()[0], ignored_interrupts(), flush=True)
"""


def test_a_process_forked_while_another_task_waits_in_os_system_does_not_ignore_interrupts(tmp_path):
    # SIGINT/SIGQUIT are ignored for the waiting task's call only: a child forked meanwhile (a
    # multiprocessing worker of another task) has no call to wait for and would ignore them for
    # good, a Ctrl-C or a pool's interrupt lost on it.
    script = tmp_path / "forks.py"
    script.write_text(FORKS_WHILE_ANOTHER_WAITS)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[0, '[False, False]'] [False, False]", done.stderr


INTERRUPTED_AS_IT_IGNORES = """
import os, signal
import flyte
from flyte.runtime import interrupts, os_system

env = flyte.TaskEnvironment(name="system_interrupted")
real_ignore = os_system._ignore


def ignore_then_interrupted(signum):
    previous = real_ignore(signum)
    if signum == signal.SIGQUIT:  # both ignored, the call not yet counted: a timeout stops the body now
        interrupts.shield().interrupt()  # (what bodies.Body.stop does from the timer's thread)
    return previous


os_system._ignore = ignore_then_interrupted


@env.task
def calls_system() -> int:
    return os.system("exit 3")


def ignored() -> list[bool]:
    mask = int(next(line for line in open("/proc/self/status") if line.startswith("SigIgn:")).split()[1], 16)
    return [bool(mask & (1 << (signum - 1))) for signum in (2, 3)]


flyte.init()
try:
    print("status", flyte.run(calls_system).outputs()[0], flush=True)
except Exception as failure:
    print("failed", type(failure).__name__, flush=True)
print("ignored", ignored(), "waiting", os_system._waiting, flush=True)
"""


def test_an_interruption_of_the_task_inside_os_system_leaves_sigint_and_sigquit_restored(tmp_path):
    # A task's timeout interrupts its body's thread at its next Python instruction: landing in
    # os.system's own code between ignoring the signals and counting the call, it left them
    # ignored by the whole process for good (Ctrl-C no longer stopped any later run). That
    # code is flyte's, where an interruption waits for the call to return.
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED_AS_IT_IGNORES)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["status 768", "ignored [False, False] waiting 0"], done.stderr


WRITES_WHAT_IT_SEES = 'echo "$CHILD_ENV_COLOUR ${#CHILD_ENV_TOKEN} ${CHILD_ENV_PROCESS-removed}" > "$0"'


@env.task
def through_exec_and_spawn(folder: str) -> dict[str, str]:
    """Every exec and spawn function without an ``env`` hands the child the task's variables."""
    del os.environ["CHILD_ENV_PROCESS"]
    sh = shutil.which("sh") or "/bin/sh"

    def out(name: str) -> str:
        return os.path.join(folder, name)

    os.spawnv(os.P_WAIT, sh, ["sh", "-c", WRITES_WHAT_IT_SEES, out("spawnv")])
    os.spawnvp(os.P_WAIT, "sh", ["sh", "-c", WRITES_WHAT_IT_SEES, out("spawnvp")])
    os.spawnl(os.P_WAIT, sh, "sh", "-c", WRITES_WHAT_IT_SEES, out("spawnl"))
    pid = os.spawnlp(os.P_NOWAIT, "sh", "sh", "-c", WRITES_WHAT_IT_SEES, out("spawnlp"))
    os.waitpid(pid, 0)
    execs = {
        "execv": lambda: os.execv(sh, ["sh", "-c", WRITES_WHAT_IT_SEES, out("execv")]),
        "execvp": lambda: os.execvp("sh", ["sh", "-c", WRITES_WHAT_IT_SEES, out("execvp")]),
        "execl": lambda: os.execl(sh, "sh", "-c", WRITES_WHAT_IT_SEES, out("execl")),
        "execlp": lambda: os.execlp("sh", "sh", "-c", WRITES_WHAT_IT_SEES, out("execlp")),
    }
    for exec_ in execs.values():
        pid = os.fork()
        if pid == 0:  # the child becomes the shell, or says it could not
            try:
                exec_()
            finally:
                os._exit(127)
        os.waitpid(pid, 0)
    # posix_spawn takes no default: handing it os.environ hands on what the task sees
    pid = os.posix_spawn(sh, ["sh", "-c", WRITES_WHAT_IT_SEES, out("posix_spawn")], os.environ)
    os.waitpid(pid, 0)
    names = ["spawnv", "spawnvp", "spawnl", "spawnlp", *execs, "posix_spawn"]
    return {name: (open(out(name)).read().strip() if os.path.exists(out(name)) else "<not run>") for name in names}


def test_exec_and_spawn_without_env_in_a_task_hand_on_the_tasks_environment(
    token: str, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CHILD_ENV_PROCESS", "the process's")
    flyte.init()
    seen = flyte.run(through_exec_and_spawn, str(tmp_path)).outputs()[0]
    expected = f"blue {len(token)} removed"
    assert seen == dict.fromkeys(
        ["spawnv", "spawnvp", "spawnl", "spawnlp", "execv", "execvp", "execl", "execlp", "posix_spawn"], expected
    )
    # Outside a task: the process's own environment, and the task's values were never in it.
    os.spawnlp(os.P_WAIT, "sh", "sh", "-c", WRITES_WHAT_IT_SEES, str(tmp_path / "outside"))
    assert (tmp_path / "outside").read_text().strip() == "0 the process's"
    assert "CHILD_ENV_COLOUR" not in os.environ


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        ("sh", "execv() arg 2 must be a tuple or list"),
        ([], "execv() arg 2 must not be empty"),
        ([""], "execv() arg 2 first element cannot be empty"),
    ],
)
def test_execv_in_a_task_refuses_a_bad_argv_as_execv_does(argv: object, error: str, token: str):
    with pytest.raises((TypeError, ValueError), match=re.escape(error)):
        os.execv("/bin/sh", argv)  # type: ignore[arg-type]
    flyte.init()
    assert flyte.run(execv_refuses, argv).outputs()[0] == error


@env.task
def execv_refuses(argv: object) -> str:
    try:
        os.execv("/bin/sh", argv)  # type: ignore[arg-type]
    except (TypeError, ValueError) as failure:
        return str(failure)
    return "accepted"
