"""Named images (``Image.from_ref_name``): the reference each name stands for, given where the
program starts (``flyte.init(images=...)``, ``flyte.init_from_config``'s config file
``image.image_refs``), so one definition serves images each team builds and tags on its own."""

from __future__ import annotations

import re
from typing import Any

from flyte._validation import invalid, wrong_type

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DEFAULT = "default"
_ACCEPTED = '{"name": "registry/image:tag"}, or a list of "name=registry/image:tag" (a bare reference names "default")'

_refs: dict[str, str] = {}


def parse(value: Any) -> dict[str, str]:
    """``images=`` as a name -> reference mapping (validated)."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = []
        for entry in value:
            if not isinstance(entry, str):
                wrong_type("images", entry, '"name=registry/image:tag" strings')
            name, _, ref = entry.partition("=") if "=" in entry else (DEFAULT, "", entry)
            items.append((name, ref))
    else:
        wrong_type("images", value, _ACCEPTED)
    from flyte.image import _reference

    refs = {}
    for name, ref in items:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            invalid("images", name, "image names of letters, digits, '.', '_' and '-'")
        refs[name] = _reference(f"images[{name!r}]")(ref)
    return refs


def set_refs(value: Any) -> None:
    """Replace the known names (``flyte.init``)."""
    refs = parse(value)
    _refs.clear()
    _refs.update(refs)


def known() -> dict[str, str]:
    return dict(_refs)


def lookup(name: str) -> str | None:
    return _refs.get(name)


def resolve(name: str) -> str:
    """The reference ``name`` stands for, or an error that says where to give it."""
    ref = _refs.get(name)
    if ref is None:
        known = ", ".join(sorted(_refs)) or "none"
        invalid(
            "Image.from_ref_name",
            name,
            f'a name given at init: flyte.init(images={{"{name}": "registry/image:tag"}}), '
            f'images=("{name}=registry/image:tag",) or image.image_refs in the config file',
            f"is not a known image name (known: {known})",
        )
    return ref
