"""flyte-isolated: ``plugin_config=Isolated()`` runs each attempt of a task in a fresh Python process.

Importing this package imports only the config; the runner (cloudpickle, subprocesses) loads
when a task runs.
"""

from flyte_isolated.config import Isolated
from flyte_isolated.errors import IsolatedProcessError

__all__ = ["Isolated", "IsolatedProcessError"]
