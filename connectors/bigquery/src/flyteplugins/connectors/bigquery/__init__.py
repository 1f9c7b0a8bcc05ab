"""``flyteplugins.connectors.bigquery``: the import path of older public examples."""

from flyteplugins.bigquery.task import BigQueryConfig, BigQueryQuery, BigQueryTask

__all__ = ["BigQueryConfig", "BigQueryQuery", "BigQueryTask"]
