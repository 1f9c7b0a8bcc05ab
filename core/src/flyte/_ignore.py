"""What a copy of a local folder into an image leaves out: flyte's defaults (caches, virtual
environments, build output), the folder's own ``.gitignore`` and ``.dockerignore``, and the
image's ``with_dockerignore`` files. The image's identity and the build context use the same
rules, so a file the build leaves out never changes a tag."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flyte.errors import ConfigurationError

ALWAYS_EXCLUDED = [
    "__pycache__/",
    "*.py[cod]",
    ".git/",
    ".venv/",
    "venv/",
    "*.egg-info/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".pixi/",
    "build/",
    "dist/",
]


def ignore_spec(root: Path, extra: tuple[str, ...] = ()) -> Any:
    """The patterns (a ``pathspec.GitIgnoreSpec``) a copy of ``root`` leaves out; ``extra``
    are ``.dockerignore`` files from elsewhere, which must exist."""
    import pathspec

    lines = list(ALWAYS_EXCLUDED)
    for name in (".gitignore", ".dockerignore"):
        if (root / name).is_file():
            lines += (root / name).read_text().splitlines()
    for file in extra:
        if not Path(file).is_file():
            raise ConfigurationError(f"with_dockerignore: {file!r} does not exist (accepted: a .dockerignore file)")
        lines += Path(file).read_text().splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def kept_files(folder: Path, extra: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    """The files of ``folder`` a copy keeps, as (path relative to it, file), sorted."""
    ignored = ignore_spec(folder, extra)
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not ignored.match_file(relative):
            files.append((relative, path))
    return files


def tree_digest(folder: Path, extra: tuple[str, ...] = ()) -> str:
    """A hash of the names and bytes of the files a copy of ``folder`` keeps."""
    digest = hashlib.sha256()
    for relative, path in kept_files(folder, extra):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest() + b"\n")
    return digest.hexdigest()
