"""The entry point of flyteplugins-dask (``flyte.plugins`` → ``dask``): light, no Dask import."""

from __future__ import annotations

from typing import Any

from flyte.extend import DataFrameHandler, TaskCall, TaskPlugin, hookimpl
from flyteplugins.dask.task import Dask

# The Dask operator's status.jobStatus values (JobCreated, ClusterCreated and Running are
# still going).
OUTCOMES = {"Successful": "SUCCEEDED", "Failed": "FAILED"}


async def _run(call: TaskCall) -> Any:
    from flyteplugins.dask._runner import run

    return await run(call)


def _render(spec: Any, context: Any) -> list[dict[str, Any]]:
    from flyteplugins.dask._render import render

    return render(spec, context)


def _phase(status: dict[str, Any]) -> str | None:
    """A DaskJob's outcome from the operator's ``status.jobStatus``."""
    return OUTCOMES.get(status.get("jobStatus") or "")


def _pods(obj: dict[str, Any]) -> str:
    """The DaskJob's pods: the operator names the job's cluster after the job and labels the
    job runner, the scheduler and every worker with the cluster's name."""
    return f"dask.org/cluster-name={obj['metadata']['name']}"


@hookimpl
def flyte_task_plugins() -> list[TaskPlugin]:
    return [
        TaskPlugin(
            config_type=Dask,
            run=_run,
            render=_render,
            phase=_phase,
            pods=_pods,
            description="Dask: a local distributed.LocalCluster of the configured shape; a DaskJob on Kubernetes",
        )
    ]


@hookimpl
def flyte_dataframe_handlers() -> list[DataFrameHandler]:
    from flyteplugins.dask._dataframes import HANDLERS

    return HANDLERS
