"""A task asking for an accelerator this machine lacks runs on the CPU locally, and the run
says so once per task, at the task's definition; a machine with the device hears nothing."""

from __future__ import annotations

import warnings

import pytest

import flyte
from flyte.runtime import devices

env = flyte.TaskEnvironment(name="devices", resources=flyte.Resources(cpu=1, gpu="A100:2"))
plain = flyte.TaskEnvironment(name="no_devices")


@env.task
def trains(n: int) -> int:
    return n * 2


@plain.task
async def fans_out() -> list[int]:
    return [await trains.aio(i) for i in range(3)]


@plain.task
def on_cpu() -> int:
    return 1


def test_a_missing_gpu_is_named_once_per_task_at_its_definition(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(devices, "present", lambda device_class: False)
    flyte.init()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert flyte.run(fans_out).outputs() == [0, 2, 4]  # it still runs, on the CPU
        assert flyte.run(on_cpu).outputs() == 1
    found = [w for w in caught if issubclass(w.category, devices.DeviceWarning)]
    assert len(found) == 1  # three calls of one task: one warning
    (warning,) = found
    assert "trains: asks for 2 GPU (A100)" in str(warning.message) and "runs on the CPU" in str(warning.message)
    assert warning.filename == __file__ and warning.lineno == trains.func.__code__.co_firstlineno


def test_an_override_asking_for_a_device_is_named_too(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(devices, "present", lambda device_class: False)
    flyte.init()
    with pytest.warns(devices.DeviceWarning, match=r"on_cpu: asks for 1 TPU \(V5E\)"):
        flyte.run(on_cpu.override(resources=flyte.Resources(gpu=flyte.TPU("V5E", "1x1"))))


def test_a_machine_with_the_device_hears_nothing(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(devices, "present", lambda device_class: True)
    flyte.init()
    with warnings.catch_warnings():
        warnings.simplefilter("error", devices.DeviceWarning)
        assert flyte.run(trains.override(short_name="again"), n=4).outputs() == 8


def test_the_lookup_reads_the_device_files(monkeypatch: pytest.MonkeyPatch):
    devices.present.cache_clear()
    seen: list[str] = []
    monkeypatch.setattr(devices.os.path, "exists", lambda path: seen.append(path) or path == "/dev/kfd")
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    try:
        assert devices.present("AMD_GPU") and not devices.present("GPU") and not devices.present("TPU")
        assert devices.present("CUSTOM")  # a cluster's own kind: nothing to look for here
        assert "/dev/nvidiactl" in seen
    finally:
        devices.present.cache_clear()
