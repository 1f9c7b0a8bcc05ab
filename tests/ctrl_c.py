"""Ctrl-C a script's run once its task has started: the tests of what an interrupted run leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def interrupt_once_started(script: Path, marker: Path, *args: str, flyte_home: Path) -> tuple[int, str]:
    """Run ``script marker *args`` with ``FLYTE_HOME=flyte_home``; once its task has written
    ``marker``, send SIGINT as a terminal's Ctrl-C does. Returns the exit code and stderr."""
    proc = subprocess.Popen(
        [sys.executable, str(script), str(marker), *args],
        env={**os.environ, "FLYTE_HOME": str(flyte_home)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # a guard against a hung child, not a speed check
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), "the task never started"
        proc.send_signal(signal.SIGINT)
    except BaseException:
        _kill(proc)
        raise
    return finish(proc)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for ``proc`` to end (killed if it has not within 120 s); its exit code and stderr."""
    try:
        _, stderr = proc.communicate(timeout=120)
    finally:
        _kill(proc)
    return proc.returncode, stderr


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
