"""BigQuery queries as flyte tasks: ``BigQueryTask(name, query_template, plugin_config=BigQueryConfig(...))``."""

from flyteplugins.bigquery.task import BigQueryConfig, BigQueryQuery, BigQueryTask

__all__ = ["BigQueryConfig", "BigQueryQuery", "BigQueryTask"]
