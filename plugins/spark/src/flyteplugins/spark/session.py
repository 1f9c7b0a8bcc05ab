"""The running Spark task's session."""

from __future__ import annotations

from typing import Any

import flyte

SESSION_KEY = "spark_session"  # the task-context key (the reference SDK's name)


def spark_session() -> Any:
    """The ``pyspark.sql.SparkSession`` of the Spark task running in this thread or coroutine.

    The same object as ``flyte.ctx().data["spark_session"]`` and, inside the task,
    ``SparkSession.builder.getOrCreate()``.
    """
    ctx = flyte.ctx()
    session = None if ctx is None else ctx.data.get(SESSION_KEY)
    if session is None:
        raise RuntimeError(
            "spark_session(): no Spark session here; call it inside a task whose environment (or "
            "override) sets plugin_config=Spark(...)"
        )
    return session
