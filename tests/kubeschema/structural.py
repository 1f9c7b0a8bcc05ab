"""A custom resource checked against its CRD's structural schema, the way the API server does
on a create with ``fieldValidation=Strict``.

The walk follows the apiserver's order: a ``null`` in a field that is not ``nullable`` is
dropped and absent fields get their schema ``default`` first; then every value is checked
against its node (type, format, enum, pattern, bounds, required fields, list types, CEL
``x-kubernetes-validations``). An undeclared field is an error, as strict field validation
makes it (without it the server would prune the field silently). Fields under
``x-kubernetes-preserve-unknown-fields`` stay open.

Every keyword the CRDs in ``crds/`` use is understood; :func:`unsupported_keywords` lists any
other, so a CRD update that needs more is noticed by the self-test instead of passing unchecked.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

import celpy

KEYWORDS = {
    "type",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "description",
    "format",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "nullable",
    "default",
    "anyOf",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
}
INT_RANGES = {"int32": 2**31, "int64": 2**63}
JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def unsupported_keywords(schema: dict[str, Any], path: str = "") -> list[str]:
    """Schema keywords (with their paths) this module does not check."""
    found = [f"{path or '<root>'}: {key}" for key in schema if key not in KEYWORDS]
    for name, child in (schema.get("properties") or {}).items():
        found += unsupported_keywords(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += unsupported_keywords(schema[key], f"{path}.{key}")
    for i, child in enumerate(schema.get("anyOf") or []):
        found += unsupported_keywords(child, f"{path}.anyOf[{i}]")
    return found


def with_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """A copy of ``value`` with non-nullable nulls dropped and schema defaults filled in."""
    value = copy.deepcopy(value)
    _default(value, schema)
    return value


def _default(value: Any, schema: dict[str, Any]) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        for key in list(value):
            child = props.get(key, extra)
            if child is None:
                continue
            if value[key] is None and not child.get("nullable"):
                del value[key]
            else:
                _default(value[key], child)
        for key, child in props.items():
            if key not in value and "default" in child:
                value[key] = copy.deepcopy(child["default"])
                _default(value[key], child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(item, schema["items"])


def errors(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``path: message`` lines ([] when it fits)."""
    where = path or "<root>"
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed here"]
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            hint = " (write '500m' or \"0.5\")" if isinstance(value, float) else ""
            return [f"{where}: {value!r} must be an integer or a string{hint}"]
    elif "type" in schema:
        problem = _type_error(value, schema["type"])
        if problem:
            return [f"{where}: {problem}"]
    found = _scalar_errors(value, schema, where)
    if isinstance(value, dict):
        found += _object_errors(value, schema, path)
    elif isinstance(value, list):
        found += _array_errors(value, schema, path)
    found += _cel_errors(value, schema, where)
    return found


def _type_error(value: Any, kind: str) -> str | None:
    expected = JSON_TYPES.get(kind)
    if expected is None:
        return None
    if isinstance(value, bool) and kind != "boolean":
        return f"{value!r} is a boolean, not {kind}"
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return None  # JSON has one number type: 2.0 decodes as an integer
    if not isinstance(value, expected):
        shown = f"{value!r}"[:60]
        quoted = f' (quote it: "{value}")' if kind == "string" and isinstance(value, (int, float)) else ""
        return f"{shown} is not of type {kind}{quoted}"
    return None


def _scalar_errors(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    found = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']!r}")
        if len(value) > schema.get("maxLength", len(value)):
            found.append(f"{where}: longer than {schema['maxLength']} characters")
        if len(value) < schema.get("minLength", 0):
            found.append(f"{where}: shorter than {schema['minLength']} characters")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bound = INT_RANGES.get(schema.get("format", ""))
        if bound and isinstance(value, int) and not -bound <= value < bound:
            found.append(f"{where}: {value} is out of range for {schema['format']}")
        if "minimum" in schema and (
            value < schema["minimum"] or (schema.get("exclusiveMinimum") and value == schema["minimum"])
        ):
            found.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and (
            value > schema["maximum"] or (schema.get("exclusiveMaximum") and value == schema["maximum"])
        ):
            found.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    return found


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    found = []
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
    for field in schema.get("required") or []:
        if field not in value:
            found.append(f"{path + '.' if path else ''}{field}: required field is missing")
    for key, item in value.items():
        here = f"{path}.{key}" if path else key
        if key in props:
            found += errors(item, props[key], here)
        elif isinstance(extra, dict):
            found += errors(item, extra, here)
        elif schema.get("x-kubernetes-embedded-resource") and key in ("apiVersion", "kind", "metadata"):
            continue
        elif not open_ended:
            known = ", ".join(list(props)[:12]) or "none"
            found.append(f"{here}: unknown field (known: {known})")
    for bound, compare, word in (("minProperties", int.__lt__, "fewer"), ("maxProperties", int.__gt__, "more")):
        if bound in schema and compare(len(value), schema[bound]):
            found.append(f"{path or '<root>'}: {word} than {schema[bound]} properties")
    return found


def _array_errors(value: list[Any], schema: dict[str, Any], path: str) -> list[str]:
    found = []
    where = path or "<root>"
    if len(value) < schema.get("minItems", 0):
        found.append(f"{where}: fewer than {schema['minItems']} items")
    if len(value) > schema.get("maxItems", len(value)):
        found.append(f"{where}: more than {schema['maxItems']} items")
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += errors(item, schema["items"], f"{path}[{i}]")
    kind = schema.get("x-kubernetes-list-type")
    if kind in ("set", "map"):
        keys = schema.get("x-kubernetes-list-map-keys") or []
        first: dict[str, int] = {}
        for i, item in enumerate(value):
            ident = repr([item.get(k) for k in keys]) if kind == "map" and isinstance(item, dict) else repr(item)
            if ident in first:
                what = ", ".join(f"{k}={item.get(k)!r}" for k in keys) if kind == "map" else repr(item)
                found.append(f"{path}[{i}]: duplicate entry ({what}), as [{first[ident]}]")
            first.setdefault(ident, i)
    return found


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel_errors(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    found = []
    for rule in schema.get("x-kubernetes-validations") or []:
        if "oldSelf" in rule["rule"]:
            continue  # a transition rule: the server evaluates it on updates only
        result = _program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)})
        if isinstance(result, celpy.CELEvalError) or not bool(result):
            found.append(f"{where}: {rule.get('message') or 'failed rule: ' + rule['rule']}")
    return found
