"""Where the user's folders go on ``sys.path``: right after the standard library.

In front of it (where Python puts a script's folder), a user's ``json.py``, ``random.py`` or
``secrets.py`` would replace that module for every library imported afterwards, flyte's own
included. After it, the standard library always wins, and the user's folders still come before
installed packages, as a script's folder does.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path


def _stdlib_dirs() -> tuple[Path, ...]:
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix, "installed_base": sys.base_prefix}
    return tuple({Path(sysconfig.get_path(k, vars=base)).resolve() for k in ("stdlib", "platstdlib")})


_STDLIB = _stdlib_dirs()


def is_stdlib(entry: str) -> bool:
    """Whether a ``sys.path`` entry holds the standard library (site-packages does not)."""
    path = Path(entry or ".").resolve()
    if path.suffix == ".zip" and path.name.startswith("python"):  # the zipped stdlib, pythonXY.zip
        return True
    if "site-packages" in path.parts or "dist-packages" in path.parts:
        return False
    return any(path.is_relative_to(d) for d in _STDLIB)


def add_to_path(*folders: str) -> None:
    """Put ``folders`` (in order) on ``sys.path`` right after the standard library; folders
    already on it stay where they are."""
    new = [f for f in dict.fromkeys(folders) if f not in sys.path]
    if not new:
        return
    after = max((i + 1 for i, entry in enumerate(sys.path) if is_stdlib(entry)), default=0)
    sys.path[after:after] = new
