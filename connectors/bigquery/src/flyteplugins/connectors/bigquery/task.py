"""``flyteplugins.connectors.bigquery.task``: the import path of older public examples.

Those examples also write two of ``BigQueryTask``'s arguments by their flytekit names:
``task_config`` for ``plugin_config`` and ``output_structured_dataset_type`` for
``output_dataframe_type``. On this path both spellings are accepted (one of each pair).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flyteplugins.bigquery.task import BigQueryConfig, BigQueryQuery
from flyteplugins.bigquery.task import BigQueryTask as _BigQueryTask

__all__ = ["BigQueryConfig", "BigQueryQuery", "BigQueryTask"]

_UNSET: Any = object()


def _one_of(name: str, new: str, value: Any, old: str, old_value: Any) -> Any:
    if old_value is _UNSET:
        return value
    if value is not _UNSET:
        raise TypeError(f"BigQueryTask {name!r}: give {new} or {old} (its flytekit name), not both")
    return old_value


class BigQueryTask(_BigQueryTask):
    """:class:`flyteplugins.bigquery.BigQueryTask`, also taking ``task_config`` and
    ``output_structured_dataset_type``."""

    def __init__(
        self,
        name: str,
        query_template: str,
        plugin_config: BigQueryConfig = _UNSET,
        inputs: Mapping[str, Any] | None = None,
        output_dataframe_type: Any = _UNSET,
        google_application_credentials: str | None = None,
        *,
        task_config: BigQueryConfig = _UNSET,
        output_structured_dataset_type: Any = _UNSET,
        **settings: Any,
    ):
        plugin_config = _one_of(name, "plugin_config", plugin_config, "task_config", task_config)
        if plugin_config is _UNSET:
            raise TypeError(f"BigQueryTask {name!r}: plugin_config is required (a BigQueryConfig)")
        output = _one_of(
            name,
            "output_dataframe_type",
            output_dataframe_type,
            "output_structured_dataset_type",
            output_structured_dataset_type,
        )
        super().__init__(
            name,
            query_template,
            plugin_config,
            inputs=inputs,
            output_dataframe_type=None if output is _UNSET else output,
            google_application_credentials=google_application_credentials,
            **settings,
        )
