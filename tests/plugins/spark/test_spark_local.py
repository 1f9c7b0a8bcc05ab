"""Spark tasks run in a real local SparkSession built from their config (no mocks).

Most tests use ``shared``, a reusable environment, so they share one warm session; the JVM is
the session-scoped ``spark_local`` fixture's.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
import time
from pathlib import Path

import pytest
from pyspark import SparkContext
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import flyte
import flyte.remote
from flyte._context import internal_ctx
from flyteplugins.spark import Spark, SparkJobError, SparkSessionConflictError, _plan, _runner, spark_session

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("spark_local"),
    # CONF has a Kubernetes-only key on purpose; the tests about that report use pytest.warns.
    pytest.mark.filterwarnings("ignore::flyteplugins.spark._plan.SparkLocalWarning"),
]

CONF = Spark(
    spark_conf={
        "spark.sql.shuffle.partitions": 3,
        "spark.ui.enabled": False,
        "spark.executor.instances": 1,
        "spark.executor.cores": 2,
        "spark.flyte.test.marker": "from-config",
        "spark.kubernetes.namespace": "spark-jobs",
    },
    hadoop_conf={"fs.flyte.test": "hadoop-value"},
)

shared = flyte.TaskEnvironment(
    name="spark_shared", plugin_config=CONF, reusable=flyte.ReusePolicy(replicas=1, idle_ttl=600)
)
plain = flyte.TaskEnvironment(name="spark_plain_helpers")
once = flyte.TaskEnvironment(name="spark_once", plugin_config=CONF.with_spark_conf({"spark.app.name": "once"}))
shared.add_dependency(plain)


class Scaler:
    """A class of the task module, used inside the workers."""

    def __init__(self, factor: int):
        self.factor = factor

    def __call__(self, x: int) -> int:
        return x * self.factor


def square(x: int) -> int:
    return x * x


@plain.task
async def plus_one(x: int) -> int:
    return x + 1


@shared.task
async def inspect_session() -> dict:
    spark = spark_session()
    sc = spark.sparkContext
    grouped = spark.range(30).groupBy((F.col("id") % 5).alias("k")).count().orderBy("k").collect()
    return {
        "master": sc.master,
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "marker": spark.conf.get("spark.flyte.test.marker"),
        "kubernetes_key_kept": sc.getConf().get("spark.kubernetes.namespace"),
        "hadoop": sc._jsc.hadoopConfiguration().get("fs.flyte.test"),
        "driver_host": sc.getConf().get("spark.driver.host"),
        "get_or_create_is_it": SparkSession.builder.getOrCreate() is spark,
        "ctx_is_it": flyte.ctx().data["spark_session"] is spark,
        "internal_ctx_is_it": internal_ctx().data.task_context.data["spark_session"] is spark,
        "counts": [row["count"] for row in grouped],
        "nested": await plus_one(41),
        "app_id": sc.applicationId,
    }


@pytest.fixture(autouse=True)
def local():
    flyte.init()
    _plan._reported.clear()  # each test sees the warnings its task causes


def test_the_session_is_built_from_the_config():
    with pytest.warns(UserWarning, match=r"spark\.kubernetes\.namespace \(it only means something on Kubernetes\)"):
        out = flyte.run(inspect_session).outputs()[0]
    assert out["master"] == "local[2]"  # 1 instance × 2 cores
    assert out["shuffle_partitions"] == "3"
    assert out["marker"] == "from-config"
    assert out["kubernetes_key_kept"] == "spark-jobs"  # applied, and reported as doing nothing here
    assert out["hadoop"] == "hadoop-value"
    assert out["driver_host"] == "127.0.0.1"
    assert out["get_or_create_is_it"] and out["ctx_is_it"] and out["internal_ctx_is_it"]
    assert out["counts"] == [6] * 5
    assert out["nested"] == 42


@shared.task
def functions_reach_the_workers(n: int) -> dict:  # a sync task: runs on a worker thread
    spark = SparkSession.builder.getOrCreate()
    offset = 10
    scale = Scaler(3)
    rdd = spark.sparkContext.parallelize(range(n), 2)
    doubled = F.udf(lambda x: int(x) * 2 + offset, "long")
    return {
        "module_function": rdd.map(square).collect(),
        "closure": rdd.map(lambda x: x + offset).collect(),
        "class_instance": rdd.map(scale).collect(),
        "udf": [r[0] for r in spark.range(n).select(doubled("id")).orderBy("id").collect()],
        "worker_python": rdd.map(lambda _: sys.executable).first(),
    }


def test_functions_of_the_task_module_reach_the_workers():
    out = flyte.run(functions_reach_the_workers, 4).outputs()[0]
    assert out == {
        "module_function": [0, 1, 4, 9],
        "closure": [10, 11, 12, 13],
        "class_instance": [0, 3, 6, 9],
        "udf": [10, 12, 14, 16],
        "worker_python": sys.executable,  # the workers run this interpreter, with its packages
    }


def explode(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad record {x}")
    return x


@shared.task
async def failing_python_job() -> list:
    return spark_session().sparkContext.parallelize(range(5), 2).map(explode).collect()


@shared.task
async def failing_jvm_job(path: str) -> int:
    return spark_session().sparkContext.textFile(path).count()


def test_a_failed_spark_job_fails_the_task_with_sparks_message(tmp_path):
    with pytest.raises(Exception, match="ValueError: bad record 3") as python_failure:
        flyte.run(failing_python_job)
    assert "Py4J" not in str(python_failure.value)

    missing = tmp_path / "missing.txt"
    with pytest.raises(SparkJobError, match="Input path does not exist") as jvm_failure:
        flyte.run(failing_jvm_job, str(missing))
    message = str(jvm_failure.value)
    assert "\tat org.apache" not in message and "An error occurred while calling" not in message
    run = next(flyte.remote.Run.listall(limit=1))
    assert run.phase == "FAILED" and "Input path does not exist" in run.error


@shared.task
async def application_id() -> str:
    return spark_session().sparkContext.applicationId


@shared.task
async def warm_state() -> tuple[str, int, int]:
    # Runs in a worker of the environment's pool, where SharedEngine keeps the session warm.
    return spark_session().sparkContext.applicationId, os.getpid(), _runner.sessions.starts


def test_a_reusable_environment_keeps_its_session_warm_in_its_pool_worker():
    first, worker, starts = flyte.run(warm_state).outputs()
    second, again, starts_after = flyte.run(warm_state).outputs()
    assert worker == again != os.getpid()  # the pool's worker, not this process
    assert first == second  # one SparkContext served both tasks
    assert starts_after == starts  # the second found it warm
    assert SparkContext._active_spark_context is None  # nothing of it in the driver


@once.task
async def once_app() -> list:
    sc = spark_session().sparkContext
    return [sc.applicationId, sc.appName, SparkContext._gateway.proc.pid]


def test_each_attempt_stops_its_session_and_the_jvm_stays_warm():
    first_app, name, first_jvm = flyte.run(once_app).outputs()[0]
    assert name == "once"
    assert SparkContext._active_spark_context is None  # stopped with the attempt
    second_app, _, second_jvm = flyte.run(once_app).outputs()[0]
    assert second_app != first_app  # a new session
    assert second_jvm == first_jvm  # on the same JVM, started once


@shared.task
async def calls_other_spark(nested_config: Spark) -> str:
    return await application_id.override(plugin_config=nested_config)()


def test_a_nested_spark_task_shares_the_session_or_says_why_it_cannot():
    assert flyte.run(calls_other_spark, CONF).outputs() == flyte.run(application_id).outputs()
    other = CONF.with_spark_conf({"spark.sql.shuffle.partitions": 7})
    with pytest.raises(SparkSessionConflictError, match="one Spark session at a time"):
        flyte.run(calls_other_spark, other)


def test_the_reference_sdks_deepcopy_pattern_overrides_the_config():
    import copy

    edited = copy.deepcopy(CONF)
    edited.spark_conf["spark.executor.instances"] = "3"  # the public example's pattern
    edited.spark_conf["spark.app.name"] = "edited"

    @shared.task
    async def master_and_name() -> list:
        sc = spark_session().sparkContext
        return [sc.master, sc.appName]

    task = master_and_name.override(plugin_config=edited, reusable="off")
    with pytest.warns(UserWarning, match="instances × cores = 6, and this machine has"):
        master, name = flyte.run(task).outputs()[0]
    assert name == "edited"
    assert master == f"local[{min(6, len(os.sched_getaffinity(0)))}]"


def test_the_plugin_readme_quickstart_runs_as_written(tmp_path, capsys):
    """Run as the main program, in this process: it shares the fixture's JVM."""
    readme = (Path(__file__).resolve().parents[3] / "plugins" / "spark" / "README.md").read_text()
    (tmp_path / "quickstart.py").write_text(re.search(r"```python\n(.*?)```", readme, re.S).group(1))
    runpy.run_path(str(tmp_path / "quickstart.py"), run_name="__main__")
    assert capsys.readouterr().out.strip().splitlines()[-1] == "{'distinct': 2, 'letters': 15}"


@once.task(timeout=20)
def stuck(marker: str) -> int:
    sc = spark_session().sparkContext
    Path(marker).write_text(str(SparkContext._gateway.proc.pid))
    return sc.parallelize(range(2), 2).map(lambda _: time.sleep(600) or 1).sum()


def _gone(pid: int, within: float = 60.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return True
        if state == "Z":  # exited, not yet reaped by its parent
            return True
        time.sleep(0.5)
    return False


def test_a_timed_out_attempt_stops_the_jvm(tmp_path):
    flyte.run(once_app)  # the JVM is up before the attempt's clock starts
    marker = tmp_path / "jvm.pid"
    with pytest.raises(Exception, match="ran longer than"):
        flyte.run(stuck, str(marker))
    pid = int(marker.read_text())
    assert _gone(pid), f"the JVM {pid} outlived its timed-out task"
    assert SparkContext._gateway is None
