"""What ``flyte pools`` shows: each live pool's state in a file under ``<state root>/pools/``.

Pools live inside the process that runs them, so another process (the CLI) learns about them
from files: ``<owner pid>-<environment>.json``, rewritten by one background thread at most
every :data:`INTERVAL` seconds when something changed (never on a task's own path), removed
when the pool stops. A file whose owner process is gone is stale and is removed by the reader.
"""

from __future__ import annotations

import contextlib
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


def watch(pool: Any) -> None:
    """Publish ``pool``'s state until it closes."""
    global _thread
    path = state_path("pools") / f"{os.getpid()}-{pool.name}.json"
    with _lock:
        _watched[pool] = path
        if _thread is None:
            _thread = threading.Thread(target=_publish, name="flyte-pool-state", daemon=True)
            _thread.start()


def _publish() -> None:
    while True:
        time.sleep(INTERVAL)
        with _lock:
            items = list(_watched.items())
        for pool, path in items:
            if pool.closed:
                with _lock:
                    _watched.pop(pool, None)
                with contextlib.suppress(OSError):
                    path.unlink()
            elif pool.changed:
                pool.changed = False
                _write(path, {**pool.snapshot(), "owner_start": st.process_start(os.getpid())})


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".part-{threading.get_ident()}")
    with contextlib.suppress(OSError):  # the state root was removed (a test's): nothing to show
        tmp.write_text(json.dumps(data))
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
