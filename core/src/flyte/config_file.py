"""Where ``flyte.init_from_config()`` finds its config file when it is given none.

The order is the reference SDK's, so a config that selects a cluster there selects it here
(and one a Flyte 1 user's ``$FLYTECTL_CONFIG`` names is not silently skipped):

1. ``$FLYTE_CONFIG`` (ours: names the file outright, ahead of every other place);
2. ``./config.yaml``, then ``./.flyte/config.yaml``;
3. ``.flyte/config.yaml`` at the root of the git repository holding the current folder;
4. ``$UCTL_CONFIG``, then ``$FLYTECTL_CONFIG``;
5. ``~/.union/config.yaml``, then ``<state root>/config.yaml`` (``~/.flyte/config.yaml``
   unless ``$FLYTE_HOME`` moves the state root).
"""

from __future__ import annotations

import os
from pathlib import Path

from flyte._validation import wrong_type
from flyte.errors import InitializationError

CWD_CANDIDATES = ("config.yaml", ".flyte/config.yaml")
# Variables that name a config file, most specific first; the first one set is used.
ENV_VARS_FIRST = ("FLYTE_CONFIG",)
ENV_VARS_AFTER_GIT = ("UCTL_CONFIG", "FLYTECTL_CONFIG")


# The sections whose settings are read (each a mapping): a file where one is something else
# is another tool's config.yaml (e.g. ``image: python:3.11``), not a flyte config.
SECTIONS = ("task", "local", "image", "admin", "kubernetes", "storage")


def section_not_a_mapping(data: dict[str, object]) -> str | None:
    """The first of :data:`SECTIONS` that ``data`` (a config file's mapping) holds as something
    other than a mapping (or nothing), or None when they all are."""
    for section in SECTIONS:
        if data.get(section) is not None and not isinstance(data[section], dict):
            return section
    return None


def explicit_config(path: str | os.PathLike[str], source: str = "flyte.init_from_config: path_or_config") -> Path:
    """``path`` as a config file that must exist; ``source`` names where it came from."""
    if not isinstance(path, (str, os.PathLike)):
        wrong_type(source, path, "the path of a YAML config file (str or Path)")
    found = Path(path).expanduser()
    if found.is_dir():
        raise InitializationError(
            f"{source}: {str(found)!r} is a directory; a config is a file (accepted: the path of a YAML config file)"
        )
    if not found.is_file():
        raise InitializationError(f"{source}: {str(found)!r} does not exist (accepted: the path of a YAML config file)")
    return found


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file: ``path`` when given, else the first of the places in this module's
    docstring; None when there is none. A variable naming a missing file is an error that
    names the variable, not a silent fall-through to another file."""
    if path is not None:
        return explicit_config(path)
    for var in ENV_VARS_FIRST:
        if os.environ.get(var):
            return explicit_config(os.environ[var], f"${var}")
    for candidate in CWD_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    from flyte.git import config_from_root

    in_repository = config_from_root()
    if in_repository is not None:
        return in_repository
    for var in ENV_VARS_AFTER_GIT:
        if os.environ.get(var):
            return explicit_config(os.environ[var], f"${var}")
    from flyte._home import state_root

    for candidate in (Path.home() / ".union" / "config.yaml", state_root() / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None
