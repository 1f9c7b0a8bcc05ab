"""Image layers that install a Python project's locked dependencies: uv (``uv.lock``), Poetry
(``poetry.lock``) and pixi (``pixi.lock``, conda and PyPI packages).

Each layer is identified by the contents of the files it reads: the manifest and the lock for
``project_install_mode="dependencies_only"`` (plus the local folders a uv project's
``[tool.uv.sources]`` install from), the whole project folder, less what its ``.gitignore`` and
``.dockerignore`` leave out, for ``"install_project"``. Where the files live on this machine is
not part of the identity. :mod:`flyte.render.dockerfile` turns them into build steps.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from flyte._ignore import tree_digest
from flyte._validation import invalid, no_control_characters, wrong_type
from flyte.secret import Secret, to_secrets

INSTALL_MODES = ("dependencies_only", "install_project")

# Inside a task's container the program's module-level image definitions run again, but the
# files they name (requirements, project manifests, copied sources) stayed on the machine that
# built the image. The entrypoint imports the task's module within absent_files_allowed(): a
# layer whose file is absent is then kept with an empty digest instead of failing the import.
# Nothing builds there.
_absent_files_allowed = contextvars.ContextVar("absent_files_allowed", default=False)


@contextlib.contextmanager
def absent_files_allowed() -> Iterator[None]:
    token = _absent_files_allowed.set(True)
    try:
        yield
    finally:
        _absent_files_allowed.reset(token)


def absent(path: Any) -> bool:
    """True when ``path`` is missing and that is allowed (inside a task's container)."""
    return _absent_files_allowed.get() and isinstance(path, (str, os.PathLike)) and not Path(path).exists()


# pixi's own rule for environment names (lower-case letters, digits and dashes).
PIXI_ENVIRONMENT = re.compile(r"^[a-z0-9-]+$")


@attrs.frozen
class UVProject:
    """A uv project: the versions ``uv.lock`` pins (resolved at build time without one), and
    the project itself with ``install_project``. ``root`` is the folder the build context
    mirrors: the project's, or a common parent when ``path_sources`` (local folders or files
    ``[tool.uv.sources]`` install from) lie outside it."""

    pyproject: str
    uvlock: str | None
    digest: str
    index_url: str | None = None
    extra_args: str | None = None
    secret_mounts: tuple[Secret, ...] = ()
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False
    project_install_mode: str = "dependencies_only"
    root: str = ""
    path_sources: tuple[str, ...] = ()

    @property
    def project_dir(self) -> str:
        """The project folder, relative to ``root`` (POSIX, "." when they are the same)."""
        return Path(os.path.relpath(Path(self.pyproject).parent, self.root or Path(self.pyproject).parent)).as_posix()


@attrs.frozen
class PoetryProject:
    """A Poetry project: exactly what ``poetry.lock`` pins, and with ``install_project`` the
    project itself."""

    pyproject: str
    poetry_lock: str
    digest: str
    extra_args: str | None = None
    secret_mounts: tuple[Secret, ...] = ()
    project_install_mode: str = "dependencies_only"


@attrs.frozen
class PixiProject:
    """A pixi project's ``environment`` (conda and PyPI packages), which becomes the Python
    the image's tasks run in."""

    manifest: str
    pixi_lock: str | None
    digest: str
    environment: str = "default"
    extra_args: str | None = None
    secret_mounts: tuple[Secret, ...] = ()
    project_install_mode: str = "dependencies_only"


# Where a layer's files live on this machine is not part of the image; their contents are.
LOCAL_PATHS = ("pyproject", "uvlock", "poetry_lock", "manifest", "pixi_lock", "root", "path_sources")


def install_options(index_url: Any, extra_index_urls: Any, pre: Any, extra_args: Any) -> dict[str, Any]:
    """A uv install's ``index_url``, ``extra_index_urls``, ``pre`` and ``extra_args``, checked
    (a uv project's, a requirements file's)."""
    return dict(
        index_url=_text("index_url", index_url),
        extra_index_urls=_index_urls(extra_index_urls),
        pre=_flag("pre", pre),
        extra_args=_text("extra_args", extra_args),
    )


def uv_project(
    pyproject_file: Any,
    uvlock: Any,
    index_url: Any,
    extra_index_urls: Any,
    pre: Any,
    extra_args: Any,
    secret_mounts: Any,
    project_install_mode: Any,
) -> UVProject:
    options = dict(
        **install_options(index_url, extra_index_urls, pre, extra_args),
        secret_mounts=to_secrets(secret_mounts, "secret_mounts"),
        project_install_mode=_install_mode(project_install_mode),
    )
    if absent(pyproject_file):
        return UVProject(pyproject=str(pyproject_file), uvlock=None, digest="", **options)
    path = _pyproject(pyproject_file)
    lock = _file("uvlock", uvlock, "uv.lock") if uvlock is not None else path.with_name("uv.lock")
    lock = lock if lock.is_file() else None
    mode = options["project_install_mode"]
    sources = _uv_path_sources(path)
    if mode == "install_project":  # the project folder is copied whole: only outside ones are extra
        sources = tuple(s for s in sources if not s.is_relative_to(path.parent.resolve()))
    root = Path(os.path.commonpath([path.parent.resolve(), *(s.parent if s.is_file() else s for s in sources)]))
    layer = UVProject(
        pyproject=str(path),
        uvlock=str(lock) if lock else None,
        digest="",
        root=str(root),
        path_sources=tuple(str(s) for s in sources),
        **options,
    )
    return attrs.evolve(layer, digest=project_digest(layer))


def poetry_project(
    pyproject_file: Any, poetry_lock: Any, extra_args: Any, secret_mounts: Any, project_install_mode: Any
) -> PoetryProject:
    options = dict(
        extra_args=_text("extra_args", extra_args),
        secret_mounts=to_secrets(secret_mounts, "secret_mounts"),
        project_install_mode=_install_mode(project_install_mode),
    )
    if absent(pyproject_file):
        return PoetryProject(pyproject=str(pyproject_file), poetry_lock=str(poetry_lock or ""), digest="", **options)
    path = _pyproject(pyproject_file)
    if poetry_lock is None:
        lock = path.with_name("poetry.lock")
        if not lock.is_file():
            invalid(
                "poetry_lock",
                str(lock),
                "the project's poetry.lock (run `poetry lock` next to pyproject.toml) or poetry_lock=<its path>",
                "does not exist",
            )
    else:
        lock = _file("poetry_lock", poetry_lock, "poetry.lock")
    layer = PoetryProject(pyproject=str(path), poetry_lock=str(lock), digest="", **options)
    return attrs.evolve(layer, digest=project_digest(layer))


def pixi_project(
    manifest_file: Any, pixi_lock: Any, environment: Any, extra_args: Any, secret_mounts: Any, project_install_mode: Any
) -> PixiProject:
    if not isinstance(environment, str):
        wrong_type("environment", environment, "a pixi environment name (str)")
    if not PIXI_ENVIRONMENT.fullmatch(environment):
        invalid("environment", environment, "a pixi environment name: lower-case letters, digits and dashes")
    options = dict(
        environment=environment,
        extra_args=_text("extra_args", extra_args),
        secret_mounts=to_secrets(secret_mounts, "secret_mounts"),
        project_install_mode=_install_mode(project_install_mode),
    )
    if absent(manifest_file):
        return PixiProject(manifest=str(manifest_file), pixi_lock=None, digest="", **options)
    manifest = _pixi_manifest(manifest_file)
    lock = _file("pixi_lock", pixi_lock, "pixi.lock") if pixi_lock is not None else manifest.with_name("pixi.lock")
    lock = lock if lock.is_file() else None
    if environment != "default" and environment not in _pixi_environments(manifest):
        known = ", ".join(["default", *sorted(_pixi_environments(manifest))])
        invalid("environment", environment, f"an environment {manifest.name} defines: {known}", "is not defined")
    layer = PixiProject(manifest=str(manifest), pixi_lock=str(lock) if lock else None, digest="", **options)
    return attrs.evolve(layer, digest=project_digest(layer))


# -- checks -----------------------------------------------------------------------------------


def _path(param: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        wrong_type(param, value, "a path (str or pathlib.Path)")
    return Path(value)


def _file(param: str, value: Any, what: str) -> Path:
    path = _path(param, value)
    if not path.is_file():
        invalid(param, str(value), f"the path of an existing {what}", "does not exist")
    return path


def _pyproject(value: Any) -> Path:
    path = _path("pyproject_file", value)
    if not path.is_file() or path.name != "pyproject.toml":
        invalid("pyproject_file", str(value), "the path of an existing pyproject.toml", "is not one")
    return path


def _pixi_manifest(value: Any) -> Path:
    path = _path("manifest_file", value)
    if path.is_dir():  # as pixi finds a project's manifest: pixi.toml wins over pyproject.toml
        found = next((path / n for n in ("pixi.toml", "pyproject.toml") if (path / n).is_file()), None)
        if found is None:
            invalid(
                "manifest_file", str(value), "a pixi.toml or pyproject.toml, or a folder holding one", "has neither"
            )
        path = found
    if not path.is_file() or path.name not in ("pixi.toml", "pyproject.toml"):
        invalid("manifest_file", str(value), "an existing pixi.toml or pyproject.toml (pixi finds no other name)")
    if path.name == "pyproject.toml" and "pixi" not in _toml(path).get("tool", {}):
        invalid("manifest_file", str(value), "a pixi.toml, or a pyproject.toml with a [tool.pixi] table", "has none")
    return path


def _pixi_environments(manifest: Path) -> set[str]:
    data = _toml(manifest)
    table = data.get("tool", {}).get("pixi", {}) if manifest.name == "pyproject.toml" else data
    return set(table.get("environments", {}))


def _uv_path_sources(pyproject: Path) -> tuple[Path, ...]:
    """The local folders and files the project's ``[tool.uv.sources]`` install from."""
    sources = _toml(pyproject).get("tool", {}).get("uv", {}).get("sources", {})
    found = []
    for name, entry in sources.items():
        for item in entry if isinstance(entry, list) else [entry]:
            if isinstance(item, dict) and "path" in item:
                path = (pyproject.parent / item["path"]).resolve()
                if not path.exists():
                    invalid(
                        "pyproject_file",
                        str(pyproject),
                        "[tool.uv.sources] paths that exist (the build installs from them)",
                        f"names {item['path']!r} for {name}, which does not exist",
                    )
                found.append(path)
    return tuple(sorted(set(found)))


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        invalid(path.name, str(path), "valid TOML", f"is not ({exc})")


def _install_mode(value: Any) -> str:
    if value not in INSTALL_MODES:
        invalid("project_install_mode", value, " or ".join(repr(m) for m in INSTALL_MODES))
    return value


def _text(param: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        wrong_type(param, value, "a non-empty str")
    return no_control_characters(param, value)


def _flag(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        wrong_type(param, value, "True or False")
    return value


def _index_urls(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (str, list, tuple)):
        wrong_type("extra_index_urls", value, "an index URL (str) or a list of them")
    urls = (value,) if isinstance(value, str) else tuple(value)
    for url in urls:
        if not isinstance(url, str):  # a TypeError, as with_pip_packages' (and the reference SDK's)
            wrong_type("extra_index_urls", url, "an index URL (str) such as https://pypi.example/simple")
        if not re.match(r"^(https?|file)://\S+$", url):
            invalid("extra_index_urls", url, "index URLs such as https://pypi.example/simple")
    return urls


def project_digest(layer: UVProject | PoetryProject | PixiProject, ignore_files: tuple[str, ...] = ()) -> str:
    """A hash of what a project layer reads: its manifest and lock, or its project folder less
    what is ignored (its own ignore files and the image's ``ignore_files``); for uv, also the
    local sources it installs, and where the project sits among them."""
    if isinstance(layer, UVProject):
        manifest, lock, kind = Path(layer.pyproject), layer.uvlock, ""
    elif isinstance(layer, PoetryProject):
        manifest, lock, kind = Path(layer.pyproject), layer.poetry_lock, ""
    else:
        manifest, lock, kind = Path(layer.manifest), layer.pixi_lock, Path(layer.manifest).name
    files = [_file_digest(manifest), _file_digest(Path(lock)) if lock else ""]
    if layer.project_install_mode == "install_project":
        files[0] = tree_digest(manifest.parent, ignore_files)
    parts = [kind, *files]
    if isinstance(layer, UVProject):
        parts.append(layer.project_dir)
        for source in map(Path, layer.path_sources):
            parts.append(source.relative_to(layer.root).as_posix())
            parts.append(_file_digest(source) if source.is_file() else tree_digest(source, ignore_files))
    return _hash(parts)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hash(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
