"""``flyte.rerun`` and ``with_runcontext(...).rerun``: the reference SDK's rerun and recover of a
prior run. Both replay the run from what a Flyte control plane kept of it (its code bundle and
input literals; recover reuses its succeeded actions), which a local run store does not keep: a
local run records neither its code nor a way back to it. So, as the reference SDK does in local
mode, they refuse; first their arguments are checked as the reference checks them, and the
error names the run and the local way to the same result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flyte._validation import wrong_type
from flyte.errors import NotAvailableLocallyError
from flyte.remote import Run


class RerunNotAvailableLocallyError(NotAvailableLocallyError, NotImplementedError):
    """A rerun or recover of a recorded run, which needs a control plane. A
    ``NotImplementedError`` too, as the reference SDK raises it outside remote mode."""


def refuse(
    run_name: Any,
    action_name: Any = "a0",
    recover: Any = False,
    force_rerun_actions: Sequence[str] | None = None,
    allow_missing_source_outputs: Any = False,
    **inputs: Any,
) -> None:
    """Check the arguments (an unknown run is ``ActionNotFoundError``), then raise
    :class:`RerunNotAvailableLocallyError`."""
    if not isinstance(run_name, str):
        wrong_type("run_name", run_name, "a run's name (str), as flyte.remote.Run.listall() lists them")
    if not isinstance(action_name, str):
        wrong_type("action_name", action_name, 'an action\'s name (str), e.g. "a0"')
    for param, value in (("recover", recover), ("allow_missing_source_outputs", allow_missing_source_outputs)):
        if not isinstance(value, bool):
            wrong_type(param, value, "True or False")
    if force_rerun_actions is not None and (
        isinstance(force_rerun_actions, str)  # (a str would be taken as its characters)
        or not isinstance(force_rerun_actions, Sequence)
        or not all(isinstance(a, str) for a in force_rerun_actions)
    ):
        wrong_type("force_rerun_actions", force_rerun_actions, 'a list of action names (str), e.g. ["a1"], or None')
    # (ValueError, as the reference SDK raises them)
    if force_rerun_actions and not recover:
        raise ValueError("force_rerun_actions requires recover=True")
    if recover and action_name != "a0":
        raise ValueError(
            f"recover=True cannot be combined with action_name={action_name!r}: recovery matches the "
            "source run's succeeded actions by name, which a run rooted at one action does not share"
        )
    run = Run.get(run_name)
    source = next((a for a in run.actions() if a.id == action_name), None) if action_name != "a0" else run.action
    if source is None:
        ids = ", ".join(a.id for a in run.actions())
        raise ValueError(f"action_name: run {run_name} has no action {action_name!r} (its actions: {ids})")
    what = "recover=True" if recover else "a rerun"
    changed = f", {', '.join(f'{k}=...' for k in inputs)}" if inputs else ""
    raise RerunNotAvailableLocallyError(
        f"flyte.rerun: {what} of run {run_name!r} replays it on a Flyte control plane (its stored code "
        f"and inputs, reusing its succeeded actions), which this runtime does not have. Locally, run task "
        f"{source.task} again: flyte.run({source.task.rpartition('.')[2]}, "
        f"**flyte.remote.Run.get({run_name!r}).inputs(){changed}); its tasks with cache='auto' reuse "
        "the outputs they cached"
    )
