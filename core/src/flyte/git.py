"""``flyte.git``: the config file kept in the repository (``flyte.init_from_config(flyte.git.config_from_root())``)."""

from __future__ import annotations

import os
from pathlib import Path


def repository_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The root of the git repository (or worktree) holding ``start`` (default: the current
    directory): the nearest folder with a ``.git`` folder or file; None outside one."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def config_from_root(path: str | os.PathLike[str] = ".flyte/config.yaml") -> Path | None:
    """The config file at ``path`` under the root of the current git repository, for
    :func:`flyte.init_from_config`; None outside a repository or when the file is not there
    (``init_from_config(None)`` then looks where it always does)."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TypeError(f"config_from_root: path={path!r} is not valid (accepted: a path relative to the git root)")
    root = repository_root()
    if root is None:
        return None
    found = root / path
    return found if found.is_file() else None
