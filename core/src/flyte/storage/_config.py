"""Object-store settings: ``S3``, ``GCS`` and ``ABFS``, usable from code and from the config file.

``flyte.init(storage=S3(endpoint=..., ...))`` or a ``storage:`` section of the config file::

    storage:
      s3:
        endpoint: http://127.0.0.1:9000
        region: us-east-1
        access_key_id: ...        # or leave both out: the AWS chain (env, ~/.aws, IAM) is used
        secret_access_key: ...

Each object turns into the keyword arguments of its fsspec filesystem (s3fs, gcsfs, adlfs).
Secret fields never appear in ``repr``: a config printed in a log shows ``'***'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from flyte._validation import invalid, wrong_type

_SECRET = "***"


def _optional_text(param: str, secret: bool = False) -> Any:
    def convert(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            if secret:  # never echo what may be a credential
                raise TypeError(f"{param}: expected a non-empty str, got {type(value).__name__}")
            wrong_type(param, value, "a non-empty str")
        return value

    return convert


def _retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        invalid("retries", value, "an int >= 0")
    return value


def _masked(value: Any) -> str:
    return repr(None) if value is None else repr(_SECRET)


@attrs.frozen
class Storage:
    """Settings every provider shares.

    ``retries``: attempts of a failed request (the provider's client retries with backoff);
    ``anonymous``: unsigned requests (public buckets), no credentials looked up.
    """

    retries: int = attrs.field(default=3, converter=_retries)
    anonymous: bool = attrs.field(default=False, kw_only=True)

    protocols: ClassVar[tuple[str, ...]] = ()
    section: ClassVar[str] = ""
    env: ClassVar[dict[str, str]] = {}
    env_hint: ClassVar[str] = ""

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        """The keyword arguments of the fsspec filesystem for this provider."""
        return dict(kwargs)

    @classmethod
    def auto(cls) -> Storage:
        """Settings from the environment (see each provider's ``env`` table)."""
        return cls(**_from_env(cls.env))

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> Storage:
        """Settings from a ``storage.<provider>`` section of the config file."""
        data = dict(data or {})
        known = {a.alias or a.name for a in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"storage.{cls.section}: unknown key(s) {unknown} (accepted: {sorted(known)})")
        return cls(**data)


def _from_env(table: Mapping[str, str]) -> dict[str, Any]:
    return {field: os.environ[var] for field, var in table.items() if os.environ.get(var)}


def _addressing(value: Any) -> str | None:
    if value is None or value in ("path", "virtual", "auto"):
        return value
    invalid("addressing_style", value, '"path", "virtual" or "auto"')


@attrs.frozen
class S3(Storage):
    """Amazon S3 or any S3-compatible store (MinIO, Ceph, ...).

    Credentials: ``access_key_id``/``secret_access_key`` when given, else the AWS chain
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws``, an IAM role).
    ``endpoint`` points at a non-AWS server; ``addressing_style="path"`` for servers without
    virtual-host buckets.
    """

    endpoint: str | None = attrs.field(default=None, converter=_optional_text("endpoint"))
    access_key_id: str | None = attrs.field(default=None, converter=_optional_text("access_key_id"), repr=_masked)
    secret_access_key: str | None = attrs.field(
        default=None, converter=_optional_text("secret_access_key", secret=True), repr=_masked
    )
    region: str | None = attrs.field(default=None, converter=_optional_text("region"))
    addressing_style: str | None = attrs.field(default=None, converter=_addressing)

    protocols: ClassVar[tuple[str, ...]] = ("s3", "s3a")
    env_hint: ClassVar[str] = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials"
    section: ClassVar[str] = "s3"
    # The reference SDK's variables, read by S3.auto() (the AWS_* ones boto reads itself).
    env: ClassVar[dict[str, str]] = {
        "endpoint": "FLYTE_AWS_ENDPOINT",
        "access_key_id": "FLYTE_AWS_ACCESS_KEY_ID",
        "secret_access_key": "FLYTE_AWS_SECRET_ACCESS_KEY",
        "region": "FLYTE_AWS_REGION",
        "addressing_style": "FLYTE_AWS_S3_ADDRESSING_STYLE",
    }

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if anonymous or self.anonymous:
            out["anon"] = True
        else:
            if self.access_key_id:
                out["key"] = self.access_key_id
            if self.secret_access_key:
                out["secret"] = self.secret_access_key
        if self.endpoint:
            out["endpoint_url"] = self.endpoint
        client: dict[str, Any] = {}
        if self.region:
            client["region_name"] = self.region
        if client:
            out["client_kwargs"] = client
        config: dict[str, Any] = {"retries": {"max_attempts": max(1, self.retries), "mode": "standard"}}
        if self.addressing_style:
            config["s3"] = {"addressing_style": self.addressing_style}
        out["config_kwargs"] = config
        out.update(kwargs)
        return out


@attrs.frozen
class GCS(Storage):
    """Google Cloud Storage. Credentials: ``token`` (a service-account JSON file, or
    ``"anon"``), else Application Default Credentials; ``endpoint`` for an emulator."""

    endpoint: str | None = attrs.field(default=None, converter=_optional_text("endpoint"))
    project: str | None = attrs.field(default=None, converter=_optional_text("project"))
    token: str | None = attrs.field(default=None, converter=_optional_text("token", secret=True), repr=_masked)

    protocols: ClassVar[tuple[str, ...]] = ("gs", "gcs")
    env_hint: ClassVar[str] = "GOOGLE_APPLICATION_CREDENTIALS or gcloud's application-default login"
    section: ClassVar[str] = "gcs"
    env: ClassVar[dict[str, str]] = {
        "endpoint": "STORAGE_EMULATOR_HOST",
        "project": "GOOGLE_CLOUD_PROJECT",
        "token": "GOOGLE_APPLICATION_CREDENTIALS",
    }

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"retries": max(1, self.retries)}
        if anonymous or self.anonymous:
            out["token"] = "anon"
        elif self.token:
            out["token"] = self.token
        if self.endpoint:
            out["endpoint_url"] = self.endpoint
        if self.project:
            out["project"] = self.project
        out.update(kwargs)
        return out


@attrs.frozen
class ABFS(Storage):
    """Azure Blob Storage / ADLS Gen2. Credentials: an account key, a service principal
    (``tenant_id``/``client_id``/``client_secret``), a connection string, or Azure's default chain."""

    account_name: str | None = attrs.field(default=None, converter=_optional_text("account_name"))
    account_key: str | None = attrs.field(
        default=None, converter=_optional_text("account_key", secret=True), repr=_masked
    )
    tenant_id: str | None = attrs.field(default=None, converter=_optional_text("tenant_id"))
    client_id: str | None = attrs.field(default=None, converter=_optional_text("client_id"))
    client_secret: str | None = attrs.field(
        default=None, converter=_optional_text("client_secret", secret=True), repr=_masked
    )
    connection_string: str | None = attrs.field(
        default=None, converter=_optional_text("connection_string", secret=True), repr=_masked
    )

    protocols: ClassVar[tuple[str, ...]] = ("abfs", "abfss", "az")
    env_hint: ClassVar[str] = "AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_CONNECTION_STRING or AZURE_CLIENT_SECRET"
    section: ClassVar[str] = "abfs"
    env: ClassVar[dict[str, str]] = {
        "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
        "account_key": "AZURE_STORAGE_ACCOUNT_KEY",
        "tenant_id": "AZURE_TENANT_ID",
        "client_id": "AZURE_CLIENT_ID",
        "client_secret": "AZURE_CLIENT_SECRET",
        "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    }

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.account_name:
            out["account_name"] = self.account_name
        if anonymous or self.anonymous:
            out["anon"] = True
        else:
            for name in ("account_key", "tenant_id", "client_id", "client_secret", "connection_string"):
                if getattr(self, name):
                    out[name] = getattr(self, name)
        out.update(kwargs)
        return out


PROVIDERS: tuple[type[Storage], ...] = (S3, GCS, ABFS)


def provider_for(protocol: str) -> type[Storage] | None:
    for cls in PROVIDERS:
        if protocol in cls.protocols:
            return cls
    return None


def to_storage_configs(value: Any) -> tuple[Storage, ...]:
    """``flyte.init(storage=...)`` objects, or the config file's ``storage:`` mapping, as a
    tuple of provider settings (one per provider)."""
    if value is None:
        return ()
    if isinstance(value, Storage):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, Storage) for v in value):
        return tuple(value)
    if isinstance(value, Mapping):
        sections = {cls.section: cls for cls in PROVIDERS}
        unknown = sorted(set(value) - set(sections))
        if unknown:
            raise ValueError(f"storage: unknown provider section(s) {unknown} (accepted: {sorted(sections)})")
        return tuple(sections[name].from_config(data) for name, data in value.items())
    wrong_type("storage", value, "a flyte.storage.S3/GCS/ABFS, a storage URL or path, or a config mapping")
