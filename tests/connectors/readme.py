"""Run a package README's quickstart as written, with only its ``config = ...`` statement
pointed at a test server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def quickstart(readme: Path) -> str:
    """The first ```python block of the README."""
    return re.search(r"```python\n(.*?)```", readme.read_text(), re.S).group(1)


def run_quickstart(readme: Path, config: str, folder: Path) -> str:
    """Replace the ``config = X(...)`` statement with ``config``, run the script, return stdout."""
    code = quickstart(readme)
    start = re.search(r"^config = \w+\(", code, re.M)
    assert start, "the quickstart has no `config = ...(...)` statement"
    depth, end = 0, start.end() - 1
    for end in range(start.end() - 1, len(code)):  # to the parenthesis that closes the call
        depth += {"(": 1, ")": -1}.get(code[end], 0)
        if depth == 0:
            break
    code = code[: start.start()] + config + code[end + 1 :]
    script = folder / "quickstart.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
