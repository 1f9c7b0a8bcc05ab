"""flyte: define compute tasks with rich configuration; run them locally or on Kubernetes.

``import flyte`` is cheap: every public name below is imported on first use (PEP 562), and no
plugin, engine or Kubernetes client is loaded until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flyte._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "TaskEnvironment": "flyte.environment",
    "TaskTemplate": "flyte.task",
    "TaskSpec": "flyte.spec",
    "Resources": "flyte.resources",
    "Device": "flyte.resources",
    "GPU": "flyte.resources",
    "TPU": "flyte.resources",
    "AMD_GPU": "flyte.resources",
    "Neuron": "flyte.resources",
    "HABANA_GAUDI": "flyte.resources",
    "Image": "flyte.image",
    "Secret": "flyte.secret",
    "Cache": "flyte._cache",
    "CachePolicy": "flyte._cache",
    "PodTemplate": "flyte.pod_template",
    "ReusePolicy": "flyte.reuse",
    "Timeout": "flyte.timeout",
    "RetryStrategy": "flyte.retry",
    "Backoff": "flyte.retry",
    "Trigger": "flyte.triggers",
    "Cron": "flyte.triggers",
    "FixedRate": "flyte.triggers",
    "TriggerTime": "flyte.triggers",
    "Documentation": "flyte.docs",
    "Link": "flyte.docs",
    "hookimpl": "flyte.hookspecs",
    "init": "flyte.runtime.api",
    "init_from_config": "flyte.runtime.api",
    "run": "flyte.runtime.api",
    "with_runcontext": "flyte.runtime.api",
    "rerun": "flyte.runtime.api",
    "init_from_api_key": "flyte.runtime.remote_init",
    "init_in_cluster": "flyte.runtime.remote_init",
    "init_passthrough": "flyte.runtime.remote_init",
    "is_control_plane_available": "flyte.runtime.remote_init",
    "current_project": "flyte.runtime.api",
    "current_domain": "flyte.runtime.api",
    "map": "flyte._map",
    "group": "flyte._group",
    "trace": "flyte._trace",
    "ctx": "flyte._task_context",
    "TaskContext": "flyte._task_context",
    "Checkpoint": "flyte._checkpoint",
    "latest_checkpoint": "flyte._checkpoint",
    "custom_context": "flyte._task_context",
    "get_custom_context": "flyte._task_context",
    "Environment": "flyte.environment",
    "TimeoutType": "flyte.timeout",
    "CacheRequest": "flyte._cache",
    "SecretRequest": "flyte.secret",
    "deploy": "flyte._deploy",
    "build": "flyte._build",
    "ImageBuild": "flyte._build",
    "build_images": "flyte._build",
    "logger": "flyte._logging",
    "system_logger": "flyte._logging",
    "version": "flyte._version",
}
_SUBMODULES = ("errors", "hookspecs", "plugins", "io", "storage", "report", "remote", "notify", "models", "git")

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"flyte.{name}")
    raise AttributeError(f"module 'flyte' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from flyte._build import ImageBuild, build, build_images
    from flyte._cache import Cache, CachePolicy
    from flyte._checkpoint import Checkpoint, latest_checkpoint
    from flyte._deploy import deploy
    from flyte._group import group
    from flyte._logging import logger, system_logger
    from flyte._map import map
    from flyte._task_context import TaskContext, ctx, custom_context, get_custom_context
    from flyte._trace import trace
    from flyte._version import version
    from flyte.docs import Documentation, Link
    from flyte.environment import TaskEnvironment
    from flyte.hookspecs import hookimpl
    from flyte.image import Image
    from flyte.pod_template import PodTemplate
    from flyte.resources import AMD_GPU, GPU, HABANA_GAUDI, TPU, Device, Neuron, Resources
    from flyte.retry import Backoff, RetryStrategy
    from flyte.reuse import ReusePolicy
    from flyte.runtime.api import (
        current_domain,
        current_project,
        init,
        init_from_config,
        rerun,
        run,
        with_runcontext,
    )
    from flyte.runtime.remote_init import (
        init_from_api_key,
        init_in_cluster,
        init_passthrough,
        is_control_plane_available,
    )
    from flyte.secret import Secret
    from flyte.spec import TaskSpec
    from flyte.task import TaskTemplate
    from flyte.timeout import Timeout
    from flyte.triggers import Cron, FixedRate, Trigger, TriggerTime
