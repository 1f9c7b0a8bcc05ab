"""The Spark config: validated and frozen at definition, the deepcopy pattern, the TaskSpec round
trip, discovery, and what a local run makes of it (master, settings, reports, artefacts)."""

from __future__ import annotations

import copy
import http.server
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import attrs
import pytest

import flyte
from flyteplugins.spark import Spark, spark_session
from flyteplugins.spark import _plan as plan_module
from flyteplugins.spark._plan import SparkLocalWarning, build_plan, report


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"spark_conf": {"executor.cores": "2"}}, ValueError, r"'executor.cores' is not a Spark property"),
        ({"spark_conf": {"spark.driver.memory": "3000Mi"}}, ValueError, r"'3000Mi' is not a Spark size"),
        ({"spark_conf": {"spark.executor.memory": "1.5g"}}, ValueError, r"'1.5g' is not a Spark size"),
        ({"spark_conf": {"spark.executor.cores": "0"}}, ValueError, r"spark.executor.cores'\]: '0'.*cores >= 1"),
        ({"spark_conf": {"spark.executor.instances": "two"}}, ValueError, r"'two' is not valid"),
        ({"spark_conf": {"spark.kubernetes.driver.request.cores": "lots"}}, ValueError, "Kubernetes CPU quantity"),
        ({"spark_conf": {"spark.a": None}}, TypeError, r"None is not a setting value"),
        ({"spark_conf": {"spark.a": [1]}}, TypeError, r"\[1\] is not a setting value"),
        ({"spark_conf": {"spark.a b": "1"}}, ValueError, "without spaces or '='"),
        ({"spark_conf": ["spark.a=1"]}, TypeError, "expected a dict of settings"),
        ({"hadoop_conf": {"": "x"}}, ValueError, "Spark.hadoop_conf key"),
        ({"applications_path": "/opt/app"}, ValueError, r"is not a \.py file"),
        ({"applications_path": "app.py"}, ValueError, "an absolute path"),
        ({"executor_path": "python3"}, ValueError, "an absolute path"),
        ({"driver_pod": "my-template"}, TypeError, "expected a flyte.PodTemplate"),
        ({"executor_pod": {"containers": []}}, TypeError, "expected a flyte.PodTemplate"),
    ],
)
def test_a_bad_config_is_an_error_at_definition(kwargs, error, match):
    with pytest.raises(error, match=match):
        Spark(**kwargs)


def test_numbers_and_booleans_become_the_strings_spark_reads():
    config = Spark(spark_conf={"spark.executor.instances": 2, "spark.ui.enabled": False, "spark.memory.fraction": 0.6})
    assert dict(config.spark_conf) == {
        "spark.executor.instances": "2",
        "spark.ui.enabled": "false",
        "spark.memory.fraction": "0.6",
    }
    assert Spark().spark_conf == {} and Spark().hadoop_conf == {}


def test_the_config_is_frozen_and_hashable():
    config = Spark(spark_conf={"spark.executor.cores": "2"}, hadoop_conf={"fs.s3a.fast.upload": "true"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.spark_conf = {}
    with pytest.raises(TypeError, match=r"read-only.*with_spark_conf.*copy\.deepcopy"):
        config.spark_conf["spark.executor.cores"] = "4"
    with pytest.raises(TypeError, match="read-only"):
        del config.hadoop_conf["fs.s3a.fast.upload"]
    same = Spark(spark_conf={"spark.executor.cores": 2}, hadoop_conf={"fs.s3a.fast.upload": True})
    assert config == same and hash(config) == hash(same) and len({config, same}) == 1
    assert config.with_spark_conf({"spark.executor.cores": 4}).spark_conf["spark.executor.cores"] == "4"
    assert config.with_hadoop_conf({"a.b": "c"}).hadoop_conf == {"fs.s3a.fast.upload": "true", "a.b": "c"}
    assert config.spark_conf["spark.executor.cores"] == "2"  # unchanged


def test_the_public_examples_deepcopy_pattern_gives_an_editable_checked_copy():
    original = Spark(spark_conf={"spark.executor.instances": "2"})
    edited = copy.deepcopy(original)
    edited.spark_conf["spark.executor.instances"] = 3
    assert edited.spark_conf["spark.executor.instances"] == "3"
    assert original.spark_conf["spark.executor.instances"] == "2"
    with pytest.raises(ValueError, match="not a Spark size"):
        edited.spark_conf["spark.driver.memory"] = "2Gi"  # checked as it is set
    hash(edited)  # once used as a value, the copy is frozen too
    with pytest.raises(TypeError, match="read-only"):
        edited.spark_conf["spark.executor.instances"] = "4"


env = flyte.TaskEnvironment(name="spark_cfg", plugin_config=Spark(spark_conf={"spark.executor.instances": 2}))


@env.task
async def configured(n: int = 1) -> int:
    return n


def test_override_and_the_task_spec_round_trip():
    other = Spark(spark_conf={"spark.executor.instances": 5}, executor_path="/opt/venv/bin/python")
    overridden = configured.override(plugin_config=other)
    assert overridden.spec.plugin_config == other
    assert configured.spec.plugin_config.spark_conf["spark.executor.instances"] == "2"
    data = overridden.spec.to_dict()
    assert '"$t": "pickle"' not in json.dumps(data)  # plain, readable data
    assert flyte.TaskSpec.from_dict(json.loads(json.dumps(data))) == overridden.spec


def test_flyte_plugins_lists_spark_and_importing_the_plugin_does_not_import_pyspark():
    out = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "plugins", "--json"], capture_output=True, text=True, timeout=120
    )
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["spark"]["distribution"] == "flyteplugins-spark"
    assert plugins["spark"]["config_types"] == ["flyteplugins.spark.task.Spark"]
    probe = (
        "import sys, flyteplugins.spark, flyteplugins.spark._hooks, flyteplugins.spark.task; "
        "print('pyspark' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"


def test_the_session_accessor_outside_a_spark_task_says_where_it_works():
    with pytest.raises(RuntimeError, match=r"inside a task whose environment \(or override\) sets plugin_config"):
        spark_session()


# -- the local plan --------------------------------------------------------------------------
def _spec(config: Spark, resources: flyte.Resources | None = None) -> flyte.TaskSpec:
    task_env = flyte.TaskEnvironment(name="spark_plan", plugin_config=config, resources=resources)

    @task_env.task
    async def t() -> None:
        return None

    return t.spec


@pytest.mark.parametrize(
    "conf, resources, cores, master, capped",
    [
        ({"spark.executor.instances": 2, "spark.executor.cores": 2}, None, 8, "local[4]", None),
        ({"spark.executor.instances": 3}, None, 8, "local[3]", None),  # Spark's 1 core per executor
        ({"spark.executor.cores": 3}, None, 8, "local[6]", None),  # Spark's 2 executors
        ({}, flyte.Resources(cpu=(1, 3)), 8, "local[3]", None),  # the task's cpu limit
        ({}, flyte.Resources(cpu="500m"), 8, "local[1]", None),
        ({}, None, 8, "local[8]", None),  # every core
        ({"spark.executor.instances": 4, "spark.executor.cores": 4}, None, 2, "local[2]", "spark.executor.instances"),
        ({}, flyte.Resources(cpu=16), 4, "local[4]", "resources.cpu"),
    ],
)
def test_the_local_master_is_sized_from_the_config_or_the_task(conf, resources, cores, master, capped):
    plan = build_plan(Spark(spark_conf=conf), _spec(Spark(spark_conf=conf), resources), cores=cores)
    assert plan.master == master
    assert [k for k, _ in plan.not_local] == ([capped] if capped else [])


def test_every_setting_is_applied_and_kubernetes_only_ones_are_reported_once():
    config = Spark(
        spark_conf={
            "spark.sql.shuffle.partitions": 7,
            "spark.kubernetes.container.image": "spark:4",
            "spark.dynamicAllocation.enabled": True,
            "spark.master": "k8s://https://api",
            "spark.driver.memory": "1g",
        },
        hadoop_conf={"fs.s3a.endpoint": "http://minio:9000"},
    )
    plan = build_plan(config, _spec(config), cores=2)
    conf = dict(plan.conf)
    assert conf["spark.sql.shuffle.partitions"] == "7"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert conf["spark.kubernetes.container.image"] == "spark:4"  # applied (and inert) locally
    assert "spark.master" not in conf and plan.master == "local[2]"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.pyspark.python"] == sys.executable
    assert plan.launch == (("spark.driver.memory", "1g"),)  # what only takes effect when the JVM starts
    reported = [k for k, _ in plan.not_local]
    assert reported == ["spark.kubernetes.container.image", "spark.dynamicAllocation.enabled", "spark.master"]

    plan_module._reported.clear()
    with pytest.warns(SparkLocalWarning, match=r"spark\.kubernetes\.container\.image .*spark\.master") as seen:
        report(plan, "env.task", configured.func)
        report(plan, "env.task", configured.func)  # once per process
    assert len(seen) == 1
    assert seen[0].filename == __file__  # points at the task's definition


@pytest.fixture
def artefact_server(tmp_path):
    """A file server on a free loopback port: a jar and a Maven repository with one POM."""
    root = tmp_path / "served"
    (root / "maven/org/example/lib/1.0").mkdir(parents=True)
    (root / "maven/org/example/lib/1.0/lib-1.0.pom").write_text("<project/>")
    (root / "extra.jar").write_bytes(b"PK\x03\x04 not really a jar")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_remote_artefacts_are_fetched_and_the_rest_reported_in_one_warning(artefact_server, tmp_path, flyte_home):
    local_jar = tmp_path / "local.jar"
    local_jar.write_bytes(b"jar")
    dead = f"http://127.0.0.1:{_closed_port()}/gone.jar"
    config = Spark(
        spark_conf={
            "spark.jars": f"{artefact_server}/extra.jar,{dead},{local_jar},s3a://bucket/x.jar,/no/such.jar",
            "spark.jars.packages": "org.example:lib:1.0,org.example:missing:2.0,not-a-coordinate",
            "spark.jars.repositories": f"{artefact_server}/maven",
        }
    )
    plan_module._fetched.clear()
    plan = build_plan(config, _spec(config), cores=2)
    jars = dict(plan.conf)["spark.jars"].split(",")
    assert len(jars) == 2 and jars[1] == str(local_jar)
    fetched = Path(jars[0])
    assert fetched.read_bytes() == b"PK\x03\x04 not really a jar"
    assert fetched.is_relative_to(flyte_home / "spark" / "downloads")
    assert dict(plan.conf)["spark.jars.packages"] == "org.example:lib:1.0"
    assert dict(plan.launch)["spark.jars"] == dict(plan.conf)["spark.jars"]
    skipped = dict(plan.skipped)
    assert set(skipped) == {
        f"spark.jars: {dead}",
        "spark.jars: s3a://bucket/x.jar",
        "spark.jars: /no/such.jar",
        "spark.jars.packages: org.example:missing:2.0",
        "spark.jars.packages: not-a-coordinate",
    }
    assert "Connection refused" in skipped[f"spark.jars: {dead}"]
    plan_module._reported.clear()
    with pytest.warns(SparkLocalWarning, match="cannot be fetched were skipped") as seen:
        report(plan, "env.task", configured.func)
    assert len(seen) == 1 and all(entry in str(seen[0].message) for entry in skipped)


@pytest.mark.parametrize("raw, seconds", [(None, 300.0), ("0", 0.0), ("42.5", 42.5)])
def test_how_long_an_idle_jvm_stays_up(monkeypatch, raw, seconds):
    from flyteplugins.spark import _runner

    if raw is None:
        monkeypatch.delenv("FLYTE_SPARK_JVM_KEEP_WARM", raising=False)
    else:
        monkeypatch.setenv("FLYTE_SPARK_JVM_KEEP_WARM", raw)
    assert _runner.jvm_keep_warm() == seconds


@pytest.mark.parametrize("raw", ["soon", "-1", "inf"])
def test_a_bad_jvm_keep_warm_is_a_clear_error(monkeypatch, raw):
    from flyteplugins.spark import _runner

    monkeypatch.setenv("FLYTE_SPARK_JVM_KEEP_WARM", raw)
    with pytest.raises(flyte.errors.ConfigurationError, match=f"FLYTE_SPARK_JVM_KEEP_WARM: '{raw}' is not valid"):
        _runner.jvm_keep_warm()
