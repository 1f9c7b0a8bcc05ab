"""The PyTorch plugin's configuration: ``Elastic`` and ``RunPolicy``.

Deeply frozen value objects validated when they are created (``rdzv_configs`` is accepted as a
dict and stored as a ``flyte.frozen.FrozenDict``), so they hash; importing them does not import
torch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from flyte.extend import FrozenDict

RDZV_BACKENDS = ("c10d", "etcd", "etcd-v2")
# The training operator's values, and the spellings the reference SDK accepts for them.
CLEAN_POD_POLICIES = {"none": "None", "all": "All", "running": "Running"}
NNODES = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?$")


def _bad(param: str, value: Any, accepted: str, problem: str = "is not valid") -> ValueError:
    return ValueError(f"{param}: {value!r} {problem} (accepted: {accepted})")


def _int(param: str, low: int, allow_none: bool = False):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _bad(param, value, f"an int >= {low}" + (" or None" if allow_none else ""))

    return check


def _bool(param: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if not isinstance(value, bool):
            raise _bad(param, value, "True or False")

    return check


def parse_nnodes(value: Any) -> tuple[int, int]:
    """``nnodes`` as ``(min, max)``: ``2`` → ``(2, 2)``, ``"1:4"`` → ``(1, 4)``."""
    accepted = 'an int >= 1 or a "min:max" range such as "1:4"'
    if isinstance(value, bool):
        raise _bad("Elastic.nnodes", value, accepted)
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str) and (match := NNODES.match(value)):
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
    else:
        raise _bad("Elastic.nnodes", value, accepted)
    if low < 1 or high < low:
        raise _bad("Elastic.nnodes", value, accepted + ", with 1 <= min <= max")
    return low, high


def _clean_pod_policy(value: Any) -> str | None:
    if value is None:
        return None
    # The reference SDK also takes its CleanPodPolicy enum; accept anything with a string value.
    text = getattr(value, "value", value)
    if isinstance(text, str) and text.lower() in CLEAN_POD_POLICIES:
        return CLEAN_POD_POLICIES[text.lower()]
    raise _bad("RunPolicy.clean_pod_policy", value, '"None", "All" or "Running" (any case), or None')


@attrs.frozen
class RunPolicy:
    """How the training operator treats the job: which pods to delete when it ends
    (``clean_pod_policy``), when to delete the finished job (``ttl_seconds_after_finished``),
    how long it may run (``active_deadline_seconds``) and how many times to retry it
    (``backoff_limit``). Applies to the rendered ``PyTorchJob``; locally the task's own
    ``timeout`` and ``retries`` govern.
    """

    clean_pod_policy: str | None = attrs.field(default=None, converter=_clean_pod_policy)
    ttl_seconds_after_finished: int | None = attrs.field(
        default=None, validator=_int("RunPolicy.ttl_seconds_after_finished", 0, allow_none=True)
    )
    active_deadline_seconds: int | None = attrs.field(
        default=None, validator=_int("RunPolicy.active_deadline_seconds", 1, allow_none=True)
    )
    backoff_limit: int | None = attrs.field(default=None, validator=_int("RunPolicy.backoff_limit", 0, allow_none=True))


def _rdzv_configs(value: Any) -> FrozenDict:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad("Elastic.rdzv_configs", value, 'a dict of rendezvous settings, e.g. {"timeout": 900}')
    for key, item in value.items():
        if not isinstance(item, (str, int, float, bool)):
            raise _bad(f"Elastic.rdzv_configs[{key!r}]", item, "a str, int, float or bool")
    return FrozenDict(value)


def _default_rdzv_configs() -> dict[str, Any]:
    return {"timeout": 900, "join_timeout": 900}


@attrs.frozen
class Elastic:
    """Run the task function on ``nnodes × nproc_per_node`` torch.distributed workers.

    ``nnodes`` is an int or a ``"min:max"`` range (elastic training). Locally every node is a
    torch elastic agent on this machine, rendezvousing over loopback; on Kubernetes every node
    is a pod of a Kubeflow ``PyTorchJob``. Every worker calls the task function with the same
    inputs and the standard environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ...); the task returns rank 0's result.

    ``max_restarts`` is how many times the agent restarts the whole worker group after a
    failure; ``monitor_interval`` how often (seconds) it checks the workers. The ``nccl_*``
    settings reach the workers as ``TORCH_NCCL_*`` environment variables (the collective
    timeout becomes ``init_process_group``'s default).
    """

    nnodes: int | str = attrs.field()
    nproc_per_node: int = attrs.field(validator=_int("Elastic.nproc_per_node", 1))
    rdzv_backend: str = attrs.field(default="c10d")
    run_policy: RunPolicy | None = attrs.field(default=None)
    monitor_interval: int | float = attrs.field(default=3)
    max_restarts: int = attrs.field(default=3, validator=_int("Elastic.max_restarts", 0))
    rdzv_configs: FrozenDict = attrs.field(factory=_default_rdzv_configs, converter=_rdzv_configs)
    nccl_heartbeat_timeout_sec: int | None = attrs.field(
        default=300, validator=_int("Elastic.nccl_heartbeat_timeout_sec", 1, allow_none=True)
    )
    nccl_async_error_handling: bool = attrs.field(default=False, validator=_bool("Elastic.nccl_async_error_handling"))
    nccl_collective_timeout_sec: int | None = attrs.field(
        default=None, validator=_int("Elastic.nccl_collective_timeout_sec", 1, allow_none=True)
    )
    nccl_enable_monitoring: bool = attrs.field(default=True, validator=_bool("Elastic.nccl_enable_monitoring"))

    @nnodes.validator
    def _check_nnodes(self, _attribute: Any, value: Any) -> None:
        parse_nnodes(value)

    @rdzv_backend.validator
    def _check_backend(self, _attribute: Any, value: Any) -> None:
        if value not in RDZV_BACKENDS:
            raise _bad("Elastic.rdzv_backend", value, ", ".join(repr(b) for b in RDZV_BACKENDS))

    @run_policy.validator
    def _check_policy(self, _attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, RunPolicy):
            raise _bad("Elastic.run_policy", value, "a flyteplugins.pytorch.task.RunPolicy or None")

    @monitor_interval.validator
    def _check_interval(self, _attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise _bad("Elastic.monitor_interval", value, "a number of seconds > 0")

    @property
    def node_range(self) -> tuple[int, int]:
        """``(min_nodes, max_nodes)``."""
        return parse_nnodes(self.nnodes)

    def nccl_env(self) -> dict[str, str]:
        """The environment variables the NCCL settings become in every worker."""
        env = {}
        if self.nccl_heartbeat_timeout_sec is not None:
            env["TORCH_NCCL_HEARTBEAT_TIMEOUT_SEC"] = str(self.nccl_heartbeat_timeout_sec)
        if self.nccl_async_error_handling:
            env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] = "1"
        if self.nccl_enable_monitoring:
            env["TORCH_NCCL_ENABLE_MONITORING"] = "1"
        if self.nccl_collective_timeout_sec is not None:
            env["FLYTE_NCCL_COLLECTIVE_TIMEOUT_SEC"] = str(self.nccl_collective_timeout_sec)
        return env
