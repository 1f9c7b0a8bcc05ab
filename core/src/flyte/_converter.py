"""The one converter between flyte's value objects and plain JSON-able data (cattrs).

Special types are taught here once: timedeltas as seconds, datetimes as ISO strings, pod specs
as the Kubernetes API's dicts, the few unions our objects use, and free-form values (input
defaults, trigger inputs, ``plugin_config``, links, cache policies) through :mod:`flyte._codec`,
which records their type so they come back as they were.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.strategies import configure_tagged_union

from flyte import _codec
from flyte._cache import Cache
from flyte.errors import ConfigurationError, FlyteError
from flyte.frozen import FrozenDict, freeze, thaw
from flyte.image import Image, Layer
from flyte.interface import InputSpec
from flyte.pod_template import PodTemplate, pod_spec_to_dict
from flyte.resources import Device, Resources
from flyte.retry import Backoff, stored_backoff
from flyte.reuse import ReusePolicy
from flyte.secret import Secret, stored_secret
from flyte.spec import TaskSpec
from flyte.triggers import Cron, FixedRate, Trigger

converter = cattrs.Converter(forbid_extra_keys=True)

converter.register_unstructure_hook(timedelta, lambda td: td.total_seconds())
converter.register_structure_hook(timedelta, lambda v, _: timedelta(seconds=v))
converter.register_unstructure_hook(FrozenDict, thaw)
converter.register_structure_hook(FrozenDict, lambda v, _: freeze(v))
converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))

configure_tagged_union(Cron | FixedRate, converter, tag_name="kind")
configure_tagged_union(Layer, converter, tag_name="kind")

_coded = override(unstruct_hook=_codec.encode, struct_hook=lambda v, _: _codec.decode(v))


def _with_fields(cls: type, **fields: Any) -> None:
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **fields))
    converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter, **fields))


_with_fields(
    InputSpec,
    default=override(omit_if_default=True, unstruct_hook=_codec.encode, struct_hook=lambda v, _: _codec.decode(v)),
)


def _shown_rules(value: Any) -> Any:
    from flyte.notify import shown_rules

    return None if value is None else shown_rules(value)


def _rules_from_data(data: Any, _type: Any) -> Any:
    from flyte.notify import rules_from_data

    return None if data is None else rules_from_data(data)


# A trigger's notifications as data hide their credentials (flyte.notify.shown_rules).
_with_fields(Trigger, inputs=_coded, notifications=override(unstruct_hook=_shown_rules, struct_hook=_rules_from_data))
_with_fields(Cache, policies=_coded)
_with_fields(
    PodTemplate,
    pod_spec=override(unstruct_hook=lambda p: None if p is None else pod_spec_to_dict(p), struct_hook=lambda v, _: v),
)


def _pair_or_scalar(value: Any, _: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _gpu_from_data(value: Any, _: Any) -> Any:
    return converter.structure(value, Device) if isinstance(value, dict) else value


# Resources keep their values as given ("1", 1, 0.5, (request, limit), "A100:2", a Device), so
# each field comes back as it went out; ReusePolicy.replicas is "int | (min, max)".
_as_given = override(struct_hook=lambda v, _: v)
_with_fields(
    Resources,
    cpu=override(struct_hook=_pair_or_scalar),
    memory=override(struct_hook=_pair_or_scalar),
    gpu=override(unstruct_hook=lambda v: converter.unstructure(v), struct_hook=_gpu_from_data),
    disk=_as_given,
    shm=_as_given,
)
_with_fields(ReusePolicy, replicas=override(struct_hook=_pair_or_scalar))

# image= and pod_template= also accept a plain string (an image reference, a cluster
# PodTemplate name).
for _cls in (Image, PodTemplate):
    converter.register_structure_hook(
        _cls | str, lambda v, _, c=_cls: v if isinstance(v, str) else converter.structure(v, c)
    )
    converter.register_structure_hook(
        _cls | str | None,
        lambda v, _, c=_cls: v if v is None or isinstance(v, str) else converter.structure(v, c),
    )


_with_fields(TaskSpec, plugin_config=_coded, links=_coded)


# Stored data is read with the rules it was written under: a record an earlier version wrote
# (a deployment's spec, a connector job's) is migrated, not refused, where a rule got stricter
# since (flyte.retry.stored_backoff, flyte.secret.stored_secret). New input is not read here.
def _stored(build: Any, cls: type) -> Any:
    names = {a.name for a in cls.__attrs_attrs__}

    def structure(data: Any, _: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"expected a {cls.__name__} as a dict, got {type(data).__name__} {data!r}")
        extra = sorted(set(data) - names)
        if extra:
            raise cattrs.ForbiddenExtraKeysError(f"extra fields for {cls.__name__}: {extra}", cls, set(extra))
        return build(**data)  # durations as stored (seconds) are what the constructors take

    return structure


converter.register_structure_hook(Backoff, _stored(stored_backoff, Backoff))
converter.register_structure_hook(Secret, _stored(stored_secret, Secret))


def unstructure_spec(spec: TaskSpec) -> dict[str, Any]:
    return converter.unstructure(spec)


def structure_spec(data: dict[str, Any]) -> TaskSpec:
    try:
        return converter.structure(data, TaskSpec)
    except Exception as exc:
        raise ConfigurationError(f"not a valid TaskSpec: {_explain(exc)}") from exc


def unstructure(value: Any) -> Any:
    """Any flyte value object as plain data."""
    return converter.unstructure(value)


def structure(data: Any, cls: type) -> Any:
    """Plain data back into ``cls``; errors name the failing field's path."""
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        raise ConfigurationError(f"not a valid {getattr(cls, '__name__', cls)}: {_explain(exc)}") from exc


def _reason(exc: BaseException, cls: Any) -> str:
    # A value object's own error says what is wrong and what is accepted; cattrs's says less.
    return str(exc) if isinstance(exc, FlyteError) else cattrs.v.format_exception(exc, cls)


def _explain(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc, path="spec", format_exception=_reason))
    return f"{type(exc).__name__}: {exc}"
