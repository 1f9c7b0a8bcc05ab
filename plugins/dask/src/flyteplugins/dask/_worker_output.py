"""A preload of the local Dask workers of a task with secrets: its secret values masked in
what the worker processes print.

A worker is a ``multiprocessing`` child of the nanny, not a subprocess the attempt's log
captures: it writes straight to the terminal (or CI log) flyte was started from, where
everything else a task prints shows its secrets as ``***``. The worker reads which of its
variables hold secrets from :data:`MASKED_VARS`, then sends its stdout and stderr file
descriptors (``print``, logging, C code, processes it starts) through a pipe whose whole lines
a thread writes on, masked.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

from flyte.extend import redact

MASKED_VARS = "FLYTE_DASK_MASKED_VARS"  # comma-separated names; FLYTE_SECRETS_MOUNT: a folder
LINE_MAX = 65536  # a longer line without a newline is written as it is (masked) meanwhile
EXIT_WAIT = 1.0  # seconds the exit waits for each stream's last lines


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, called in each worker process as it starts."""
    for name in filter(None, os.environ.get(MASKED_VARS, "").split(",")):
        value = os.environ.get(name)
        if not value:
            continue
        if name == "FLYTE_SECRETS_MOUNT":  # the mounted secrets' folder: each file is one
            with contextlib.suppress(OSError):
                for path in Path(value).iterdir():
                    with contextlib.suppress(OSError):
                        redact.remember(path.read_bytes())
        else:
            redact.remember(value)
    if redact.known():
        for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
            _mask(fd, stream)


def _mask(fd: int, stream: Any) -> None:
    with contextlib.suppress(Exception):
        stream.flush()
    out = os.dup(fd)
    read, write = os.pipe()
    os.dup2(write, fd)
    os.close(write)
    copier = threading.Thread(target=_copy, args=(read, out), name=f"flyte-masked-fd{fd}", daemon=True)
    copier.start()

    def restore() -> None:  # at exit: the pipe's last writer goes, the copier writes what is left
        with contextlib.suppress(Exception):
            stream.flush()
        os.dup2(out, fd)
        copier.join(EXIT_WAIT)

    atexit.register(restore)


def _copy(read: int, out: int) -> None:
    partial = b""
    with open(read, "rb", buffering=0) as pipe:
        for chunk in iter(lambda: pipe.read(65536), b""):
            partial += chunk
            cut = len(partial) if len(partial) > LINE_MAX else partial.rfind(b"\n") + 1
            if cut:
                _write(out, partial[:cut])
                partial = partial[cut:]
    if partial:
        _write(out, partial)


def _write(out: int, data: bytes) -> None:
    text = redact.redact(data.decode("utf-8", errors="replace")).encode("utf-8", errors="replace")
    with contextlib.suppress(OSError):  # a closed terminal must not stop the worker
        while text:
            text = text[os.write(out, text) :]
