"""On Kubernetes, data goes through the configured store: the rendered container command, run
here outside Kubernetes against the S3 server, passes a DataFrame and a File between two tasks.

The rendered object carries the storage URL and endpoint as plain env vars and the store's
credentials only as a reference to a Secret (``envFrom.secretRef``); the test plays kubelet and
injects that Secret's keys, as a pod would see them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import yaml

import flyte
import flyte.storage as storage
from flyte.io import DataFrame
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.render import render_task

from ..conftest import validate_manifests
from .conftest import KEY_ID, SECRET

PIPELINE = textwrap.dedent("""
    import pandas as pd
    import flyte
    from flyte.io import DataFrame, File

    env = flyte.TaskEnvironment(name="k8s_data")

    @env.task
    async def produce(n: int) -> tuple[pd.DataFrame, File]:
        f = File.new_remote("labels.txt")
        async with f.open("w") as fh:
            fh.write("\\n".join(f"label-{i}" for i in range(n)))
        return pd.DataFrame({"i": list(range(n))}), f

    @env.task
    async def consume(df: pd.DataFrame, f: File, extra: DataFrame) -> pd.DataFrame:
        async with f.open("r") as fh:
            labels = fh.read().splitlines()
        bonus = await extra.open(pd.DataFrame).all()
        return df.assign(label=labels, bonus=bonus["bonus"].tolist())

    @env.task
    async def pipeline(n: int, extra: DataFrame) -> pd.DataFrame:
        df, f = await produce(n)
        return await consume(df, f, extra)
""")


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _run_like_kubelet(job: dict, workdir: Path, secrets: dict[str, dict[str, str]], home: Path):
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLYTE_"))}
    env["FLYTE_HOME"] = str(home)
    for source in container.get("envFrom", []):
        env.update(secrets[source["secretRef"]["name"]])
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    env["PYTHONPATH"] = str(workdir)
    command = [sys.executable if c == "python" else c for c in container["command"]]
    return subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=240)


def test_rendered_pipeline_passes_a_dataframe_and_a_file_through_s3(
    s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "k8s_data_tasks.py").write_text(PIPELINE)
    module = _load(code / "k8s_data_tasks.py")
    url = f"s3://{s3_bucket}/cluster"

    # The user's machine uploads an input table to the store the pods read.
    flyte.init(storage=storage.S3(endpoint=s3_endpoint, region="us-east-1"), raw_data_path=url)
    extra = DataFrame.from_local_sync(pd.DataFrame({"bonus": [10, 20, 30]}))
    assert extra.uri.startswith(url)

    settings = RenderSettings(storage=url, storage_endpoint=s3_endpoint, storage_secret="object-store")
    (job,) = render_task(
        module.pipeline, RenderContext(settings=settings, inputs={"n": 3, "extra": extra}, run_name="r1")
    )
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump(job))
    assert validate_manifests(manifest) == []

    text = json.dumps(job)
    assert KEY_ID not in text and SECRET not in text  # credentials only by reference
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "object-store"}}]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FLYTE_STORAGE"] == url and env["FLYTE_AWS_ENDPOINT"] == s3_endpoint
    assert env["FLYTE_OUTPUTS_URI"].startswith(url)

    secret = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    result = _run_like_kubelet(job, code, {"object-store": secret}, tmp_path / "pod-home")
    assert result.returncode == 0, result.stderr[-3000:]
    assert SECRET not in result.stdout + result.stderr

    # Back on the user's machine: the outputs are a reference into the bucket.
    with storage.open_sync(env["FLYTE_OUTPUTS_URI"], "r") as fh:
        outputs = fh.read()
    assert '"$t":"dataframe"' in outputs and SECRET not in outputs
    from flyte import _codec

    ref = _codec.loads(outputs)
    assert ref.uri.startswith(f"{url}/")
    table = ref.open(pd.DataFrame).all_sync()
    assert table.to_dict("list") == {"i": [0, 1, 2], "label": ["label-0", "label-1", "label-2"], "bonus": [10, 20, 30]}
    keys = storage.get_underlying_filesystem(path=url).find(f"{s3_bucket}/cluster")
    assert any(k.endswith("labels.txt") for k in keys) and sum(k.endswith("data.parquet") for k in keys) >= 3
