"""Dask tasks run on a real distributed.LocalCluster of the configured shape (no mocks)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import dask
import pytest
import yaml
from distributed import Client

import flyte
import flyte.errors
from flyte.extend import TaskCall
from flyteplugins.dask import Dask, WorkerGroup, _runner
from flyteplugins.dask.errors import DaskWorkerDiedError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import validate_manifests

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]

# The public example (unionai-examples v2/integrations/flyte-plugins/dask/dask_example.py),
# written out as its equivalent: a plain Client() inside the task, client.map of a lambda, and an
# async nested task started with asyncio.create_task while the Dask work runs. The task also
# reports what it saw of the cluster; the script runs as __main__, so the lambda and the task
# module reach the workers the way a user's script does.
EXAMPLE = """
import asyncio
import json
import os
import re
import typing

from distributed import Client
from flyteplugins.dask import Dask, Scheduler, WorkerGroup

import flyte.remote
import flyte.storage
from flyte import Resources

image = flyte.Image.from_debian_base(python_version=(3, 12)).with_pip_packages("flyteplugins-dask")

dask_config = Dask(
    scheduler=Scheduler(),
    workers=WorkerGroup(number_of_workers=4),
)

task_env = flyte.TaskEnvironment(
    name="hello_dask", resources=Resources(cpu=(1, 2), memory=("400Mi", "1000Mi")), image=image
)
dask_env = flyte.TaskEnvironment(
    name="dask_env",
    plugin_config=dask_config,
    image=image,
    resources=Resources(cpu="1", memory="1Gi"),
    depends_on=[task_env],
)


@task_env.task()
async def hello_dask():
    await asyncio.sleep(1)
    print("Hello from the Dask task!")


@dask_env.task
async def hello_dask_nested(n: int = 3) -> typing.List[int]:
    print("running dask task")
    t = asyncio.create_task(hello_dask())
    client = Client()
    futures = client.map(lambda x: x + 1, range(n))
    res = client.gather(futures)
    workers = client.scheduler_info()["workers"]
    print("SEEN " + json.dumps({
        "workers": len(workers),
        "threads": sorted(w["nthreads"] for w in workers.values()),
        "memory": sorted(w["memory_limit"] for w in workers.values()),
        "pids": sorted(client.run(os.getpid).values()),
    }), flush=True)
    await t
    return res


if __name__ == "__main__":
    flyte.init_from_config()
    r = flyte.run(hello_dask_nested)
    print(r.name)
    print(r.url)
    r.wait()
    print("OUTPUTS " + json.dumps(r.outputs()[0]))
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited; only its parent's wait is missing


def _wait_until_gone(pids, timeout: float = 60.0) -> list[int]:
    """The pids still alive after waiting up to ``timeout`` for all of them to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _worker_children() -> list[int]:
    """Dask worker processes (multiprocessing spawn children) of this process still running."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(autouse=True)
def no_worker_outlives_a_test():
    yield
    deadline = time.monotonic() + 60
    while _worker_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _worker_children(), "a Dask worker process outlived its test"


def _script_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FLYTE_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}


def test_the_public_example_runs_with_the_configured_number_of_workers(tmp_path):
    script = tmp_path / "dask_example.py"
    script.write_text(EXAMPLE)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    seen = __import__("json").loads(next(line[5:] for line in lines if line.startswith("SEEN ")))
    assert seen["workers"] == 4  # number_of_workers, not whatever Dask would pick
    assert seen["threads"] == [1, 1, 1, 1]  # cpu="1" of the task's resources, per worker
    assert seen["memory"] == [2**30] * 4  # memory="1Gi"
    assert "OUTPUTS [1, 2, 3]" in lines
    assert "Hello from the Dask task!" in lines  # the nested task ran while Dask worked
    assert not _wait_until_gone(seen["pids"])  # no worker outlives the script


def test_the_public_example_renders_a_valid_daskjob(tmp_path):
    script = tmp_path / "dask_example.py"
    script.write_text(EXAMPLE)
    rendered = subprocess.run(
        [str(Path(sys.executable).with_name("flyte")), "render", str(script), "hello_dask_nested"],
        cwd=tmp_path,
        env=_script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rendered.returncode == 0, rendered.stderr
    (tmp_path / "daskjob.yaml").write_text(rendered.stdout)
    checked = validate_manifests(tmp_path / "daskjob.yaml")
    assert checked == [], checked
    job = yaml.safe_load(rendered.stdout)
    assert job["kind"] == "DaskJob" and job["spec"]["cluster"]["spec"]["worker"]["replicas"] == 4


# A task module that is not importable by name (loaded from a file outside sys.path, as a
# test runner or `python path/to/file.py` from elsewhere may load it): its module-level
# functions, pickled by reference, must still reach the workers.
MODULE = """
import os
import re

import dask
import dask.array as da
from distributed import Client, get_worker

import flyte
from flyteplugins.dask import Dask, WorkerGroup

env = flyte.TaskEnvironment(
    name="dask_inside",
    plugin_config=Dask(workers=WorkerGroup(number_of_workers=2, resources=flyte.Resources(cpu=1, memory="600Mi"))),
    env_vars={"GREETING": "hello", "DASK_FLYTE_TEST__MARKER": "on"},
    secrets=[flyte.Secret("dask_token", as_env_var="DASK_TOKEN")],
)


def tenfold(x):
    return x * 10, get_worker().address, os.environ.get("GREETING"), os.environ.get("DASK_TOKEN")


def worker_address():
    return get_worker().address


@env.task
async def inside(n: int) -> dict:
    # Before any Client exists: the default scheduler is the task's cluster.
    computed_on = dask.compute(dask.delayed(worker_address)())[0]
    array_sum = int(da.ones((40, 40), chunks=10).sum().compute())
    client = Client()
    results = client.gather(client.map(tenfold, range(n)))
    info = client.scheduler_info()["workers"]
    return {
        "results": [r[0] for r in results],
        "ran_on": sorted({r[1] for r in results}),
        "worker_env": sorted({(r[2], r[3]) for r in results}),
        "workers": sorted(info),
        "threads": [w["nthreads"] for w in info.values()],
        "memory": [w["memory_limit"] for w in info.values()],
        "computed_on": computed_on,
        "array_sum": array_sum,
        "config_here": dask.config.get("flyte-test.marker", None),
        "config_in_workers": sorted(set(client.run(lambda: dask.config.get("flyte-test.marker", None)).values())),
        "address": client.scheduler.address,
        "pids": sorted(client.run(os.getpid).values()),
    }
"""


def _load_module(tmp_path: Path, code: str):
    name = f"dask_tasks_{uuid.uuid4().hex[:8]}"
    path = tmp_path / "elsewhere" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def token():
    from flyte.runtime import secret_store

    secret_store.create("dask_token", b"t0ken")


def test_inside_a_task_client_and_dask_compute_reach_the_cluster_and_module_functions_reach_the_workers(
    tmp_path, token
):
    module = _load_module(tmp_path, MODULE)
    flyte.init()
    out = flyte.run(module.inside, n=6).outputs()[0]
    assert out["results"] == [0, 10, 20, 30, 40, 50]
    assert len(out["workers"]) == 2 and set(out["ran_on"]) <= set(out["workers"])
    assert all(w.startswith("tcp://127.0.0.1:") for w in out["workers"])  # loopback only
    assert out["address"].startswith("tcp://127.0.0.1:")
    assert out["threads"] == [1, 1] and out["memory"] == [600 * 2**20] * 2  # WorkerGroup.resources
    assert out["computed_on"] in out["workers"]  # dask.compute ran on a worker, not in threads
    assert out["array_sum"] == 1600
    assert [tuple(e) for e in out["worker_env"]] == [("hello", "t0ken")]  # env vars and secrets reach the workers
    assert out["config_here"] == "on" and out["config_in_workers"] == ["on"]  # DASK_* variables
    assert not _wait_until_gone(out["pids"])
    assert dask.config.get("scheduler-address", None) is None  # nothing left behind for later tasks


one_worker = flyte.TaskEnvironment(name="dask_one", plugin_config=Dask(workers=WorkerGroup(number_of_workers=1)))
two_workers = flyte.TaskEnvironment(name="dask_two", plugin_config=Dask(workers=WorkerGroup(number_of_workers=2)))
plain = flyte.TaskEnvironment(name="dask_plain")
plain.add_dependency(one_worker, two_workers)
one_worker.add_dependency(two_workers)


@one_worker.task
async def where(tag: int) -> dict:
    client = Client()
    await asyncio.sleep(0.5)  # overlap with the other task
    workers = client.scheduler_info()["workers"]
    return {
        "tag": tag,
        "address": client.scheduler.address,
        "workers": len(workers),
        "sum": client.submit(sum, [tag, tag]).result(),
        "pids": sorted(client.run(os.getpid).values()),
    }


@two_workers.task
async def where_two(tag: int) -> dict:
    client = Client()
    return {"address": client.scheduler.address, "workers": len(client.scheduler_info()["workers"]), "tag": tag}


@plain.task
async def same_config_at_once() -> list[dict]:
    return list(await asyncio.gather(where(1), where(2)))


@plain.task
async def other_config_at_once() -> list[dict]:
    return list(await asyncio.gather(where(3), where_two(4)))


def test_two_tasks_running_at_once_with_one_config_share_one_cluster():
    flyte.init()
    starts = _runner.engine.starts
    first, second = flyte.run(same_config_at_once).outputs()[0]
    assert first["address"] == second["address"] and first["workers"] == 1
    assert (first["sum"], second["sum"]) == (2, 4)
    assert _runner.engine.starts == starts + 1
    assert not _wait_until_gone(first["pids"])
    # Each task left its Client() open: they were closed with the cluster, not left reconnecting.
    left_open = [c for c in Client._instances if c.status not in ("closed", "closing")]
    assert not [c for c in left_open if getattr(c.scheduler, "address", None) == first["address"]]


def test_two_tasks_with_other_shapes_at_once_each_get_their_own_cluster_in_turn():
    flyte.init()
    starts = _runner.engine.starts
    small, big = flyte.run(other_config_at_once).outputs()[0]
    assert (small["workers"], big["workers"]) == (1, 2)  # each saw the shape it asked for
    assert small["address"] != big["address"]
    assert _runner.engine.starts == starts + 2


@one_worker.task
async def calls_another_shape() -> dict:
    return await where_two(5)


def test_a_dask_task_of_another_shape_called_inside_a_dask_task_fails_at_once_instead_of_waiting():
    flyte.init()
    with pytest.raises(flyte.errors.ConfigurationError, match="holding another cluster"):
        flyte.run(calls_another_shape)


@one_worker.task
async def fails_in_a_worker() -> int:
    client = Client()
    print("PIDS", sorted(client.run(os.getpid).values()))

    def explode(x: int) -> int:
        raise ValueError(f"worker failure on {x}")

    return client.submit(explode, 7).result()


def test_an_error_raised_in_a_worker_fails_the_task_with_that_error_and_no_worker_is_left(capfd):
    flyte.init()
    with pytest.raises(ValueError, match="worker failure on 7"):
        flyte.run(fails_in_a_worker)
    pids = eval(next(line[5:] for line in capfd.readouterr().out.splitlines() if line.startswith("PIDS ")))
    assert pids and not _wait_until_gone(pids)


@one_worker.task(timeout=20)  # covers the cluster start, which takes seconds on a loaded machine
async def runs_too_long(folder: str) -> int:
    client = Client()
    Path(folder, "pids").write_text(repr(sorted(client.run(os.getpid).values())))
    future = client.submit(time.sleep, 600)  # the worker is busy when the timeout hits
    await asyncio.sleep(600)
    return future.result()


def test_a_timed_out_attempt_stops_its_cluster_and_no_worker_is_left(tmp_path):
    flyte.init()
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(runs_too_long, folder=str(tmp_path))
    pids = eval((tmp_path / "pids").read_text())
    assert pids and not _wait_until_gone(pids)


@one_worker.task
async def worker_dies(folder: str) -> str:
    client = Client()
    (pid,) = client.run(os.getpid).values()
    Path(folder, "pid").write_text(str(pid))
    running = client.submit(time.sleep, 600)
    while not any(client.processing().values()):
        await asyncio.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # as an out-of-memory killer would
    return str(running.result())


def test_a_worker_that_dies_fails_the_attempt_with_a_clear_error(tmp_path):
    flyte.init()
    with pytest.raises(DaskWorkerDiedError, match=r"Dask worker .* \(tcp://127\.0\.0\.1:\d+, pid \d+\) died") as info:
        flyte.run(worker_dies, folder=str(tmp_path))
    pid = int((tmp_path / "pid").read_text())
    assert info.value.pid == pid and "killed by a signal" in str(info.value)
    assert "the task's retries (0) decide" in str(info.value)
    assert type(info.value.__cause__).__name__ == "KilledWorker"  # what the task itself saw


pool = flyte.TaskEnvironment(
    name="dask_pool",
    plugin_config=Dask(workers=WorkerGroup(number_of_workers=1)),
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=3),
)


@pool.task
async def pooled(x: int) -> dict:
    # Runs in a worker of the environment's pool, where SharedEngine keeps the cluster warm.
    client = Client()
    return {
        "value": client.submit(lambda v: v * v, x).result(),
        "pids": sorted(client.run(os.getpid).values()),
        "worker": os.getpid(),
        "starts": _runner.engine.starts,
    }


def test_a_reusable_environment_keeps_its_cluster_warm_until_idle_ttl():
    flyte.init()
    first = flyte.run(pooled, 3).outputs()[0]
    second = flyte.run(pooled, 4).outputs()[0]
    assert (first["value"], second["value"]) == (9, 16)
    assert first["worker"] == second["worker"] != os.getpid()  # the pool's worker, not this process
    assert first["pids"] == second["pids"] and second["starts"] == first["starts"]  # one warm cluster
    assert all(_alive(p) for p in first["pids"])
    # idle_ttl: the pool stops its worker, which stops the cluster on its way out.
    assert not _wait_until_gone([first["worker"], *first["pids"]], timeout=90)


SLEEPER = """
import os
import re
import time

from distributed import Client

import flyte
from flyteplugins.dask import Dask, WorkerGroup

env = flyte.TaskEnvironment(name="dask_sleeper", plugin_config=Dask(workers=WorkerGroup(number_of_workers=1)))


@env.task
def sleeper() -> int:
    client = Client()
    print("PIDS " + repr(sorted(client.run(os.getpid).values())), flush=True)
    return client.submit(time.sleep, 600).result()


if __name__ == "__main__":
    flyte.init()
    flyte.run(sleeper)
"""


def test_ctrl_c_leaves_no_worker_process(tmp_path):
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_script_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell starts background jobs (this test runner, maybe) with
        # SIGINT ignored, and the child would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = ""
        while not line.startswith("PIDS "):
            line = proc.stdout.readline()
            assert line, "the script ended before its task started"
        pids = eval(line[5:])
        assert len(pids) == 1
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert not _wait_until_gone(pids)


def test_worker_resources_larger_than_the_machine_are_capped_and_reported(caplog):
    from dask.system import CPU_COUNT
    from distributed.system import MEMORY_LIMIT

    huge = flyte.TaskEnvironment(
        name="dask_huge",
        plugin_config=Dask(
            workers=WorkerGroup(number_of_workers=2, resources=flyte.Resources(cpu=CPU_COUNT + 6, memory="64Ti"))
        ),
    )

    @huge.task
    async def big() -> None:
        pass

    call = TaskCall(spec=big.spec, function=big.func, inputs={}, environ={}, invoke=None)
    with pytest.warns(_runner.DaskResourceWarning) as caught:
        plan = _runner.plan_for(call)
    assert plan.threads == CPU_COUNT and plan.memory_limit == MEMORY_LIMIT // 2
    messages = [str(w.message) for w in caught]
    assert any(f"cpu={CPU_COUNT + 6}" in m and "WorkerGroup.resources" in m for m in messages)
    assert any("64" in m and "share of this machine" in m for m in messages)
    # Shown where the task is defined (not at flyte's code), and once: not again by the logger.
    assert {(w.filename, w.lineno) for w in caught} == {(__file__, big.func.__code__.co_firstlineno)}
    assert not [r for r in caplog.records if r.name.startswith("flyteplugins.dask")]


def test_the_plan_key_holds_no_secret_value():
    call = TaskCall(spec=where.spec, function=where.func, inputs={}, environ={"API_TOKEN": "very-secret"}, invoke=None)
    plan = _runner.plan_for(call)
    assert ("API_TOKEN", "very-secret") in plan.worker_env  # the workers get it
    assert "very-secret" not in plan.key()


@two_workers.task(timeout=0.5)
async def times_out_while_the_cluster_starts() -> int:
    return 0


def test_a_timeout_while_the_cluster_starts_stops_it_once_it_is_up():
    flyte.init()
    starts = _runner.engine.starts
    with pytest.raises(flyte.errors.TaskTimeoutError):
        flyte.run(times_out_while_the_cluster_starts)
    deadline = time.monotonic() + 120
    while _runner.engine.starts == starts and time.monotonic() < deadline:
        time.sleep(0.1)  # the start goes on after the timeout; the fixture then checks its workers end
    assert _runner.engine.starts == starts + 1


def test_the_plugin_readme_quickstart_runs_as_written(tmp_path):
    readme = (REPO / "plugins" / "dask" / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "quickstart.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "quickstart.py"],
        cwd=tmp_path,
        env=_script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = re.search(r"# (\{'sum'.*\})", code).group(1)  # the output the README promises
    assert done.stdout.strip().splitlines()[-1] == expected


WORKER_PRINTS = """
import logging
import os

from distributed import Client
from flyteplugins.dask import Dask, WorkerGroup

import flyte

env = flyte.TaskEnvironment(
    name="dask_worker_prints",
    plugin_config=Dask(workers=WorkerGroup(number_of_workers=1)),
    secrets=[flyte.Secret("dask_printed", as_env_var="PRINTED"), flyte.Secret("dask_key", mount="/etc/flyte/secrets")],
)


def shows(x):
    print("worker sees", os.environ["PRINTED"], flush=True)
    logging.getLogger("distributed.worker").warning("worker logs %s", os.environ["PRINTED"])
    with open(os.path.join(os.environ["FLYTE_SECRETS_MOUNT"], "dask_key")) as f:
        os.system("echo worker child " + f.read().strip())
    return x


@env.task
async def prints() -> int:
    return Client().submit(shows, 1).result()
"""


def test_what_a_local_worker_prints_shows_the_tasks_secrets_masked(tmp_path, capfd):
    """A worker is a multiprocessing child writing to flyte's own terminal, not through the
    attempt's log: it masks the task's secrets itself (env vars, mounted files, its children)."""
    from flyte.runtime import secret_store

    secret_store.create("dask_printed", b"S3CR3T-dask-worker-58")
    secret_store.create("dask_key", b"S3CR3T-dask-key-58\n")
    module = _load_module(tmp_path, WORKER_PRINTS)
    flyte.init()
    assert flyte.run(module.prints).outputs()[0] == 1
    printed = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and printed.count("***") < 3:
        captured = capfd.readouterr()
        printed += captured.out + captured.err
        time.sleep(0.2)
    assert "worker sees ***" in printed and "worker logs ***" in printed and "worker child ***" in printed
    assert "S3CR3T" not in printed
