"""A run's rows as the commit that wrote them made them, so its final page needs no read back.

:meth:`flyte.runtime.store.RunStore.flush` given a run that has ended returns a
:class:`WrittenRun` when that one commit inserted the run's row and every action of it (a short
run: the store's writer took none of it before): each row as ``SELECT *`` reads it back, with
SQLite's column affinity applied to what was bound (an int in a REAL column comes back a float,
a ``str`` subclass plain text) and each column left out filled with its default. A value whose
stored form is not certain (a type the column would convert some other way, a NaN that SQLite
stores as NULL) makes it None instead, and the page reads the store as it always did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

# A value whose stored form is not worked out here (the page then reads the store).
UNKNOWN = object()


class Column(NamedTuple):
    """A column as ``PRAGMA table_info`` describes it: its name, affinity and default."""

    name: str
    affinity: str  # "TEXT", "INTEGER", "REAL", or another one (no value of it is converted here)
    default: Any  # the stored default of a column left out (UNKNOWN: an expression not read here)


class WrittenRun(NamedTuple):
    """A run's row and its actions' rows (in creation order), as the store holds them."""

    run: dict[str, Any]
    actions: list[dict[str, Any]]


def affinity(declared: str) -> str:
    """SQLite's affinity of a column declared with type ``declared`` (its rules, in order)."""
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if "CHAR" in declared or "CLOB" in declared or "TEXT" in declared:
        return "TEXT"
    if "BLOB" in declared or not declared:
        return "BLOB"
    if "REAL" in declared or "FLOA" in declared or "DOUB" in declared:
        return "REAL"
    return "NUMERIC"


def default(text: str | None) -> Any:
    """The value of a column's default clause (``PRAGMA table_info``'s ``dflt_value``)."""
    if text is None or text.upper() == "NULL":
        return None
    try:
        return int(text)
    except ValueError:
        return UNKNOWN  # a text, a real or an expression: not needed by the tables this reads


def columns(info: Iterable[Sequence[Any]]) -> tuple[Column, ...]:
    """The columns of a table from its ``PRAGMA table_info`` rows (cid, name, type, notnull,
    dflt_value, pk)."""
    return tuple(Column(row[1], affinity(row[2] or ""), default(row[4])) for row in info)


def _text(value: Any) -> Any:
    if type(value) is str:
        return value
    # A str subclass (a Phase) is bound as its text and read back as a plain str.
    return str.__str__(value) if isinstance(value, str) else UNKNOWN


def _real(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value if not math.isnan(value) else UNKNOWN  # SQLite stores a NaN as NULL
    if kind is int and -(2**53) <= value <= 2**53:  # forced into a float, exactly
        return float(value)
    return UNKNOWN


def _integer(value: Any) -> Any:
    kind = type(value)
    return int(value) if kind is int or kind is bool else UNKNOWN  # sqlite3 binds a bool as 0 or 1


def _other(value: Any) -> Any:
    return UNKNOWN


_CONVERTERS = {"TEXT": _text, "REAL": _real, "INTEGER": _integer}


def stored(column: Column, value: Any) -> Any:
    """``value`` as SQLite stores it in ``column`` and sqlite3 reads it back; UNKNOWN when that
    is not certain."""
    return None if value is None else _CONVERTERS.get(column.affinity, _other)(value)


class Table:
    """A table's columns as :func:`row` uses them: each column's default (in the table's
    order), each one's affinity and converter, and the columns whose default is not worked out
    here."""

    __slots__ = ("affinities", "converters", "defaults", "unsettled")

    def __init__(self, table: Sequence[Column]):
        self.defaults = {column.name: column.default for column in table}
        self.affinities = {column.name: column.affinity for column in table}
        self.converters = {column.name: _CONVERTERS.get(column.affinity, _other) for column in table}
        self.unsettled = frozenset(column.name for column in table if column.default is UNKNOWN)


# The value types each affinity stores as they are (a float only when it is not a NaN).
_KEPT = {"TEXT": str, "REAL": float, "INTEGER": int}


def row(table: Table, given: dict[str, Any]) -> dict[str, Any] | None:
    """The row ``SELECT *`` reads back after an INSERT of the columns ``given`` (the others
    take their defaults); None when a value's stored form, or a default, is not certain, or
    ``given`` names a column the table does not have."""
    if not table.unsettled <= given.keys():
        return None
    out = table.defaults.copy()
    affinities = table.affinities
    for name, value in given.items():
        affinity = affinities.get(name)
        if affinity is None:
            return None
        kind = type(value)
        # Most values are stored as they are (no call for them): text, a float, an int.
        if value is None or (kind is _KEPT.get(affinity) and (kind is not float or not math.isnan(value))):
            out[name] = value
            continue
        value = table.converters[name](value)
        if value is UNKNOWN:
            return None
        out[name] = value
    return out
