"""The Spark plugin's configuration: ``Spark`` (the import path of the guide and the examples).

A plain, frozen value object validated when it is made; it imports no pyspark.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import attrs

from flyte import PodTemplate
from flyte.extend import parse_quantity

# Spark's own size strings (JavaUtils.byteStringAs): an integer and an optional unit.
SPARK_SIZE = re.compile(r"^\d+(b|k|kb|m|mb|g|gb|t|tb|p|pb)?$", re.IGNORECASE)
SIZE_KEYS = frozenset(
    {
        "spark.driver.memory",
        "spark.driver.memoryOverhead",
        "spark.driver.maxResultSize",
        "spark.executor.memory",
        "spark.executor.memoryOverhead",
        "spark.executor.pyspark.memory",
        "spark.python.worker.memory",
        "spark.memory.offHeap.size",
    }
)
CORE_KEYS = frozenset({"spark.driver.cores", "spark.executor.cores", "spark.task.cpus"})
COUNT_KEYS = frozenset({"spark.executor.instances"})
# Kubernetes CPU quantities ("500m", "1.5") that Spark hands to the pod spec as they are.
QUANTITY_KEYS = frozenset(
    {
        "spark.kubernetes.driver.request.cores",
        "spark.kubernetes.driver.limit.cores",
        "spark.kubernetes.executor.request.cores",
        "spark.kubernetes.executor.limit.cores",
    }
)
SUPPORTED_EDIT = (
    "make a changed copy instead: config.with_spark_conf({...}) / config.with_hadoop_conf({...}), "
    "or copy.deepcopy(config) and edit the copy before you pass it to a task"
)


def _bad(param: str, value: Any, accepted: str, problem: str = "is not valid") -> ValueError:
    return ValueError(f"{param}: {value!r} {problem} (accepted: {accepted})")


def _as_text(param: str, key: str, value: Any) -> str:
    """Spark reads every setting as a string: numbers and booleans are written the way it parses them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"{param}[{key!r}]: {value!r} is not a setting value (accepted: str, int, float or bool)")


def _check_key(param: str, key: Any) -> None:
    if not isinstance(key, str) or not key or key != key.strip() or "=" in key or any(c.isspace() for c in key):
        raise _bad(f"{param} key", key, "a non-empty string without spaces or '=', e.g. 'spark.executor.cores'")


def _check_spark_entry(key: str, text: str) -> None:
    param = f"Spark.spark_conf[{key!r}]"
    if not key.startswith("spark."):
        raise _bad(
            "Spark.spark_conf key",
            key,
            "keys that start with 'spark.'; Hadoop settings go in hadoop_conf",
            "is not a Spark property (Spark ignores keys that do not start with 'spark.')",
        )
    if key in SIZE_KEYS and not SPARK_SIZE.match(text.strip()):
        raise _bad(
            param,
            text,
            "a whole number with an optional unit b, k, m, g, t, e.g. '512m', '3g', '3000M'; "
            "Kubernetes units such as 'Mi' and fractions are not Spark sizes",
            "is not a Spark size",
        )
    if key in CORE_KEYS and not (text.strip().isdigit() and int(text) >= 1):
        raise _bad(param, text, "a whole number of cores >= 1, e.g. '2'")
    if key in COUNT_KEYS and not text.strip().isdigit():
        raise _bad(param, text, "a whole number >= 0, e.g. '2'")
    if key in QUANTITY_KEYS and parse_quantity(text) is None:
        raise _bad(param, text, "a Kubernetes CPU quantity, e.g. '500m', '1', '1.5'")


def _check_hadoop_entry(key: str, text: str) -> None:
    """Hadoop's settings are free-form: any key, any string value."""


_CHECKS = {"spark_conf": _check_spark_entry, "hadoop_conf": _check_hadoop_entry}


@attrs.define(eq=False, repr=False)
class ConfMapping(MutableMapping[str, str]):
    """``Spark.spark_conf`` / ``Spark.hadoop_conf``: string keys and string values, checked as
    they are set.

    The mapping of a ``Spark`` config is read-only: every task that uses the config sees the
    same settings, and the config is hashable. ``copy.deepcopy(config)`` (the pattern of the
    public examples) gives a copy whose mappings can be edited, each entry checked as it is
    set, until the copy is first hashed.
    """

    entries: dict[str, str]
    kind: str = "spark_conf"
    _editable: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        if self.kind not in _CHECKS:
            raise _bad("ConfMapping.kind", self.kind, "'spark_conf' or 'hadoop_conf'")
        given = self.entries
        if not isinstance(given, Mapping):
            raise TypeError(f"Spark.{self.kind}: expected a dict of settings, got {given!r}")
        self.entries = {}
        for key, value in given.items():
            self._put(key, value)

    def _put(self, key: Any, value: Any) -> None:
        _check_key(f"Spark.{self.kind}", key)
        text = _as_text(f"Spark.{self.kind}", key, value)
        _CHECKS[self.kind](key, text)
        self.entries[key] = text

    # -- Mapping ----------------------------------------------------------------------------
    def __getitem__(self, key: str) -> str:
        return self.entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __setitem__(self, key: str, value: Any) -> None:
        if not self._editable:
            raise TypeError(f"Spark.{self.kind} is read-only (a Spark config is frozen); {SUPPORTED_EDIT}")
        self._put(key, value)

    def __delitem__(self, key: str) -> None:
        if not self._editable:
            raise TypeError(f"Spark.{self.kind} is read-only (a Spark config is frozen); {SUPPORTED_EDIT}")
        del self.entries[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.entries) == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        self._editable = False  # a hashed mapping must not change any more
        return hash(frozenset(self.entries.items()))

    def __repr__(self) -> str:
        return repr(self.entries)

    def __deepcopy__(self, memo: dict[int, Any]) -> ConfMapping:
        fresh = ConfMapping(dict(self.entries), self.kind)
        fresh._editable = True
        return fresh

    def __copy__(self) -> ConfMapping:
        fresh = ConfMapping(dict(self.entries), self.kind)
        fresh._editable = self._editable
        return fresh


def _conf(kind: str):
    def convert(value: Any) -> ConfMapping:
        if value is None:
            return ConfMapping({}, kind)
        if isinstance(value, ConfMapping) and not value._editable and value.kind == kind:
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"Spark.{kind}: expected a dict of settings, got {value!r}")
        return ConfMapping(dict(value.items()), kind)

    return convert


def _pod(param: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is not None and not isinstance(value, PodTemplate):
            raise TypeError(
                f"Spark.{param}: expected a flyte.PodTemplate or None, got {value!r} (the SparkApplication "
                "embeds the template, so a cluster PodTemplate's name is not accepted)"
            )

    return check


def _path(param: str, suffix: str | None = None, example: str = ""):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise _bad(f"Spark.{param}", value, f"a path in the image, e.g. {example!r}")
        bare = value.split("://", 1)[-1]
        if not bare.startswith("/"):
            raise _bad(f"Spark.{param}", value, f"an absolute path in the image, e.g. {example!r}")
        if suffix and not value.endswith(suffix):
            raise _bad(
                f"Spark.{param}",
                value,
                f"a Python file ending in {suffix}, e.g. {example!r}",
                "is not a .py file (spark-submit runs a Python application only from a .py file)",
            )

    return check


@attrs.frozen
class Spark:
    """Run the task with Spark: locally a real ``SparkSession`` built from this config; on
    Kubernetes a ``SparkApplication`` for the Spark operator.

    - ``spark_conf``: Spark properties (``spark.*``), applied to the session and rendered as the
      application's ``sparkConf``. Values are strings; numbers and booleans are converted.
      Sizes (``spark.driver.memory``, ...) and core counts are checked here.
    - ``hadoop_conf``: Hadoop properties, applied as ``spark.hadoop.*`` locally and rendered as
      ``hadoopConf``.
    - ``executor_path``: the Python interpreter in the image (``spark.pyspark.python``).
    - ``applications_path``: the application file spark-submit runs in the driver pod; the
      default starts the task through flyte's container entrypoint.
    - ``driver_pod`` / ``executor_pod``: pod templates for the driver and the executors.
    """

    spark_conf: ConfMapping = attrs.field(factory=dict, converter=_conf("spark_conf"))
    hadoop_conf: ConfMapping = attrs.field(factory=dict, converter=_conf("hadoop_conf"))
    executor_path: str | None = attrs.field(
        default=None, validator=_path("executor_path", example="/opt/venv/bin/python")
    )
    applications_path: str | None = attrs.field(
        default=None, validator=_path("applications_path", ".py", "local:///opt/venv/bin/app.py")
    )
    driver_pod: PodTemplate | None = attrs.field(default=None, validator=_pod("driver_pod"))
    executor_pod: PodTemplate | None = attrs.field(default=None, validator=_pod("executor_pod"))

    def with_spark_conf(self, settings: Mapping[str, Any]) -> Spark:
        """A copy with ``settings`` added to (or replacing entries of) ``spark_conf``."""
        return attrs.evolve(self, spark_conf={**self.spark_conf, **dict(settings)})

    def with_hadoop_conf(self, settings: Mapping[str, Any]) -> Spark:
        """A copy with ``settings`` added to (or replacing entries of) ``hadoop_conf``."""
        return attrs.evolve(self, hadoop_conf={**self.hadoop_conf, **dict(settings)})
