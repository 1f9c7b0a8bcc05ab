"""Whether this machine has the accelerator a task asks for.

A local run gives a task no device: it runs on what the machine has. When a task asks for an
accelerator the machine does not show, the run says so once per task (:class:`DeviceWarning`),
so ``torch.device("cuda")`` failing deep in the user's code, or a silent CPU fallback running
for hours, has an explanation at the top of the output. Looked up once per process, with no
driver library loaded (no ``torch``/``cupy`` import: the device files and tools are enough).
"""

from __future__ import annotations

import functools
import os
import shutil
from typing import Any

from flyte._validation import warn_at_definition
from flyte.spec import TaskSpec


class DeviceWarning(UserWarning):
    """A task asks for an accelerator this machine does not have; it runs without one here."""


@functools.cache
def present(device_class: str) -> bool:
    """Whether this machine shows a device of ``device_class`` (as :class:`flyte.Device` names it)."""
    if device_class == "GPU":  # NVIDIA: the driver's control device, or its tool on PATH
        return os.path.exists("/dev/nvidiactl") or shutil.which("nvidia-smi") is not None
    if device_class == "AMD_GPU":  # ROCm's kernel driver interface
        return os.path.exists("/dev/kfd")
    if device_class == "NEURON":
        return os.path.exists("/dev/neuron0")
    if device_class == "HABANA_GAUDI":
        return os.path.exists("/dev/accel/accel0") or shutil.which("hl-smi") is not None
    # A cluster's own kind (CUSTOM): nothing to look for here. A TPU is reached through a cloud
    # VM's runtime, never on a laptop.
    return device_class == "CUSTOM"


def warn_if_missing(spec: TaskSpec, func: Any) -> None:
    """Warn when ``spec`` asks for a device this machine lacks, at the task's definition
    (``func``, its body; called once per task object)."""
    device = spec.resources.device if spec.resources is not None else None
    if device is None or present(device.device_class):
        return
    asked = f"{device.quantity} {device.device_class}" + (f" ({device.device})" if device.device else "")
    message = (
        f"{spec.name}: asks for {asked}, which this machine does not have; the local run gives it "
        "none, so it runs on the CPU (code that requires the device fails). On a cluster the "
        "pod gets it"
    )
    warn_at_definition(message, DeviceWarning, func)
