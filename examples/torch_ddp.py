"""Distributed data-parallel training with torch elastic: two nodes of two workers.

Runs locally on CPUs (gloo), four real worker processes rendezvousing over loopback
(flyteplugins-pytorch):

    flyte run examples/torch_ddp.py train --epochs 5

and renders as a Kubeflow PyTorchJob:

    flyte render examples/torch_ddp.py train
"""

from __future__ import annotations

import flyte
from flyteplugins.pytorch.task import Elastic, RunPolicy

torch_env = flyte.TaskEnvironment(
    name="torch_ddp",
    plugin_config=Elastic(
        nnodes=2,
        nproc_per_node=2,
        max_restarts=1,
        run_policy=RunPolicy(clean_pod_policy="running", ttl_seconds_after_finished=600),
    ),
    image=flyte.Image.from_debian_base(name="torch-ddp").with_pip_packages("torch==2.13.0"),
    resources=flyte.Resources(cpu=2, memory="4Gi"),
)


@torch_env.task
def train(epochs: int = 5, lr: float = 0.1) -> list[float]:
    """Fit y = 3x - 1 with DDP; every rank trains on its own shard. Returns rank 0's losses."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")  # RANK, WORLD_SIZE, MASTER_ADDR, ... come from the agent
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same initial weights on every rank
    model = DistributedDataParallel(torch.nn.Linear(1, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    x = torch.linspace(-1, 1, 256).unsqueeze(1)[rank::world]  # this rank's shard
    y = 3 * x - 1
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()  # gradients are averaged across all ranks here
        optimizer.step()
        losses.append(round(loss.item(), 6))
    dist.destroy_process_group()
    return losses


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(train, epochs=5)
    print(run.outputs()[0])
