"""Load a user's Python file and find a task or environment in it by name.

The file is imported as a module named after its path relative to the nearest folder that is
not a package (so ``pkg/mod.py`` is ``pkg.mod``), with that folder on ``sys.path``: the
``if __name__ == "__main__":`` block does not run, and the same module name is what a
container entrypoint imports later.

The folder goes on ``sys.path`` right after the standard library (:mod:`flyte._syspath`), so a
file of the user's named like a standard-library module (``json.py``, ``secrets.py``) never
replaces that module for the library or for other code. Such a file, or one named like an
installed or already imported module, is still the one loaded: from its path, under a
private module name (:data:`PRIVATE_PREFIX` + its name), leaving the other module alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from flyte._main_name import module_name_for
from flyte._syspath import add_to_path

# Module names of files loaded from their path because their own name belongs to another module.
PRIVATE_PREFIX = "_flyte_file_"


def load_file(file: str | Path, root_dir: str | Path | None = None) -> ModuleType:
    """Import the user's file (see the module docstring for the rules) and return the module;
    with ``root_dir`` (``flyte run --root-dir``) its name is its path under that folder."""
    path = Path(file)
    if not path.is_file() or path.suffix != ".py":
        raise click.BadParameter(f"{file} is not a Python file", param_hint="FILE")
    path = path.resolve()
    name, root = module_name_for(path) if root_dir is None else _name_under(path, Path(root_dir))
    top = name.partition(".")[0]
    if top in _loaded and "." not in name:
        # A file of that name loaded earlier in this process (another folder): this one replaces it.
        add_to_path(str(root))
        return _load_from(name, path)
    taken = _taken_elsewhere(top, path, root)
    if taken and str(root) not in sys.path:
        # The real module first, so that later imports of its name find it, not this folder.
        importlib.import_module(top)
    add_to_path(str(root))
    if taken:
        return _load_from(PRIVATE_PREFIX + name.replace(".", "_"), path)
    module = importlib.import_module(name)
    _loaded.add(top)
    return module


def _name_under(path: Path, root_dir: Path) -> tuple[str, Path]:
    """The module name of ``path`` under ``root_dir`` (``pkg/mod.py`` is ``pkg.mod``, packages
    with or without ``__init__.py``), as the reference SDK's ``--root-dir`` names it."""
    root = root_dir.resolve()
    if not path.is_relative_to(root):
        raise click.BadParameter(
            f"{str(root_dir)!r} does not hold FILE {path} (accepted: a folder FILE is under)", param_hint="--root-dir"
        )
    return ".".join(path.relative_to(root).with_suffix("").parts), root


# Top-level module names this loader imported user files under.
_loaded: set[str] = set()


def _taken_elsewhere(top: str, path: Path, root: Path) -> bool:
    """Whether module name ``top`` belongs to something other than the user's file (or the
    user's package holding it): a builtin, the standard library, an installed package."""
    mine = root / top
    module = sys.modules.get(top)
    if module is not None:
        origin = getattr(module, "__file__", None)
    else:
        spec = importlib.util.find_spec(top)
        if spec is None or not spec.has_location:  # nothing, or a namespace package (a bare folder)
            return top in sys.builtin_module_names
        origin = spec.origin
    if origin is None:
        return True  # a builtin or frozen module
    found = Path(origin).resolve()
    return not (found == path or found == mine.with_suffix(".py") or found.is_relative_to(mine))


def _load_from(name: str, path: Path) -> ModuleType:
    """The module ``name`` executed from ``path`` (reused if that file is already loaded)."""
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


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
