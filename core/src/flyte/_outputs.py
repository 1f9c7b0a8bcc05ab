"""``ActionOutputs``: what ``Run.outputs()`` returns, the reference SDK's tuple of outputs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any


class ActionOutputs(tuple):
    """The outputs of a run (``run.outputs()``), as the reference SDK returns them: a tuple.

    A task returning one value (``-> int``, a list, a dict, a DataFrame, ``None``) has one
    output; a task returning a tuple has one output per item. Read them as a tuple
    (``run.outputs()[0]``, ``total, label = run.outputs()``, ``len(...)``), by name
    (``run.outputs().o0``, ``.o1``, ...), or all at once in :attr:`named_outputs`
    (``{"o0": ..., "o1": ...}``). When the task returns a ``typing.NamedTuple``, its field
    names are attributes too (``run.outputs().total``); ``o0``, ... and ``named_outputs``
    stay as the reference SDK names them.

    For code written when ``outputs()`` returned the bare value, an instance with ONE output
    also compares equal to that value, both ways round: ``run.outputs() == 3`` and
    ``3 == run.outputs()`` hold, as does ``run.outputs() == (3,)``. Nothing else stands in for
    the value: ``isinstance(run.outputs(), int)`` is False, arithmetic and the value's methods
    need ``[0]``, and a one-output instance is always true (``bool((0,))``). Hashing is the
    tuple's, so ``hash(run.outputs()) != hash(3)`` although they compare equal: key a dict by
    ``run.outputs()[0]``, not by the outputs.
    """

    _fields: tuple[str, ...]
    _index: dict[str, int]

    def __new__(cls, data: Iterable[Any] = (), fields: Sequence[str] | None = None) -> ActionOutputs:
        obj = super().__new__(cls, data)
        obj._fields = tuple(f"o{i}" for i in range(len(obj)))
        obj._index = {name: i for i, name in enumerate(obj._fields)}
        for i, name in enumerate(fields or ()):
            obj._index.setdefault(name, i)  # o0, o1, ... keep meaning what they mean on the reference
        return obj

    @cached_property
    def named_outputs(self) -> dict[str, Any]:
        """The outputs by name: ``{"o0": ..., "o1": ...}``."""
        return dict(zip(self._fields, self, strict=True))

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails, so tuple's methods always win over a field.
        index = self.__dict__.get("_index", {}).get(name)
        if index is None:
            raise AttributeError(f"{type(self).__name__} has no output {name!r} (outputs: {', '.join(self._names())})")
        return self[index]

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._names()]

    def _names(self) -> list[str]:
        return list(self.__dict__.get("_index", {}))

    def __eq__(self, other: object) -> Any:
        if isinstance(other, tuple):
            return tuple.__eq__(self, other)
        if len(self) == 1:
            return self[0] == other
        return NotImplemented

    def __ne__(self, other: object) -> Any:
        if isinstance(other, tuple):
            return tuple.__ne__(self, other)
        if len(self) == 1:
            return self[0] != other
        return NotImplemented

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        # The reference SDK's form: strings in double quotes as they are, anything else as str().
        shown = (f'"{v}"' if isinstance(v, str) else f"{v}" for v in self)
        return f"ActionOutputs({', '.join(f'{n}={s}' for n, s in zip(self._fields, shown, strict=True))})"


def action_outputs(result: Any) -> ActionOutputs:
    """The outputs of a task that returned ``result``: its items if it is a tuple (named by its
    fields if a NamedTuple), else ``(result,)``, as the reference SDK splits a local result."""
    if isinstance(result, ActionOutputs):
        return result
    if isinstance(result, tuple):
        fields = getattr(type(result), "_fields", None)
        named = isinstance(fields, tuple) and all(isinstance(f, str) for f in fields)
        return ActionOutputs(result, fields if named else None)
    return ActionOutputs((result,))


def typed(
    values: dict[str, Any],
    types: Any,
    deserializers: Any = None,
    *,
    what: str = "typed_outputs",
) -> dict[str, Any]:
    """``values`` (outputs by name, ``o0``...; or inputs by name) restricted to the names in
    ``types`` and converted to the type given for each, as the reference SDK's
    ``typed_outputs``/``typed_inputs`` do. A value already of its type is returned as it is (the
    run store gives back the types tasks returned); ``deserializers[type]`` is called with the
    value's plain form (a dict for a dataclass, attrs or pydantic object) to build one; otherwise
    the plain form is structured into the type (pydantic's ``model_validate``, or cattrs)."""
    if not isinstance(types, dict) or not all(isinstance(k, str) for k in types):
        raise TypeError(
            f"{what}: types={types!r} is not valid (accepted: a dict of name to type, e.g. {{'o0': MyModel}})"
        )
    if deserializers is not None and not isinstance(deserializers, dict):
        raise TypeError(f"{what}: deserializers={deserializers!r} is not valid (accepted: a dict of type to callable)")
    deserializers = deserializers or {}
    result: dict[str, Any] = {}
    for name, kind in types.items():
        if name not in values:
            continue  # as the reference: only the requested names that are present
        value = values[name]
        if kind in deserializers:
            result[name] = deserializers[kind](_plain(value))
        elif isinstance(kind, type) and isinstance(value, kind):
            result[name] = value
        else:
            result[name] = _structure(_plain(value), kind, f"{what}: {name}")
    return result


def _plain(value: Any) -> Any:
    """A value as plain data (dicts, lists, scalars), the form a deserializer is handed."""
    import dataclasses

    import attrs

    if hasattr(value, "model_dump"):  # pydantic
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if attrs.has(type(value)):
        return attrs.asdict(value)
    return value


def _structure(data: Any, kind: Any, where: str) -> Any:
    validate = getattr(kind, "model_validate", None)
    try:
        if validate is not None:
            return validate(data)
        import cattrs

        return cattrs.structure(data, kind)
    except Exception as exc:
        raise TypeError(f"{where}: {data!r} cannot be read as {getattr(kind, '__name__', kind)} ({exc})") from exc
