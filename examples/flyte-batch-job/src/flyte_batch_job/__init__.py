"""An example connector: tasks whose work is a job on a batch service reached over HTTP.

``BatchJobTask(name, plugin_config=BatchJobConfig(endpoint=...), inputs={...})`` is a task;
the service (``python -m flyte_batch_job.service``) is a stand-in for any remote system.
"""

from flyte_batch_job.config import BatchJobConfig, BatchJobTask

__all__ = ["BatchJobConfig", "BatchJobTask"]
