"""The entry point of flyteplugins-spark (``flyte.plugins`` → ``spark``): light, no pyspark import."""

from __future__ import annotations

from typing import Any

from flyte.extend import DataFrameHandler, TaskCall, TaskPlugin, hookimpl
from flyteplugins.spark import _dataframes as dataframes  # imports no pyspark
from flyteplugins.spark.task import Spark

SUCCEEDED_STATES = ("COMPLETED",)
FAILED_STATES = ("FAILED", "SUBMISSION_FAILED")


async def _run(call: TaskCall) -> Any:
    from flyteplugins.spark._runner import run

    return await run(call)


def _render(spec: Any, context: Any) -> list[dict[str, Any]]:
    from flyteplugins.spark._render import render

    return render(spec, context)


def _phase(status: dict[str, Any]) -> str | None:
    """A SparkApplication's outcome from the operator's ``status.applicationState.state``;
    None while it is submitted, running, or pending a rerun."""
    state = (status.get("applicationState") or {}).get("state")
    if state in SUCCEEDED_STATES:
        return "SUCCEEDED"
    if state in FAILED_STATES:
        return "FAILED"
    return None


def _pods(obj: dict[str, Any]) -> str:
    """The SparkApplication's driver and executor pods (the operator labels them with its name)."""
    return f"sparkoperator.k8s.io/app-name={obj['metadata']['name']}"


@hookimpl
def flyte_task_plugins() -> list[TaskPlugin]:
    return [
        TaskPlugin(
            config_type=Spark,
            run=_run,
            render=_render,
            phase=_phase,
            pods=_pods,
            description="Spark: a local SparkSession built from the config; a SparkApplication on Kubernetes",
        )
    ]


@hookimpl
def flyte_dataframe_handlers() -> list[DataFrameHandler]:
    return [
        DataFrameHandler(
            python_type="pyspark.sql.dataframe:DataFrame",
            write=dataframes.write,
            read=dataframes.read,
            select=dataframes.select,
            tracker=dataframes.tracker,
            formats=dataframes.FORMATS,
            engine_bound=True,
            description="Spark DataFrames: Parquet part files written and read by the task's session",
        )
    ]
