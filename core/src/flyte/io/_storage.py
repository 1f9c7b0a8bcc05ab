"""Where offloaded files and folders live: ``flyte.init(storage=...)`` (any fsspec URL or a
local path), by default ``<state root>/storage``."""

from __future__ import annotations

import uuid
from typing import Any

from flyte._home import state_path


def storage_root() -> str:
    from flyte.runtime import settings

    configured = settings.current().storage
    return configured.rstrip("/") if configured else str(state_path("storage"))


def filesystem(path: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``path`` and the path as that filesystem names it."""
    import fsspec.core

    fs, _, (resolved,) = fsspec.core.get_fs_token_paths(path)
    return fs, resolved


def new_path(name: str | None = None) -> str:
    """A fresh, unique location under the storage root."""
    leaf = name or uuid.uuid4().hex
    return f"{storage_root()}/{uuid.uuid4().hex[:16]}/{leaf}"
