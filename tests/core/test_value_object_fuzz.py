"""Fuzzing the value objects: whatever a user writes is either accepted, and then renders to
objects the validator accepts, or refused at once with the documented error (a
ConfigurationError or a TypeError) whose message starts with the parameter's name. Nothing in
between: no obscure ValueError/OverflowError, nothing accepted that the cluster would refuse."""

from __future__ import annotations

import math
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flyte
from flyte.errors import ConfigurationError
from flyte.render.context import RenderContext
from flyte.render.render import render_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import validate_manifests

# -- what a user might write ------------------------------------------------------------------

weird_text = st.text(max_size=12)  # any code point: control characters, other scripts' digits, ...
numbers = st.one_of(
    st.integers(-10, 10**6),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
quantity_text = st.from_regex(
    r"\+?[0-9]{1,6}(\.[0-9]{0,3})?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|e[0-9]{1,2})?", fullmatch=True
)
quantities = st.one_of(quantity_text, numbers, weird_text, st.tuples(quantity_text, quantity_text))
durations = st.one_of(
    numbers,
    st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=400)),
    weird_text,
)
label_text = st.one_of(st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,70}[A-Za-z0-9])?", fullmatch=True), weird_text)
keys = st.one_of(
    label_text, st.builds(lambda p, n: f"{p}/{n}", st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True), label_text)
)
reference_text = st.one_of(
    st.from_regex(r"([a-z0-9.-]{1,15}(:[0-9]{1,5})?/)?[a-z0-9._-]{1,20}(:[A-Za-z0-9_.-]{1,10})?", fullmatch=True),
    weird_text,
)

FAMILIES: dict[str, Any] = {
    "resources": st.fixed_dictionaries(
        {},
        optional={
            "cpu": quantities,
            "memory": quantities,
            "disk": quantities,
            "shm": st.one_of(quantities, st.just("auto")),
            "gpu": st.one_of(numbers, weird_text, st.from_regex(r"(A100|T4|H100|Z9):[0-9]{1,3}", fullmatch=True)),
        },
    ),
    "timeout": st.fixed_dictionaries(
        {}, optional={"max_runtime": durations, "max_queued_time": durations, "deadline": durations}
    ),
    "retries": st.fixed_dictionaries(
        {"count": numbers},
        optional={"base": durations, "factor": numbers, "cap": durations},
    ),
    "reusable": st.fixed_dictionaries(
        {},
        optional={
            "replicas": st.one_of(numbers, st.tuples(numbers, numbers)),
            "idle_ttl": durations,
            "concurrency": numbers,
        },
    ),
    "pod_template": st.fixed_dictionaries(
        {},
        optional={
            "labels": st.dictionaries(keys, label_text, max_size=3),
            "annotations": st.dictionaries(keys, weird_text, max_size=3),
        },
    ),
    "queue": st.one_of(label_text, numbers),
    "trigger": st.fixed_dictionaries(
        {"name": st.one_of(label_text, weird_text)},
        optional={"queue": label_text, "labels": st.dictionaries(keys, label_text, max_size=2), "minutes": numbers},
    ),
    "image": st.fixed_dictionaries(
        {"reference": reference_text},
        optional={
            "registry": st.one_of(reference_text, weird_text),
            "platform": st.one_of(weird_text, st.just("linux/arm64")),
        },
    ),
    "env_name": st.one_of(label_text, weird_text),
}
# The parameter names an error about each family may start with.
NAMED: dict[str, tuple[str, ...]] = {
    "resources": ("cpu", "memory", "disk", "shm", "gpu", "GPU", "Device"),
    "timeout": ("Timeout.",),
    "retries": ("retries", "Backoff.", "RetryStrategy."),
    "reusable": ("ReusePolicy.",),
    "pod_template": ("pod_template.",),
    "queue": ("queue",),
    "trigger": ("Trigger.", "FixedRate.", "triggers"),
    "image": ("image_uri", "registry", "platform", "base_image"),
    "env_name": ("name",),
}


def _build(family: str, value: Any) -> Any:
    """A task configured with ``value``; raises whatever the value objects raise."""
    env_settings: dict[str, Any] = {}
    task_settings: dict[str, Any] = {}
    name = "fuzz"
    if family == "resources":
        env_settings["resources"] = flyte.Resources(**value)
    elif family == "timeout":
        task_settings["timeout"] = flyte.Timeout(**value)
    elif family == "retries":
        backoff = {k: value[k] for k in ("base", "factor", "cap") if k in value}
        task_settings["retries"] = flyte.RetryStrategy(
            count=value["count"], backoff=flyte.Backoff(**backoff) if "base" in backoff else None
        )
    elif family == "reusable":
        env_settings["reusable"] = flyte.ReusePolicy(**value)
    elif family == "pod_template":
        env_settings["pod_template"] = flyte.PodTemplate(**value)
    elif family == "queue":
        env_settings["queue"] = value
    elif family == "trigger":
        minutes = value.get("minutes")
        automation = flyte.FixedRate(minutes) if minutes is not None else flyte.Cron("0 6 * * *")
        trigger = flyte.Trigger(value["name"], automation, queue=value.get("queue"), labels=value.get("labels"))
        task_settings["triggers"] = [trigger]
    elif family == "image":
        if "registry" in value or "platform" in value:
            env_settings["image"] = flyte.Image.from_debian_base(
                registry=value.get("registry"), platform=value.get("platform")
            )
        else:
            env_settings["image"] = flyte.Image.from_base(value["reference"])
    elif family == "env_name":
        name = value
    env = flyte.TaskEnvironment(name, **env_settings)

    def job(x: int = 1) -> int:
        return x

    return env.task(**task_settings)(job)


def test_every_value_is_accepted_and_renders_valid_objects_or_refused_naming_its_parameter(tmp_path):
    accepted: list[dict] = []
    refused = 0

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        nonlocal refused
        family = data.draw(st.sampled_from(sorted(FAMILIES)))
        value = data.draw(FAMILIES[family])
        try:
            task = _build(family, value)
        except (ConfigurationError, TypeError) as exc:
            refused += 1
            assert str(exc).startswith(NAMED[family]), f"{family}={value!r}: {exc}"
            return
        except Exception as exc:  # anything else is an obscure error
            raise AssertionError(f"{family}={value!r} raised {type(exc).__name__}: {exc}") from exc
        try:
            objects = render_task(task, RenderContext())
        except flyte.errors.RenderError as exc:
            # The one documented render-time refusal: a FixedRate no cron schedule expresses.
            assert family == "trigger" and "cannot be expressed exactly as a cron schedule" in str(exc), exc
            return
        except ConfigurationError as exc:  # the docs' "<my-container-registry>", accepted until rendered
            assert family == "image" and "is a placeholder: name your registry" in str(exc), exc
            return
        accepted.extend(objects)

    one()
    assert accepted and refused, "the strategies must produce both accepted and refused values"
    path = tmp_path / "accepted.yaml"
    path.write_text(yaml.safe_dump_all(accepted))
    problems = validate_manifests(path)
    assert not problems, "\n".join(problems[:40])


def test_durations_reject_non_finite_and_overlong_values_by_name():
    for bad in (math.nan, math.inf, -math.inf, 10**20, 1e300, timedelta(days=366)):
        for make, name in (
            (lambda v: flyte.Timeout(max_runtime=v), "Timeout.max_runtime"),
            (lambda v: flyte.Backoff(base=v), "Backoff.base"),
            (lambda v: flyte.ReusePolicy(idle_ttl=v), "ReusePolicy.idle_ttl"),
        ):
            try:
                make(bad)
            except ConfigurationError as exc:
                assert str(exc).startswith(name), exc
            else:
                raise AssertionError(f"{name}={bad!r} was accepted")
