"""``flyte.clustered``: one task run by a gang of worker processes across several nodes.

``ClusteredTaskEnvironment(name=..., replicas=2, nproc_per_node=4)`` defines the gang;
``TorchRun``/``JaxRun`` choose how workers start, ``ClusterFailurePolicy`` how the gang
restarts. Locally the nodes are process groups on this machine; on Kubernetes, a JobSet.
"""

from flyte.clustered._jax import jax_initialize
from flyte.clustered.config import ClusteredSettings, ClusterFailurePolicy, JaxRun, Runtime, TorchRun
from flyte.clustered.environment import ClusteredTaskEnvironment

__all__ = [
    "ClusterFailurePolicy",
    "ClusteredSettings",
    "ClusteredTaskEnvironment",
    "JaxRun",
    "Runtime",
    "TorchRun",
    "jax_initialize",
]
