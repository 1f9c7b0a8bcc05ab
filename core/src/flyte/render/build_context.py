"""What an image's build context holds besides its layers: the flyte code in use and the
user's code, so that the rendered command (``python -m flyte.entrypoint --module M``) finds
both in the container.

- **Flyte distributions.** ``flyte-core`` and the plugin distributions whose ``plugin_config``
  the program's environments with this image use. One installed from a source tree (editable
  or a local folder: not what a package index serves under that name) is built into a wheel in
  the context (``flyte-wheels/``), so the image gets exactly the code in use; one installed
  from a local wheel file is copied; one from an index is pinned to its installed version.
- **User code.** The program's modules: every module loaded from the task module's root (the
  folder its top-level package sits in), except installed ones. A top-level regular package is
  copied whole; other modules file by file, with the ``__init__.py`` files above them. Paths
  that the root's ``.gitignore`` or ``.dockerignore`` exclude are left out, and so are caches
  and virtual environments. The code lands in the image's work dir (``/root``, which the
  rendered pods put on ``PYTHONPATH``). An image that copies the code itself
  (``Image.with_source_folder``/``with_source_file`` over the task's module) gets no second copy;
  one with ``with_code_bundle("all")`` gets every file of the root, less what is ignored.

The image's tag is a hash of its definition, of the flyte code and of the user code, so a new
commit gets a new tag and a cluster never runs a stale image under an old name.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import sysconfig
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlparse

import attrs

from flyte._ignore import ignore_spec, kept_files
from flyte._version import __version__
from flyte.errors import ConfigurationError
from flyte.image import CopySource, Image, WorkDir

CORE = "flyte-core"
# The reference SDK's distribution: the same ``flyte`` import package as flyte-core, so a script's
# or pip layer's "flyte>=2..." (every public uv-script example lists it) would overwrite ours.
REFERENCE_CORE = "flyte"
WORKDIR = "/root"


@attrs.frozen
class FlyteDistribution:
    """One flyte distribution the image installs: ``source`` is a folder to build a wheel
    from, ``wheel`` a wheel file to copy, and neither means ``name==version`` from an index."""

    name: str
    version: str
    source: Path | None = None
    wheel: Path | None = None
    digest: str = ""

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def shipped(self) -> bool:
        """True when the context carries its wheel (built or copied)."""
        return self.source is not None or self.wheel is not None


@attrs.frozen
class UserCode:
    """The user's files: path in the image's work dir -> local file."""

    root: Path
    files: tuple[tuple[str, Path], ...]

    @property
    def digest(self) -> str:
        digest = hashlib.sha256()
        for name, path in self.files:
            digest.update(name.encode() + b"\0" + _file_digest(path).encode() + b"\n")
        return digest.hexdigest()


@attrs.frozen
class BuildContext:
    """An image with the flyte code and user code it must contain."""

    image: Image
    flyte: tuple[FlyteDistribution, ...] = ()
    code: UserCode | None = None

    @property
    def identifier(self) -> str:
        parts = {
            "image": self.image.identifier,
            "flyte": [[d.name, d.version, d.digest] for d in self.flyte],
            "code": self.code.digest if self.code else None,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    @property
    def uri(self) -> str:
        """``registry/name:tag`` with a tag that covers the image, flyte's code and the user's."""
        if self.image.is_prebuilt:
            return self.image.uri
        base = self.image.uri.rpartition(":")[0]
        return f"{base}:{self.identifier[:16]}"

    def dockerfile(self) -> str:
        from flyte.render.dockerfile import dockerfile

        shipped = [d for d in self.flyte if d.shipped]
        return dockerfile(
            self.image,
            flyte_wheels=bool(shipped),
            flyte_pins=tuple(d.requirement for d in self.flyte if not d.shipped),
            replaced=tuple(d.name for d in self.flyte) + ((REFERENCE_CORE,) if self.flyte else ()),
            code=self.code is not None,
        )

    def write(self, folder: Path) -> Path:
        """Write the whole context (Dockerfile, layer files, wheels, code) into ``folder``."""
        from flyte.render.dockerfile import context_files

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(self.dockerfile())
        for name, source in context_files(self.image).items():
            if source.is_dir():
                _copy_tree(source, folder / name, self.image.ignore_files)
            else:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, folder / name)
        wheels = folder / "flyte-wheels"
        for dist in self.flyte:
            if dist.wheel is not None:
                wheels.mkdir(exist_ok=True)
                shutil.copy2(dist.wheel, wheels / dist.wheel.name)
            elif dist.source is not None:
                wheels.mkdir(exist_ok=True)
                build_wheel(dist.source, wheels)
        if self.code is not None:
            for name, path in self.code.files:
                target = folder / "code" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        return folder


def build_wheel(source: Path, into: Path) -> None:
    """Build the wheel of a source tree into ``into`` (pip's build frontend)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(into), str(source)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the wheel of {source} failed:\n{result.stderr.strip()}")


# -- what goes in -------------------------------------------------------------------------------


def context_for(image: Image, module: str, include: tuple[str, ...] = ()) -> BuildContext:
    """The build context of ``image`` for a program whose task lives in ``module``, with the
    environment's ``include`` files (absolute paths, folders or glob patterns)."""
    if image.is_prebuilt:
        return BuildContext(image)
    root = program_root(module)
    modules = user_modules(root) if root else {}
    flyte = _flyte_distributions(image, modules) if image.install_flyte else ()
    code = None
    if root is not None and not _copies_itself(image, module, root):
        if image.code_copy_style == "all":  # with_code_bundle("all"): every file of the root
            files = dict(kept_files(root, image.ignore_files))
        else:
            files = _code_files(root, tuple(sorted(modules.items())), image.ignore_files)
        files.update(included_files(root, include))
        code = UserCode(root, tuple(sorted(files.items())))
    elif include:
        raise ConfigurationError(
            f"include: {include[0]!r}: the image gets no code folder from flyte for {module!r} "
            "(its module is installed, or a source layer copies it): copy the files with "
            "Image.with_source_folder/with_source_file instead"
        )
    return BuildContext(image, flyte, code)


def included_files(root: Path, include: tuple[str, ...]) -> dict[str, Path]:
    """The files ``include`` names (a file, a folder's files, a glob's matches), by their path
    under ``root``: the image's code folder holds them where the program finds them."""
    files: dict[str, Path] = {}
    for entry in include:
        pattern = any(c in entry for c in "*?[")
        matches = [Path(p) for p in sorted(glob.glob(entry, recursive=True))] if pattern else [Path(entry)]
        if not matches or not all(m.exists() for m in matches):
            raise ConfigurationError(f"include: {entry!r} names no file (accepted: a file, a folder or a glob pattern)")
        for match in matches:
            for path in sorted(match.rglob("*")) if match.is_dir() else [match]:
                if not path.is_file():
                    continue
                path = path.resolve()
                if not path.is_relative_to(root):
                    raise ConfigurationError(
                        f"include: {str(path)!r} is outside the program's folder {str(root)!r} "
                        "(accepted: files under it, which the image's code folder holds as they are laid out)"
                    )
                files[path.relative_to(root).as_posix()] = path
    return files


def program_root(module: str) -> Path | None:
    """The folder a module's top-level package sits in (what must be on ``sys.path``), or None
    for a module that is installed or has no file."""
    loaded = sys.modules.get(module)
    file = getattr(loaded, "__file__", None)
    if not file or _installed(Path(file)):
        return None
    path = Path(file).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return path.parents[depth]


def user_modules(root: Path) -> dict[str, Path]:
    """Every loaded module whose file is under ``root`` and not installed: name -> file."""
    key = (root, frozenset(sys.modules))
    if key not in _user_modules:
        prefix = str(root) + os.sep
        found = {}
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            # A cheap string test first: resolving every loaded module's path is what costs. A
            # relative __file__ is no file of an import (torch.classes says "_classes.py").
            if (
                not file
                or name == "__main__"
                or not os.path.isabs(file)
                or not os.path.abspath(file).startswith(prefix)
            ):
                continue
            path = Path(file).resolve()
            if path.suffix == ".py" and path.is_relative_to(root) and not _installed(path):
                found[name] = path
        _user_modules.clear()  # one program at a time: keep only the latest
        _user_modules[key] = found
    return _user_modules[key]


_user_modules: dict[tuple[Path, frozenset[str]], dict[str, Path]] = {}


def _installed(path: Path) -> bool:
    """True for files of installed code: the interpreter's, site-packages, or a flyte
    distribution's source tree (editable installs)."""
    path = path.resolve()
    return any(path.is_relative_to(prefix) for prefix in (*_install_prefixes(), *_flyte_sources()))


@cache
def _install_prefixes() -> tuple[Path, ...]:
    paths = {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values()}
    return tuple(Path(p).resolve() for p in paths if p)


def _copies_itself(image: Image, module: str, root: Path) -> bool:
    """True when a ``with_source_folder``/``with_source_file`` layer puts the module's file
    where the pods import it from (``/root/<its path under the program root>``)."""
    file = getattr(sys.modules.get(module), "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    expected = posixpath.join(WORKDIR, path.relative_to(root).as_posix())
    workdir = WORKDIR
    for layer in image.layers:
        if isinstance(layer, WorkDir):  # a relative dst below is relative to it
            workdir = posixpath.join(workdir, layer.workdir)
        elif isinstance(layer, CopySource):
            src, dst = Path(layer.src).resolve(), posixpath.join(workdir, layer.dst)
            if src.is_dir():  # COPY of a folder: its contents into dst
                landed = posixpath.join(dst, path.relative_to(src).as_posix()) if path.is_relative_to(src) else None
            elif path == src:  # a file: into dst when dst is a folder ("." or ending in "/")
                into = layer.dst in (".", "./") or layer.dst.endswith("/")
                landed = posixpath.join(dst, src.name) if into else dst
            else:
                landed = None
            if landed is not None and posixpath.normpath(landed) == posixpath.normpath(expected):
                return True
    return False


def _code_files(root: Path, modules: tuple[tuple[str, Path], ...], extra: tuple[str, ...] = ()) -> dict[str, Path]:
    ignored = ignore_spec(root, extra)
    files: dict[str, Path] = {}

    def add(path: Path) -> None:
        relative = path.relative_to(root).as_posix()
        if not ignored.match_file(relative):
            files[relative] = path

    whole_packages = set()
    for _name, path in modules:
        top = path.relative_to(root).parts[0]
        if (root / top / "__init__.py").is_file():
            whole_packages.add(top)
        else:
            add(path)
            for parent in path.parents:  # the __init__.py files of namespace-less packages above
                if parent == root:
                    break
                if (parent / "__init__.py").is_file():
                    add(parent / "__init__.py")
    for top in sorted(whole_packages):
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and not ignored.match_file(path.relative_to(root).as_posix()):
                files[path.relative_to(root).as_posix()] = path
    return files


def _copy_tree(source: Path, target: Path, extra: tuple[str, ...] = ()) -> None:
    for relative, path in kept_files(source, extra):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / relative)


# -- flyte's own distributions --------------------------------------------------------------------


def _flyte_distributions(image: Image, modules: dict[str, Path]) -> tuple[FlyteDistribution, ...]:
    names = [CORE, *sorted(_plugin_distributions(image, modules))]
    return tuple(flyte_distribution(name) for name in names)


def _plugin_distributions(image: Image, modules: dict[str, Path]) -> set[str]:
    """Distributions of the plugins whose configs the program's environments with this image use."""
    from flyte.environment import TaskEnvironment
    from flyte.plugins import get_registry

    owners = {t: info.distribution for info in get_registry().infos() for t in info.config_types if info.distribution}
    found = set()
    for name in modules:
        for value in list(vars(sys.modules[name]).values()):
            if not isinstance(value, TaskEnvironment):
                continue
            config = value.settings.get("plugin_config")
            if config is None or (value.settings.get("image") or Image.from_debian_base()) != image:
                continue
            for klass in type(config).__mro__:
                owner = owners.get(f"{klass.__module__}.{klass.__qualname__}")
                if owner:
                    found.add(owner)
                    break
    return found


@cache
def flyte_distribution(name: str) -> FlyteDistribution:
    """How the image gets one installed flyte distribution (see the module docstring)."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        if name == CORE:  # running from a checkout without an install
            return FlyteDistribution(CORE, __version__)
        raise
    origin = json.loads(dist.read_text("direct_url.json") or "null") or {}
    url = origin.get("url", "")
    local = Path(unquote(urlparse(url).path)) if url.startswith("file://") else None
    if local is not None and "dir_info" in origin and local.is_dir():
        return FlyteDistribution(dist.name, dist.version, source=local, digest=_tree_digest(local))
    if local is not None and local.suffix == ".whl" and local.is_file():
        return FlyteDistribution(dist.name, dist.version, wheel=local, digest=_file_digest(local))
    return FlyteDistribution(dist.name, dist.version)


@cache
def _flyte_sources() -> tuple[Path, ...]:
    """Source trees of flyte distributions (the core, and any providing ``flyte.plugins``
    entry points) installed from a folder: their modules are delivered as wheels, not as code."""
    sources = []
    for dist in importlib.metadata.distributions():
        is_plugin = any(ep.group == "flyte.plugins" for ep in dist.entry_points)
        if dist.metadata["Name"] != CORE and not is_plugin:
            continue
        origin = json.loads(dist.read_text("direct_url.json") or "null") or {}
        url = origin.get("url", "")
        if "dir_info" in origin and url.startswith("file://"):
            sources.append(Path(unquote(urlparse(url).path)).resolve())
    return tuple(sources)


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for relative, path in kept_files(folder):
        digest.update(relative.encode() + b"\0" + _file_digest(path).encode() + b"\n")
    return digest.hexdigest()


_digests: dict[tuple[Path, int, int], str] = {}


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _digests:
        _digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _digests[key]


REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_name(requirement: str) -> str | None:
    """The normalised project name a requirement string names (PEP 503), or None."""
    match = REQUIREMENT_NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else None
