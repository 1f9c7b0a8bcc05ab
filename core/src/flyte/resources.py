"""Compute resources: CPU, memory, accelerators, ephemeral disk and shared memory.

Quantities follow Kubernetes (``"500m"``, ``"1.5"``, ``"4Gi"``, ``"500M"``); a ``(request,
limit)`` tuple sets both. Accelerators are a count, ``"A100:2"``, or a :class:`Device` made by
:func:`GPU`, :func:`TPU` or ``Device(...)`` directly.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Literal

import attrs

from flyte._quantity import MAX_QUANTITY, normalise_quantity
from flyte._validation import invalid, positive_int, wrong_type

GPUType = Literal[
    "T4",
    "L4",
    "L40s",
    "A10",
    "A10G",
    "A30",
    "A100",
    "A100 80G",
    "V100",
    "H100",
    "H200",
    "B200",
    "A2",
    "RTX_PRO_4500",
    "RTX_PRO_6000",
    "GB10",
]
TPUType = Literal["V5E", "V5P", "V6E"]
DeviceClass = Literal["GPU", "TPU", "NEURON", "AMD_GPU", "HABANA_GAUDI", "CUSTOM"]

GPU_TYPES: tuple[str, ...] = GPUType.__args__  # type: ignore[attr-defined]
TPU_TYPES: tuple[str, ...] = TPUType.__args__  # type: ignore[attr-defined]
DEVICE_CLASSES: tuple[str, ...] = DeviceClass.__args__  # type: ignore[attr-defined]
# The reference SDK's later spelling of a guide name; either is accepted, the guide's is kept.
GPU_ALIASES = {"A100_80G": "A100 80G"}

# NVIDIA Multi-Instance GPU profiles each device supports (compute slices . memory).
MIG_PARTITIONS: dict[str, tuple[str, ...]] = {
    "A30": ("1g.6gb", "2g.12gb", "4g.24gb"),
    "A100": ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "A100 80G": ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H200": ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
    "RTX_PRO_6000": ("1g.24gb", "2g.48gb", "4g.96gb"),
}
# TPU slice topologies (chips along each axis) per generation.
TPU_TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "V5E": ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
    "V6E": ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
    "V5P": (
        "2x2x1",
        "2x2x2",
        "2x4x4",
        "4x4x4",
        "4x4x8",
        "4x8x8",
        "8x8x8",
        "8x8x16",
        "8x16x16",
        "16x16x16",
        "16x16x24",
    ),
}

# Devices one task may request: the largest nodes have 16 GPUs; a TPU request counts the chips
# of the whole slice, and the largest topology (V5P 16x16x24) has 6,144.
MAX_DEVICES = 64
MAX_TPU_CHIPS = 6144

_CPU_EXAMPLES = '2, 0.5, "500m", "1.5" or a (request, limit) pair'
_MEMORY_EXAMPLES = '"512Mi", "4Gi", "500M", "1G" or a (request, limit) pair'


@attrs.frozen
class Device:
    """An accelerator request: ``quantity`` devices of class ``device_class``.

    ``device`` names the model (``"A100"``, ``"V5P"``, or anything your cluster labels);
    ``partition`` a slice of it (an NVIDIA MIG profile such as ``"1g.5gb"``, a TPU topology
    such as ``"2x2x1"``, or a custom value).
    """

    quantity: int = attrs.field(default=1, converter=lambda v: positive_int("gpu quantity", v))
    device_class: str = attrs.field(default="GPU")
    device: str | None = attrs.field(default=None)
    partition: str | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.device_class not in DEVICE_CLASSES:
            invalid("Device.device_class", self.device_class, ", ".join(DEVICE_CLASSES))
        _check_count("Device.quantity", self.quantity, self.device_class)
        for name in ("device", "partition"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                wrong_type(f"Device.{name}", value, "a non-empty str or None")


def _check_count(param: str, quantity: int, device_class: str, shown: Any = None) -> None:
    most = MAX_TPU_CHIPS if device_class == "TPU" else MAX_DEVICES
    if quantity > most:
        accepted = f"at most {most:,} {device_class} devices per task"
        invalid(param, quantity if shown is None else shown, accepted, "is more than a task can use")


def GPU(device: str, quantity: int = 1, partition: str | None = None) -> Device:
    """``quantity`` NVIDIA GPUs of type ``device``, optionally one MIG ``partition`` of each."""
    device = GPU_ALIASES.get(device, device)
    if device not in GPU_TYPES:
        invalid("GPU.device", device, ", ".join(GPU_TYPES), "is not a supported GPU type")
    if partition is not None:
        allowed = MIG_PARTITIONS.get(device, ())
        if partition not in allowed:
            accepted = ", ".join(allowed) if allowed else f"none: {device} has no MIG partitions"
            invalid("GPU.partition", partition, accepted, f"is not a MIG profile of {device}")
    return Device(quantity=quantity, device_class="GPU", device=device, partition=partition)


def TPU(device: str, partition: str | None = None, quantity: int | None = None) -> Device:
    """A Google Cloud TPU slice of generation ``device`` with topology ``partition``.

    The chip count defaults to the topology's size (``"2x2x1"`` is 4 chips).
    """
    if device not in TPU_TYPES:
        invalid("TPU.device", device, ", ".join(TPU_TYPES), "is not a supported TPU type")
    if partition is not None and partition not in TPU_TOPOLOGIES[device]:
        invalid("TPU.partition", partition, ", ".join(TPU_TOPOLOGIES[device]), f"is not a {device} topology")
    if quantity is None:
        quantity = math.prod(int(n) for n in partition.split("x")) if partition else 1
    return Device(quantity=quantity, device_class="TPU", device=device, partition=partition)


AMD_GPU_TYPES = ("MI100", "MI210", "MI250", "MI250X", "MI300A", "MI300X", "MI325X", "MI350X", "MI355X")
NEURON_TYPES = ("Inf1", "Inf2", "Trn1", "Trn1n", "Trn2", "Trn2u")
HABANA_GAUDI_TYPES = ("Gaudi1",)


def AMD_GPU(device: str, quantity: int = 1) -> Device:
    """``quantity`` AMD Instinct GPUs of model ``device`` (``amd.com/gpu``)."""
    if device not in AMD_GPU_TYPES:
        invalid("AMD_GPU.device", device, ", ".join(AMD_GPU_TYPES), "is not a supported AMD GPU")
    return Device(quantity=quantity, device_class="AMD_GPU", device=device)


def Neuron(device: str, quantity: int = 1) -> Device:
    """``quantity`` AWS Inferentia/Trainium devices of generation ``device`` (``aws.amazon.com/neuron``)."""
    if device not in NEURON_TYPES:
        invalid("Neuron.device", device, ", ".join(NEURON_TYPES), "is not a supported Neuron device")
    return Device(quantity=quantity, device_class="NEURON", device=device)


def HABANA_GAUDI(device: str, quantity: int = 1) -> Device:
    """``quantity`` Intel Habana Gaudi accelerators (``habana.ai/gaudi``)."""
    if device not in HABANA_GAUDI_TYPES:
        invalid("HABANA_GAUDI.device", device, ", ".join(HABANA_GAUDI_TYPES), "is not a supported Gaudi device")
    return Device(quantity=quantity, device_class="HABANA_GAUDI", device=device)


# The counts a "<type>:<count>" string may ask for, as the reference SDK lists them (its
# ``Accelerators``): instance shapes, so "A100:9" or "Trn1:2" is a slip, not a request.
_EIGHT = tuple(range(1, 9))
_UP_TO_EIGHT = ("T4", "L4", "L40s", "A10", "A10G", "A30", "A100", "A100 80G", "V100", "H100", "H200", "B200")
ACCELERATOR_COUNTS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(_UP_TO_EIGHT, _EIGHT),
    **{"A2": (1,), "RTX_PRO_4500": (1,), "RTX_PRO_6000": (1, 2), "GB10": (1,)},
    **dict.fromkeys(("Trn1", "Trn1n", "Trn2", "Trn2u"), (1, 4, 8, 16)),
    **{"Inf1": tuple(range(1, 17)), "Inf2": tuple(range(1, 13))},
    **dict.fromkeys(AMD_GPU_TYPES + HABANA_GAUDI_TYPES, (1,)),
}
_ACCELERATOR_HELPERS = {
    **dict.fromkeys(NEURON_TYPES, Neuron),
    **dict.fromkeys(AMD_GPU_TYPES, AMD_GPU),
    **dict.fromkeys(HABANA_GAUDI_TYPES, HABANA_GAUDI),
}
_ACCELERATOR_RULE = (
    '"<type>:<count>", e.g. "A100:2" or "Trn1:4", with type one of '
    + ", ".join(ACCELERATOR_COUNTS)
    + " (1 to 8 of most GPUs); any other count or device: flyte.Device(...)"
)


def _accelerator(value: str) -> Device:
    """A ``"<type>:<count>"`` string as the Device it asks for, or a ConfigurationError."""
    name, sep, count = value.rpartition(":")
    name = GPU_ALIASES.get(name, name)
    if not sep or name not in ACCELERATOR_COUNTS or not (count.isascii() and count.isdigit()):
        invalid("gpu", value, _ACCELERATOR_RULE)
    quantity = int(count)
    if quantity not in ACCELERATOR_COUNTS[name]:
        counts = ", ".join(map(str, ACCELERATOR_COUNTS[name]))
        invalid("gpu", value, f"{name} counts {counts}; any other: flyte.Device(...)", "is not an offered count")
    helper = _ACCELERATOR_HELPERS.get(name, GPU)
    return helper(name, quantity)


def _to_device(value: Any) -> Device | None:
    if value is None or isinstance(value, Device):
        return value
    if isinstance(value, bool):
        wrong_type("gpu", value, 'a count, "A100:2", or flyte.GPU/TPU/Device')
    if isinstance(value, int):
        _check_count("gpu", positive_int("gpu", value), "GPU")
        return Device(quantity=value)
    if isinstance(value, str):
        return _accelerator(value)
    wrong_type("gpu", value, 'a count, "A100:2", or flyte.GPU/TPU/Device')


# The smallest amount each resource takes, and why: finer values would be rounded up.
_SMALLEST = {
    "cpu": (Decimal("0.001"), "is below the smallest CPU amount, 1m"),
    "memory": (Decimal(1), "is less than one byte ('m' is milli: use Mi for mebibytes, e.g. '500Mi')"),
}


def _quantity(param: str, examples: str, value: Any) -> tuple[str, Decimal]:
    if param != "cpu" and isinstance(value, (int, float)) and not isinstance(value, bool):
        # As the reference SDK does: a bare number is bytes, surely not what memory=1024 meant.
        wrong_type(param, value, f"a Kubernetes quantity string ({examples}), not a number (it would mean bytes)")
    found = normalise_quantity(value)
    if found is None:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            wrong_type(param, value, f"a Kubernetes quantity ({examples})")
        invalid(param, value, examples, "is not a Kubernetes quantity")
    amount = found[1]
    if amount > MAX_QUANTITY:
        invalid(param, value, examples, "is larger than Kubernetes can represent (2**63 - 1)")
    smallest, problem = _SMALLEST["cpu" if param == "cpu" else "memory"]
    if 0 < amount < smallest:
        invalid(param, value, examples, problem)
    return found


def _request_limit(param: str, examples: str):
    """Validate a cpu/memory value; keep it as given."""

    def _convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):  # refused as the reference SDK does: a pair is a tuple
            invalid(param, value, f"a (request, limit) tuple: {examples}", "is a list")
        if isinstance(value, tuple):
            if len(value) != 2:
                invalid(param, value, f"a (request, limit) pair: {examples}")
            (_, req_v), (_, lim_v) = (_quantity(param, examples, v) for v in value)
            if req_v > lim_v:
                invalid(
                    param,
                    tuple(value),
                    "a (request, limit) pair with request <= limit",
                    "has a request above its limit",
                )
            return value
        if _quantity(param, examples, value)[1] == 0:
            invalid(param, value, examples, "must be greater than zero")
        return value

    return _convert


def _single(param: str, examples: str, allow_auto: bool = False):
    """Validate a disk/shm value (one quantity, or ``"auto"`` where allowed); keep it as given."""

    def _convert(value: Any) -> Any:
        if value is None or (allow_auto and value == "auto"):
            return value
        if isinstance(value, (tuple, list)):
            invalid(param, value, f"a single quantity: {examples}", "cannot be a (request, limit) pair")
        if _quantity(param, examples, value)[1] == 0:
            invalid(param, value, examples, "must be greater than zero")
        return value

    return _convert


def _validated_gpu(value: Any) -> Any:
    _to_device(value)  # raises on anything that is not a device request
    return value


def _canonical(value: Any) -> str | tuple[str, str] | None:
    """A validated quantity (or pair) as Kubernetes quantity strings (``0.5`` -> ``"500m"``)."""
    if value is None or value == "auto":
        return value
    if isinstance(value, tuple):
        return (normalise_quantity(value[0])[0], normalise_quantity(value[1])[0])  # type: ignore[index]
    return normalise_quantity(value)[0]  # type: ignore[index]


@attrs.frozen
class Resources:
    """What a task's container requests (and is limited to).

    - ``cpu``: cores, ``2``, ``0.5``, ``"500m"``, ``"1.5"``, or ``(request, limit)``.
    - ``memory``: ``"512Mi"``, ``"4Gi"``, ``"500M"``, or ``(request, limit)`` (strings: a bare number would be bytes).
    - ``gpu``: a count, ``"A100:2"``, or ``flyte.GPU(...)``/``flyte.TPU(...)``/``flyte.Device(...)``.
    - ``disk``: ephemeral storage, ``"10Gi"``.
    - ``shm``: shared memory at ``/dev/shm``, ``"1Gi"`` or ``"auto"``.

    Every value is validated here, and the fields read back as given (``Resources(cpu=1).cpu ==
    1``), as on the reference SDK; equality compares those given
    values. The canonical forms everything internal uses come from :meth:`request`,
    :meth:`limit`, :attr:`device` and :attr:`shared_memory` (``0.5`` cores is ``"500m"``).
    """

    cpu: int | float | str | tuple[Any, Any] | None = attrs.field(
        default=None, converter=_request_limit("cpu", _CPU_EXAMPLES)
    )
    memory: str | tuple[str, str] | None = attrs.field(
        default=None, converter=_request_limit("memory", _MEMORY_EXAMPLES)
    )
    gpu: int | str | Device | None = attrs.field(default=None, converter=_validated_gpu)
    disk: str | None = attrs.field(default=None, converter=_single("disk", '"10Gi", "1Ti"'))
    shm: str | None = attrs.field(default=None, converter=_single("shm", '"1Gi", "16Gi" or "auto"', allow_auto=True))
    # The canonical forms, computed once from the fields above (not part of equality or repr).
    _canon: dict[str, Any] = attrs.field(init=False, eq=False, repr=False)

    @_canon.default
    def _canonical_forms(self) -> dict[str, Any]:
        return {
            "cpu": _canonical(self.cpu),
            "memory": _canonical(self.memory),
            "disk": _canonical(self.disk),
            "shm": _canonical(self.shm),
            "gpu": _to_device(self.gpu),
        }

    def request(self, name: Literal["cpu", "memory", "disk"]) -> str | None:
        """The request for ``name`` as a Kubernetes quantity string, or None when unset."""
        value = self._canon[name]
        return value[0] if isinstance(value, tuple) else value

    def limit(self, name: Literal["cpu", "memory", "disk"]) -> str | None:
        """The limit for ``name`` as a Kubernetes quantity string (the request when one value was given)."""
        value = self._canon[name]
        return value[1] if isinstance(value, tuple) else value

    @property
    def device(self) -> Device | None:
        """The accelerator request as a :class:`Device` (``"A100:2"`` is ``GPU("A100", 2)``), or None."""
        return self._canon["gpu"]

    @property
    def shared_memory(self) -> str | None:
        """The ``/dev/shm`` size as a Kubernetes quantity string, ``"auto"``, or None when unset."""
        return self._canon["shm"]
