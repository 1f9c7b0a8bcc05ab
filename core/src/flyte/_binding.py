"""A task call's arguments by parameter name, as ``inspect.Signature.bind`` + ``apply_defaults``
would give them, without building a ``BoundArguments`` on every call.

Every child task call binds its arguments, so this is on the hot path: ``Signature.bind`` walks
the parameters with a general state machine (~2 µs for one argument). A :class:`Binder` is
compiled once per signature and handles the calls of plain signatures (positional-or-keyword
and keyword-only parameters) with a dict built straight from the arguments; anything else (a
``*args``/``**kwargs`` or positional-only parameter) and every bad call goes through
``Signature.bind``, so its error messages are Python's own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_P = inspect.Parameter


class Binder:
    """Binds calls to one signature (compiled once; :meth:`bind` per call)."""

    __slots__ = ("_by_position", "_defaults", "_names", "_positional", "_signature", "_simple")

    def __init__(self, signature: inspect.Signature):
        params = signature.parameters.values()
        self._signature = signature
        self._simple = all(p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY) for p in params)
        self._names = tuple(signature.parameters)  # the order bound arguments come in
        self._positional = tuple(p.name for p in params if p.kind is _P.POSITIONAL_OR_KEYWORD)
        self._defaults = {p.name: p.default for p in params if p.default is not _P.empty}
        # Every parameter positional-or-keyword: a call passing each one positionally (most
        # task calls) binds as zip pairs them.
        all_positional = self._simple and len(self._positional) == len(self._names)
        self._by_position = _by_position(self._names) if all_positional else None

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by name, defaults applied, in parameter order. Raises
        ``TypeError`` (Python's message) for a call that does not fit the signature."""
        if not kwargs and len(args) == len(self._names) and self._by_position is not None:
            return self._by_position(args)
        positional = self._positional
        if not self._simple or len(args) > len(positional):
            return self._slow(args, kwargs)
        given = dict(zip(positional, args, strict=False))  # len(args) <= len(positional)
        if kwargs:
            names = self._names
            for name in kwargs:
                if name in given or name not in names:  # passed twice, or unknown
                    return self._slow(args, kwargs)
            given.update(kwargs)
        if len(given) == len(self._names):
            # Every parameter passed: in order unless a keyword came out of turn.
            return given if not kwargs else {n: given[n] for n in self._names}
        defaults = self._defaults
        full = {}
        for name in self._names:
            if name in given:
                full[name] = given[name]
            elif name in defaults:
                full[name] = defaults[name]
            else:  # a required parameter is missing
                return self._slow(args, kwargs)
        return full

    def _slow(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)


def _by_position(names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """The dict a call passing every parameter (``names``) positionally binds to, as ``zip``
    pairs them: a dict display for up to three parameters (~0.9k instructions against ~4.5k
    for ``dict(zip(...))``, whose call and pairs cost more than the dict)."""
    if len(names) == 1:
        (a,) = names
        return lambda args: {a: args[0]}
    if len(names) == 2:
        a, b = names
        return lambda args: {a: args[0], b: args[1]}
    if len(names) == 3:
        a, b, c = names
        return lambda args: {a: args[0], b: args[1], c: args[2]}
    return lambda args: dict(zip(names, args, strict=True))
