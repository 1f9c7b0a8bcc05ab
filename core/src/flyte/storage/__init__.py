"""``flyte.storage``: one API over local paths, ``file://`` URLs and object stores.

Built on fsspec (s3fs, gcsfs and adlfs for ``s3://``, ``gs://`` and ``abfs://``; install them
with ``pip install 'flyte-core[s3]'`` / ``[gcs]`` / ``[abfs]``). The names and meanings follow the
reference SDK: ``await flyte.storage.put(local, "s3://bucket/key")``, ``get``, ``exists``,
``open``, ``get_stream``/``put_stream``, ``join``, ``is_remote``, and the settings objects
:class:`S3`, :class:`GCS`, :class:`ABFS` for ``flyte.init(storage=...)``.
"""

from flyte.storage._config import ABFS, GCS, S3, Storage
from flyte.storage._filesystem import is_remote
from flyte.storage._operations import (
    exists,
    exists_sync,
    get,
    get_configured_fsspec_kwargs,
    get_stream,
    get_sync,
    get_underlying_filesystem,
    open,
    open_sync,
    put,
    put_stream,
    put_sync,
)
from flyte.storage._paths import get_random_local_directory, get_random_local_path, join

__all__ = [
    "ABFS",
    "GCS",
    "S3",
    "Storage",
    "exists",
    "exists_sync",
    "get",
    "get_configured_fsspec_kwargs",
    "get_random_local_directory",
    "get_random_local_path",
    "get_stream",
    "get_sync",
    "get_underlying_filesystem",
    "is_remote",
    "join",
    "open",
    "open_sync",
    "put",
    "put_stream",
    "put_sync",
]
