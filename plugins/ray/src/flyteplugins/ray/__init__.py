"""flyteplugins-ray: ``plugin_config=RayJobConfig(...)`` runs a task inside a Ray cluster.

Importing this package does not import Ray; the runner and renderer do, when they run.
"""

from flyteplugins.ray.task import HeadNodeConfig, RayJobConfig, WorkerNodeConfig

__all__ = ["HeadNodeConfig", "RayJobConfig", "WorkerNodeConfig"]
