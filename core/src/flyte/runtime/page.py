"""The run's page on disk (``<state root>/runs/<name>/index.html``): written a moment after
the run starts, rewritten while it goes (:mod:`flyte.runtime.pulse`) and when it ends, from the same
templates as ``flyte ui``. While the run goes the page reloads itself; it shows the action
tree with a timeline, a page of actions (failed first) and the failed ones in full, with
their tracebacks and logs."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import threading
import time
from typing import Any

from flyte._home import state_path

# Imported with this module (at a run's start), not when a page is first written: by then the
# run's tasks may have used up what an import needs (file descriptors).
from flyte.ui import templates, views

# The failed actions shown in full (traceback, log) below the table.
DETAILS = 20
_serial = itertools.count()  # the temporary files of pages written at once have names of their own
# Whether unnamed files (Linux's O_TMPFILE, named later through /proc/self/fd) are tried: not
# where the platform has none, nor after a file system or /proc refused one in this process.
_unnamed = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


class PageFile:
    """The run's folder, and a file for its next page, made ahead: while the run goes, by the
    thread that waits for it (otherwise idle), so a short run's end only writes its page and
    names it (one directory entry made, where a page under a name of its own renamed into
    place makes two). The file is unnamed (``O_TMPFILE``) until a page is written whole into
    it, so a process killed before leaves nothing behind; where unnamed files are not
    supported, only the folder is made ahead."""

    def __init__(self, name: str):
        self.folder = os.fspath(state_path("runs", name))
        self._fd: int | None = None
        if _unnamed:
            try:
                self._fd = os.open(self.folder, os.O_WRONLY | os.O_TMPFILE, 0o600)
            except OSError as exc:
                # EOPNOTSUPP: a file system without them; EISDIR, EINVAL: a kernel without them
                if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    raise
                _no_unnamed_files()

    def take(self) -> int | None:
        """The file's descriptor, once (the caller closes it); None after, or without one."""
        fd, self._fd = self._fd, None
        return fd

    def close(self) -> None:
        """Let go of the file if no page took it (it vanishes: it never had a name)."""
        fd = self.take()
        if fd is not None:
            os.close(fd)


def write_run_page(name: str, store: Any = None, ahead: PageFile | None = None) -> str:
    """The page of run ``name`` as the store has it (``store``: the run's writer, which reads
    it on its own connection; None: a reader); ``ahead``: its folder and file, made ahead."""
    links = templates.StaticLinks()
    main, live = views.run_view(name, {}, links, details=DETAILS, store=store)
    return _write(name, templates.document(f"run {name}", main, live, links), ahead)


def write_first_page(name: str, task: str, ahead: PageFile | None = None) -> str:
    """The page of a run that has just started (nothing recorded yet: no store read)."""
    links = templates.StaticLinks()
    run = {"name": name, "task": task, "status": "RUNNING", "created_at": time.time(), "ended_at": None}
    page = {"offset": 0, "limit": 0, "matching": 0, "description": "", "link": None}
    main = templates.run_view(run, {}, [], False, [], page, {}, links)
    return _write(name, templates.document(f"run {name}", main, True, links), ahead)


def _write(name: str, page: str, ahead: PageFile | None = None) -> str:
    data = memoryview(page.encode())
    if ahead is not None and (fd := ahead.take()) is not None:
        target = os.path.join(ahead.folder, "index.html")
        try:
            _write_all(fd, data)
            try:
                # Named only now, whole. src_dir_fd (ignored: the path is absolute) has Python
                # call linkat with AT_SYMLINK_FOLLOW, which links the file /proc's entry points
                # at; a plain link(), what os.link calls without one, links the entry: EXDEV.
                os.link(f"/proc/self/fd/{fd}", target, src_dir_fd=fd)
                return target
            except FileExistsError:
                pass  # link() never replaces a name: a page already there is replaced below
            except OSError:
                _no_unnamed_files()  # /proc refused the link (a sandbox): as below from now on
        finally:
            os.close(fd)
    folder = state_path("runs", name)
    # Written whole under a name of its own, then renamed over the page, so a reader never
    # sees half a page. Created 0600 (the rename keeps the mode: no chmod after), and
    # O_EXCL|O_NOFOLLOW: a name someone else holds is never written through.
    tmp = os.path.join(folder, f".page-{os.getpid()}-{threading.get_ident()}-{next(_serial)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        target = os.path.join(folder, "index.html")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _no_unnamed_files() -> None:
    global _unnamed  # asked once per process: another state root that has them pays the usual way
    _unnamed = False


def _write_all(fd: int, data: memoryview) -> None:
    # os.write, not a file object: no buffer, no encoder, no stat or seek of the file
    while data:
        data = data[os.write(fd, data) :]
