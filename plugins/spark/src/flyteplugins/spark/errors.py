"""Errors of the Spark plugin, and Spark's own errors made readable."""

from __future__ import annotations

import re

from flyte.extend import ConfigurationError

_JAVA_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


class SparkJobError(RuntimeError):
    """A Spark job failed in the JVM; the message is Spark's, without the Java stack frames."""


class SparkSessionConflictError(ConfigurationError):
    """A Spark task nested in another asks for a session with other settings (Spark allows
    one session per process)."""


def spark_message(text: str) -> str:
    """Spark's error text without Py4J's preamble, Java frames and the driver stack trace."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("Driver stacktrace:"):
            break
        if _JAVA_FRAME.match(line) or line.startswith("An error occurred while calling"):
            continue
        lines.append(line.removeprefix(": "))
    return "\n".join(lines).strip() or text


def readable(exc: BaseException) -> BaseException | None:
    """The error to raise instead of ``exc`` when it is a raw Py4J error, else None.

    PySpark already turns most failures into its own exceptions (``AnalysisException``,
    ``PythonException``, ...) with Spark's message; what still arrives as a ``Py4JJavaError``
    (RDD input errors, JVM calls) or a ``Py4JError`` (the JVM went away) is rewritten here.
    """
    try:
        from py4j.protocol import Py4JError, Py4JJavaError
    except ImportError:
        return None
    if isinstance(exc, Py4JJavaError):
        return SparkJobError(spark_message(str(exc)))
    if isinstance(exc, Py4JError):
        return SparkJobError(f"the Spark JVM stopped answering: {spark_message(str(exc))}")
    return None
