"""Rendering tasks as Kubernetes objects (``flyte render``) and images as Dockerfiles.

Plugins build their objects with the same pieces the core uses: :class:`RenderContext` gives
the task's container and pod spec (image, resources, env, secrets, pod template merged), the
entrypoint command, and the names and labels every object carries.
"""

from flyte.render.context import RenderContext, RenderSettings

__all__ = ["RenderContext", "RenderSettings"]
