"""Task inputs given as JSON on the command line, turned into the values the annotations name.

JSON has no datetimes, tuples, sets, enums or dataclasses: an ISO string becomes a
``datetime``/``date``, a list a ``tuple``/``set``, an enum's value the member, an object a
dataclass or attrs instance (through cattrs) or a pydantic model (its ``model_validate``),
element by element inside containers. The
codec's tagged forms (``{"$t": "datetime", "v": ...}``) are accepted as well. Anything else is
left as it is for the task's own input check to judge.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from typing import Any

import attrs
import cattrs

from flyte import _codec


class ConversionError(ValueError):
    """A JSON value cannot become the annotated type; the message says why."""


def from_json(tp: Any, value: Any) -> Any:
    """``value`` (decoded JSON) as annotation ``tp`` asks; unchanged where nothing applies."""
    return _convert(tp, _codec.decode(value))


def _convert(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _convert(args[0], value)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if value is None or len(members) != 1:
            return value
        return _convert(members[0], value)
    if origin in (list, set, frozenset) and isinstance(value, list):
        items = [_convert(args[0], v) for v in value] if args else value
        return origin(items)
    if origin is tuple and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        if args and len(args) == len(value):
            return tuple(_convert(a, v) for a, v in zip(args, value, strict=True))
        return tuple(value)
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {k: _convert(args[1], v) for k, v in value.items()}
    if tp in (tuple, set, frozenset) and isinstance(value, list):
        return tp(value)
    if not isinstance(tp, type) or isinstance(value, tp):
        return value
    if tp is dt.datetime and isinstance(value, str):
        return _iso(dt.datetime.fromisoformat, value, "an ISO date/time such as 2025-01-31T09:30")
    if tp is dt.date and isinstance(value, str):
        return _iso(dt.date.fromisoformat, value, "an ISO date such as 2025-01-31")
    if issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            accepted = ", ".join(repr(m.value) for m in tp)
            raise ConversionError(f"{value!r} is not a {tp.__name__} (accepted: {accepted})") from None
    if (dataclasses.is_dataclass(tp) or attrs.has(tp)) and isinstance(value, dict):
        try:
            return cattrs.structure(value, tp)
        except cattrs.BaseValidationError as exc:  # an exception group: say which field, and why
            problems = "; ".join(cattrs.transform_error(exc, path=tp.__name__))
            raise ConversionError(f"does not match {tp.__name__}: {problems}") from None
        except Exception as exc:
            raise ConversionError(f"does not match {tp.__name__}: {exc}") from None
    if is_pydantic_model(tp) and isinstance(value, dict):
        try:
            return tp.model_validate(value)
        except ValueError as exc:  # pydantic's ValidationError; its text lists each field's problem
            raise ConversionError(f"does not match {tp.__name__}: {exc}") from None
    return value


def is_pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic model class (told by its API: pydantic is not imported)."""
    return isinstance(tp, type) and callable(getattr(tp, "model_validate", None))


def is_record(tp: Any) -> bool:
    """Whether ``tp`` is a class whose values are given as a JSON object: a dataclass, an attrs
    class or a pydantic model."""
    return isinstance(tp, type) and (dataclasses.is_dataclass(tp) or attrs.has(tp) or is_pydantic_model(tp))


def _iso(parse: Any, text: str, accepted: str) -> Any:
    try:
        return parse(text)
    except ValueError:
        raise ConversionError(f"{text!r} is not {accepted}") from None
