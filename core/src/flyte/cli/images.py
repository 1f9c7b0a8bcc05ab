"""``--image NAME=REF``: what ``Image.from_ref_name(NAME)`` stands for in one command, besides
the config file's ``image.image_refs`` (as the reference SDK's ``flyte run/deploy --image``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click


def image_refs_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--image`` (repeatable) to a command; the names are known before it runs."""

    @click.option(
        "--image",
        "images",
        multiple=True,
        metavar="NAME=REF",
        help="The image Image.from_ref_name(NAME) stands for (repeatable; a bare REF names 'default'). "
        "Adds to the config file's image.image_refs.",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, images: tuple[str, ...], **kwargs: Any) -> Any:
        import yaml

        from flyte import _image_refs
        from flyte.cli.ignored import root_param
        from flyte.config_file import find_config
        from flyte.errors import FlyteError

        try:
            found = find_config(kwargs.get("config") or root_param("config"))
            data = (yaml.safe_load(found.read_text()) or {}) if found else {}
            from_file = (data.get("image") or {}).get("image_refs") if isinstance(data, dict) else None
            _image_refs.set_refs({**_image_refs.parse(from_file), **_image_refs.parse(images)})
        except (FlyteError, ValueError, TypeError, yaml.YAMLError) as exc:
            raise click.BadParameter(str(exc), param_hint="--image") from None
        return command(*args, **kwargs)

    return wrapper
