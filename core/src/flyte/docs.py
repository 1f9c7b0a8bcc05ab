"""Task documentation and UI links."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs

from flyte._validation import wrong_type


@attrs.frozen
class Documentation:
    """Human-readable documentation of a task; defaults to the function's docstring."""

    description: str | None = attrs.field(default=None)

    @description.validator
    def _check(self, _attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            wrong_type("docs.description", value, "str")

    @classmethod
    def from_function(cls, func: Callable[..., Any]) -> Documentation:
        return cls(description=inspect.getdoc(func))


def to_documentation(value: Any) -> Documentation | None:
    """``docs=`` accepts a Documentation or a plain string."""
    if value is None or isinstance(value, Documentation):
        return value
    if isinstance(value, str):
        return Documentation(description=value)
    wrong_type("docs", value, "a flyte.Documentation or a str")


@runtime_checkable
class Link(Protocol):
    """A clickable URL attached to a task (an experiment tracker, a dashboard, ...).

    Implement ``name`` and ``get_link(...)``, which receives the run and action names and
    returns the URL. ``icon_uri`` is optional.
    """

    name: str

    def get_link(
        self,
        run_name: str,
        project: str,
        domain: str,
        context: dict[str, str],
        parent_action_name: str,
        action_name: str,
        pod_name: str,
        **kwargs: Any,
    ) -> str: ...


def to_links(value: Any) -> tuple[Any, ...]:
    """``links=`` accepts one Link or a sequence of them."""
    if value is None:
        return ()
    items = (value,) if not isinstance(value, (list, tuple)) else tuple(value)
    for item in items:
        if not isinstance(getattr(item, "name", None), str) or not callable(getattr(item, "get_link", None)):
            wrong_type("links", item, "objects with a str `name` and a `get_link(...)` method")
    return items
