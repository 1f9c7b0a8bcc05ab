"""Resources read back as the user wrote them; the canonical forms come from accessors.

As on the reference SDK, ``Resources(cpu=1).cpu == 1`` and ``Resources(gpu="A100:2").gpu ==
"A100:2"``; what a pod requests (``request``/``limit``/``device``/``shared_memory``) is the
canonical Kubernetes form, and a spec shipped to a pod comes back equal.
"""

from __future__ import annotations

import json

import pytest

import flyte
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.pod import resource_quantities, task_pod_spec
from flyte.spec import TaskSpec


@pytest.mark.parametrize(
    "given",
    [
        dict(cpu=1),
        dict(cpu=0.5),
        dict(cpu="500m"),
        dict(cpu=(1, 2)),
        dict(cpu=("250m", 1.5)),
        dict(memory="1Gi"),
        dict(memory=("512Mi", "1Gi")),
        dict(memory="1024"),
        dict(gpu=1),
        dict(gpu="A100:2"),
        dict(gpu="A100_80G:1"),  # the reference's spelling reads back as written too
        dict(gpu=flyte.GPU("A100", 2, partition="1g.5gb")),
        dict(gpu=flyte.TPU("V5P", "2x2x1")),
        dict(disk="10Gi"),
        dict(disk="1500m"),
        dict(shm="auto"),
        dict(shm="1Gi"),
    ],
    ids=repr,
)
def test_each_field_reads_back_as_given(given):
    r = flyte.Resources(**given)
    for name, value in given.items():
        assert getattr(r, name) == value
        assert type(getattr(r, name)) is type(value)


def test_a_pair_is_a_tuple_and_memory_a_string_as_on_the_reference_sdk():
    r = flyte.Resources(cpu=(1, 2), memory=("1Gi", "2Gi"))
    assert (r.cpu, r.memory) == ((1, 2), ("1Gi", "2Gi"))
    hash(r)  # specs stay hashable
    with pytest.raises(ValueError, match=r"cpu: \[1, 2\] is a list \(accepted: a \(request, limit\) tuple"):
        flyte.Resources(cpu=[1, 2])
    with pytest.raises(ValueError, match="memory: expected a Kubernetes quantity string .* got int 1024"):
        flyte.Resources(memory=1024)  # 1024 bytes, surely not what was meant


def test_equality_and_repr_are_on_the_given_values():
    assert flyte.Resources(cpu=1) == flyte.Resources(cpu=1)
    assert flyte.Resources(cpu=1) != flyte.Resources(cpu="1")  # as on the reference SDK
    assert flyte.Resources(gpu="A100:2") != flyte.Resources(gpu=flyte.GPU("A100", 2))
    assert len({flyte.Resources(cpu=1), flyte.Resources(cpu=1)}) == 1
    assert repr(flyte.Resources(cpu=1, memory="1Gi")) == (
        "Resources(cpu=1, memory='1Gi', gpu=None, disk=None, shm=None)"
    )


def test_the_canonical_accessors():
    r = flyte.Resources(cpu=(0.5, 2), memory="1024", gpu="A100:2", disk="1.5", shm="1024")
    assert (r.request("cpu"), r.limit("cpu")) == ("500m", "2")
    assert (r.request("memory"), r.limit("memory")) == ("1024", "1024")
    assert (r.request("disk"), r.limit("disk")) == ("1.5", "1.5")
    assert r.shared_memory == "1024"
    assert r.device == flyte.GPU("A100", 2)
    assert flyte.Resources(gpu=3).device == flyte.Device(quantity=3)
    assert flyte.Resources(shm="auto").shared_memory == "auto"
    empty = flyte.Resources()
    assert (empty.request("cpu"), empty.limit("memory"), empty.device, empty.shared_memory) == (None,) * 4


def test_evolve_revalidates_and_recomputes_the_canonical_forms():
    import attrs

    r = attrs.evolve(flyte.Resources(cpu=1), cpu=0.25)
    assert (r.cpu, r.request("cpu")) == (0.25, "250m")
    with pytest.raises(ValueError, match="cpu: .* has a request above its limit"):
        attrs.evolve(r, cpu=(4, 1))


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (dict(cpu="5 cores"), ValueError, "cpu: '5 cores' is not a Kubernetes quantity"),
        (dict(cpu=(4, 1)), ValueError, "cpu: .* has a request above its limit"),
        (dict(memory="0"), ValueError, "memory: '0' must be greater than zero"),
        (dict(gpu="Z9:2"), ValueError, "gpu: 'Z9:2'"),
        (dict(gpu=0), ValueError, "gpu"),
        (dict(gpu=True), TypeError, "gpu"),
        (dict(gpu=1.5), TypeError, "gpu"),
        (dict(disk=("1Gi", "2Gi")), ValueError, "disk: .*single quantity"),
        (dict(shm="lots"), ValueError, "shm: 'lots' is not a Kubernetes quantity"),
    ],
)
def test_still_validated_at_construction(bad, error, match):
    with pytest.raises(error, match=match):
        flyte.Resources(**bad)


def test_task_attributes_read_back_as_given():
    env = flyte.TaskEnvironment(name="given_env", resources=flyte.Resources(cpu=2))

    @env.task
    def t(x: int) -> int:
        return x

    assert env.resources.cpu == 2
    assert t.resources.cpu == 2
    overridden = t.override(resources=flyte.Resources(gpu="A100:2"))
    assert overridden.resources.gpu == "A100:2"
    assert overridden.spec.resources.device == flyte.GPU("A100", 2)


def _spec(resources: flyte.Resources) -> TaskSpec:
    env = flyte.TaskEnvironment(name="render_env", resources=resources)

    @env.task
    def t(x: int) -> int:
        return x

    return t.spec


def test_a_spec_shipped_to_a_pod_comes_back_equal_and_renders_the_same():
    resources = flyte.Resources(cpu=(0.5, 2), memory=("1024", "2Gi"), gpu="A100:2", disk="10Gi", shm="auto")
    spec = _spec(resources)
    back = TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert back.resources.cpu == (0.5, 2)
    assert back.resources.gpu == "A100:2"
    device_spec = _spec(flyte.Resources(gpu=flyte.GPU("A100", 1, partition="1g.5gb")))
    assert TaskSpec.from_dict(json.loads(json.dumps(device_spec.to_dict()))) == device_spec
    ctx = RenderContext(settings=RenderSettings())
    assert task_pod_spec(back, ctx) == task_pod_spec(spec, ctx)


def test_the_rendered_quantities_are_canonical_whatever_the_spelling():
    one = flyte.Resources(cpu=0.5, memory=("512Mi", "1Gi"), gpu="A100:2", disk="10Gi")
    other = flyte.Resources(cpu="500m", memory=("512Mi", "1Gi"), gpu=flyte.GPU("A100", 2), disk="10Gi")
    assert one != other
    expected = {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "10Gi", "nvidia.com/gpu": "2"}
    assert resource_quantities(one) == resource_quantities(other)
    assert resource_quantities(one)[0] == expected
    assert resource_quantities(one)[1]["memory"] == "1Gi"
    ctx = RenderContext(settings=RenderSettings())
    assert task_pod_spec(_spec(one), ctx) == task_pod_spec(_spec(other), ctx)
