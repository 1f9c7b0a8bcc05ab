"""One torch elastic agent (one "node"): ``python -m flyteplugins.pytorch._agent FOLDER NODE``.

The parent writes ``plan.json`` in FOLDER and starts one agent per node. Each agent joins the
c10d rendezvous and starts ``nproc_per_node`` workers running :func:`_worker.main`, restarting
the group up to ``max_restarts`` times. ``elastic_launch`` installs signal handlers, so it runs
on this process's main thread; a SIGTERM makes it stop its workers before exiting.

When the workers fail, the agent writes ``agent-NODE.json``: each failed rank's exit code and
torch's message, for failures that left no Python exception behind (signals, crashes).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from flyte.extend import shipping


def main(folder: str, node: int) -> int:
    from flyte.extend import process_groups

    process_groups.die_with_parent()  # SIGKILL also reaches us if the flyte process dies; workers follow
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from flyteplugins.pytorch import _worker

    plan = json.loads((Path(folder) / "plan.json").read_text())
    rdzv_configs = dict(plan["rdzv_configs"])
    if node >= 0:  # a simulated node on this machine: node 0 hosts the rendezvous store
        rdzv_configs["is_host"] = node == 0
    config = LaunchConfig(
        min_nodes=plan["min_nodes"],
        max_nodes=plan["max_nodes"],
        nproc_per_node=plan["nproc_per_node"],
        run_id=plan["run_id"],
        role="flyte",
        rdzv_endpoint=plan["rdzv_endpoint"],
        rdzv_backend=plan["rdzv_backend"],
        rdzv_configs=rdzv_configs,
        max_restarts=plan["max_restarts"],
        monitor_interval=plan["monitor_interval"],
        start_method="spawn",
        local_addr=plan.get("local_addr"),
    )
    stop = threading.Event()
    threading.Thread(target=_watch_exits, args=(Path(folder), stop), daemon=True, name="flyte-exit-watch").start()
    try:
        elastic_launch(config, entrypoint=_worker.main)(folder)
    except ChildFailedError as exc:
        failures = [
            {"rank": rank, "exitcode": failure.exitcode, "message": failure.message}
            for rank, failure in sorted(exc.failures.items())
        ]
        _report(folder, node, failures)
        return 1
    except Exception as exc:  # rendezvous timeout, a closed store, ...
        _report(folder, node, [{"rank": None, "exitcode": None, "message": f"{type(exc).__name__}: {exc}"}])
        return 1
    finally:
        stop.set()
    return 0


def _watch_exits(folder: Path, stop: threading.Event) -> None:
    """Record how each of our workers exits (``exit-rank*-restart*.json``): peek at it with
    ``waitid(WNOWAIT)`` before multiprocessing reaps it, so torch still sees it too."""
    done: set[int] = set()
    me = os.getpid()
    while not stop.wait(0.05):
        for path in folder.glob("started-rank*-restart*.json"):
            try:
                started = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            pid = started["pid"]
            if started["agent"] != me or pid in done:
                continue
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # already reaped
                done.add(pid)
                continue
            if info is None:
                continue
            done.add(pid)
            killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
            exitcode = -info.si_status if killed else info.si_status
            record = {"rank": started["rank"], "restart": started["restart"], "exitcode": exitcode, "time": time.time()}
            target = folder / f"exit-rank{started['rank']}-restart{started['restart']}.json"
            shipping.write_atomic(target, json.dumps(record).encode())


def _report(folder: str, node: int, failures: list[dict]) -> None:
    shipping.write_atomic(Path(folder) / f"agent-{max(node, 0)}.json", json.dumps(failures).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
