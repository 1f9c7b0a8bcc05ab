"""Rendering a value as HTML for a report, as the reference SDK's ``flyte.types`` does it.

A renderer is any object with ``to_html(value) -> str`` (the :class:`Renderable` protocol),
attached to a type with ``typing.Annotated``; :meth:`TypeEngine.to_html` finds it::

    RenderedMolecule = Annotated[Molecule, MoleculeRenderer()]
    await flyte.report.log.aio(TypeEngine.to_html(mol, RenderedMolecule))

The report holds only what a task logs: returning such a value adds nothing to it.
"""

from __future__ import annotations

import typing
from typing import Any, Protocol, runtime_checkable

__all__ = ["Renderable", "TypeEngine"]


@runtime_checkable
class Renderable(Protocol):
    """Turns a value (a dataframe, a markdown string, a type of your own) into an HTML fragment."""

    def to_html(self, python_value: Any) -> str:
        """The HTML for ``python_value``."""
        ...


class TypeEngine:
    """The reference SDK's entry point for type handling; locally only its rendering is used
    (values are stored by :mod:`flyte._codec`, not through type transformers)."""

    @classmethod
    def to_html(cls, python_val: Any, expected_python_type: Any) -> str:
        """``python_val`` as HTML: through the first :class:`Renderable` attached to
        ``expected_python_type`` with ``Annotated``; else a table for a value that renders one
        itself (a pandas DataFrame's ``to_html()``); else its ``str``, as the reference's
        default does."""
        if typing.get_origin(expected_python_type) is typing.Annotated:
            for extra in typing.get_args(expected_python_type)[1:]:
                if isinstance(extra, Renderable) and not isinstance(extra, type):
                    return extra.to_html(python_val)
        own = getattr(python_val, "to_html", None)
        if callable(own) and not isinstance(python_val, type):
            return own()
        return str(python_val)
