"""The ``flyte`` command line run as a user runs it: a fresh process, in a folder of theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def flyte_cli(cwd: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """``flyte ARGS`` in ``cwd`` with this environment plus ``env``; its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
