"""Where a run's data goes: ``<storage>/<run name>/data/<action>/<unique>/<name>``.

The storage root is ``flyte.init(storage=...)`` (a local path or any object-store URL), by
default ``<state root>/storage``. Every value gets a fresh unique folder, so two runs (or two
attempts) never write to the same key, and nothing deletes it when the run ends: a cached
output's data stays readable for as long as the cache entry that points at it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

from flyte.storage._filesystem import is_remote


def storage_root() -> str:
    """The configured storage root, without a trailing slash."""
    from flyte._home import state_path
    from flyte.runtime import settings

    configured = settings.current().storage
    return configured.rstrip("/") if configured else str(state_path("storage"))


def run_prefix(run_name: str) -> str:
    """Where run ``run_name`` writes its data."""
    return f"{storage_root()}/{run_name}"


_writing_under: ContextVar[str | None] = ContextVar("flyte_writing_under", default=None)


@contextlib.contextmanager
def writing_under(prefix: str) -> Iterator[None]:
    """Values stored inside the block go under ``prefix`` (an action's outputs, a run's inputs)."""
    token = _writing_under.set(prefix)
    try:
        yield
    finally:
        _writing_under.reset(token)


def new_path(name: str | None = None) -> str:
    """A fresh, unique location for one value: under the running action's folder inside a task,
    under ``<storage>/uploads/`` outside one (a script uploading an input before ``flyte.run``)."""
    from flyte._context import current_caller

    unique = uuid.uuid4().hex[:20]
    prefix = _writing_under.get()
    action = current_caller()
    controller = getattr(action, "controller", None)
    if prefix is not None:
        base = f"{prefix}/{unique}"
    elif controller is not None:
        base = f"{run_prefix(controller.run_name)}/data/{action.id}/{unique}"
    else:
        base = f"{storage_root()}/uploads/{unique}"
    return f"{base}/{name}" if name else base


def join(*paths: str) -> str:
    """Join path parts; URLs keep their scheme and use ``/`` (``join("s3://b", "x")``)."""
    if not paths:
        raise TypeError("join: expected at least one path")
    first = os.fspath(paths[0])
    if is_remote(first):
        parts = [first.rstrip("/")] + [os.fspath(p).strip("/") for p in paths[1:] if os.fspath(p).strip("/")]
        return "/".join(parts)
    return os.path.join(first, *(os.fspath(p) for p in paths[1:]))


def get_random_local_path(file_path_or_file_name: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """A new path in a fresh temporary folder, keeping the leaf name of ``file_path_or_file_name``."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="flyte-tmp-"))
    tail = os.path.basename(os.fspath(file_path_or_file_name).rstrip("/")) if file_path_or_file_name else ""
    return folder / (tail or uuid.uuid4().hex)


def get_random_local_directory() -> pathlib.Path:
    """A new, empty temporary folder."""
    path = get_random_local_path()
    path.mkdir(parents=True, exist_ok=True)
    return path
