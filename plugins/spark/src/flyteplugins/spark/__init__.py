"""flyteplugins-spark: ``plugin_config=Spark(...)`` runs a task with a Spark session.

Importing this package does not import pyspark; the runner and renderer do, when they run.
"""

from flyteplugins.spark.errors import SparkJobError, SparkSessionConflictError
from flyteplugins.spark.session import spark_session
from flyteplugins.spark.task import Spark

__all__ = ["Spark", "SparkJobError", "SparkSessionConflictError", "spark_session"]
