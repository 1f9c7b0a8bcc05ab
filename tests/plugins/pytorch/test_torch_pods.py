"""The rendered PyTorchJob's container command, run as the training operator would run it:
one process per Worker pod, with the operator's PET_* variables. The pods rendezvous, train,
and exactly one (the one holding rank 0) writes the task's outputs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flyte.render.context import RenderContext, RenderSettings
from flyte.render.render import render_task

pytestmark = pytest.mark.slow

CODE = """
import flyte
from flyteplugins.pytorch.task import Elastic

env = flyte.TaskEnvironment(name="pods", plugin_config=Elastic(nnodes=2, nproc_per_node=1, monitor_interval=1))


@env.task
def world(offset: int) -> list[int]:
    import os
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    t = torch.tensor([dist.get_rank() + offset])
    gathered = [torch.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, t)
    return [int(x) for x in gathered] + [int(os.environ["WORLD_SIZE"])]
"""


def test_two_worker_pods_run_the_container_command_and_one_writes_the_outputs(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "torch_pod_tasks.py").write_text(CODE)
    sys.path.insert(0, str(code))
    try:
        import torch_pod_tasks as pod_tasks
    finally:
        sys.path.remove(str(code))
    storage = tmp_path / "bucket"
    ctx = RenderContext(settings=RenderSettings(storage=str(storage)), inputs={"offset": 100})
    (job,) = render_task(pod_tasks.world, ctx)
    worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]
    container = worker["template"]["spec"]["containers"][0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    elastic = job["spec"]["elasticPolicy"]
    operator_env = {  # what the training operator sets in every Worker pod
        "PET_NNODES": f"{elastic['minReplicas']}:{elastic['maxReplicas']}",
        "PET_NPROC_PER_NODE": job["spec"]["nprocPerNode"],
        "PET_RDZV_BACKEND": elastic["rdzvBackend"],
        "PET_RDZV_ENDPOINT": f"127.0.0.1:{port}",
        "PET_RDZV_ID": elastic["rdzvId"],
        "PET_MAX_RESTARTS": str(elastic["maxRestarts"]),
    }
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(code), **operator_env}
    env.update({e["name"]: e["value"] for e in container["env"] if "value" in e})
    command = [sys.executable if c == "python" else c for c in container["command"]]
    pods = [
        subprocess.Popen(command, env=env, cwd=code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(worker["replicas"])
    ]
    results = [(p.wait(timeout=180), p.stderr.read()) for p in pods]
    assert [code for code, _ in results] == [0, 0], results
    outputs = Path(env["FLYTE_OUTPUTS_URI"])
    assert json.loads(outputs.read_text()) == [100, 101, 2]  # rank 0's view of both pods
    assert sum("does not hold the outputs" in err for _, err in results) == 1
