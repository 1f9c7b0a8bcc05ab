"""What a local run makes of a ``Spark`` config: the master, the settings, and what is reported.

- Master ``local[N]``: N is ``spark.executor.instances × spark.executor.cores`` when either is
  set (Spark's defaults 2 and 1 fill the other), else the task's cpu (limit, else request),
  else every core; capped at this machine's cores.
- Every ``spark_conf`` entry is applied, and every ``hadoop_conf`` entry as ``spark.hadoop.*``.
  The driver binds to loopback and the Python workers run this interpreter.
- Keys that only mean something on Kubernetes (``spark.kubernetes.*``, dynamic allocation,
  the master and deploy mode, instances beyond this machine) are reported once per process.
- Artefacts (``spark.jars``, ``spark.files``, ``spark.submit.pyFiles``, ``spark.archives``):
  local paths are used as they are, http(s) URLs are downloaded once into
  ``<state root>/spark/downloads``; ``spark.jars.packages`` are kept when their repository
  answers. Whatever cannot be fetched is skipped, and reported in one warning.
- Settings the JVM takes only when it starts (driver memory, JVM options, class path, jars,
  packages) form the *launch* settings: a JVM started with other launch settings is restarted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from flyte.extend import parse_quantity, state_path, warn_at_definition

LOOPBACK = "127.0.0.1"
ARTEFACT_KEYS = ("spark.jars", "spark.files", "spark.submit.pyFiles", "spark.archives")
LAUNCH_KEYS = frozenset(
    {
        "spark.driver.memory",
        "spark.driver.extraJavaOptions",
        "spark.driver.defaultJavaOptions",
        "spark.driver.extraClassPath",
        "spark.driver.extraLibraryPath",
        "spark.jars",
        "spark.jars.packages",
        "spark.jars.repositories",
        "spark.jars.excludes",
        "spark.jars.ivy",
        "spark.jars.ivySettings",
    }
)
KUBERNETES_ONLY = ("spark.kubernetes.", "spark.dynamicAllocation.")
REPLACED_LOCALLY = {
    "spark.master": "the local master is local[N]",
    "spark.submit.deployMode": "a local run is always in client mode",
    "spark.driver.host": "the driver binds to 127.0.0.1",
    "spark.driver.bindAddress": "the driver binds to 127.0.0.1",
}
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
FETCH_TIMEOUT = 30.0


class SparkLocalWarning(UserWarning):
    """A part of the Spark configuration is not applied to a local run."""


@attrs.frozen
class LocalPlan:
    """The local session for one config: ``launch`` settings start the JVM, ``conf`` (which
    includes them) builds the session on ``master``."""

    master: str
    launch: tuple[tuple[str, str], ...]
    conf: tuple[tuple[str, str], ...]
    # Unless the config names the application: a label, not a setting, so tasks whose settings
    # agree share a session whatever their names.
    default_app_name: str = "flyte"
    not_local: tuple[tuple[str, str], ...] = ()  # (key, why it does nothing here)
    skipped: tuple[tuple[str, str], ...] = ()  # (artefact, why it was not fetched)

    @property
    def launch_key(self) -> str:
        return json.dumps(self.launch)

    @property
    def key(self) -> str:
        return json.dumps([self.master, self.conf])


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _task_cores(spec: Any) -> int | None:
    res = spec.resources
    if res is None or res.cpu is None:
        return None
    value = parse_quantity(res.limit("cpu") or res.request("cpu"))
    return None if value is None else max(1, math.ceil(value))


def local_parallelism(conf: dict[str, str], spec: Any, cores: int) -> tuple[int, tuple[str, str] | None]:
    """(N for ``local[N]``, (setting, note) when the task asked for more than this machine has)."""
    instances, per_executor = conf.get("spark.executor.instances"), conf.get("spark.executor.cores")
    if instances is not None or per_executor is not None:
        wanted = int(instances or 2) * int(per_executor or 1)
        setting, source = "spark.executor.instances", f"instances × cores = {wanted}"
    else:
        task = _task_cores(spec)
        wanted = task if task is not None else cores
        setting, source = "resources.cpu", f"{wanted} cores"
    if wanted > cores:
        return cores, (setting, f"{source}, and this machine has {cores}: the local master is local[{cores}]")
    return max(1, wanted), None


def build_plan(config: Any, spec: Any, cores: int | None = None) -> LocalPlan:
    """The local plan for a task's ``Spark`` config (fetches remote artefacts: call it off the loop)."""
    cores = cores or machine_cores()
    conf = dict(config.spark_conf)
    not_local: list[tuple[str, str]] = []
    for key in conf:
        if key.startswith(KUBERNETES_ONLY):
            not_local.append((key, "it only means something on Kubernetes"))
        elif key in REPLACED_LOCALLY:
            not_local.append((key, REPLACED_LOCALLY[key]))
    n, capped = local_parallelism(conf, spec, cores)
    if capped:
        not_local.append(capped)
    for key in REPLACED_LOCALLY:
        conf.pop(key, None)
    conf.update({f"spark.hadoop.{k}": v for k, v in config.hadoop_conf.items()})

    skipped: list[tuple[str, str]] = []
    for key in ARTEFACT_KEYS:
        if key in conf:
            kept, dropped = fetch_artefacts(conf[key])
            skipped += [(f"{key}: {entry}", why) for entry, why in dropped]
            if kept:
                conf[key] = ",".join(kept)
            else:
                del conf[key]
    if "spark.jars.packages" in conf:
        kept, dropped = reachable_packages(conf["spark.jars.packages"], conf.get("spark.jars.repositories"))
        skipped += [(f"spark.jars.packages: {entry}", why) for entry, why in dropped]
        if kept:
            conf["spark.jars.packages"] = ",".join(kept)
        else:
            del conf["spark.jars.packages"]

    conf["spark.driver.host"] = conf["spark.driver.bindAddress"] = LOOPBACK
    python = conf.get("spark.pyspark.python")
    if python is not None and not os.access(python, os.X_OK):
        not_local.append(("spark.pyspark.python", f"not on this machine; the workers run {sys.executable}"))
    if python is None or not os.access(python, os.X_OK):
        conf["spark.pyspark.python"] = sys.executable  # the workers run this interpreter
    launch = tuple(sorted((k, v) for k, v in conf.items() if k in LAUNCH_KEYS))
    return LocalPlan(
        master=f"local[{n}]",
        launch=launch,
        conf=tuple(sorted(conf.items())),
        default_app_name=spec.env_name,
        not_local=tuple(not_local),
        skipped=tuple(skipped),
    )


# -- reporting ------------------------------------------------------------------------------
_reported: set[str] = set()
_report_lock = threading.Lock()


def report(plan: LocalPlan, task: str, function: Any = None) -> None:
    """Warn about what the plan leaves out: each key once per process, skipped artefacts in one
    warning. The warnings point at the task's definition (``function``), not at flyte's code."""
    with _report_lock:
        fresh = [(k, why) for k, why in plan.not_local if k not in _reported]
        _reported.update(k for k, _ in fresh)
        skipped = [(a, why) for a, why in plan.skipped if a not in _reported]
        _reported.update(a for a, _ in skipped)
    if fresh:
        lines = "; ".join(f"{k} ({why})" for k, why in fresh)
        message = f"{task}: Spark settings with no effect on a local run: {lines}"
        warn_at_definition(f"{message}. They are kept in the rendered SparkApplication.", SparkLocalWarning, function)
    if skipped:
        lines = "; ".join(f"{a} ({why})" for a, why in skipped)
        message = f"{task}: Spark artefacts that cannot be fetched were skipped for this local run: {lines}"
        warn_at_definition(f"{message}. They are kept in the rendered SparkApplication.", SparkLocalWarning, function)


# -- artefacts ------------------------------------------------------------------------------
_fetched: dict[str, tuple[str | None, str | None]] = {}  # url -> (local path, error), per process
_fetch_lock = threading.Lock()


def _download(url: str) -> tuple[str | None, str | None]:
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    target = state_path("spark", "downloads") / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"
    if target.exists():
        return str(target), None
    partial = target.with_name(f"{target.name}.part-{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        partial.replace(target)  # readers never see half a file
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        return None, _reason(exc)
    return str(target), None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}"


def _fetch_all(urls: list[str]) -> dict[str, tuple[str | None, str | None]]:
    with _fetch_lock:
        todo = [u for u in dict.fromkeys(urls) if u not in _fetched]
        if todo:
            with ThreadPoolExecutor(max_workers=min(4, len(todo))) as pool:
                _fetched.update(zip(todo, pool.map(_download, todo), strict=True))
        return {u: _fetched[u] for u in urls}


def fetch_artefacts(value: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(entries usable here, (entry, why) for the skipped ones) of a comma-separated list."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    urls = [e for e in entries if urllib.parse.urlparse(e).scheme in ("http", "https")]
    fetched = _fetch_all(urls)
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []
    for entry in entries:
        scheme = urllib.parse.urlparse(entry).scheme
        if entry in fetched:
            path, error = fetched[entry]
            if path is None:
                skipped.append((entry, f"cannot be fetched: {error}"))
            else:
                kept.append(path)
        elif scheme in ("", "file", "local"):
            path = urllib.parse.urlparse(entry).path if scheme else entry
            if Path(path).exists():
                kept.append(path)
            else:
                skipped.append((entry, "no such file on this machine"))
        else:
            skipped.append((entry, f"{scheme}:// needs the cluster's file system connectors"))
    return kept, skipped


def _pom_url(repository: str, coordinate: str) -> str | None:
    parts = coordinate.split(":")
    if len(parts) != 3 or not all(parts):
        return None
    group, artifact, version = parts
    return f"{repository.rstrip('/')}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.pom"


@functools.cache  # once per process: a repository that did not answer is not asked again
def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=FETCH_TIMEOUT):
            return True
    except (OSError, ValueError):
        return False


def reachable_packages(value: str, repositories: str | None) -> tuple[list[str], list[tuple[str, str]]]:
    """Maven coordinates whose POM one of the repositories serves (Spark's Ivy then fetches
    them and their dependencies), and the others with why they are skipped."""
    repos = [r.strip() for r in (repositories or "").split(",") if r.strip()] + [MAVEN_CENTRAL]
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []
    for coordinate in (c.strip() for c in value.split(",") if c.strip()):
        urls = [u for u in (_pom_url(r, coordinate) for r in repos) if u]
        if not urls:
            skipped.append((coordinate, "not a group:artifact:version coordinate"))
        elif any(_answers(u) for u in urls):
            kept.append(coordinate)
        else:
            skipped.append((coordinate, f"no repository answers ({', '.join(repos)})"))
    return kept, skipped
