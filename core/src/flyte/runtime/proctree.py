"""The processes a task body started, found through Linux ``/proc``, and how they are stopped.

Linux lists the children each *thread* started in ``/proc/self/task/<tid>/children``. A body
that runs on a thread of its own (see :mod:`flyte.runtime.bodies`) therefore owns the children
that appeared on that thread while it ran, and the trees below them (found through every
thread of each descendant). Stopping a tree sends SIGTERM to each process and to each process
group its members lead (a child that started its own session keeps its group even when its
children leave it), then SIGKILL to whatever is still the same process :data:`KILL_GRACE`
seconds later. Without ``/proc`` (macOS, Windows) nothing is found, and nothing is stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable

PROC = "/proc"
# How long a process has to exit after SIGTERM before it gets SIGKILL.
KILL_GRACE = 2.0

_pending: list[tuple[float, dict[int, str], set[int]]] = []  # (SIGKILL at, processes, groups)
_pending_lock = threading.Lock()


def supported() -> bool:
    """Whether this system lists a thread's children (Linux ``/proc``)."""
    return os.path.isdir(f"{PROC}/self/task")


def thread_children(native_id: int) -> frozenset[int]:
    """The processes a thread of this process started that have not been reaped yet."""
    return frozenset(_read_pids(f"{PROC}/self/task/{native_id}/children"))


def terminate(roots: Iterable[int], grace: float = KILL_GRACE) -> None:
    """Stop the processes ``roots`` and everything below them: SIGTERM now, SIGKILL after
    ``grace`` seconds to those still running (from a helper thread, or at interpreter exit)."""
    processes = _tree(roots)
    if not processes:
        return
    own_group = os.getpgrp()
    groups = {group for pid in processes if (group := _group(pid)) is not None and group != own_group}
    _signal(processes, groups, signal.SIGTERM)
    entry = (time.monotonic() + grace, processes, groups)
    with _pending_lock:
        _pending.append(entry)
    threading.Thread(target=_escalate, args=(entry,), name="flyte-kill", daemon=True).start()


def _escalate(entry: tuple[float, dict[int, str], set[int]]) -> None:
    when, processes, groups = entry
    while (left := when - time.monotonic()) > 0:
        if not any(_start_time(pid) == start for pid, start in processes.items()):
            break  # everything exited on SIGTERM
        time.sleep(min(left, 0.05))
    with _pending_lock:
        if entry not in _pending:
            return  # the exit handler took it
        _pending.remove(entry)
    _signal(processes, groups, signal.SIGKILL)


@atexit.register
def _escalate_at_exit() -> None:
    """Daemon threads do not run at exit: finish every pending escalation now."""
    with _pending_lock:
        entries = list(_pending)
        _pending.clear()
    for when, processes, groups in entries:
        while time.monotonic() < when and any(_start_time(pid) == start for pid, start in processes.items()):
            time.sleep(0.05)
        _signal(processes, groups, signal.SIGKILL)


def _signal(processes: dict[int, str], groups: set[int], sig: signal.Signals) -> None:
    for pid, start in processes.items():
        if _start_time(pid) == start:  # the same process, not a later one given its pid
            with contextlib.suppress(OSError):  # it exited meanwhile
                os.kill(pid, sig)
    for group in groups:
        with contextlib.suppress(OSError):  # the group is empty by now
            os.killpg(group, sig)


def _tree(roots: Iterable[int]) -> dict[int, str]:
    """``roots`` and their descendants, each with its start time (to recognise it later)."""
    found: dict[int, str] = {}
    todo = [pid for pid in roots if pid != os.getpid()]
    while todo:
        pid = todo.pop()
        start = _start_time(pid)
        if pid in found or start is None:
            continue
        found[pid] = start
        try:
            threads = os.listdir(f"{PROC}/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            todo.extend(_read_pids(f"{PROC}/{pid}/task/{tid}/children"))
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces)."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    return text.rpartition(b")")[2].decode().split()


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    if fields is None or fields[0] == "Z":  # a zombie has exited already
        return None
    return fields[19]  # field 22 of stat: start time, in clock ticks after boot


def _group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else None


def _read_pids(path: str) -> list[int]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return []
    try:
        return [int(p) for p in os.read(fd, 1 << 16).split()]
    finally:
        os.close(fd)
