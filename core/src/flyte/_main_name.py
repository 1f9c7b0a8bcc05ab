"""Module names of user files, as ``flyte run FILE`` imports them.

A script run as ``python FILE`` is the module ``__main__``; the same file loaded by
``flyte run FILE`` (or imported in a task's container) has its real name. Cache keys name the
types of their inputs and outputs, so a key made under ``__main__`` uses the real name instead:
the same call hits the same entry however the script was started.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path


def module_name_for(path: Path) -> tuple[str, Path]:
    """(dotted module name, the folder to put on sys.path) for a .py file: its path relative
    to the nearest folder that is not a package (``pkg/mod.py`` is ``pkg.mod``)."""
    path = path.resolve()
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


def main_module_name() -> str:
    """The real name of this process's ``__main__`` (``"__main__"`` when it has no file, or
    when another loaded module has that name: a script named like one)."""
    name = _main_candidate()
    other = sys.modules.get(name)
    if other is not None and other is not sys.modules.get("__main__"):
        return "__main__"
    return name


@functools.cache
def _main_candidate() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":  # python -m pkg.mod
        return spec.name.removesuffix(".__main__")
    file = getattr(main, "__file__", None)
    if not file or not file.endswith(".py"):
        return "__main__"
    return module_name_for(Path(file))[0]


def real_name(module: str) -> str:
    """``module``, or the real name of ``__main__``."""
    return main_module_name() if module == "__main__" else module
