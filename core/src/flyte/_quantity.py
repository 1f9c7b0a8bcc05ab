"""Kubernetes resource quantities: parse, validate and normalise.

The grammar is Kubernetes' own (k8s.io/apimachinery/pkg/api/resource): a non-negative decimal
number with an optional binary-SI (Ki..Ei), decimal-SI (n, u, m, k, M..E) or exponent suffix.
We keep the user's spelling when it is valid ("500m" stays "500m") and turn numbers into the
shortest exact string, because operator CRDs reject JSON numbers for quantities.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# ASCII digits only: Python's \d also matches "१" or "٣", which the API server rejects.
_QUANTITY = re.compile(
    r"^\+?(?P<num>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$"
)
# The API server caps larger values (and rounds finer ones up to 1m): refused, not changed.
MAX_QUANTITY = Decimal(2**63 - 1)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(text: str) -> Decimal | None:
    """The value of a quantity string in base units, or None if it is not a quantity."""
    match = _QUANTITY.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    try:
        number = Decimal(match["num"])
    except InvalidOperation:
        return None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))  # exponent form, e.g. "1e3"


def number_to_quantity(value: int | float | Decimal) -> str:
    """The shortest exact quantity string for a number: 2 -> "2", 0.5 -> "500m"."""
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if number == number.to_integral_value():
        return str(int(number))
    milli = number * 1000
    if milli == milli.to_integral_value():
        return f"{int(milli)}m"
    return format(number.normalize(), "f")


def normalise_quantity(value: Any) -> tuple[str, Decimal] | None:
    """(canonical string, value) for a str/int/float quantity; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")) or value < 0:
            return None
        text = number_to_quantity(value)
        return text, parse_quantity(text)  # type: ignore[return-value]
    if isinstance(value, str):
        parsed = parse_quantity(value)
        if parsed is None:
            return None
        return value.strip().lstrip("+"), parsed
    return None
