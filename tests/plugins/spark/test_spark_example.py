"""The public Spark example (unionai-examples ``v2/integrations/flyte-plugins/spark/spark_example.py``),
rewritten here with the same imports, config and calls: it renders, and it runs as a script (so
its functions live in ``__main__``); Ctrl-C of a Spark task in that process stops its JVM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conftest import validate_manifests

EXAMPLE = textwrap.dedent("""
    import json
    import random
    import sys
    import time
    from copy import deepcopy
    from operator import add
    from pathlib import Path

    from flyteplugins.spark.task import Spark

    import flyte.remote
    from flyte._context import internal_ctx

    image = (
        flyte.Image.from_base("apache/spark-py:v3.4.0")
        .clone(name="spark", python_version=(3, 10), registry="ghcr.io/flyteorg")
        .with_pip_packages("flyteplugins-spark", pre=True)
    )
    pi_env = flyte.TaskEnvironment(
        name="get_pi", resources=flyte.Resources(cpu=(1, 2), memory=("400Mi", "1000Mi")), image=image
    )
    base_config = Spark(
        spark_conf={
            "spark.driver.memory": "3000M",
            "spark.executor.memory": "1000M",
            "spark.executor.cores": "1",
            "spark.executor.instances": "2",
            "spark.driver.cores": "1",
            "spark.kubernetes.file.upload.path": "/opt/spark/work-dir",
            "spark.jars": "https://storage.googleapis.com/hadoop-lib/gcs/gcs-connector-hadoop3-latest.jar,"
            "https://repo1.maven.org/maven2/org/apache/hadoop/hadoop-aws/3.2.2/hadoop-aws-3.2.2.jar",
        },
    )
    spark_env = flyte.TaskEnvironment(
        name="spark_env",
        resources=flyte.Resources(cpu=(1, 2), memory=("3000Mi", "5000Mi")),
        plugin_config=base_config,
        image=image,
        depends_on=[pi_env],
    )


    def in_circle(_):
        x, y = random.random() * 2 - 1, random.random() * 2 - 1
        return 1 if x * x + y * y <= 1 else 0


    @pi_env.task
    async def get_pi(count: int, partitions: int) -> float:
        return 4.0 * count / partitions


    @spark_env.task
    async def hello_spark_nested(partitions: int = 3) -> float:
        session = internal_ctx().data.task_context.data["spark_session"]
        hits = session.sparkContext.parallelize(range(1, partitions + 1), partitions).map(in_circle).reduce(add)
        return await get_pi(hits, partitions)


    @pi_env.task
    async def spark_overrider(executor_instances: int = 3, partitions: int = 4) -> float:
        changed = deepcopy(base_config)
        changed.spark_conf["spark.executor.instances"] = str(executor_instances)
        return await hello_spark_nested.override(plugin_config=changed)(partitions=partitions)


    @spark_env.task
    def stuck(marker: str) -> int:  # for the Ctrl-C check: a job that never ends by itself
        from pyspark import SparkContext

        sc = internal_ctx().data.task_context.data["spark_session"].sparkContext
        Path(marker).write_text(str(SparkContext._gateway.proc.pid))
        return sc.parallelize(range(2), 2).map(lambda _: time.sleep(600) or 1).sum()


    if __name__ == "__main__":
        flyte.init()
        nested = flyte.run(hello_spark_nested).outputs()[0]
        overridden = flyte.run(spark_overrider).outputs()[0]
        print(json.dumps({"nested": nested, "overridden": overridden}), flush=True)
        flyte.run(stuck, sys.argv[1])
""")


def _gone(pid: int, within: float = 60.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True  # exited, waiting to be reaped
        except FileNotFoundError:
            return True
        time.sleep(0.5)
    return False


def test_the_public_example_renders(tmp_path):
    (tmp_path / "spark_example.py").write_text(EXAMPLE)
    out = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "render", "spark_example.py", "hello_spark_nested"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    (app,) = list(yaml.safe_load_all(out.stdout))
    (tmp_path / "app.yaml").write_text(out.stdout)
    assert validate_manifests(tmp_path / "app.yaml") == []
    spec = app["spec"]
    assert spec["sparkConf"]["spark.jars"].startswith("https://storage.googleapis.com/")  # kept for the cluster
    assert spec["executor"]["instances"] == 2 and spec["driver"]["memory"] == "3000M"
    assert spec["arguments"] == ["--module", "spark_example", "--task", "hello_spark_nested"]


@pytest.mark.slow
def test_the_public_example_runs_as_a_script_and_ctrl_c_stops_its_jvm(tmp_path, flyte_home):
    script = tmp_path / "spark_example.py"
    script.write_text(EXAMPLE)
    marker = tmp_path / "jvm.pid"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(marker)],
        cwd=tmp_path,
        env={**os.environ, "FLYTE_HOME": str(flyte_home), "SPARK_LOCAL_IP": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 280
        while not (marker.exists() and marker.read_text()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        jvm = int(marker.read_text())
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    results = json.loads(stdout.strip().splitlines()[-1])
    assert results["nested"] in (0.0, 4 / 3, 8 / 3, 4.0)  # 4 × hits / 3 partitions of one sample each
    assert results["overridden"] in (0.0, 1.0, 2.0, 3.0, 4.0)
    # The reference plugin ignores the config locally; ours reports what it could not apply.
    assert "spark.kubernetes.file.upload.path (it only means something on Kubernetes)" in stderr
    assert "gcs-connector-hadoop3-latest.jar (cannot be fetched" in stderr
    assert "KeyboardInterrupt" in stderr and proc.returncode != 0
    assert _gone(jvm), f"the JVM {jvm} outlived the interrupted process"
