"""What every torch elastic worker runs: the task function, once per rank.

The agent calls :func:`main` in each worker process with the run's folder. The worker reads
the shipped call, runs it, and reports: rank 0 writes the result; a rank that raises writes
its exception (type, message, traceback) before failing, so the parent can raise it as itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def main(folder: str) -> None:
    from flyte.extend import process_groups, shipping

    process_groups.die_with_parent()  # no worker outlives a SIGKILLed agent

    rank = int(os.environ.get("RANK", "0"))
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    out = Path(folder)
    # The agent watches the processes named here, to report the ones that die without an
    # exception (a signal, a crash) — torch's own report names only one failed worker.
    shipping.write_atomic(
        out / f"started-rank{rank}-restart{restart}.json",
        json.dumps({"rank": rank, "restart": restart, "pid": os.getpid(), "agent": os.getppid()}).encode(),
    )
    try:
        _apply_collective_timeout()
        # flyte.ctx() as in the task; after an in-node restart its checkpoint loads this attempt's saves
        shipping.enter_context((out / "context.pkl").read_bytes(), restarted=restart > 0)
        function, inputs = shipping.loads_call((out / "call.pkl").read_bytes())
        result = shipping.call(function, inputs)
        packed = shipping.pack_result(result) if rank == 0 else None
    except BaseException as exc:
        shipping.write_atomic(
            out / f"error-rank{rank}-restart{restart}.pkl", shipping.pack_error(exc, rank=rank, restart=restart)
        )
        raise
    if packed is not None:
        shipping.write_atomic(out / "result.pkl", packed)


def _apply_collective_timeout() -> None:
    """``Elastic.nccl_collective_timeout_sec`` as ``init_process_group``'s default timeout."""
    seconds = os.environ.get("FLYTE_NCCL_COLLECTIVE_TIMEOUT_SEC")
    if not seconds:
        return
    from datetime import timedelta

    import torch.distributed.constants as constants
    import torch.distributed.distributed_c10d as c10d

    # distributed_c10d binds the constant by name at import: set both.
    constants.default_pg_nccl_timeout = timedelta(seconds=int(seconds))
    c10d.default_pg_nccl_timeout = timedelta(seconds=int(seconds))
