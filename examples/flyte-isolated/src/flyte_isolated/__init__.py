"""flyte-isolated: ``plugin_config=Isolated()`` runs a task in a fresh Python process."""

from flyte_isolated.config import Isolated

__all__ = ["Isolated"]
