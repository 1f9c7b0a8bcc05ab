"""What a renderer needs beyond the spec: cluster conventions and shared building blocks."""

from __future__ import annotations

from collections.abc import Callable
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
    # The run's own environment of every task container: with_runcontext's env_vars (a task's
    # own env_vars win, as locally) and its options for the entrypoint (run_options_env).
    run_env: dict[str, str] = attrs.field(factory=dict)
    # Reads a PodTemplate object of the namespace by name (None when there is none). Set where
    # rendering talks to a cluster (a run on it, `flyte deploy`), so a ``pod_template`` given
    # by name is merged in as the cluster would; offline, such a pod names it in an annotation.
    read_pod_template: Callable[[str], dict[str, Any] | None] | None = None
    _named_templates: dict[str, Any] = attrs.field(factory=dict, init=False, eq=False, repr=False)

    def pod_template(self, spec: Any) -> Any:
        """The task's :class:`~flyte.PodTemplate`: the one it was given, the cluster's one it
        names (read once per context), or None (none given, or named while rendering offline)."""
        template = spec.pod_template
        if not isinstance(template, str):
            return template
        if self.read_pod_template is None:
            return None
        if template not in self._named_templates:
            from flyte.render.pod import cluster_pod_template

            found = self.read_pod_template(template)
            if found is None:
                from flyte.errors import RenderError

                raise RenderError(
                    f"{spec.name}: pod_template={template!r} names no PodTemplate in namespace "
                    f"{self.settings.namespace!r} (create it, or give a flyte.PodTemplate)"
                )
            self._named_templates[template] = cluster_pod_template(template, found)
        return self._named_templates[template]

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
