"""What a run on a Kubernetes cluster leaves behind locally: its record in the run store and
the objects it submitted, kept as YAML under the run's folder.

A cluster run is recorded like a local one (a run row, one action per submitted object, its
phases as this process observes them, start, end, the cluster's error), with the backend, the
kubeconfig context and namespace and each object's kind and name (``cluster_objects``), so
``flyte runs``, ``flyte ui``, the run's page on disk and :class:`flyte.remote.Run` show it.
The action is QUEUED once its object is created, RUNNING once the object's controller reports
a status, then SUCCEEDED, FAILED (the operator's message, or a deadline) or ABORTED (cancelled,
interrupted). The YAML kept is the object as submitted: it carries secret references, never
values (and what it holds goes through :func:`flyte.runtime.redact.redact` all the same).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
from pathlib import Path
from typing import Any

from flyte.runtime import store as st

BACKEND = "kubernetes"
MANIFEST = "object.yaml"  # each action's object, in its folder under the run's (beside report.html)


def manifest_path(run: str, action: str) -> Path:
    """Where the YAML of an action's object is kept (the folder is created, private)."""
    from flyte._home import state_path

    return state_path("runs", run, action) / MANIFEST


def job_pods(obj: dict[str, Any]) -> str | None:
    """The label selector of a batch Job's pods (its Job controller labels them ``job-name``)."""
    if obj.get("kind") == "Job" and str(obj.get("apiVersion", "")).startswith("batch/"):
        return f"job-name={obj['metadata']['name']}"
    return None


def kubectl_commands(obj: Any) -> list[str]:
    """The ``kubectl`` commands that inspect a recorded object (a ``cluster_objects`` row or
    dict): its YAML with status, its events, and its pods' logs when their labels are known."""
    where = ["kubectl"]
    if obj["context"]:
        where += ["--context", obj["context"]]
    where += ["-n", obj["namespace"]]
    kind, name = obj["kind"].lower(), obj["name"]
    commands = [
        shlex.join([*where, "get", kind, name, "-o", "yaml"]),
        shlex.join([*where, "describe", kind, name]),
    ]
    if obj["pods"]:
        commands.append(shlex.join([*where, "get", "pods", "-l", obj["pods"]]))
        commands.append(shlex.join([*where, "logs", "-l", obj["pods"], "--all-containers", "--prefix"]))
    return commands


def object_record(row: Any) -> dict[str, Any]:
    """A ``cluster_objects`` row as JSON-able data, with the commands that inspect it."""
    return {
        "action": row["action"],
        "context": row["context"],
        "namespace": row["namespace"],
        "api_version": row["api_version"],
        "kind": row["kind"],
        "name": row["name"],
        "manifest": row["manifest"],
        "pods": row["pods"],
        "status": json.loads(row["status"]) if row["status"] else None,
        "kubectl": kubectl_commands(row),
    }


class ClusterRunRecord:
    """The record of one run on a cluster, kept up to date by the backend as it follows the run.

    :meth:`submitted` before the object is created, :meth:`observed` for each state of it seen,
    then exactly one of :meth:`succeeded` or :meth:`failed`; :meth:`close` releases the store.
    The run's ``flyte.notify`` ``notifications`` are delivered once its end is recorded, as for
    a local run (``settings``: the local settings, for the SMTP server and the time limit).
    """

    def __init__(
        self,
        name: str,
        task: str,
        inputs: str | None,
        context: str | None,
        namespace: str,
        notifications: tuple[Any, ...] = (),
        settings: Any = None,
    ):
        from flyte.runtime.page import write_first_page

        self.name, self.task, self.context, self.namespace = name, task, context, namespace
        self.notifications, self.settings = notifications, settings
        self.store = st.writer()
        self.created_at = time.time()
        self.store.create_run(name, task, inputs, backend=BACKEND)
        self.inputs = inputs
        self.action: str | None = None
        self.worker: str | None = None
        self.started_at: float | None = None
        self.running = False
        self.ended = False
        self._status: str | None = None
        write_first_page(name, task)

    def submitted(self, obj: dict[str, Any], pods: str | None) -> Path:
        """Record the object about to be created (its action QUEUED) and keep its YAML; returns
        where the YAML is."""
        import yaml

        from flyte._home import private_file
        from flyte.runtime.redact import redact

        action = self.action = st.action_id(0)
        path = manifest_path(self.name, action)
        text = redact(yaml.safe_dump(obj, sort_keys=False))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        private_file(path)
        kind, name = obj["kind"], obj["metadata"]["name"]
        where = f" (context {self.context})" if self.context else ""
        self.worker = f"{kind} {self.namespace}/{name} on kubernetes{where}"
        self.started_at = time.time()
        self.store.create_action(
            self.name,
            action,
            parent=None,
            task=self.task,
            short_name=self.task.rsplit(".", 1)[-1],
            status=st.QUEUED,
            attempts=1,
            queued_at=self.started_at,
            inputs=st.preview(self.inputs),
            worker=self.worker,
        )
        st.record_cluster_object(
            self.store,
            self.name,
            action,
            context=self.context,
            namespace=self.namespace,
            api_version=obj["apiVersion"],
            kind=kind,
            name=name,
            manifest=str(path),
            pods=pods,
        )
        self.store.flush()
        return path

    def observed(self, obj: dict[str, Any]) -> None:
        """The object as the cluster holds it now: its action is RUNNING once its controller
        reports a status; the status is kept as last seen."""
        if self.action is None:
            return
        status = obj.get("status") or {}
        if status and not self.running:
            self.running = True
            self.store.update_action(self.name, self.action, status=st.RUNNING, started_at=time.time())
        text = json.dumps(status, sort_keys=True)
        if text != self._status:
            self._status = text
            st.observed_cluster_object(self.store, self.name, self.action, st.preview(text) or "")
            self._refresh_page()

    def succeeded(self, outputs: str | None) -> None:
        self._end(st.SUCCEEDED, outputs=outputs)

    def failed(self, error: BaseException) -> None:
        """The run ended with ``error``: ABORTED when it was cancelled or interrupted, FAILED
        otherwise (the operator's message, a deadline, an object that could not be created)."""
        from flyte.errors import ActionAbortedError

        aborted = isinstance(error, (ActionAbortedError, KeyboardInterrupt))
        self._end(st.ABORTED if aborted else st.FAILED, error=error)

    def close(self) -> None:
        """Release the store (after the end is recorded; a record never ended is ABORTED)."""
        if not self.ended:
            self._end(st.ABORTED, error=RuntimeError("the run stopped before its end was recorded"))
        st.release(self.store)

    def _end(self, phase: str, outputs: str | None = None, error: BaseException | None = None) -> None:
        from flyte.runtime import attempts
        from flyte.runtime.page import write_run_page
        from flyte.runtime.redact import redact

        if self.ended:
            return
        self.ended = True
        message = None if error is None else redact(f"{type(error).__name__}: {error}")
        now = time.time()
        if self.action is not None:
            self.store.update_action(
                self.name,
                self.action,
                status=phase,
                ended_at=now,
                outputs=st.preview(outputs),
                error=message,
                **({} if self.running else {"started_at": self.started_at}),
            )
            attempts.record(
                self.store,
                self.name,
                self.action,
                1,
                started_at=self.started_at,
                ended_at=now,
                error=error,
                worker=self.worker or "",
                log_path=None,
                aborted=phase == st.ABORTED,
            )
        self.store.end_run(self.name, phase, outputs=outputs, error=message)
        self.store.flush()
        if self.notifications:
            self._notify(phase, error)
        write_run_page(self.name)

    def _notify(self, phase: str, error: BaseException | None) -> None:
        from flyte.runtime.notifications import deliver_for_run

        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C skips them; the end is recorded
            deliver_for_run(
                self.store, self.notifications, self.name, self.settings, error, interrupted=phase == st.ABORTED
            )

    def _refresh_page(self) -> None:
        from flyte.runtime.page import write_run_page

        self.store.flush()
        write_run_page(self.name)
