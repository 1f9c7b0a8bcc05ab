"""One way from a URL to its filesystem, with the configured settings and clear errors.

Local paths and ``file://`` URLs use fsspec's local filesystem; ``s3://``, ``gs://``,
``abfs://`` ... use s3fs, gcsfs, adlfs with the settings of ``flyte.init(storage=S3(...))``, the
config file's ``storage:`` section, or the provider's environment variables (``S3.auto()``).
fsspec keeps one instance per settings, so asking again is cheap.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
from collections.abc import Iterator
from typing import Any

from flyte.errors import (
    StorageError,
    StorageFilesystemMissingError,
    StorageNotFoundError,
    StoragePermissionError,
)
from flyte.storage._config import Storage, provider_for

# scheme -> (distribution to install, flyte-core extra that installs it)
PACKAGES = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "abfs": ("adlfs", "abfs"),
    "abfss": ("adlfs", "abfs"),
    "az": ("adlfs", "abfs"),
}


# What a run's data can be written to from a URL alone: a local folder, the object stores above,
# and memory:// (one process's). ftp://, sftp://, http:// ... need a host and settings a
# raw-data path cannot give.
DATA_SCHEMES = ("file", "local", *PACKAGES, "memory")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def protocol_of(url: str | os.PathLike[str]) -> str:
    """The URL's scheme (``"file"`` for a local path)."""
    scheme, sep, _ = os.fspath(url).partition("://")
    if not sep or not _SCHEME.match(scheme):
        return "file"
    return scheme.lower()


def is_remote(url: str | os.PathLike[str]) -> bool:
    """Whether ``url`` names an object store or another non-local filesystem."""
    return protocol_of(url) not in ("file", "local")


def configured(protocol: str) -> Storage | None:
    """The settings that apply to ``protocol``: the configured ones, else the environment's."""
    from flyte.runtime import settings

    provider = provider_for(protocol)
    if provider is None:
        return None
    for config in settings.current().storage_configs:
        if isinstance(config, provider):
            return config
    return provider.auto()


def fsspec_kwargs(protocol: str, anonymous: bool = False) -> dict[str, Any]:
    config = configured(protocol)
    if config is None:
        return {}
    return config.get_fsspec_kwargs(anonymous=anonymous)


def get_filesystem(protocol: str, anonymous: bool = False, url: str | None = None, **kwargs: Any) -> Any:
    """The fsspec filesystem for ``protocol`` with the configured settings (``kwargs`` win)."""
    import fsspec

    options = {**fsspec_kwargs(protocol, anonymous), **kwargs}
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except ImportError:
        raise _missing(protocol, url) from None
    except ValueError as exc:
        if "Protocol not known" in str(exc):
            raise _unknown(protocol, url) from None
        raise
    needed = [name for name in _required_arguments(cls) if name not in options]
    if needed:  # ftp's host, ...: asked here, not as the constructor's TypeError
        where = f"{url}: " if url else ""
        raise StorageError(
            f"{where}{protocol}:// cannot be opened from a URL alone: its filesystem needs "
            f"{', '.join(needed)}; a run's data can go to a local folder or "
            f"{', '.join(f'{scheme}://' for scheme in DATA_SCHEMES)}"
        )
    return cls(**options)


@functools.cache
def _required_arguments(cls: type) -> tuple[str, ...]:
    """The arguments ``cls(...)`` cannot do without (none for the stores a URL names whole)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # (not self)
    return tuple(p.name for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty)


def filesystem(url: str | os.PathLike[str]) -> tuple[Any, str]:
    """The filesystem for ``url`` and the path as that filesystem names it."""
    text = os.fspath(url)
    protocol = protocol_of(text)
    fs = get_filesystem(protocol, url=text)
    return fs, fs._strip_protocol(text)


def is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _missing(protocol: str, url: str | None) -> StorageFilesystemMissingError:
    where = f"{url}: " if url else ""
    if protocol in PACKAGES:
        package, extra = PACKAGES[protocol]
        hint = f"pip install {package} (or pip install 'flyte-core[{extra}]')"
    else:
        from fsspec.registry import known_implementations

        known = known_implementations.get(protocol, {})
        hint = known.get("err") or f"install the fsspec implementation of {protocol!r}"
    return StorageFilesystemMissingError(f"{where}no filesystem for {protocol}:// is installed: {hint}")


def _unknown(protocol: str, url: str | None) -> StorageFilesystemMissingError:
    where = f"{url}: " if url else ""
    return StorageFilesystemMissingError(
        f"{where}unknown URL scheme {protocol!r}: no fsspec filesystem implements it "
        "(known examples: s3://, gs://, abfs://, file://, or a local path)"
    )


@contextlib.contextmanager
def storage_errors(url: str | os.PathLike[str], action: str = "access") -> Iterator[None]:
    """Turn a store's failure into one line that names the URL and the cause (never credentials)."""
    text = os.fspath(url)
    try:
        yield
    except StorageError:
        raise
    except FileNotFoundError as exc:
        raise StorageNotFoundError(f"{text}: {_not_found(text, exc)}") from None
    except PermissionError as exc:
        raise StoragePermissionError(
            f"cannot {action} {text}: permission denied ({_code(exc)}); {_creds_hint(text)}"
        ) from None
    except Exception as exc:
        kind = type(exc).__name__
        if kind in (
            "NoCredentialsError",
            "PartialCredentialsError",
            "DefaultCredentialsError",
            "CredentialRetrievalError",
        ):
            raise StoragePermissionError(f"cannot {action} {text}: no credentials found; {_creds_hint(text)}") from None
        if kind in (
            "EndpointConnectionError",
            "ClientConnectorError",
            "ConnectTimeoutError",
            "ServerDisconnectedError",
        ):
            raise StorageError(f"cannot {action} {text}: the store is unreachable ({kind})") from None
        raise


def _not_found(url: str, exc: BaseException) -> str:
    text = str(exc).lower()
    if "bucket" in text or "container" in text:
        bucket = url.split("://", 1)[-1].split("/", 1)[0]
        return f"bucket {bucket!r} does not exist"
    return "does not exist"


def _code(exc: BaseException) -> str:
    """A short, secret-free reason: the service's error code when there is one."""
    text = str(exc)
    for code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden", "ExpiredToken"):
        if code.lower() in text.lower():
            return code
    return type(exc).__name__


def _creds_hint(url: str) -> str:
    provider = provider_for(protocol_of(url))
    if provider is None:
        return "check the filesystem's permissions"
    if not _has_credentials(protocol_of(url)):
        return (
            f"no credentials were found for {provider.section}: set them with flyte.init(storage="
            f"{provider.__name__}(...)), the config file's storage.{provider.section} section, or {provider.env_hint}"
        )
    return (
        f"check the credentials for {provider.section} (flyte.init(storage={provider.__name__}(...)), "
        f"the config file's storage.{provider.section} section, or {provider.env_hint})"
    )


def _has_credentials(protocol: str) -> bool:
    """Whether any credentials are configured or discoverable (only asked on a failure)."""
    config = configured(protocol)
    if config is None or getattr(config, "anonymous", False):
        return config is not None
    if protocol in ("s3", "s3a"):
        if getattr(config, "access_key_id", None):
            return True
        try:
            import botocore.session

            return botocore.session.get_session().get_credentials() is not None
        except Exception:
            return True  # cannot tell: do not claim there are none
    return True
