"""What every clustered worker process runs: ``python -m flyte.clustered._worker FOLDER ROUND``.

Started by torchrun (one per local rank) or by the direct launcher, with the torchrun
environment contract set. It reads the task call and the task's context the parent wrote in
FOLDER, runs the function, and reports into FOLDER/ROUND: rank 0 its result, a rank that
raises its exception (type, message, traceback) before exiting with status 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flyte.process_groups import die_with_parent


def main(folder: str, round_dir: str) -> int:
    die_with_parent()
    from flyte.shipping import call, enter_context, loads_call, pack_error, pack_result, write_atomic

    rank = int(os.environ["RANK"])
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))  # in-node restarts
    out = Path(round_dir)
    try:
        restarted = restart > 0 or int(os.environ.get("JOBSET_RESTART_ATTEMPT", "0")) > 0
        enter_context((Path(folder) / "context.pkl").read_bytes(), restarted=restarted)
        function, inputs = loads_call((Path(folder) / "call.pkl").read_bytes())
        result = call(function, inputs)
        packed = pack_result(result) if rank == 0 else None
    except BaseException as exc:
        write_atomic(out / f"error-rank{rank}-restart{restart}.pkl", pack_error(exc, rank=rank, restart=restart))
        if isinstance(exc, KeyboardInterrupt):
            return 130
        return 1
    if packed is not None:
        write_atomic(out / "result.pkl", packed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
