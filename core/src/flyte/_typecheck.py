"""Task inputs and outputs checked against the function's annotations.

A checker is compiled once per annotation (and once per function for its whole signature), so
a call pays a few ``isinstance`` tests: well under a microsecond per scalar input. The rules are
Python typing's, as a user would expect them:

- ``bool`` is not an ``int`` (nor a ``float``) input; an ``int`` is accepted for a ``float``
  and the task receives (its caller gets back) a float, as on a cluster (the reference SDK
  refuses the int; code written for it passes floats, which work the same here); an
  ``int``/``float`` is accepted for a ``complex`` and passed as given; a ``float`` for an
  ``int`` is refused.
- Containers are checked element by element: ``list[int]``, ``set[str]``, ``tuple[int, str]``
  (length too), ``tuple[int, ...]``, ``dict[str, float]`` (keys and values), and the
  ``collections.abc`` forms (``Sequence[int]``, ``Mapping[str, int]``, ...).
- ``Optional``/unions: any member; ``Literal``: one of the values, of the same type.
- A dataclass by ``isinstance`` and each field against its annotation by these same rules (a
  field holding its own default is accepted, as a parameter's is): ``P(mode="XYZ")`` for
  ``mode: Literal["a", "b"]`` is refused, as the reference SDK refuses it when it serialises.
- Any other class (attrs, pydantic models, enums, ``datetime``, ``flyte.io.File``, ...) by
  ``isinstance``; a generic class (``Box[int]``) by its origin; ``Annotated[T, ...]``
  and ``NewType`` as the type they wrap.
- ``Any``, ``object``, a ``TypeVar``, a missing annotation, or one that cannot be resolved (a
  string naming something not in scope) accept everything.

A type that needs a rule of its own (``flyte.io.DataFrame`` accepting the dataframes it wraps,
...) registers a predicate with :func:`register_type_check` (also in :mod:`flyte.extend`).
"""

from __future__ import annotations

import builtins
import collections.abc as abc
import copy
import dataclasses
import datetime as _dt
import inspect
import numbers
import re
import sys
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any

import attrs

from flyte.errors import InputTypeError, OutputTypeError
from flyte.interface import type_name

Predicate = Callable[[Any], bool]

# Types with a rule of their own: annotation class -> predicate (see register_type_check()).
_REGISTRY: dict[type, Predicate] = {}


def register_type_check(cls: type, check: Predicate) -> None:
    """Check values annotated ``cls`` with ``check(value) -> bool`` instead of ``isinstance``.

    For reference types that accept more than their own instances; call it where ``cls`` is
    defined, at import. Signatures compiled before the call keep the rule they had.
    """
    _REGISTRY[cls] = check
    _compiled.clear()


@attrs.frozen
class Mismatch:
    """Where a value departs from its annotation: ``path`` (``xs[2]``), the value found there
    and the type expected there."""

    path: str
    value: Any
    expected: str


@attrs.frozen
class Checker:
    """``ok(value)`` is the fast test; ``explain(value, path)`` finds the first mismatch;
    ``expected`` is the annotation as a user would write it."""

    ok: Predicate
    explain: Callable[[Any, str], Mismatch | None]
    expected: str


def describe(value: Any) -> str:
    """A value's type and a short repr, for error messages: ``str '5'``."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kind = type(value)
    name = kind.__name__
    if getattr(builtins, name, kind) is not kind:  # numpy.bool is not bool: say whose it is
        name = f"{kind.__module__}.{name}"
    return f"{name} {text}"


_QUALIFIED = re.compile(r"([\w.]+):([\w.]+)")


def display(tp: Any) -> str:
    """An annotation as a user would write it: ``list[int]``, ``datetime.datetime``,
    ``flyte.io.File`` (private module segments left out)."""

    def public(match: re.Match[str]) -> str:
        module = ".".join(p for p in match[1].split(".") if not p.startswith("_"))
        return f"{module}.{match[2]}" if module else match[2]

    return _QUALIFIED.sub(public, type_name(tp))


# -- compiling an annotation ------------------------------------------------------------------

_compiled: dict[Any, Checker | None] = {}


def compile_check(tp: Any) -> Checker | None:
    """The checker for annotation ``tp``; None when every value is accepted."""
    try:
        return _compiled[tp]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation (e.g. Annotated metadata): not memoised
        return _compile(tp)
    checker = _compile(tp)
    _compiled[tp] = checker
    return checker


def _leaf(ok: Predicate, tp: Any) -> Checker:
    expected = display(tp)

    def explain(value: Any, path: str) -> Mismatch | None:
        return None if ok(value) else Mismatch(path, value, expected)

    return Checker(ok, explain, expected)


def _is_int(v: Any) -> bool:
    return type(v) is int or (isinstance(v, numbers.Integral) and not isinstance(v, bool))


def _is_float(v: Any) -> bool:
    t = type(v)
    return t is float or t is int or (isinstance(v, numbers.Real) and not isinstance(v, bool))


def _is_complex(v: Any) -> bool:
    return isinstance(v, numbers.Complex) and not isinstance(v, bool)


_SCALARS: dict[type, Predicate] = {
    int: _is_int,
    float: _is_float,
    complex: _is_complex,
    bool: lambda v: v is True or v is False,
    str: lambda v: isinstance(v, str),
    bytes: lambda v: isinstance(v, bytes),
}
_COLLECTIONS = (list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet, abc.Collection)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)


def _compile(tp: Any) -> Checker | None:
    if tp is Any or tp is object or isinstance(tp, (str, typing.ForwardRef, typing.TypeVar)):
        return None
    if tp is None or tp is type(None):
        return _leaf(lambda v: v is None, None)
    if type(tp).__name__ == "TypeAliasType":  # `type X = ...` (3.12+)
        return compile_check(tp.__value__)
    supertype = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return compile_check(supertype)
    origin = typing.get_origin(tp)
    if origin is not None:
        return _compile_generic(tp, origin, typing.get_args(tp))
    if not isinstance(tp, type):
        return None  # something that cannot be tested at run time (ParamSpec, ...)
    if tp in _REGISTRY:
        return _leaf(_REGISTRY[tp], tp)
    if tp in _SCALARS:
        return _leaf(_SCALARS[tp], tp)
    if typing.is_typeddict(tp):
        return _leaf(lambda v: isinstance(v, dict), tp)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp)
    return _instance_of(tp, tp)


def _instance_of(cls: type, tp: Any) -> Checker | None:
    try:
        isinstance(None, cls)
    except TypeError:  # e.g. a Protocol that is not runtime-checkable
        return None
    return _leaf(lambda v: isinstance(v, cls) or _stands_for(cls, v), tp)


def _dataclass(cls: type) -> Checker:
    fields: list[tuple[str, Checker, Any]] | None = None

    def field_checks() -> list[tuple[str, Checker, Any]]:
        # Compiled on first use, not here: a dataclass may name itself (``children: list[Node]``).
        nonlocal fields
        if fields is None:
            try:
                hints = typing.get_type_hints(cls)
            except (NameError, TypeError):  # an annotation that cannot be resolved: fields unchecked
                hints = {}
            checks = ((f, compile_check(hints[f.name])) for f in dataclasses.fields(cls) if f.name in hints)
            fields = [(f.name, check, f.default) for f, check in checks if check is not None]
        return fields

    def ok(v: Any) -> bool:
        if not isinstance(v, cls):
            return _stands_for(cls, v)
        for name, check, default in field_checks():
            value = getattr(v, name, default)  # an init=False field never set: nothing to check
            if value is not default and not check.ok(value):
                return False
        return True

    expected = display(cls)

    def explain(v: Any, path: str) -> Mismatch | None:
        if not isinstance(v, cls):
            return None if _stands_for(cls, v) else Mismatch(path, v, expected)
        for name, check, default in field_checks():
            value = getattr(v, name, default)
            found = None if value is default else check.explain(value, f"{path}.{name}")
            if found is not None:
                return found
        return None

    return Checker(ok, explain, expected)


def _stands_for(cls: type, value: Any) -> bool:
    """A ``flyte.io.DataFrame`` reference, or a table of another engine, where a dataframe type
    (``pd.DataFrame``, ...) is declared: the task gets it read as that type through storage
    (``flyte.io._transport``). Only asked when the ``isinstance`` test fails."""
    if "flyte.io._dataframe" not in sys.modules or type(value).__module__ == "builtins":
        return False
    from flyte.io import _frames
    from flyte.io._dataframe import DataFrame

    if not (isinstance(value, DataFrame) or _frames.is_dataframe(value)):
        return False
    return _frames.handler_for_type(cls) is not None


def _compile_generic(tp: Any, origin: Any, args: tuple[Any, ...]) -> Checker | None:
    if origin is typing.Annotated:
        return compile_check(args[0])
    if origin in (typing.Union, types.UnionType):
        return _union(tp, args)
    if origin is typing.Literal:
        return _literal(tp, args)
    if origin is type:
        base = args[0] if args and isinstance(args[0], type) else object
        return _leaf(lambda v: isinstance(v, type) and issubclass(v, base), tp)
    if origin is tuple:
        return _tuple(tp, args)
    if origin in _MAPPINGS:
        return _mapping(tp, origin, args)
    if origin in _COLLECTIONS:
        return _collection(tp, origin, args[0] if args else Any)
    if isinstance(origin, type):  # Iterable[int], Callable[..., T], a user's Box[int], ...
        return _instance_of(origin, tp)
    return None


def _union(tp: Any, args: tuple[Any, ...]) -> Checker | None:
    members = [compile_check(a) for a in args]
    if any(m is None for m in members):
        return None  # Any (or something unchecked) in the union accepts everything
    if len(args) == 2 and type(None) in args:  # Optional[X], the common case
        inner = members[args.index(type(None)) ^ 1].ok

        def ok(v: Any) -> bool:
            return v is None or inner(v)
    else:
        tests = tuple(m.ok for m in members)

        def ok(v: Any) -> bool:
            return any(t(v) for t in tests)

    expected = display(tp)

    def explain(v: Any, path: str) -> Mismatch | None:
        if ok(v):
            return None
        for member in members:  # a member the value has the shape of: show what is wrong inside
            found = member.explain(v, path)
            if found is not None and found.path != path:
                return found
        return Mismatch(path, v, expected)

    return Checker(ok, explain, expected)


def _literal(tp: Any, args: tuple[Any, ...]) -> Checker:
    allowed = tuple((type(a), a) for a in args)

    def ok(v: Any) -> bool:
        t = type(v)
        return any(t is at and v == a for at, a in allowed)

    return _leaf(ok, tp)


def _tuple(tp: Any, args: tuple[Any, ...]) -> Checker:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return _collection(tp, tuple, args[0] if args else Any)
    if args == ((),):  # tuple[()]: the empty tuple
        return _leaf(lambda v: isinstance(v, tuple) and not v, tp)
    items = tuple(compile_check(a) for a in args)
    n = len(items)
    expected = display(tp)

    def ok(v: Any) -> bool:
        return isinstance(v, tuple) and len(v) == n and all(c is None or c.ok(x) for c, x in zip(items, v, strict=True))

    def explain(v: Any, path: str) -> Mismatch | None:
        if not isinstance(v, tuple) or len(v) != n:
            return Mismatch(path, v, expected)
        for i, (c, x) in enumerate(zip(items, v, strict=True)):
            found = c.explain(x, f"{path}[{i}]") if c is not None else None
            if found is not None:
                return found
        return None

    return Checker(ok, explain, expected)


def _collection(tp: Any, origin: type, item_type: Any) -> Checker:
    item = compile_check(item_type)
    if item is None:
        return _leaf(lambda v: isinstance(v, origin), tp)
    item_ok = item.ok
    expected = display(tp)

    def ok(v: Any) -> bool:
        return isinstance(v, origin) and all(map(item_ok, v))

    def explain(v: Any, path: str) -> Mismatch | None:
        if not isinstance(v, origin):
            return Mismatch(path, v, expected)
        ordered = isinstance(v, abc.Sequence)
        for i, x in enumerate(v):
            found = item.explain(x, f"{path}[{i}]" if ordered else f"an item of {path}")
            if found is not None:
                return found
        return None

    return Checker(ok, explain, expected)


def _mapping(tp: Any, origin: type, args: tuple[Any, ...]) -> Checker:
    key, val = (compile_check(args[0]), compile_check(args[1])) if len(args) == 2 else (None, None)
    if key is None and val is None:
        return _leaf(lambda v: isinstance(v, origin), tp)
    key_ok = key.ok if key is not None else None
    val_ok = val.ok if val is not None else None
    expected = display(tp)

    def ok(v: Any) -> bool:
        if not isinstance(v, origin):
            return False
        if key_ok is not None and not all(map(key_ok, v.keys())):
            return False
        return val_ok is None or all(map(val_ok, v.values()))

    def explain(v: Any, path: str) -> Mismatch | None:
        if not isinstance(v, origin):
            return Mismatch(path, v, expected)
        for k, x in v.items():
            found = key.explain(k, f"a key of {path}") if key is not None else None
            if found is None and val is not None:
                found = val.explain(x, f"{path}[{k!r}]")
            if found is not None:
                return found
        return None

    return Checker(ok, explain, expected)


# -- a function's signature -------------------------------------------------------------------

_NO_DEFAULT: Any = object()


@attrs.frozen
class SignatureCheck:
    """The compiled checkers of one function, per input (unchecked ones left out) and output.

    A parameter's own default is always accepted (``x: int = None`` is common and means
    "optional"), whether it is left out or passed explicitly.
    """

    inputs: dict[str, Checker]
    defaults: dict[str, Any]
    output: Checker | None
    # Whether every accepted input (the accepted output) is a number, a str, bytes or None:
    # then it can hold no dataframe or file, and a call skips looking for them.
    scalar_inputs: bool = False
    scalar_output: bool = False
    # The inputs whose accepted values a cluster would deliver in another form, with the
    # function converting a value to it (:func:`_converter`), and the output's: a task receives
    # and returns datetimes in UTC, timezone-aware, an int given for a float as a float and a
    # numpy integer given for an int as an int.
    converted_inputs: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
    converted_output: Callable[[Any], Any] | None = None
    # Those whose annotation reaches only ``int``: a plain value needs no converting there, so
    # these are applied only to a value that is not plain (a numpy integer, a container); a
    # call of ``f(i: int) -> int`` pays nothing for them.
    integral_inputs: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
    integral_output: Callable[[Any], Any] | None = None

    def check_inputs(self, task: Any, given: dict[str, Any]) -> None:
        """Raise :class:`~flyte.errors.InputTypeError` for the first input in ``given`` that
        does not match its annotation. ``task`` (its ``.name``, or a str) names the task in
        the message, and is only looked at then."""
        checks = self.inputs
        for name, value in given.items():
            check = checks.get(name)
            if check is not None and not check.ok(value) and value is not self.defaults.get(name, _NO_DEFAULT):
                raise _input_error(getattr(task, "name", task), name, check, value)

    def check_output(self, task: Any, value: Any) -> None:
        """Raise :class:`~flyte.errors.OutputTypeError` if ``value`` does not match the return
        annotation (``task`` as for :meth:`check_inputs`)."""
        check = self.output
        if check is None or check.ok(value):
            return
        task_obj, task = task, getattr(task, "name", task)
        found = check.explain(value, "the value")
        detail = ""
        if found is not None and found.path != "the value":
            detail = f" ({found.path} is {describe(found.value)}, expected {found.expected})"
        if inspect.iscoroutine(value):
            # The usual cause: an async helper called without await. Closing it also spares the
            # user Python's "was never awaited" warning on top of this error.
            detail = "; it was never awaited: " + _await_hint(value, getattr(task_obj, "is_async", True))
            value.close()
        raise OutputTypeError(
            f"{task}: returned {describe(value)}, but its return annotation is {check.expected}{detail}",
            task=task,
            expected=check.expected,
        )


def _await_hint(coro: Any, in_async_task: bool) -> str:
    """How to get the value a coroutine stands for: await it, or (a sync task cannot) call the
    blocking form its owner offers (``DataFrame.all`` → ``all_sync``), or make the task async."""
    name = coro.__qualname__
    if in_async_task:
        return f"write `return await {name}(...)`"
    frame = coro.cr_frame  # not started: its locals are the call's arguments, ``self`` first
    owner = frame.f_locals.get("self") if frame is not None else None
    if owner is not None and callable(getattr(owner, f"{coro.__name__}_sync", None)):
        return f"a sync task cannot await, call `{name}_sync(...)` (or make the task async def and await it)"
    return f"a sync task cannot await: make the task async def and write `return await {name}(...)`"


def _is_trigger_time(value: Any) -> bool:
    from flyte.triggers import TriggerTime

    return value is TriggerTime


def _is_run_outputs(value: Any) -> bool:
    from flyte._outputs import ActionOutputs

    return isinstance(value, ActionOutputs)


def _input_error(task: str, name: str, check: Checker, value: Any) -> InputTypeError:
    found = check.explain(value, name)
    if _is_trigger_time(value):
        message = (
            f"{task}: input {name!r} expects {check.expected}, got flyte.TriggerTime, which only a "
            f"trigger's firing fills in; pass {name}=... to run the task directly"
        )
    elif _is_run_outputs(value) and found is not None and found.path == name:
        # A run's outputs are a tuple (as on the reference SDK), not the value they hold;
        # code written when run.outputs() returned the bare value passes them on as they are.
        pick = "run.outputs()[0] (or .o0)" if len(value) == 1 else f"one of run.outputs()[0] .. [{len(value) - 1}]"
        message = (
            f"{task}: input {name!r} expects {check.expected}, got a run's outputs "
            f"{describe(value).removeprefix('ActionOutputs ')}; pass the value itself: {pick}"
        )
    elif found is None or found.path == name:
        message = f"{task}: input {name!r} expects {check.expected}, got {describe(value)}"
    else:
        message = (
            f"{task}: input {name!r} expects {check.expected}, but {found.path} is {describe(found.value)}"
            f" (expected {found.expected})"
        )
    return InputTypeError(message, task=task, input=name, expected=check.expected)


_signatures: weakref.WeakKeyDictionary[Callable[..., Any], SignatureCheck] = weakref.WeakKeyDictionary()


def signature_check(func: Callable[..., Any]) -> SignatureCheck:
    """The checkers for ``func``'s annotations, compiled on first use."""
    found = _signatures.get(func)
    if found is None:
        params, output = _annotations(func)
        checks = {name: c for name, tp in params.items() if (c := compile_check(tp)) is not None}
        parameters = inspect.signature(func).parameters
        defaults = {name: p.default for name, p in parameters.items() if p.default is not p.empty}
        scalar_inputs = all(
            p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and _scalar(params[name]) for name, p in parameters.items()
        ) and all(type(d) in _SCALAR_VALUES for d in defaults.values())  # a default is accepted unchecked
        # Only a trigger's firing replaces a flyte.TriggerTime default: a direct run must pass a
        # value, as in the reference SDK, rather than hand the placeholder to the function.
        accepted = {name: d for name, d in defaults.items() if not _is_trigger_time(d)}
        always = {name: tp for name, tp in params.items() if _reaches(tp, ALWAYS_CONVERTED, set())}
        converted = tuple((name, _build(tp, _ALL_LEAVES)) for name, tp in always.items())
        integral = tuple(
            (name, _build(tp, _ALL_LEAVES))
            for name, tp in params.items()
            if name not in always and _reaches(tp, _ALL_LEAVES, set())
        )
        always_output = _reaches(output, ALWAYS_CONVERTED, set())
        found = SignatureCheck(
            checks,
            accepted,
            compile_check(output),
            scalar_inputs,
            _scalar(output),
            converted,
            _converter(output) if always_output else None,
            integral,
            None if always_output else _converter(output),
        )
        _signatures[func] = found
    return found


def _converter(tp: Any, leaves: frozenset[Any] | None = None) -> Callable[[Any], Any] | None:
    """For an annotation whose accepted values a cluster would deliver in another form, the
    function converting a value to that form; None for any other. A cluster passes values as
    typed literals: a ``datetime`` as a UTC timestamp (:func:`in_utc`), a ``float`` as a
    float, even when an int was given (:func:`as_float`), an ``int`` as an int, even when a
    numpy integer was given (:func:`as_int`). So does a run here: a task sees the same value
    whichever way it runs. Applies to the type itself and inside optionals and unions, lists,
    and dicts (keys and values), nested, and for numbers inside tuples and dataclass fields
    too, as the reference SDK's type engine converts them (see :data:`_CONVERTED_ORIGINS`);
    pydantic models convert their own fields when made.

    ``leaves``: the leaf types to convert (default: all). A converter returns the value it was
    given (the same object) when nothing in it needed converting; else a copy (the caller's
    value is never changed)."""
    leaves = _ALL_LEAVES if leaves is None else leaves
    return _build(tp, leaves) if _reaches(tp, leaves, set()) else None


_ALL_LEAVES: frozenset[Any] = frozenset()  # set below, once the leaf converters are defined


def _unwrapped(tp: Any) -> Any:
    """``Annotated[T, ...]``, ``NewType`` and ``type X = T`` as the type they stand for (as the
    type check reads them)."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif getattr(tp, "__supertype__", None) is not None:
            tp = tp.__supertype__
        elif type(tp).__name__ == "TypeAliasType":
            tp = tp.__value__
        else:
            return tp


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved: its fields unchecked
        return {}


def _reaches(tp: Any, leaves: frozenset[Any], seen: set[int]) -> bool:
    """Whether a value of annotation ``tp`` can hold a leaf to convert where :func:`_build`
    looks (``seen``: the dataclasses already walked, which may name themselves)."""
    tp = _unwrapped(tp)
    try:
        if tp in leaves:
            return True
    except TypeError:  # an unhashable annotation: not a leaf
        return False
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        return any(_reaches(a, leaves - _TYPED_ONLY, seen) for a in args if a is not Ellipsis)
    if origin in _CONVERTED_ORIGINS:
        return any(_reaches(a, leaves, seen) for a in args)
    if _is_record(tp) and id(tp) not in seen:
        seen.add(id(tp))
        return any(_reaches(h, leaves - _TYPED_ONLY, seen) for h in _hints(tp).values())
    return False


def _is_record(tp: Any) -> bool:
    """A dataclass or a NamedTuple: a class whose fields are declared and converted."""
    if not isinstance(tp, type) or tp in _REGISTRY:
        return False
    return dataclasses.is_dataclass(tp) or (issubclass(tp, tuple) and hasattr(tp, "_fields"))


def _build(tp: Any, leaves: frozenset[Any]) -> Callable[[Any], Any]:
    tp = _unwrapped(tp)
    if tp in leaves:
        return _LEAF_CONVERTERS[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        # Optional[X]: X's converter, which returns None as it is.
        return _build(inner[0], leaves) if len(inner) == 1 else _union_converter(args, leaves)
    if origin is tuple:
        return _tuple_converter(args, leaves - _TYPED_ONLY)
    if origin in (list, abc.Sequence, abc.MutableSequence):
        return _list_converter(_part(args[0], leaves))
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        return _dict_converter(_part(args[0], leaves), _part(args[1], leaves))
    if issubclass(tp, tuple):  # a NamedTuple: its fields in order, as a tuple's items
        hints = _hints(tp)
        return _tuple_converter(tuple(hints.get(name, Any) for name in tp._fields), leaves - _TYPED_ONLY)
    return _dataclass_converter(tp, leaves - _TYPED_ONLY)  # _reaches let nothing else through


def _part(tp: Any, leaves: frozenset[Any]) -> Callable[[Any], Any] | None:
    return _build(tp, leaves) if _reaches(tp, leaves, set()) else None


# Where a cluster passes values as typed literals (a union, a list, a dict), each part arrives
# in its declared form. A tuple's items and a dataclass's fields travel as one msgpack record
# decoded by their declared types: numbers take their declared form, datetimes come back as
# they were (naive or in their own zone, as the reference SDK gives them). A set is pickled
# there: it arrives as it was, so it is not converted here either.
_CONVERTED_ORIGINS = (
    typing.Union,
    types.UnionType,
    list,
    abc.Sequence,
    abc.MutableSequence,
    dict,
    abc.Mapping,
    abc.MutableMapping,
)


def _union_converter(args: tuple[Any, ...], leaves: frozenset[Any]) -> Callable[[Any], Any]:
    # A member that takes the value as it is wins (``int | float`` keeps an int, ``float | int``
    # too, as the reference SDK's union picks the member the value already is); else the first
    # member that takes it, converted (``float | str`` given 3 gives 3.0).
    members = [(check.ok if (check := compile_check(a)) else None, _part(a, leaves)) for a in args]

    def convert(value: Any) -> Any:
        first = None
        for ok, put in members:
            if ok is None or ok(value):
                if put is None:
                    return value
                converted = put(value)
                if converted is value:
                    return value
                if first is None:
                    first = (converted,)
        return value if first is None else first[0]

    return convert


def _tuple_converter(args: tuple[Any, ...], leaves: frozenset[Any]) -> Callable[[Any], Any]:
    if len(args) == 2 and args[1] is Ellipsis:
        each = _part(args[0], leaves)
        puts: list[Callable[[Any], Any] | None] | None = None
    else:
        each, puts = None, [_part(a, leaves) for a in args]

    def convert(value: Any) -> Any:
        if not isinstance(value, tuple) or (puts is not None and len(puts) != len(value)):
            return value  # (the check refused it already)
        parts = [value] if each is None else [each] * len(value)
        items = [put(x) if put is not None else x for put, x in zip(puts or parts, value, strict=True)]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        if type(value) is tuple:
            return tuple(items)
        make = getattr(type(value), "_make", None)  # a NamedTuple
        return make(items) if make is not None else value

    return convert


def _list_converter(item: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not isinstance(value, list) or item is None:
            return value
        items = [item(x) for x in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items

    return convert


def _dict_converter(key: Callable[[Any], Any] | None, val: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        items = [(k, x, key(k) if key is not None else k, val(x) if val is not None else x) for k, x in value.items()]
        if all(k is k2 and x is x2 for k, x, k2, x2 in items):
            return value
        return {k2: x2 for _, _, k2, x2 in items}

    return convert


_UNSET = object()


def _dataclass_converter(cls: type, leaves: frozenset[Any]) -> Callable[[Any], Any]:
    fields: list[tuple[str, Callable[[Any], Any]]] | None = None

    def field_converters() -> list[tuple[str, Callable[[Any], Any]]]:
        # Built on first use: a dataclass may name itself (``children: list[Node]``).
        nonlocal fields
        if fields is None:
            hints = _hints(cls)
            # init=False fields too (one __post_init__ sets from the others: the reference,
            # which makes the instance again, has it from the converted fields)
            named = [f.name for f in dataclasses.fields(cls) if f.name in hints]
            parts = ((name, _part(hints[name], leaves)) for name in named)
            fields = [(name, put) for name, put in parts if put is not None]
        return fields

    def convert(value: Any) -> Any:
        if type(value) is not cls:  # a subclass has fields of its own: it is given as it is
            return value
        changed = {}
        for name, put in field_converters():
            current = getattr(value, name, _UNSET)
            if current is _UNSET:  # an init=False field never set
                continue
            converted = put(current)
            if converted is not current:
                changed[name] = converted
        if not changed:
            return value
        # A copy with the fields converted, the caller's instance as it was. Not made again
        # through __init__: __post_init__ would run twice on it (and an InitVar be lost).
        converted = copy.copy(value)
        for name, field_value in changed.items():
            object.__setattr__(converted, name, field_value)  # (a frozen dataclass's too)
        return converted

    return convert


def as_float(value: Any) -> Any:
    """An int given for a ``float`` as the float a task receives (the type check accepts it,
    as Python typing does), and so another real number the check accepts (a numpy scalar);
    anything else as is (``bool`` is refused by the check first)."""
    if type(value) is float:
        return value
    if type(value) is int or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
        return float(value)
    return value


def in_utc(value: Any) -> Any:
    """A ``datetime`` as a task receives it: timezone-aware, in UTC. One without a timezone is
    taken to be UTC, one with another timezone is converted (the same instant). A cluster
    passes datetimes between tasks as UTC timestamps, and the reference SDK does so locally
    too: a task sees the same value whichever way it runs. Anything else is returned as is."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=_dt.UTC)
        if value.tzinfo is not _dt.UTC:
            return value.astimezone(_dt.UTC)
    return value


def as_int(value: Any) -> Any:
    """A numpy integer (or another ``numbers.Integral`` the check accepts) given for an ``int``
    as the int a task receives; anything else as is."""
    if type(value) is not int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


_LEAF_CONVERTERS: dict[Any, Callable[[Any], Any]] = {_dt.datetime: in_utc, float: as_float, int: as_int}
_ALL_LEAVES = frozenset(_LEAF_CONVERTERS)
_TYPED_ONLY = frozenset((_dt.datetime,))  # converted where passed as a typed literal only (_CONVERTED_ORIGINS)
# The leaves a plain value (str, int, float, bool, None: what the record's fast encoding takes)
# can need converted in: an int for a float, a naive datetime never is one. An annotation that
# reaches only ``int`` needs converting only when a value is not plain (a numpy integer).
ALWAYS_CONVERTED = frozenset((float, _dt.datetime))


# What a scalar annotation accepts (an int for a float, a numbers.Integral for an int, ...) is
# never a dataframe or a file: these types and their numeric stand-ins.
_SCALAR_VALUES = frozenset((int, float, bool, str, bytes, type(None)))


def _scalar(tp: Any) -> bool:
    """Whether every value the check of annotation ``tp`` accepts is a scalar: ``int``,
    ``float``, ``bool``, ``str``, ``bytes``, ``None``, or a union of them (not a type with a
    rule of its own: :func:`register_type_check`)."""
    if tp is None or tp is type(None):
        return True
    if isinstance(tp, type):
        return tp in _SCALAR_VALUES and tp not in _REGISTRY
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return all(_scalar(a) for a in typing.get_args(tp))
    return False


def _annotations(func: Callable[..., Any]) -> tuple[dict[str, Any], Any]:
    """The resolved annotations; one that cannot be resolved (a string naming something out of
    scope) is left unchecked instead of giving up on all of them."""
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        hints = {}
        scope = getattr(func, "__globals__", {})
        raw = {name: p.annotation for name, p in sig.parameters.items() if p.annotation is not p.empty}
        if sig.return_annotation is not sig.empty:
            raw["return"] = sig.return_annotation
        for name, annotation in raw.items():
            if not isinstance(annotation, str):
                hints[name] = annotation
                continue
            try:  # what typing.get_type_hints does with a string annotation
                hints[name] = eval(annotation, scope)
            except Exception:
                hints[name] = Any
    params = {name: hints.get(name, Any) for name in sig.parameters}
    output = hints.get("return", Any)
    return params, type(None) if output is None else output
