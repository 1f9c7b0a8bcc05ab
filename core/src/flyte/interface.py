"""A task's interface: its input names, types and defaults, and its output type.

Types are recorded as canonical strings (``"int"``, ``"list[dict[str, float]]"``,
``"mypkg.models:Config"``) so the interface is plain data that hashes the same in every
process; the live Python types stay on the task object.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

from flyte.errors import ConfigurationError
from flyte.frozen import value_key


class _NoDefault:
    _instance: _NoDefault | None = None

    def __new__(cls) -> _NoDefault:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_DEFAULT"

    def __reduce__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@attrs.frozen
class InputSpec:
    """One input: its name, canonical type string and default (``NO_DEFAULT`` if required)."""

    name: str
    type: str
    # The user's value as written (the task receives it), compared and hashed by its encoding.
    default: Any = attrs.field(default=NO_DEFAULT, eq=value_key)

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT


@attrs.frozen
class Interface:
    """The inputs (in signature order) and the output type string (``"None"`` for none)."""

    inputs: tuple[InputSpec, ...] = ()
    output: str = "None"

    def input(self, name: str) -> InputSpec:
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)


def type_name(tp: Any) -> str:
    """A canonical, process-independent spelling of a type annotation."""
    if tp is None or tp is type(None):
        return "None"
    if tp is Any:
        return "Any"
    origin = typing.get_origin(tp)
    if origin is not None:
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            return " | ".join(type_name(a) for a in args)
        if origin is typing.Literal:
            return f"Literal[{', '.join(repr(a) for a in args)}]"
        if origin is typing.Annotated:
            return type_name(args[0])
        name = type_name(origin)
        if not args:
            return name
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{name}[{inner}]"
    if isinstance(tp, type):
        if tp.__module__ == "builtins":
            return tp.__qualname__
        if tp.__module__ == "collections.abc":
            return f"collections.abc.{tp.__qualname__}"
        return f"{tp.__module__}:{tp.__qualname__}"
    if isinstance(tp, typing.TypeVar):
        return f"~{tp.__name__}"
    if isinstance(tp, str):
        return tp
    return repr(tp).replace("typing.", "")


def signature_types(func: Callable[..., Any]) -> tuple[dict[str, Any], Any]:
    """The resolved annotations of ``func``'s parameters and its return type."""
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        # A string annotation naming something only the enclosing function can see (a local
        # import, a class defined inside a test). Keep the annotations as written: the
        # interface records them as text, and nothing is evaluated.
        hints = {name: p.annotation for name, p in sig.parameters.items() if p.annotation is not p.empty}
        if sig.return_annotation is not sig.empty:
            hints["return"] = sig.return_annotation
    params = {name: hints.get(name, Any) for name in sig.parameters}
    return params, hints.get("return", Any if sig.return_annotation is sig.empty else None)


def check_parameters(func: Callable[..., Any], sig: inspect.Signature) -> None:
    """A task's inputs are named: they are passed by name (to a child action, a container, a
    trigger), cached and shown. ``*args``/``**kwargs`` and positional-only parameters cannot be."""
    for name, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            stars = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ConfigurationError(
                f"task {func.__qualname__}: {stars}{name} parameters are not supported (accepted: named "
                "parameters, e.g. def f(x: int, y: str = 'a')): name every input so it can be passed, cached and shown"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ConfigurationError(
                f"task {func.__qualname__}: {name!r} is positional-only (before '/'), but a task's inputs are "
                "passed by name (accepted: parameters without '/', e.g. def f(x: int))"
            )


def interface_of(func: Callable[..., Any]) -> Interface:
    """The interface of a task function, from its signature and annotations."""
    sig = inspect.signature(func)
    params, output = signature_types(func)
    inputs = []
    check_parameters(func, sig)
    for name, param in sig.parameters.items():
        default = NO_DEFAULT if param.default is param.empty else param.default
        inputs.append(InputSpec(name=name, type=type_name(params[name]), default=default))
    return Interface(inputs=tuple(inputs), output=type_name(output))
