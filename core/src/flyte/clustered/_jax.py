"""``jax_initialize``: join ``jax.distributed`` from a ``JaxRun`` clustered worker."""

from __future__ import annotations

import os
from typing import Any


def jax_initialize(**overrides: Any) -> None:
    """Call ``jax.distributed.initialize`` with this worker's place in the clustered task.

    The coordinator is ``MASTER_ADDR:MASTER_PORT`` (node 0), the process count ``WORLD_SIZE``
    and the process id ``RANK``, as the clustered launcher exported them; JAX's own cluster
    detection is turned off (its Kubernetes detector would query the API from every pod).
    Keyword arguments go to ``jax.distributed.initialize`` and win over these, e.g.
    ``local_device_ids=[0]``. A second call does nothing.

    Raises ``RuntimeError`` outside a clustered worker (no topology in the environment).
    """
    names = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise RuntimeError(
            f"jax_initialize(): {', '.join(missing)} not set; call it in a task of a "
            "ClusteredTaskEnvironment(runtime=JaxRun())"
        )
    import jax

    is_initialized = getattr(jax.distributed, "is_initialized", None)
    if is_initialized is not None and is_initialized():
        return
    params: dict[str, Any] = {
        "coordinator_address": f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
        "num_processes": int(os.environ["WORLD_SIZE"]),
        "process_id": int(os.environ["RANK"]),
        "cluster_detection_method": "deactivate",
    }
    params.update(overrides)
    jax.distributed.initialize(**params)
