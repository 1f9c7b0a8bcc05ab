"""The command inside every rendered container: ``python -m flyte.entrypoint``.

It imports the task by module and name, reads its inputs (``FLYTE_INPUTS`` inline JSON, or
``FLYTE_INPUTS_URI``: a file or object-store URI holding it), runs it with the task's semantics
(timeouts, env vars, secrets, nested calls) but without retries, since the Job's
``backoffLimit`` already retries, and writes the result to ``FLYTE_OUTPUTS_URI``. Exit codes:
0 success, 1 failure, 3 a ``NonRecoverableError`` (the Job's pod failure policy then fails the
Job without retrying), 2 bad usage (or, with ``--clustered``, a pod whose JobSet environment is
missing or does not match the task). The task's checkpoints (``flyte.ctx().checkpoint``) are
kept beside ``FLYTE_OUTPUTS_URI``, so a retried pod resumes from what the one before saved.

``--clustered``: the container of a ``flyte.clustered`` task's JobSet. This pod is one node of
the set: its place comes from the JobSet's environment (``JOB_COMPLETION_INDEX`` is the node
rank, node 0's DNS name ``MASTER_ADDR``), and the attempt starts this node's workers (torchrun
for ``TorchRun``, directly for ``JaxRun``); see :mod:`flyte.clustered._pod`. Only the pod holding
rank 0 writes the outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from datetime import UTC, datetime

from flyte.runtime.redact import redact

NON_RECOVERABLE_EXIT = 3


def _read_inputs() -> dict:
    from flyte import _codec

    if os.environ.get("FLYTE_INPUTS_URI"):
        from flyte.storage._filesystem import filesystem

        fs, path = filesystem(os.environ["FLYTE_INPUTS_URI"])
        with fs.open(path, "r") as f:
            return _codec.loads(f.read())
    return _codec.loads(os.environ.get("FLYTE_INPUTS") or "{}")


def _write_outputs(text: str) -> None:
    uri = os.environ.get("FLYTE_OUTPUTS_URI")
    if not uri:
        print(text)
        return
    from flyte.storage._filesystem import filesystem

    fs, path = filesystem(uri)
    fs.makedirs(fs._parent(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with fs.open(tmp, "w") as f:
        f.write(text)
    fs.mv(tmp, path)  # readers never see half a result


def _checkpoints_beside_outputs() -> contextlib.AbstractContextManager[None]:
    """The task's checkpoints (``flyte.ctx().checkpoint``) go beside its outputs: each retry of
    the pod is a new process and run, and loads what the pods before it saved."""
    uri = os.environ.get("FLYTE_OUTPUTS_URI")
    if not uri:
        return contextlib.nullcontext()
    from flyte._checkpoint import pinned_root

    return pinned_root(f"{uri.rsplit('/', 1)[0]}/checkpoints")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flyte.entrypoint", description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, help="the module that defines the task")
    parser.add_argument("--task", required=True, help="the task's attribute name in that module")
    parser.add_argument(
        "--clustered",
        action="store_true",
        help="run as one node of a flyte.clustered task's JobSet (its place read from the JobSet's environment)",
    )
    args = parser.parse_args(argv)

    import flyte
    from flyte import _codec
    from flyte._image_projects import absent_files_allowed
    from flyte.errors import IgnoreOutputs, NonRecoverableError
    from flyte.runtime import logs
    from flyte.runtime.secrets_runtime import remember_container_secrets
    from flyte.task import TaskTemplate

    # The module's import may fail (or print) with a secret in hand: the values the pod was
    # given read *** before any of it runs, not only once the task is known.
    if remember_container_secrets():
        logs.install()  # prints during the import reach the pod's log masked too
    try:
        with absent_files_allowed():  # its image definitions name files that stayed where it was built
            module = importlib.import_module(args.module)
    except Exception:
        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        print(
            f"flyte.entrypoint: cannot import module {args.module!r} (PYTHONPATH={os.environ.get('PYTHONPATH')})",
            file=sys.stderr,
        )
        return 2
    task = getattr(module, args.task, None)
    if not isinstance(task, TaskTemplate):
        print(f"flyte.entrypoint: {args.module}.{args.task} is not a task", file=sys.stderr)
        return 2
    if args.clustered:
        from flyte.clustered import _pod

        try:
            node = _pod.join(task)  # waits until node 0's name resolves
        except _pod.ClusteredPodError as exc:
            print(f"flyte.entrypoint: {exc}", file=sys.stderr)
            return 2
        print(
            f"flyte.entrypoint: {task.name}: node {node.node_rank} of {node.nnodes}, "
            f"MASTER_ADDR={node.master_addr}:{node.master_port}",
            file=sys.stderr,
        )
    inputs = _read_inputs()
    now = datetime.now(UTC).replace(second=0, microsecond=0)  # the minute the schedule fired
    for key in filter(None, os.environ.get("FLYTE_TRIGGER_TIME_INPUTS", "").split(",")):
        inputs[key] = now
    # Secrets were injected by Kubernetes (secretKeyRef env vars, the projected volume).
    flyte.init(storage=os.environ.get("FLYTE_STORAGE"), secret_source="environment")
    context = flyte.with_runcontext(
        # The run's options, from with_runcontext on the caller's side or the trigger that fired it.
        overwrite_cache=os.environ.get("FLYTE_OVERWRITE_CACHE", "").lower() == "true",
        disable_run_cache=os.environ.get("FLYTE_DISABLE_RUN_CACHE", "").lower() == "true",
        custom_context=_codec.loads(os.environ.get("FLYTE_CUSTOM_CONTEXT") or "{}"),
        max_action_concurrency=int(os.environ.get("FLYTE_MAX_ACTION_CONCURRENCY") or 0),
    )
    try:
        with _checkpoints_beside_outputs():
            run = context.run(task.override(retries=0), **inputs)
    except IgnoreOutputs:
        print(f"flyte.entrypoint: {task.name}: this replica does not hold the outputs", file=sys.stderr)
        return 0
    except NonRecoverableError as exc:
        print(redact(f"flyte.entrypoint: {task.name} failed (not retryable): {exc}"), file=sys.stderr)
        return NON_RECOVERABLE_EXIT
    except Exception as exc:
        # The pod's log: the task's secrets (in its environment and files) read ***.
        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        print(redact(f"flyte.entrypoint: {task.name} failed: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return 1
    # The recorded form: dataframes and files are references into the configured storage.
    _write_outputs(run._outputs_json or _codec.dumps(run._result(), path="outputs"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
