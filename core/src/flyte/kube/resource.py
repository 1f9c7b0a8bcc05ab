"""One rendered Kubernetes object through the API: create it, follow it, explain it, delete it.

Batch Jobs go through ``BatchV1Api``; any operator's object (RayJob, PyTorchJob, ...) through
``CustomObjectsApi``. Following is a watch from the object's ``resourceVersion``, so a change is
seen when it happens; when a watch cannot be opened or breaks (an old resource version, a
proxy that drops long requests), the object is read again and followed by polling with backoff
until a watch works again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger("flyte.kube")

WATCH_WINDOW_SECONDS = 10  # a watch is reopened this often, so a cancel is seen promptly
POLL_START_SECONDS = 0.5
POLL_MAX_SECONDS = 10.0
# Background: the object goes at once and the garbage collector removes what it owns (the
# operator's pods and services); the API's default for some kinds is to orphan them.
PROPAGATION = "Background"


class ResourceGone(Exception):
    """The object was deleted while it was followed."""


class KubeResource:
    """A rendered object (plain dict) in one namespace of a cluster."""

    def __init__(self, api: Any, obj: dict[str, Any], namespace: str):
        self.api = api
        self.obj = obj
        self.namespace = namespace
        self.name: str = obj["metadata"]["name"]
        self.kind: str = obj["kind"]
        group, _, self.version = obj["apiVersion"].rpartition("/")
        self.group = group
        self.plural = self.kind.lower() + "s"

    @property
    def is_job(self) -> bool:
        return self.kind == "Job" and self.group == "batch"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    # -- calls -----------------------------------------------------------------------------
    def create(self) -> dict[str, Any]:
        """Create the object; returns it as the server stored it."""
        from kubernetes import client

        body = {**self.obj, "metadata": {**self.obj["metadata"], "namespace": self.namespace}}
        if self.is_job:
            created = client.BatchV1Api(self.api).create_namespaced_job(self.namespace, body)
            return self.api.sanitize_for_serialization(created)
        return client.CustomObjectsApi(self.api).create_namespaced_custom_object(
            self.group, self.version, self.namespace, self.plural, body
        )

    def read(self) -> dict[str, Any]:
        """The object as it is now (with ``status``)."""
        from kubernetes import client

        if self.is_job:
            job = client.BatchV1Api(self.api).read_namespaced_job_status(self.name, self.namespace)
            return self.api.sanitize_for_serialization(job)
        return client.CustomObjectsApi(self.api).get_namespaced_custom_object_status(
            self.group, self.version, self.namespace, self.plural, self.name
        )

    def delete(self) -> bool:
        """Delete the object and what it owns; True if it was there (idempotent)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        options = client.V1DeleteOptions(propagation_policy=PROPAGATION)
        try:
            if self.is_job:
                client.BatchV1Api(self.api).delete_namespaced_job(self.name, self.namespace, body=options)
            else:
                client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
                    self.group, self.version, self.namespace, self.plural, self.name, body=options
                )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def events(self) -> list[str]:
        """The object's events, oldest first, as ``Reason: message`` lines ([] where the
        server keeps no events)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        try:
            found = client.CoreV1Api(self.api).list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.name={self.name}"
            )
        except ApiException:
            return []
        items = sorted(
            found.items, key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
        )
        return [f"{e.type} {e.reason}: {e.message}" for e in items if e.reason or e.message]

    # -- following -------------------------------------------------------------------------
    def follow(
        self, resource_version: str | None, stop: Callable[[], bool], window: float = WATCH_WINDOW_SECONDS
    ) -> Iterator[dict[str, Any]]:
        """Yield the object each time it changes (and once at the start), until the caller
        stops iterating or ``stop()`` is true. Raises :class:`ResourceGone` if it is deleted."""
        current = self.read()
        resource_version = resource_version or current["metadata"].get("resourceVersion")
        yield current
        delay = POLL_START_SECONDS
        while not stop():
            try:
                for obj in self._watch(resource_version, window, stop):
                    resource_version = obj["metadata"].get("resourceVersion") or resource_version
                    delay = POLL_START_SECONDS
                    yield obj
                continue  # the window ended: watch again from the last version seen
            except ResourceGone:
                raise
            except Exception as exc:  # a watch that cannot open or broke: read, then back off
                logger.info("%s: watch failed (%s); polling every %.1f s", self, _short(exc), delay)
            if stop():
                return
            try:
                current = self.read()
            except Exception as exc:
                if _status(exc) == 404:
                    raise ResourceGone(str(self)) from exc
                logger.info("%s: read failed (%s)", self, _short(exc))
            else:
                resource_version = current["metadata"].get("resourceVersion")
                yield current
            _sleep_unless(stop, delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)

    def _watch(self, resource_version: str | None, window: float, stop: Callable[[], bool]) -> Iterator[dict[str, Any]]:
        from kubernetes import client, watch

        watcher = watch.Watch()
        selector = f"metadata.name={self.name}"
        if self.is_job:
            stream = watcher.stream(
                client.BatchV1Api(self.api).list_namespaced_job,
                self.namespace,
                field_selector=selector,
                resource_version=resource_version,
                timeout_seconds=max(1, int(window)),
            )
        else:
            stream = watcher.stream(
                client.CustomObjectsApi(self.api).list_namespaced_custom_object,
                self.group,
                self.version,
                self.namespace,
                self.plural,
                field_selector=selector,
                resource_version=resource_version,
                timeout_seconds=max(1, int(window)),
            )
        try:
            for event in stream:
                kind = event.get("type")
                raw = event.get("raw_object") or {}
                if kind == "ERROR":
                    raise RuntimeError(f"watch error: {raw.get('message') or raw}")
                if kind == "DELETED":
                    raise ResourceGone(f"{self} was deleted")
                if kind in ("ADDED", "MODIFIED"):
                    yield raw
                if stop():
                    return
        finally:
            watcher.stop()


def failure_message(status: dict[str, Any]) -> str | None:
    """What the operator says went wrong: a failed condition's reason and message, or the
    status' own ``reason``/``message`` fields (KubeRay's RayJob)."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Failed" and str(condition.get("status")) == "True":
            return ": ".join(p for p in (condition.get("reason"), condition.get("message")) if p) or None
    parts = [status.get(k) for k in ("reason", "message") if status.get(k)]
    return ": ".join(parts) or None


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status", None)


def _short(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) or str(exc)
    return f"{type(exc).__name__}: {str(text).splitlines()[0][:200]}"


def _sleep_unless(stop: Callable[[], bool], seconds: float) -> None:
    end = time.monotonic() + seconds
    while not stop() and time.monotonic() < end:
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
