"""Where mounted secrets live during a local run: private folders that never outlive their process.

On a cluster a mounted secret is the file ``/etc/flyte/secrets/<key>`` of the task's own
container. Locally many tasks, and many processes, share one machine, so each process keeps its
secret files in a folder of its own, and each task attempt gets a sub-folder of it:

    <base>/flyte-secrets-<uid>-<pid namespace>-<pid>-<process start>-<random>/task-<random>/<key>

``<base>`` is a memory file system where there is one (``$XDG_RUNTIME_DIR``, else ``/dev/shm``;
the system's temporary folder otherwise), so values are not written to disk. Folders are 0700
and files 0600. The task is told its folder in ``FLYTE_SECRETS_MOUNT``, and reads of the
guide's ``/etc/flyte/secrets/<key>`` inside it are redirected there (:mod:`.mount_redirect`).

Nothing is left behind: an attempt's folder is removed when the attempt ends; a run that is
interrupted (Ctrl-C) removes its attempts' folders at once; the process folder is removed at
exit and on SIGTERM/SIGHUP (when the application has not set its own handler for them); and a
process that dies without a chance to clean up (SIGKILL, a crash) is recognised by the next
flyte process, since its folder names a pid and start time that no longer match a live
process, and swept at once (:func:`sweep`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from flyte.runtime.store import process_start

PREFIX = "flyte-secrets"

_lock = threading.Lock()
_folder: Path | None = None
_folder_pid: int | None = None  # the process that made _folder (a forked child makes its own)
_handled: set[int] = set()


def base_dir() -> Path:
    """The folder the per-process folders are made in: a memory file system if there is one."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and _private_dir_of_ours(Path(runtime)):
        return Path(runtime)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def _private_dir_of_ours(path: Path) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700


def _pid_namespace() -> str:
    """Pids only identify a process within its pid namespace (containers sharing /dev/shm)."""
    return _namespace_of(os.getpid())  # read once per process (again after a fork)


@functools.lru_cache(maxsize=1)
def _namespace_of(pid: int) -> str:
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return "0"


def _own_prefix() -> str:
    return f"{PREFIX}-{os.getuid()}-{_pid_namespace()}-"


def process_folder() -> Path:
    """This process's folder (created on first use, after sweeping dead processes' folders)."""
    global _folder, _folder_pid
    with _lock:
        if _folder is not None and _folder_pid == os.getpid() and _folder.is_dir():
            return _folder
        sweep()
        pid = os.getpid()
        start = process_start(pid) or "0"
        base = base_dir()
        while True:
            # os.urandom, not the `secrets` module: the guide's example saved as secrets.py,
            # run as `python secrets.py`, would be imported in its place.
            folder = base / f"{_own_prefix()}{pid}-{start}-{os.urandom(4).hex()}"
            try:
                folder.mkdir(mode=0o700)
                break
            except FileExistsError:  # a name someone else took: draw again
                continue
        os.chmod(folder, 0o700)
        _folder, _folder_pid = folder, pid
        atexit.register(_remove_process_folder, folder, pid)
        return folder


def task_folder(values: Mapping[str, bytes]) -> Path:
    """A new folder holding one file per secret (``key -> value``), private to this process."""
    folder = Path(tempfile.mkdtemp(prefix="task-", dir=process_folder()))
    try:
        for key, value in values.items():
            fd = os.open(folder / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(value)
    except BaseException:
        remove(folder)
        raise
    return folder


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def sweep(base: Path | None = None) -> list[Path]:
    """Remove the secret folders of this user's processes that are gone; returns what went."""
    base = base or base_dir()
    prefix = _own_prefix()
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            pid_text, start, _ = entry.name[len(prefix) :].split("-", 2)
            info = entry.stat(follow_symlinks=False)
        except (ValueError, OSError):
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or not pid_text.isdigit():
            continue
        if _alive(int(pid_text), start):
            continue
        remove(Path(entry.path))
        removed.append(Path(entry.path))
    return removed


def _alive(pid: int, start: str) -> bool:
    now = process_start(pid)
    if now is None:
        return False
    return start == "0" or now == "?" or now == start


# prepare() sweeps at most once per this many seconds: a sweep reads the start time of every
# live flyte process that has a folder, which a loop of short runs would pay for on every run.
SWEEP_EVERY = 1.0
_last_sweep: list[float] = [float("-inf")]


def prepare() -> None:
    """Sweep dead processes' folders (at most once per :data:`SWEEP_EVERY` seconds), and,
    from the main thread, have SIGTERM and SIGHUP remove this process's folder before the
    process ends as it would have without flyte. Handlers an application set itself are left
    alone."""
    now = time.monotonic()
    if now - _last_sweep[0] >= SWEEP_EVERY:
        _last_sweep[0] = now
        sweep()
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signum in _handled:
            continue
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _on_signal)
                _handled.add(signum)


def _on_signal(signum: int, frame: object) -> None:
    if _folder is not None:
        _remove_process_folder(_folder, _folder_pid)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # end as the default action would have


def _remove_process_folder(folder: Path, pid: int | None) -> None:
    if pid == os.getpid():  # never a parent's folder from a forked child
        remove(folder)
