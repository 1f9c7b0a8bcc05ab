"""Process groups a plugin starts to run a task's body, and how they are stopped.

For runners that start processes of their own (``flyteplugins-pytorch``'s elastic agents,
``flyte.clustered``'s nodes): start each with ``start_new_session=True`` so one signal to its
group reaches everything it started, :func:`stop` them all when the attempt ends, and have
every process call :func:`die_with_parent` first, so a SIGKILLed flyte process (which cannot
stop anything) leaves none behind either. Several of them standing in for the nodes of a
cluster talk over loopback: :func:`free_port` for their rendezvous, :func:`loopback_interface`
for gloo (``GLOO_SOCKET_IFNAME``). Reached as ``flyte.extend.process_groups``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence

LOOPBACK = "127.0.0.1"
# Seconds a process group has between SIGTERM and SIGKILL.
TERMINATE_GRACE = 5.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is gone (or not ours) is skipped."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop(procs: Sequence[asyncio.subprocess.Process], grace: float = TERMINATE_GRACE) -> None:
    """Stop the group each of ``procs`` leads: SIGTERM, then SIGKILL after ``grace`` seconds,
    then reap them. Groups whose leader already exited get the signals too, for whatever it
    left behind. Cancelled while it waits, it still sends the SIGKILLs."""
    try:
        for proc in procs:
            signal_group(proc.pid, signal.SIGTERM)
        running = [asyncio.ensure_future(p.wait()) for p in procs if p.returncode is None]
        if running:
            await asyncio.wait(running, timeout=grace)
    finally:
        for proc in procs:
            signal_group(proc.pid, signal.SIGKILL)
    for proc in procs:
        if proc.returncode is None:
            await proc.wait()


def die_with_parent() -> None:
    """Have Linux SIGKILL this process when the process that started it dies, and leave at
    once if that already happened. A no-op where ``prctl`` does not exist (there the starter's
    :func:`stop` is all there is)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    if os.getppid() == 1:  # the parent died before prctl took effect: we were re-parented
        os._exit(1)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a rendezvous between processes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def loopback_interface() -> str | None:
    """The name of this machine's loopback interface (``lo``), None when none is listed."""
    with contextlib.suppress(OSError):
        for _, name in socket.if_nameindex():
            if name.startswith("lo"):
                return name
    return None
