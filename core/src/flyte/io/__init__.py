"""Files and folders in object storage (``flyte.io.File``, ``flyte.io.Dir``).

Tasks pass them by reference: only the path travels with a task's inputs and outputs. The
storage is ``flyte.init(storage=...)`` (a local path or any fsspec URL), by default
``<state root>/storage``.
"""

from flyte import _codec
from flyte.io._dir import Dir
from flyte.io._file import File

_codec.register(File, "file", lambda f: [f.path, f.name], lambda v: File(path=v[0], name=v[1]))
_codec.register(Dir, "dir", lambda d: [d.path, d.name], lambda v: Dir(path=v[0], name=v[1]))

__all__ = ["Dir", "File"]
