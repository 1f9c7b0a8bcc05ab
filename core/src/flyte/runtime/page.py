"""The run's page on disk (``<state root>/pages/<name>.html``): written a moment after
the run starts, rewritten while it goes (:mod:`flyte.runtime.pulse`) and when it ends, from the same
templates as ``flyte ui``. While the run goes the page reloads itself; it shows the action
tree with a timeline, a page of actions (failed first) and the failed ones in full, with
their tracebacks and logs.

The pages share one folder, so a run needs no folder of its own for its page: ``runs/<name>/``
(its logs, reports, manifests) is made only when one of those is written. A new folder was the
largest system cost of a trivial run (its ``mkdir`` allocates the folder's block at once, where
a file's is allocated at writeback): ~80 us of CPU of ~700. Pages written by older versions
stay at ``runs/<name>/index.html`` (:func:`flyte._home.run_page` finds either).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from typing import Any

from flyte._home import PAGES, state_dir
from flyte.runtime.written import WrittenRun

# Imported with this module (at a run's start), not when a page is first written: by then the
# run's tasks may have used up what an import needs (file descriptors).
from flyte.ui import queries, templates, views

# The failed actions shown in full (traceback, log) below the table.
DETAILS = 20
_serial = itertools.count()  # the temporary files of pages written at once have names of their own


# The largest run whose final page is made from the rows its last commit wrote (as large as
# the page's one read of a small run's actions).
SMALL_RUN = queries.ACTIONS_PAGE


def write_run_page(name: str, store: Any = None, written: WrittenRun | None = None) -> str:
    """The page of run ``name`` as the store has it (``store``: the run's writer, which reads
    it on its own connection; None: a reader; ``written``: the ended run's rows as the commit
    that wrote them all left them, :meth:`~flyte.runtime.store.RunStore.flush`'s: no read)."""
    links = templates.StaticLinks()
    main, live = views.run_view(name, {}, links, details=DETAILS, store=store, written=written)
    return _write(name, templates.document_parts(f"run {name}", main, live, links))


def write_first_page(name: str, task: str) -> str:
    """The page of a run that has just started (nothing recorded yet: no store read)."""
    links = templates.StaticLinks()
    run = {"name": name, "task": task, "status": "RUNNING", "created_at": time.time(), "ended_at": None}
    page = {"offset": 0, "limit": 0, "matching": 0, "description": "", "link": None}
    main = templates.run_view(run, {}, [], False, [], page, {}, links)
    return _write(name, templates.document_parts(f"run {name}", main, True, links))


def _write(name: str, page: tuple[str, ...]) -> str:
    folder = state_dir(PAGES)
    # Written whole under a name of its own, then renamed over the page, so a reader never
    # sees half a page. Created 0600 (the rename keeps the mode: no chmod after), and
    # O_EXCL|O_NOFOLLOW: a name someone else holds is never written through.
    tmp = os.path.join(folder, f".page-{os.getpid()}-{threading.get_ident()}-{next(_serial)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:  # os.write, not a file object: no buffer, no encoder, no stat or seek of the file
            # Encoded part by part: an ASCII part (the head and its style) is copied as it is,
            # where one text with a "·" in it is encoded character by character.
            data = memoryview(b"".join([part.encode() for part in page]))
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        target = os.path.join(folder, f"{name}.html")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
