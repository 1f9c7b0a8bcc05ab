"""Cache keys, composed as the guide says: final inputs, task name, interface, version, salt.

- *final inputs*: the call's inputs (defaults applied) minus ``ignored_inputs``, encoded
  canonically (:mod:`flyte._codec`): the same inputs give the same key in every process and
  under any ``PYTHONHASHSEED``; an input with no deterministic encoding is an error naming it.
- *task name*: the fully-qualified ``env.function``.
- *interface*: a hash of the input names and types and the output type.
- *version*: for ``"auto"``, what the policies return (``FunctionBodyPolicy``: the code);
  for ``"override"``, ``version_override``.
- *salt*: ``Cache.salt``.

A key is the SHA-256 of those parts, except when the inputs hold a secret's value (one a task
of this process was handed, as :mod:`flyte.runtime.redact` knows them): then it is an HMAC of
that hash under a random key of the state root's secret store (:func:`keyed`). A plain hash of
known parts and a secret is a verifier of the secret: whoever reads the cache, a run's record
or ``flyte runs show`` output could test guesses of a short password against it offline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any

from flyte import _codec
from flyte._cache.cache import Cache
from flyte._cache.policy import FunctionBodyPolicy, VersionParameters
from flyte._main_name import main_module_name
from flyte.errors import ConfigurationError
from flyte.runtime import redact

_versions: dict[tuple[Any, Cache], str] = {}
_lock = threading.Lock()


def cache_version(func: Any, cache: Cache, image: Any = None) -> str:
    """The version part of the key (memoised per function and cache setting when only the
    function's code decides it; a custom policy is asked every time)."""
    if cache.behavior == "override":
        return f"override:{cache.version_override}"
    memo = (func, cache) if _memoisable(func, cache) else None
    found = None if memo is None else _versions.get(memo)
    if found is not None:
        return found
    params = VersionParameters(func=func, container_image=image)
    parts = []
    for policy in cache.policies:
        version = policy.get_version(cache.salt, params)
        if not isinstance(version, str):
            raise ConfigurationError(
                f"cache policy {type(policy).__name__}.get_version returned {version!r}, not a str"
            )
        parts.append(f"{type(policy).__qualname__}={version}")
    version = "auto:" + "|".join(parts)
    if memo is not None:
        with _lock:
            _versions[memo] = version
    return version


_interfaces: dict[int, tuple[Any, str]] = {}


def interface_hash(spec: Any) -> str:
    """A hash of the input names and types and the output type (memoised per interface object,
    which is kept alive by the memo so its id stays its own)."""
    interface = spec.interface
    found = _interfaces.get(id(interface))
    if found is not None and found[0] is interface:
        return found[1]
    data = [[i.name, i.type] for i in interface.inputs] + [["->", interface.output]]
    text = json.dumps(data)
    if "__main__:" in text:  # a script's own types, by the name flyte run gives the script
        text = text.replace("__main__:", f"{main_module_name()}:")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    with _lock:
        _interfaces[id(interface)] = (interface, digest)
    return digest


def cache_key(spec: Any, func: Any, inputs: dict[str, Any], encoded: str | None = None) -> str:
    """The key of one call; raises a clear error for an input that cannot be keyed.
    ``encoded``: ``_codec.dumps(inputs)`` when the caller has it (the action record's), hashed
    as it is when it is the canonical encoding too."""
    cache = spec.cache
    final = inputs
    if cache.ignored_inputs:
        unknown = [name for name in cache.ignored_inputs if name not in inputs]
        if unknown:
            raise ConfigurationError(
                f"{spec.name}: cache.ignored_inputs names {unknown}, which are not inputs of the task "
                f"(inputs: {list(inputs)})"
            )
        final = {k: v for k, v in inputs.items() if k not in cache.ignored_inputs}
    if encoded is None or final is not inputs or not _codec.canonical_as_is(inputs):
        try:
            encoded = _codec.dumps(final, canonical=True, path="input")
        except _codec.UnhashableInputError as exc:
            raise ConfigurationError(f"{spec.name}: cannot compute a cache key: {exc}") from None
    return task_part(spec, func).hash(encoded)


def key_version(spec: Any, func: Any) -> str:
    """The version part of the task's keys (what a cache entry records as its version)."""
    return task_part(spec, func).version


# What json.dumps does with a str (its default ensure_ascii), without its Python layers.
_json_string = json.encoder.encode_basestring_ascii
_CANONICAL_SCALARS = _codec.CANONICAL_SCALARS


class TaskPart:
    """What every key of one task shares: its version, and the hash state after the key's
    head ``'["name","interface","version","salt",'``."""

    __slots__ = ("func", "head", "sorted_names", "spec", "version")

    def __init__(self, spec: Any, func: Any):
        cache = spec.cache
        self.spec, self.func = spec, func
        self.version = cache_version(func, cache, spec.image)
        text = json.dumps([spec.name, interface_hash(spec), self.version, cache.salt], separators=(",", ":"))
        self.head = hashlib.sha256((text[:-1] + ",").encode())
        names = tuple(i.name for i in spec.interface.inputs)
        # The task's input names when they are in sorted order and none is ignored: a call's
        # inputs with these keys in this order are canonical as the record encodes them, if
        # their values are scalars (see key()).
        self.sorted_names = names if names == tuple(sorted(names)) and not cache.ignored_inputs else None

    def hash(self, canonical: str) -> str:
        """The key of the inputs whose canonical encoding is ``canonical``: the hash of the JSON
        list [name, interface, version, salt, canonical], from the state after its first four
        items (the same for every call of the task)."""
        digest = self.head.copy()
        digest.update((_json_string(canonical) + "]").encode())
        if redact.contains_secret(canonical):
            return keyed(digest.digest())
        return digest.hexdigest()

    def key(self, inputs: dict[str, Any], encoded: str, in_order: bool = False) -> str:
        """:func:`cache_key` of a call of this task (``encoded``: ``_codec.dumps(inputs)``;
        ``in_order``: the inputs are known to be the task's parameters in their order, as its
        inputs' encoder found them). Bound inputs come in parameter order: when that order is
        sorted, only their values' types are left to check (:func:`flyte._codec.canonical_as_is`'s
        other tests hold)."""
        if self.sorted_names is not None and (in_order or tuple(inputs) == self.sorted_names):
            for value in inputs.values():
                if type(value) not in _CANONICAL_SCALARS:
                    break
            else:
                return self.hash(encoded)
        return cache_key(self.spec, self.func, inputs, encoded)


_keys: dict[str, bytes] = {}  # the HMAC key of each state root's cache keys, read once


def keyed(digest: bytes) -> str:
    """The key of a call whose inputs hold a secret: HMAC-SHA256 of the plain key's ``digest``
    under the state root's private key (never a key of inputs without a secret: those are
    hex SHA-256 of other bytes, so the two kinds never answer each other's calls)."""
    from flyte._home import state_root
    from flyte.runtime import secret_store

    root = str(state_root())
    secret = _keys.get(root)
    if secret is None:
        secret = _keys[root] = secret_store.private_key("cache-keys")
    return hmac.new(secret, digest, hashlib.sha256).hexdigest()


_parts: dict[int, TaskPart] = {}


def memoised_part(spec: Any, func: Any) -> TaskPart | None:
    """The shared part of a task's keys if it stays the same while the process lives (only the
    function's code decides the version), else None: ask :func:`cache_key` on every call."""
    return task_part(spec, func) if _memoisable(func, spec.cache) else None


def task_part(spec: Any, func: Any) -> TaskPart:
    """The shared part of a task's keys (memoised per spec object, kept alive by the memo so its
    id stays its own; computed every time for a custom policy, whose version may change)."""
    found = _parts.get(id(spec))
    if found is not None and found.spec is spec and found.func is func:
        return found
    part = TaskPart(spec, func)
    if _memoisable(func, spec.cache):
        with _lock:
            _parts[id(spec)] = part
    return part


def _memoisable(func: Any, cache: Cache) -> bool:
    """Whether the version can be memoised: only the function's code decides it. A custom
    policy is asked on every call, as the guide's DatasetVersionPolicy needs (its version
    follows a dataset's, which may change while the process lives)."""
    if not all(type(policy) is FunctionBodyPolicy for policy in cache.policies):
        return False
    try:
        hash((func, cache))
    except TypeError:
        return False
    return True
