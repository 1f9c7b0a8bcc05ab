"""Load a user's Python file and find a task or environment in it by name.

The file is imported as a module named after its path relative to the nearest folder that is
not a package (so ``pkg/mod.py`` is ``pkg.mod``), with that folder on ``sys.path``: the
``if __name__ == "__main__":`` block does not run, and the same module name is what a
container entrypoint imports later.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click


def module_name_for(path: Path) -> tuple[str, Path]:
    """(dotted module name, the folder to put on sys.path) for a .py file."""
    path = path.resolve()
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


def load_file(file: str | Path) -> ModuleType:
    path = Path(file)
    if not path.is_file() or path.suffix != ".py":
        raise click.BadParameter(f"{file} is not a Python file", param_hint="FILE")
    name, root = module_name_for(path)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(name)


def find(module: ModuleType, target: str, kinds: tuple[type, ...]) -> Any:
    """The object named ``target`` (an attribute, or an env/task name) of one of ``kinds``."""
    obj = getattr(module, target, None)
    if isinstance(obj, kinds):
        return obj
    for value in vars(module).values():  # by environment or fully-qualified task name
        if isinstance(value, kinds) and getattr(value, "name", None) == target:
            return value
    names = sorted(k for k, v in vars(module).items() if isinstance(v, kinds))
    wanted = " or ".join(k.__name__ for k in kinds)
    raise click.BadParameter(
        f"{target!r} is not a {wanted} in {module.__file__}; found: {', '.join(names) or 'none'}",
        param_hint="TARGET",
    )
