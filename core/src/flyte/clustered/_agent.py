"""One simulated node under TorchRun: ``python -m flyte.clustered._agent <torchrun arguments>``.

torch's own launcher (``torch.distributed.run``, the elastic agent) with one addition: it dies
with the process that started it, so a SIGKILLed flyte process leaves no agent (and, through
the workers' own parent-death signal, no worker) behind.
"""

from __future__ import annotations

import sys

from flyte.clustered._worker import die_with_parent

if __name__ == "__main__":
    die_with_parent()
    from torch.distributed.run import main

    main(sys.argv[1:])
