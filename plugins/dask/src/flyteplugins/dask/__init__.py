"""flyteplugins-dask: ``plugin_config=Dask(...)`` runs a task with a Dask cluster.

Importing this package does not import Dask; the runner and renderer do, when they run.
"""

from flyteplugins.dask.task import Dask, Scheduler, WorkerGroup

__all__ = ["Dask", "Scheduler", "WorkerGroup"]
