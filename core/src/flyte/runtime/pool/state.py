"""What ``flyte pools`` shows: each live pool's state in a file under ``<state root>/pools/``.

Pools live inside the process that runs them, so another process (the CLI) learns about them
from files: ``<owner pid>-<environment>-<n>.json`` (private, 0600: a pool's workers and timers
are its owner's business), rewritten by one background thread at most every :data:`INTERVAL`
seconds when something changed (never on a task's own path), removed as the pool stops (its
``close``, which the process's exit also calls). A file whose owner process is gone (killed) is
stale and is removed by the reader.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from flyte._home import state_path
from flyte.runtime import store as st

INTERVAL = 0.25

_watched: dict[Any, Path] = {}
_lock = threading.Lock()
_thread: threading.Thread | None = None
_numbers = itertools.count(1)  # two pools of one environment (scope="run": one per run) have a file each


def watch(pool: Any) -> None:
    """Publish ``pool``'s state until it closes (:func:`forget`)."""
    global _thread
    path = state_path("pools") / f"{os.getpid()}-{pool.name}-{next(_numbers)}.json"
    with _lock:
        _watched[pool] = path
        if _thread is None:
            _thread = threading.Thread(target=_publish, name="flyte-pool-state", daemon=True)
            _thread.start()


def forget(pool: Any) -> None:
    """``pool`` stopped: its file goes now (not at the publisher's next round, which a process
    that exits right after never has)."""
    with _lock:  # (a write in progress finishes first; none starts after)
        path = _watched.pop(pool, None)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()


def _publish() -> None:
    while True:
        time.sleep(INTERVAL)
        with _lock:
            items = list(_watched.items())
        for pool, path in items:
            if pool.closed:
                forget(pool)
            elif pool.changed:
                pool.changed = False
                # Taken outside _lock: the pool's close holds its own lock while it calls forget.
                data = json.dumps({**pool.snapshot(), "owner_start": st.process_start(os.getpid())})
                with _lock:
                    if _watched.get(pool) is path:  # not forgotten meanwhile: no file left behind
                        _write(path, data)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(f".part-{threading.get_ident()}")
    with contextlib.suppress(OSError):  # the state root was removed (a test's): nothing to show
        # Created 0600 by the call that opens it (no moment readable by others), never through a symlink.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)


def live() -> list[dict[str, Any]]:
    """The state of every pool whose owner process is still running (stale files removed)."""
    found = []
    for path in sorted(state_path("pools").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now
        if st.process_start(int(data.get("owner", 0))) != data.get("owner_start"):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        found.append(data)
    return found
