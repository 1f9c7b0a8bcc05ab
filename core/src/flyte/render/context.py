"""What a renderer needs beyond the spec: cluster conventions and shared building blocks."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class RenderSettings:
    """Cluster conventions used when rendering. Every key is configurable (``kubernetes:``
    section of the config file, or ``flyte render`` options); the defaults are documented in
    the README's mapping table.
    """

    namespace: str = "default"
    # Where the project's code lives in the image and how the entrypoint finds it.
    workdir: str = "/root"
    python: str = "python"
    # Object storage the entrypoint reads inputs from and writes outputs to.
    storage: str = "/var/flyte/storage"
    # The store's endpoint, for S3-compatible servers or an emulator (a plain env var), and the
    # Kubernetes Secret whose keys become the container's env (e.g. AWS_ACCESS_KEY_ID): the
    # rendered object only ever names the Secret, never a credential.
    storage_endpoint: str | None = None
    storage_secret: str | None = None
    # interruptible=True: schedule on spot/preemptible nodes.
    spot_node_label: str = "flyte.org/interruptible"
    spot_node_value: str = "true"
    spot_taint_key: str = "flyte.org/interruptible"
    # queue=...: a pod label and a node selector with the queue's name.
    queue_label: str = "flyte.org/queue"
    queue_node_label: str = "flyte.org/queue"
    # Accelerator model selection (GKE's label by default).
    gpu_node_label: str = "cloud.google.com/gke-accelerator"
    gpu_partition_label: str = "flyte.org/accelerator-partition"
    tpu_accelerator_label: str = "cloud.google.com/gke-tpu-accelerator"
    tpu_topology_label: str = "cloud.google.com/gke-tpu-topology"
    ttl_seconds_after_finished: int | None = 3600

    @classmethod
    def from_config(cls, data: dict[str, Any] | None) -> RenderSettings:
        data = dict(data or {})
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known - {"context", "kubeconfig", "storage_uri"})
        if unknown:
            raise ValueError(f"kubernetes settings: unknown key(s) {unknown} (accepted: {sorted(known)})")
        return cls(**{k: v for k, v in data.items() if k in known})


@attrs.frozen
class RenderContext:
    """Handed to every renderer: the settings, and builders shared by the core and plugins."""

    settings: RenderSettings = attrs.field(factory=RenderSettings)
    inputs: dict[str, Any] | None = None  # concrete inputs to bake in (None: the defaults)
    run_name: str | None = None

    def container(self, spec: Any, name: str = "primary") -> dict[str, Any]:
        """The task's container: image, entrypoint command, env, secrets, resources."""
        from flyte.render.pod import task_container

        return task_container(spec, self, name)

    def pod_spec(
        self, spec: Any, container_name: str | None = None, restart_policy: str | None = "Never"
    ) -> dict[str, Any]:
        """The task's pod spec with its pod template merged in."""
        from flyte.render.pod import task_pod_spec

        return task_pod_spec(spec, self, container_name=container_name, restart_policy=restart_policy)

    def pod_metadata(self, spec: Any) -> dict[str, Any]:
        from flyte.render.pod import pod_metadata

        return pod_metadata(spec, self)

    def labels(self, spec: Any) -> dict[str, str]:
        from flyte.render.pod import object_labels

        return object_labels(spec, self)

    def command(self, spec: Any) -> list[str]:
        from flyte.render.pod import entrypoint_command

        return entrypoint_command(spec, self)

    def name(self, spec: Any, max_len: int = 63) -> str:
        from flyte.render.names import dns_name

        return dns_name(spec.env_name, spec.function_name, max_len=max_len)
