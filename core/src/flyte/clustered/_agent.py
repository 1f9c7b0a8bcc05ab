"""One simulated node under TorchRun: ``python -m flyte.clustered._agent ROUND NODE <torchrun args>``.

torch's own launcher (``torch.distributed.run``, the elastic agent) with two additions: it dies
with the process that started it (so a SIGKILLed flyte process leaves no agent, and through the
workers' own parent-death signal no worker, behind), and when its workers fail it writes
``ROUND/agent-NODE.json``: each failed rank's exit code and torch's message, for failures that
left no Python exception (a signal, a crash in native code).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flyte.process_groups import die_with_parent


def main(round_dir: str, node: int, args: list[str]) -> int:
    die_with_parent()
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    from flyte.shipping import write_atomic

    try:
        torchrun(args)
    except ChildFailedError as exc:
        failures = [
            {"node": node, "rank": rank, "exitcode": failure.exitcode, "message": failure.message}
            for rank, failure in sorted(exc.failures.items())
        ]
        write_atomic(Path(round_dir) / f"agent-{node}.json", json.dumps(failures).encode())
        return 1
    except SignalException as exc:  # stopped by flyte (the set failed or the attempt ended):
        return 128 + int(exc.sigval)  # torch has stopped the workers; no traceback to show
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
