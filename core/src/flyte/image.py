"""Container images: a fluent, immutable description of the image a task runs in.

Start from a base (:meth:`Image.from_debian_base`, :meth:`Image.from_base`,
:meth:`Image.from_uv_script`, :meth:`Image.from_dockerfile`) and add layers with the
``with_*`` methods; each returns a new ``Image``. The image's identity (:attr:`Image.tag`)
is a hash of its definition, including the contents of the files it copies, so it changes
when, and only when, what the image would contain changes. Where it is pushed
(``registry``), its ``name`` and the credentials to pull it (``registry_secret``) are not part
of that identity.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import attrs

from flyte import _image_refs as image_refs
from flyte._image_projects import (
    LOCAL_PATHS,
    PixiProject,
    PoetryProject,
    UVProject,
    absent,
    install_options,
    pixi_project,
    poetry_project,
    project_digest,
    uv_project,
)
from flyte._validation import env_var_dict, invalid, no_control_characters, warn_at_user_code, wrong_type
from flyte.errors import ConfigurationAttributeError
from flyte.secret import Secret, to_secrets

DEFAULT_NAME = "flyte"
CODE_COPY_STYLES = ("loaded_modules", "all")
IMAGE_NAME = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
APT_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.:~-]*(=[A-Za-z0-9.+:~-]+)?$")
# Versions an image may declare. flyte-core itself needs 3.11 (tomllib, datetime.UTC,
# asyncio.timeout) and every image runs it, but 3.10 is still accepted with a warning: public
# examples of this API declare it, and their code must keep running where no image is built.
SUPPORTED_PYTHON = ((3, 10), (3, 11), (3, 12), (3, 13), (3, 14))
RUNTIME_PYTHON = (3, 11)


class ImagePythonWarning(UserWarning):
    """An image declares a Python older than the one flyte-core needs inside containers."""


# An image reference as Docker parses it (github.com/distribution/reference): an optional
# registry host[:port], lower-case path components, then :tag and/or @digest.
_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_COMPONENT}(?:\.{_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_NAME}(?:/{_NAME})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"^(?:{_DOMAIN}/)?{_PATH}(?::{_TAG})?(?:@{_DIGEST})?$")
REGISTRY = re.compile(rf"^{_DOMAIN}(?:/{_PATH})?$")
PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


def _packages(
    param: str, packages: tuple[Any, ...], pattern: re.Pattern[str] | None = None, what: str = "package name"
) -> tuple[str, ...]:
    if not packages:
        invalid(param, packages, f"one or more {what}s", "is empty")
    for item in packages:
        if isinstance(item, (list, tuple)) and what == "package name":
            wrong_type(param, item, f"{what}s as separate arguments: {param}(*names)")
        if not isinstance(item, str) or not item.strip():
            wrong_type(param, item, f"a {what} (str)")
        no_control_characters(param, item)
        if pattern is not None and not pattern.fullmatch(item):
            invalid(param, item, "a Debian package name such as libopenblas-dev or curl=7.88.1-10")
    return tuple(packages)


class _CheckedPython(tuple):
    """A ``python_version`` already converted (and warned about): ``with_*`` and ``clone`` make
    the next image through attrs' ``evolve``, which converts every field again."""

    __slots__ = ()


def _python_version(value: Any) -> tuple[int, int]:
    if isinstance(value, _CheckedPython):
        return value
    if value is None:
        return sys.version_info[:2]
    if isinstance(value, str):
        parts = value.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]):
            value = (int(parts[0]), int(parts[1]))
    if isinstance(value, (tuple, list)) and len(value) >= 2 and all(isinstance(p, int) for p in value[:2]):
        version = (value[0], value[1])
        if version not in SUPPORTED_PYTHON:
            invalid(
                "python_version",
                value,
                ", ".join(f"{a}.{b}" for a, b in SUPPORTED_PYTHON),
                "is not a supported Python version",
            )
        if version < RUNTIME_PYTHON:
            warn_at_user_code(
                f"python_version: {version[0]}.{version[1]} is older than the Python {RUNTIME_PYTHON[0]}."
                f"{RUNTIME_PYTHON[1]} flyte needs inside the image; local runs are unaffected, but a "
                f"container built from this image cannot run the task (use (3, 11) or later)",
                ImagePythonWarning,
            )
        return _CheckedPython(version)
    invalid("python_version", value, 'a (major, minor) tuple such as (3, 12), or "3.12"')


def _optional_str(param: str):
    def _convert(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            wrong_type(param, value, "a non-empty str")
        return no_control_characters(param, value)

    return _convert


def _reference(param: str):
    """Converter: an image reference (``docker.io/org/image:tag``, ``python:3.12-slim``)."""

    def _convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            wrong_type(param, value, "an image reference such as docker.io/org/image:tag")
        if len(value) > 255 or not REFERENCE.fullmatch(_PLACEHOLDER.sub("x", value)):
            invalid(
                param,
                value,
                "an image reference such as docker.io/org/image:tag or python:3.12-slim (lower-case path)",
                "is not a valid image reference",
            )
        return value

    return _convert


# The docs' stand-ins (``registry="<my-container-registry>"``, ``"<your-registry>/training:latest"``,
# ``name="<your-org>/<your-image>"``): accepted when the image is defined, so the examples run
# locally unchanged; refused when the image is built, pushed or rendered (:attr:`Image.uri`,
# :attr:`Image.base`), which need a real one.
_PLACEHOLDER = re.compile(r"<[A-Za-z0-9_.:/-]+>")
_REGISTRY_ACCEPTED = "a registry host[:port] with an optional path, e.g. ghcr.io/my-org or localhost:5000"


def _registry(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        wrong_type("registry", value, "a registry such as ghcr.io/my-org or localhost:5000")
    value = value.rstrip("/")
    if _PLACEHOLDER.fullmatch(value):
        return value
    if not REGISTRY.fullmatch(value):
        invalid("registry", value, _REGISTRY_ACCEPTED)
    return value


def _platform(value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (tuple, list)) or not items:
        wrong_type("platform", value, 'a platform such as "linux/amd64", or a tuple of them')
    for item in items:
        if not isinstance(item, str) or not PLATFORM.fullmatch(item):
            invalid("platform", item, 'os/architecture[/variant], e.g. "linux/amd64" or "linux/arm64"')
    return tuple(items)


def _name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not IMAGE_NAME.fullmatch(_PLACEHOLDER.sub("x", value)):
        invalid("name", value, "lower-case letters, digits, '.', '_', '-' and '/', e.g. my-image")
    return value


def _digest_path(path: Path) -> str:
    """A hash of a file's or folder's contents (names and bytes), for image identity."""
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
        return digest.hexdigest()
    for child in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(child.relative_to(path)).encode() + b"\0")
        digest.update(child.read_bytes())
    return digest.hexdigest()


# -- layers -----------------------------------------------------------------------------------


@attrs.frozen
class AptPackages:
    packages: tuple[str, ...]
    secret_mounts: tuple[Secret, ...] = ()


@attrs.frozen
class PipPackages:
    packages: tuple[str, ...]
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False
    extra_args: str | None = None
    secret_mounts: tuple[Secret, ...] = ()


@attrs.frozen
class Requirements:
    """A requirements file, identified by its contents, and how uv installs it."""

    file: str
    digest: str
    secret_mounts: tuple[Secret, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False
    extra_args: str | None = None


@attrs.frozen
class EnvVars:
    env_vars: tuple[tuple[str, str], ...]


@attrs.frozen
class Commands:
    commands: tuple[str, ...]
    secret_mounts: tuple[Secret, ...] = ()


@attrs.frozen
class WorkDir:
    workdir: str


@attrs.frozen
class CopySource:
    """A local file or folder copied into the image, identified by its contents."""

    src: str
    dst: str
    digest: str


@attrs.frozen
class DockerIgnore:
    """A ``.dockerignore`` file: its patterns keep files out of what the build copies (the
    program's code folder and source folders), identified by its contents. Not required where
    the image is defined: module-level code also runs inside the container, without it."""

    file: str
    digest: str  # "" where the file is absent


@attrs.frozen
class CodeBundle:
    """The program's code in the image (``with_code_bundle``): ``"loaded_modules"``, the
    modules it imported from its root folder (what every built image gets), or ``"all"``,
    every file under that folder less what its ignore files leave out."""

    copy_style: str = "loaded_modules"


Layer = Union[  # noqa: UP007
    AptPackages,
    PipPackages,
    Requirements,
    EnvVars,
    Commands,
    WorkDir,
    CopySource,
    UVProject,
    PoetryProject,
    PixiProject,
    DockerIgnore,
    CodeBundle,
]


@attrs.frozen
class Image:
    """A container image definition. Build it with the ``from_*`` constructors."""

    base_image: str = attrs.field(converter=_reference("base_image"))
    name: str | None = attrs.field(default=None, converter=_name)
    registry: str | None = attrs.field(default=None, converter=_registry)
    registry_secret: str | None = attrs.field(default=None, converter=_optional_str("registry_secret"))
    python_version: tuple[int, int] = attrs.field(default=None, converter=_python_version)
    platform: tuple[str, ...] = attrs.field(default=("linux/amd64",), converter=_platform)
    install_flyte: bool = attrs.field(default=False)
    dockerfile: str | None = attrs.field(default=None)  # contents, for from_dockerfile
    layers: tuple[Layer, ...] = attrs.field(default=(), converter=tuple)
    ref_name: str | None = attrs.field(default=None)  # from_ref_name: the base is named at init

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_debian_base(
        cls,
        python_version: tuple[int, int] | str | None = None,
        flyte_version: str | None = None,
        install_flyte: bool = True,
        registry: str | None = None,
        registry_secret: str | None = None,
        name: str | None = None,
        platform: tuple[str, ...] | None = None,
        base_image: str | None = None,
    ) -> Image:
        """The default image: ``python:<version>-slim-bookworm`` with flyte installed (this
        library's own distributions: ``flyte_version``, a reference SDK release, is accepted for
        compatibility and not used)."""
        _optional_str("flyte_version")(flyte_version)
        if not isinstance(install_flyte, bool):
            wrong_type("install_flyte", install_flyte, "True or False")
        version = _python_version(python_version)
        return cls(
            base_image=base_image or f"python:{version[0]}.{version[1]}-slim-bookworm",
            name=name or DEFAULT_NAME,
            registry=registry,
            registry_secret=registry_secret,
            python_version=version,
            platform=platform or ("linux/amd64",),
            install_flyte=install_flyte,
        )

    @classmethod
    def from_base(cls, image_uri: str) -> Image:
        """An existing image, used as is (or as the base of further layers)."""
        return cls(base_image=_reference("image_uri")(image_uri))

    @classmethod
    def from_ref_name(cls, name: str = "default") -> Image:
        """An image named here and given by reference where the program starts:
        ``flyte.init(images={"training": "ghcr.io/org/training:1.2"})``, ``images=("training=REF",)``,
        or ``image.image_refs`` in the config file. Layers added to it build on that image.
        Runs on this machine do not need it; rendering, building and deploying do."""
        if not isinstance(name, str) or not image_refs.NAME.fullmatch(name):
            invalid("name", name, "an image name such as training or data-prep (letters, digits, '.', '_', '-')")
        return cls(base_image="scratch", ref_name=name)

    @classmethod
    def from_dockerfile(
        cls, file: str | Path, registry: str | None, name: str, platform: tuple[str, ...] | None = None
    ) -> Image:
        """An image built from your own Dockerfile (identified by its contents)."""
        path = Path(file)
        if not path.is_file():
            invalid("file", str(file), "the path of an existing Dockerfile", "does not exist")
        return cls(
            base_image="scratch",
            dockerfile=path.read_text(),
            registry=registry,
            name=name,
            platform=platform or ("linux/amd64",),
        )

    @classmethod
    def from_uv_script(
        cls,
        script: str | Path,
        *,
        name: str,  # required, as on the reference SDK: the script's image is built and pushed by name
        registry: str | None = None,
        registry_secret: str | None = None,
        python_version: tuple[int, int] | str | None = None,
        index_url: str | None = None,
        extra_index_urls: str | list[str] | tuple[str, ...] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        platform: tuple[str, ...] | None = None,
        secret_mounts: str | Secret | list[str | Secret] | None = None,
        base_image: str | None = None,
    ) -> Image:
        """The default image plus the dependencies of a script's PEP 723 ``# /// script`` header."""
        metadata = read_script_metadata(script)
        deps = metadata.get("dependencies") or []
        if python_version is None:
            python_version = _python_from_requirement(metadata.get("requires-python"))
        image = cls.from_debian_base(
            python_version=python_version,
            registry=registry,
            registry_secret=registry_secret,
            name=name,
            platform=platform,
            base_image=base_image,
        )
        if deps:
            image = image.with_pip_packages(
                *deps,
                index_url=index_url,
                extra_index_urls=extra_index_urls,
                pre=pre,
                extra_args=extra_args,
                secret_mounts=secret_mounts,
            )
        return image

    def clone(
        self,
        registry: str | None = None,
        registry_secret: str | None = None,
        name: str | None = None,
        base_image: str | None = None,
        python_version: tuple[int, int] | str | None = None,
        addl_layer: Layer | None = None,
        extendable: bool | None = None,
        platform: str | tuple[str, ...] | None = None,
    ) -> Image:
        """A copy with some settings replaced (and optionally one more layer). ``extendable``
        is the reference SDK's opt-in to layers on a ``from_base`` image: every image here
        takes layers but a ``from_dockerfile`` one, so only True or False are checked."""
        if extendable is not None and not isinstance(extendable, bool):
            wrong_type("extendable", extendable, "True or False")
        changes: dict[str, Any] = {}
        for key, value in (
            ("registry", registry),
            ("registry_secret", registry_secret),
            ("name", name),
            ("base_image", base_image),
            ("python_version", python_version),
            ("platform", platform),
        ):
            if value is not None:
                changes[key] = value
        if base_image is not None:
            changes["ref_name"] = None  # a named base given its reference (as a deploy does)
        image = attrs.evolve(self, **changes)
        return image._add(addl_layer) if addl_layer is not None else image

    # -- layers ----------------------------------------------------------------------------
    def _add(self, layer: Layer) -> Image:
        if self.dockerfile is not None and not isinstance(layer, DockerIgnore):
            # The build is the user's Dockerfile, as it is: a layer would be silently dropped.
            invalid(
                type(layer).__name__,
                layer,
                "layers on from_base/from_debian_base images; put this step in your Dockerfile",
                "cannot be added to a from_dockerfile image",
            )
        return attrs.evolve(self, layers=(*self.layers, layer))

    def with_apt_packages(self, *packages: str, secret_mounts: Any = None) -> Image:
        """Install Debian packages with apt-get."""
        packages = _packages("with_apt_packages", packages, APT_PACKAGE)
        return self._add(AptPackages(packages, to_secrets(secret_mounts, "secret_mounts")))

    def with_pip_packages(
        self,
        *packages: str,
        index_url: str | None = None,
        extra_index_urls: str | list[str] | tuple[str, ...] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        secret_mounts: Any = None,
    ) -> Image:
        """Install Python packages (with uv). ``secret_mounts`` are available as environment
        variables during this step only, and never stored in a layer."""
        if not isinstance(pre, bool):
            wrong_type("pre", pre, "True or False")
        if extra_index_urls is not None and not isinstance(extra_index_urls, (str, list, tuple)):
            wrong_type("extra_index_urls", extra_index_urls, "an index URL (str) or a list of them")
        extras = (extra_index_urls,) if isinstance(extra_index_urls, str) else tuple(extra_index_urls or ())
        extras = tuple(_optional_str("extra_index_urls")(url) for url in extras)
        return self._add(
            PipPackages(
                packages=_packages("with_pip_packages", packages),
                index_url=_optional_str("index_url")(index_url),
                extra_index_urls=extras,
                pre=pre,
                extra_args=_optional_str("extra_args")(extra_args),
                secret_mounts=to_secrets(secret_mounts, "secret_mounts"),
            )
        )

    def with_requirements(
        self,
        file: str | Path,
        index_url: str | None = None,
        extra_index_urls: str | list[str] | tuple[str, ...] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        secret_mounts: Any = None,
    ) -> Image:
        """Install the packages of a requirements file (its contents are part of the identity)
        with uv; ``index_url``, ``extra_index_urls``, ``pre`` and ``extra_args`` go to the
        install, as for :meth:`with_pip_packages`."""
        if not isinstance(file, (str, os.PathLike)):  # an AttributeError too, as the reference SDK's .suffix raises
            accepted = "the path of a requirements file (a str or pathlib.Path)"
            wrong_type("file", file, accepted, ConfigurationAttributeError)
        options = install_options(index_url, extra_index_urls, pre, extra_args)
        secrets = to_secrets(secret_mounts, "secret_mounts")
        path = Path(file)
        if absent(path):  # inside a task's container (see flyte._image_projects.absent)
            return self._add(Requirements(str(path), "", secrets, **options))
        if not path.is_file():
            invalid("file", str(file), "the path of an existing requirements file", "does not exist")
        return self._add(Requirements(str(path), _digest_path(path), secrets, **options))

    def with_uv_project(
        self,
        pyproject_file: str | Path,
        uvlock: str | Path | None = None,
        index_url: str | None = None,
        extra_index_urls: str | list[str] | tuple[str, ...] | None = None,
        pre: bool = False,
        extra_args: str | None = None,
        secret_mounts: Any = None,
        project_install_mode: str = "dependencies_only",
    ) -> Image:
        """Install a uv project's dependencies: exactly the versions of its ``uv.lock`` (next
        to ``pyproject_file``, or ``uvlock``), else those uv resolves from the pyproject.
        ``extra_args`` go to ``uv export`` (e.g. ``"--group test"``, ``"--only-group etl"``);
        ``index_url``, ``extra_index_urls`` and ``pre`` to the install. Local folders that
        ``[tool.uv.sources]`` names are built and installed too. With
        ``project_install_mode="install_project"`` the project folder (less what its ignore
        files and the image's ``with_dockerignore`` files leave out) is installed as well."""
        return self._add(
            uv_project(
                pyproject_file,
                uvlock,
                index_url,
                extra_index_urls,
                pre,
                extra_args,
                secret_mounts,
                project_install_mode,
            )
        )

    def with_poetry_project(
        self,
        pyproject_file: str | Path,
        poetry_lock: str | Path | None = None,
        extra_args: str | None = None,
        secret_mounts: Any = None,
        project_install_mode: str = "dependencies_only",
    ) -> Image:
        """Install exactly what a Poetry project's ``poetry.lock`` (next to ``pyproject_file``,
        or ``poetry_lock``) pins, with Poetry (``poetry install --no-root``; ``extra_args``
        are added, e.g. ``"--only main"``). With ``project_install_mode="install_project"``
        the project folder is copied and the project installed as well."""
        return self._add(poetry_project(pyproject_file, poetry_lock, extra_args, secret_mounts, project_install_mode))

    def with_pixi_project(
        self,
        manifest_file: str | Path,
        pixi_lock: str | Path | None = None,
        environment: str = "default",
        extra_args: str | None = None,
        secret_mounts: Any = None,
        project_install_mode: str = "dependencies_only",
    ) -> Image:
        """Install a pixi project's ``environment`` (``pixi install --locked`` when there is a
        ``pixi.lock``; ``--frozen`` in ``extra_args`` replaces ``--locked``) and make it the
        Python the image's tasks run in: flyte is installed into it after this layer.
        ``manifest_file`` is a ``pixi.toml``, a ``pyproject.toml`` with ``[tool.pixi]``, or the
        project folder (pixi.toml wins over pyproject.toml, as pixi decides)."""
        return self._add(
            pixi_project(manifest_file, pixi_lock, environment, extra_args, secret_mounts, project_install_mode)
        )

    def with_env_vars(self, env_vars: dict[str, str]) -> Image:
        """Set environment variables in the image."""
        if not isinstance(env_vars, Mapping):  # an AttributeError too, as the reference SDK's .items() raises
            wrong_type("with_env_vars", env_vars, "a dict of str to str", ConfigurationAttributeError)
        values = env_var_dict("with_env_vars")(env_vars) or {}
        for name, value in values.items():
            no_control_characters(f"with_env_vars[{name!r}]", value)
        return self._add(EnvVars(tuple(sorted(values.items()))))

    def with_commands(self, commands: list[str] | str, secret_mounts: Any = None) -> Image:
        """Run shell commands while building."""
        items = (commands,) if isinstance(commands, str) else tuple(commands)
        checked = _packages("with_commands", items, what="shell command")
        return self._add(Commands(checked, to_secrets(secret_mounts, "secret_mounts")))

    def with_workdir(self, workdir: str) -> Image:
        return self._add(WorkDir(_optional_str("workdir")(workdir)))

    def with_source_file(self, src: str | Path | list[str | Path], dst: str = ".") -> Image:
        """Copy a local file, or a list of files, into ``dst`` (a folder when it is "." or
        ends with "/", else the file's new name)."""
        if isinstance(src, (list, tuple)):
            if not src:
                invalid("src", src, "a file, or a non-empty list of files")
            names = [Path(p).name for p in src]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                invalid(
                    "src",
                    [str(p) for p in src],
                    "files with distinct names",
                    f"would overwrite each other in {dst!r}: {duplicates}",
                )
            image = self
            for item in src:
                image = image.with_source_file(item, dst)
            return image
        if not isinstance(src, (str, Path)):
            wrong_type("src", src, "a file path (str or pathlib.Path), or a list of them")
        path = Path(src)
        if not absent(path) and not path.is_file():
            invalid("src", str(src), "the path of an existing file", "does not exist")
        digest = "" if absent(path) else _digest_path(path)
        return self._add(CopySource(str(path), _optional_str("dst")(dst), digest))

    def with_source_folder(self, src: str | Path, dst: str = ".", copy_contents_only: bool = False) -> Image:
        """Copy a local folder into the image: as a folder of the same name under ``dst`` (by
        default the working directory), or with ``copy_contents_only=True`` its contents into
        ``dst`` itself. A ``dst`` other than ``"."`` is where the folder's contents go."""
        path = Path(src)
        if not absent(path) and not path.is_dir():
            invalid("src", str(src), "the path of an existing folder", "does not exist")
        if not isinstance(copy_contents_only, bool):
            wrong_type("copy_contents_only", copy_contents_only, "True or False")
        dst = _optional_str("dst")(dst)
        if not copy_contents_only and dst == ".":
            dst = f"./{path.resolve().name}"  # COPY of a folder copies its contents: name the folder
        return self._add(CopySource(str(path), dst, "" if absent(path) else _digest_path(path)))

    def with_code_bundle(self, copy_style: str = "loaded_modules", dst: str = ".") -> Image:
        """Say how the program's code gets into the image ``flyte build`` builds (every built
        image has it: deployments run the image's own copy). ``"loaded_modules"``: the modules
        the program imported from its root folder (the default); ``"all"``: every file under
        that folder, less what its ignore files leave out. The code lands in the image's work
        dir, which the rendered pods put on ``PYTHONPATH``, so ``dst`` can only be ``"."``."""
        if copy_style not in CODE_COPY_STYLES:
            invalid("copy_style", copy_style, " or ".join(repr(c) for c in CODE_COPY_STYLES))
        if dst not in (".", "./"):
            invalid(
                "dst",
                dst,
                '"." (the work dir the rendered pods import task code from)',
                "is not supported: the pods would not find the code there",
            )
        if any(isinstance(layer, CodeBundle) for layer in self.layers):
            invalid("with_code_bundle", copy_style, "one with_code_bundle per image", "is a second one")
        return self._add(CodeBundle(copy_style))

    @property
    def code_copy_style(self) -> str:
        """How the build copies the program's code (``with_code_bundle``)."""
        return next((layer.copy_style for layer in self.layers if isinstance(layer, CodeBundle)), "loaded_modules")

    def with_dockerignore(self, path: str | Path) -> Image:
        """Leave out of the build what ``path`` (a ``.dockerignore`` file) names, besides the
        program folder's own ``.gitignore`` and ``.dockerignore``. Checked where the image is
        built, not where it is defined (the container runs the definition without the file)."""
        if not isinstance(path, (str, Path)) or not str(path).strip():
            wrong_type("path", path, "the path of a .dockerignore file")
        file = Path(path)
        return self._add(DockerIgnore(str(file), _digest_path(file) if file.is_file() else ""))

    @property
    def ignore_files(self) -> tuple[str, ...]:
        """The ``with_dockerignore`` files, in the order given."""
        return tuple(layer.file for layer in self.layers if isinstance(layer, DockerIgnore))

    # -- identity --------------------------------------------------------------------------
    @property
    def base(self) -> str:
        """The image this one starts from: ``base_image``, or for :meth:`from_ref_name` the
        reference its name is given at init (an error naming the name when it is not)."""
        base = image_refs.resolve(self.ref_name) if self.ref_name is not None else self.base_image
        if _PLACEHOLDER.search(base):
            problem = "is a placeholder: name the image to build, push, render or deploy"
            invalid("base_image", base, "an image reference such as docker.io/org/image:tag", problem)
        return base

    @property
    def is_prebuilt(self) -> bool:
        """True when the image is an existing reference with nothing to build."""
        builds = any(not isinstance(layer, (DockerIgnore, CodeBundle)) for layer in self.layers)
        return not builds and not self.install_flyte and self.dockerfile is None

    @property
    def identifier(self) -> str:
        """A hash of everything that determines the image's contents."""
        definition = {
            "base_image": self.base_image,
            "python_version": list(self.python_version),
            "platform": list(self.platform),
            "install_flyte": self.install_flyte,
            "dockerfile": self.dockerfile,
            "layers": [[type(layer).__name__, _layer_identity(layer, self.ignore_files)] for layer in self.layers],
        }
        if self.ref_name is not None:  # the image the name stands for where it is known, else the name
            definition["ref_name"] = image_refs.lookup(self.ref_name) or self.ref_name
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def tag(self) -> str:
        """The content-derived tag (16 hex characters of :attr:`identifier`)."""
        return self.identifier[:16]

    @property
    def uri(self) -> str:
        """The full image reference: ``registry/name:tag``, or the base for a prebuilt image."""
        if self.is_prebuilt:
            return self.base
        name = self.name or DEFAULT_NAME
        if self.registry and _PLACEHOLDER.fullmatch(self.registry):
            problem = "is a placeholder: name your registry to build, push or deploy"
            invalid("registry", self.registry, _REGISTRY_ACCEPTED, problem)
        if _PLACEHOLDER.search(name):
            problem = "is a placeholder: name your image to build, push or deploy"
            invalid("name", name, "lower-case letters, digits, '.', '_', '-' and '/', e.g. my-image", problem)
        return f"{self.registry}/{name}:{self.tag}" if self.registry else f"{name}:{self.tag}"


def _layer_identity(layer: Layer, ignore_files: tuple[str, ...] = ()) -> Any:
    data = attrs.asdict(layer, recurse=True)
    present = tuple(f for f in ignore_files if Path(f).is_file())
    if present and isinstance(layer, (UVProject, PoetryProject, PixiProject)) and layer.digest:
        # The build leaves out what the image's with_dockerignore files name: so does the tag.
        data["digest"] = project_digest(layer, present)
    if isinstance(layer, (Requirements, CopySource, DockerIgnore, UVProject, PoetryProject, PixiProject)):
        # Where the files live on this machine is not part of the image; their contents are.
        for key in ("file", "src", *LOCAL_PATHS):
            data.pop(key, None)
    return data


def read_script_metadata(script: str | Path) -> dict[str, Any]:
    """The TOML of a script's PEP 723 ``# /// script`` block ({} if it has none)."""
    path = Path(script)
    if not path.is_file():
        invalid("script", str(script), "the path of an existing Python script", "does not exist")
    lines = path.read_text().splitlines()
    block: list[str] | None = None
    for line in lines:
        if block is None:
            if line.strip() == "# /// script":
                block = []
            continue
        if line.strip() == "# ///":
            break
        if not line.startswith("#"):
            invalid("script", str(script), "a '# /// script' block closed by '# ///'", "has an unclosed block")
        block.append(line[2:] if line.startswith("# ") else line[1:])
    else:
        if block is not None:
            invalid("script", str(script), "a '# /// script' block closed by '# ///'", "has an unclosed block")
        return {}
    import tomllib  # only a script's metadata needs it: not every import of flyte.image

    try:
        return tomllib.loads("\n".join(block))
    except tomllib.TOMLDecodeError as exc:
        invalid("script", str(script), "valid TOML inside '# /// script'", f"has invalid metadata ({exc})")


def _python_from_requirement(spec: str | None) -> tuple[int, int] | None:
    """The Python version a ``requires-python`` specifier pins, or the running one if allowed."""
    if not spec:
        return None
    exact = re.fullmatch(r"\s*===?\s*(\d+)\.(\d+)(\.\*)?\s*", spec)
    if exact:
        return int(exact[1]), int(exact[2])
    lower = re.search(r">=\s*(\d+)\.(\d+)", spec)
    current = sys.version_info[:2]
    if lower and (int(lower[1]), int(lower[2])) > current:
        return int(lower[1]), int(lower[2])
    return current


def image_uri(image: Image | str | None) -> str | None:
    """The reference of an ``image=`` value (an Image or a plain string)."""
    if image is None or isinstance(image, str):
        return image
    return image.uri


def to_image(value: Any) -> Image | str | None:
    """``image=`` accepts an Image, an image reference string, or "auto"/None (the default)."""
    if value is None or value == "auto":
        return None
    if isinstance(value, Image):
        return value
    if isinstance(value, str):
        return _reference("image")(value)
    wrong_type("image", value, "a flyte.Image or an image reference string")
