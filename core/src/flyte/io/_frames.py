"""The dataframe handlers the installed plugins declared, looked up by value or by type.

A handler names its type as ``"module:Qualname"``; the type is imported only once its top-level
package is (a value or an annotation of that type cannot exist before), so ``import flyte``
never imports pandas, pyarrow or polars.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from flyte.plugin_types import DataFrameHandler

_resolved: dict[str, type | None] = {}


def _resolve(path: str) -> type | None:
    if path in _resolved:
        return _resolved[path]
    module, _, qualname = path.partition(":")
    if module.split(".")[0] not in sys.modules:
        return None  # not imported yet: nothing can be of this type; try again later
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        obj = None
    _resolved[path] = obj if isinstance(obj, type) else None
    return _resolved[path]


def _handlers() -> dict[str, DataFrameHandler]:
    from flyte.plugins import get_registry

    return get_registry().dataframe_handlers()


def _checked(key: str, handler: DataFrameHandler) -> DataFrameHandler:
    from flyte.plugins import get_registry

    get_registry().dataframe_conflict(key)
    return handler


def handler_for_value(value: Any) -> DataFrameHandler | None:
    """The handler of ``value``'s type (the most specific one), or None if it is not a dataframe."""
    best: tuple[int, str, DataFrameHandler] | None = None
    mro = type(value).__mro__
    for key, handler in _handlers().items():
        t = _resolve(key)
        if t is not None and t in mro:
            depth = mro.index(t)
            if best is None or depth < best[0]:
                best = (depth, key, handler)
    return None if best is None else _checked(best[1], best[2])


def handler_for_type(tp: Any) -> DataFrameHandler | None:
    """The handler of the class ``tp`` (or one of its bases), or None."""
    if not isinstance(tp, type):
        return None
    for klass in tp.__mro__:
        key = f"{klass.__module__}:{klass.__qualname__}"
        for path, handler in _handlers().items():
            if path == key or _resolve(path) is klass:
                return _checked(path, handler)
    return None


def any_engine_bound() -> bool:
    """Whether an installed handler is ``engine_bound`` (else the in-engine crossing is skipped)."""
    return any(h.engine_bound for h in _handlers().values())


def is_dataframe(value: Any) -> bool:
    """Whether ``value`` is of a type some handler stores (cheap for plain values)."""
    if type(value).__module__ == "builtins":
        return False
    return handler_for_value(value) is not None


def handler_key(handler: DataFrameHandler) -> str:
    """The ``"module:Qualname"`` a handler is registered under. Recorded with a stored table
    instead of the value's own class path, which moves between releases of an engine (pandas
    2's ``pandas.core.frame:DataFrame`` is ``pandas:DataFrame`` in pandas 3)."""
    for key, known in _handlers().items():
        if known is handler:
            return key
    raise LookupError(f"dataframe handler {handler!r} is not registered")


def type_path(value_or_type: Any) -> str:
    t = value_or_type if isinstance(value_or_type, type) else type(value_or_type)
    return f"{t.__module__}:{t.__qualname__}"


def handler_named(path: str) -> DataFrameHandler | None:
    """The handler registered for ``"module:Qualname"`` (importing its module)."""
    handlers = _handlers()
    if path in handlers:
        module = path.partition(":")[0]
        importlib.import_module(module)
        return _checked(path, handlers[path])
    return None


def no_handler(what: Any) -> TypeError:
    known = ", ".join(sorted(_handlers())) or "none"
    name = what if isinstance(what, str) else type_path(what)
    return TypeError(
        f"no dataframe handler for {name} (installed: {known}); install the plugin that provides one, "
        "e.g. flyteplugins-spark for pyspark, or see docs/writing-a-plugin.md"
    )
