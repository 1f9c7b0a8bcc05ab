"""flyteplugins-pytorch: ``plugin_config=Elastic(...)`` runs a task on torch.distributed.

Locally the task function runs in ``nnodes × nproc_per_node`` worker processes started by
torch's elastic agent; on Kubernetes it renders a Kubeflow ``PyTorchJob``. Importing this
package does not import torch.
"""

from flyteplugins.pytorch.errors import WorkerFailedError
from flyteplugins.pytorch.task import Elastic, RunPolicy

__all__ = ["Elastic", "RunPolicy", "WorkerFailedError"]
