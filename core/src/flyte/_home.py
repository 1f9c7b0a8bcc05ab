"""Where local state lives: one root, ``~/.flyte`` by default, ``FLYTE_HOME`` to move it."""

from __future__ import annotations

import os
from pathlib import Path


def state_root() -> Path:
    """The state root (created on first use, private to the user)."""
    root = Path(os.environ.get("FLYTE_HOME") or Path.home() / ".flyte").expanduser()
    if not root.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
    return root


def state_path(*parts: str) -> Path:
    """A folder under the state root, created if missing (mode 0700)."""
    path = state_root().joinpath(*parts)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path
