"""Three configuration levels resolve into one TaskSpec, as the guide's table says."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from kubernetes.client import V1Container, V1EnvVar, V1LocalObjectReference, V1PodSpec

import flyte
from flyte._levels import LEVELS, OVERRIDE, TASK
from flyte.interface import NO_DEFAULT


def test_the_guides_level_example_resolves_as_documented():
    another_env = flyte.TaskEnvironment(name="another_env")
    env_2 = flyte.TaskEnvironment(
        name="data_processing_env",
        image=flyte.Image.from_debian_base(),
        resources=flyte.Resources(cpu=1, memory="512Mi"),
        env_vars={"MY_VAR": "value"},
        cache="disable",
        depends_on=[another_env],
        description="Data processing task environment",
    )

    @env_2.task(
        short_name="process",
        cache="auto",
        report=True,
        max_inline_io_bytes=100 * 1024,
        retries=3,
        timeout=60,
        docs="This task processes data and generates a report.",
    )
    async def process_data(data_path: str) -> str:
        return f"Processed {data_path}"

    spec = process_data.spec
    assert spec.name == "data_processing_env.process_data"
    assert spec.short_name == "process"
    assert spec.cache.behavior == "auto"  # the decorator beats the environment's "disable"
    assert spec.report is True and spec.max_inline_io_bytes == 100 * 1024
    assert spec.retries.count == 3 and spec.timeout.max_runtime == timedelta(seconds=60)
    assert spec.docs.description == "This task processes data and generates a report."
    assert spec.resources == flyte.Resources(cpu=1, memory="512Mi")
    assert spec.env_vars == {"MY_VAR": "value"}
    assert spec.depends_on == ("another_env",)
    assert spec.description == "Data processing task environment"

    overridden = process_data.override(
        resources=flyte.Resources(cpu=4, memory="2Gi"),
        env_vars={"MY_VAR": "new_value"},
        cache="auto",
        max_inline_io_bytes=100 * 1024,
        retries=3,
        timeout=60,
    )
    assert overridden.spec.resources == flyte.Resources(cpu=4, memory="2Gi")
    assert overridden.spec.env_vars == {"MY_VAR": "new_value"}
    assert process_data.spec.env_vars == {"MY_VAR": "value"}  # the original is untouched
    assert process_data.spec.resources.cpu == 1
    assert process_data.spec.resources.request("cpu") == "1"


def test_interruptible_and_queue_at_every_level():
    env = flyte.TaskEnvironment(name="my_env", interruptible=True, queue="default-pool")

    @env.task
    def preprocess(data: list) -> list:
        return data

    @env.task(interruptible=False, queue="gpu-pool")
    def save_results(results: dict) -> str:
        return "saved"

    assert preprocess.spec.interruptible is True and preprocess.spec.queue == "default-pool"
    assert save_results.spec.interruptible is False and save_results.spec.queue == "gpu-pool"
    assert preprocess.override(interruptible=False).spec.interruptible is False


def test_cache_at_three_levels():
    cached_env = flyte.TaskEnvironment(name="cached_environment", cache=flyte.Cache(behavior="auto"))

    @cached_env.task
    async def inherits_caching(data: str) -> str:
        return data

    @cached_env.task(cache=flyte.Cache(behavior="disable"))
    async def decorator_caching(data: str) -> str:
        return data

    assert inherits_caching.spec.cache.behavior == "auto"
    assert decorator_caching.spec.cache.behavior == "disable"
    assert inherits_caching.override(cache=flyte.Cache(behavior="disable")).spec.cache.behavior == "disable"


@pytest.mark.parametrize("param", sorted(p for p, levels in LEVELS.items() if "TaskEnvironment(...)" not in levels))
def test_parameters_not_accepted_on_an_environment_say_where_they_belong(param):
    with pytest.raises(TypeError, match=f"`{param}` cannot be set here; set it in"):
        flyte.TaskEnvironment(name="x", **{param: None})


@pytest.mark.parametrize("param", sorted(p for p, levels in LEVELS.items() if TASK not in levels))
def test_parameters_not_accepted_by_the_decorator(param):
    env = flyte.TaskEnvironment(name="x")
    with pytest.raises(TypeError, match=f"`{param}` cannot be set here"):
        env.task(**{param: None})


@pytest.mark.parametrize("param", sorted(p for p, levels in LEVELS.items() if OVERRIDE not in levels))
def test_parameters_not_accepted_by_override(param):
    env = flyte.TaskEnvironment(name="x")

    @env.task
    def t() -> None: ...

    with pytest.raises(TypeError, match=f"`{param}` cannot be set here"):
        t.override(**{param: None})


def test_unknown_parameter_suggests_the_closest_name():
    with pytest.raises(TypeError, match="did you mean `resources`"):
        flyte.TaskEnvironment(name="x", resource=flyte.Resources(cpu=1))


@pytest.mark.parametrize(
    "param, value", [("resources", flyte.Resources(cpu=2)), ("env_vars", {"A": "b"}), ("secrets", "k")]
)
def test_reusable_environments_refuse_those_overrides(param, value):
    env = flyte.TaskEnvironment(name="pool", reusable=flyte.ReusePolicy(replicas=2, idle_ttl=60))

    @env.task
    async def noop(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=f"`{param}` cannot be overridden because environment 'pool' is reusable"):
        noop.override(**{param: value})
    assert getattr(noop.override(reusable="off", **{param: value}).spec, param)


@pytest.mark.parametrize("name", ["my_env", "ml-training", "env2", "a"])
def test_environment_names_snake_or_kebab(name):
    assert flyte.TaskEnvironment(name=name).name == name


@pytest.mark.parametrize("name", ["My_Env", "my env", "my_env-x", "-x", "x_", "", "ümlaut"])
def test_bad_environment_names_are_rejected(name):
    with pytest.raises(ValueError, match="name: .* snake_case or kebab-case"):
        flyte.TaskEnvironment(name=name)


def test_description_is_at_most_255_characters():
    flyte.TaskEnvironment(name="x", description="d" * 255)
    with pytest.raises(ValueError, match="description: .* at most 255 characters"):
        flyte.TaskEnvironment(name="x", description="d" * 256)


def test_depends_on_cycles_are_rejected():
    a = flyte.TaskEnvironment(name="a")
    b = flyte.TaskEnvironment(name="b", depends_on=[a])
    c = flyte.TaskEnvironment(name="c", depends_on=[b])
    with pytest.raises(ValueError, match="cycle"):
        a.add_dependency(c)
    with pytest.raises(ValueError, match="cycle"):
        a.add_dependency(a)
    assert [e.name for e in c.reachable()] == ["c", "b", "a"]
    with pytest.raises(TypeError, match="depends_on"):
        flyte.TaskEnvironment(name="d", depends_on=["a"])


def test_a_decorated_task_keeps_name_docstring_and_signature():
    import inspect

    env = flyte.TaskEnvironment(name="x")

    @env.task
    async def documented(a: int, b: str = "z") -> str:
        """Does a thing."""
        return b * a

    assert documented.__name__ == "documented" and documented.__doc__ == "Does a thing."
    assert list(inspect.signature(documented).parameters) == ["a", "b"]
    assert documented.spec.docs.description == "Does a thing."
    iface = documented.spec.interface
    assert [(i.name, i.type) for i in iface.inputs] == [("a", "int"), ("b", "str")]
    assert iface.inputs[0].default is NO_DEFAULT and iface.inputs[1].default == "z"
    assert iface.output == "str"


def test_a_task_wraps_its_function_as_update_wrapper_does():
    """The task object carries what functools.update_wrapper would put on it (its function's
    name, module, qualname, docstring, annotations, attributes and __wrapped__), set one by
    one (task._wrap) rather than through the task's __dict__."""
    import functools

    env = flyte.TaskEnvironment(name="x")

    def tagged(a: int) -> int:
        """Tagged."""
        return a

    tagged.tag = "kept"  # type: ignore[attr-defined]
    task = env.task(tagged)

    class Plain:
        pass

    expected = functools.update_wrapper(Plain(), tagged).__dict__
    assert {k: v for k, v in vars(task).items() if k in expected} == expected
    assert task.__wrapped__ is tagged and task.tag == "kept"


def test_settings_read_as_task_attributes():
    """Each setting reads as an attribute of the task (resolved, most specific level winning;
    timeout and secrets as given), an attribute set on the task object wins over it, and any
    other name is an AttributeError naming it."""
    env = flyte.TaskEnvironment(name="x", cache="auto", secrets="env-secret")

    @env.task(retries=2, timeout=30)
    async def job(a: int) -> int:
        return a

    assert job.retries == flyte.RetryStrategy(count=2) and job.override(retries=3).retries.count == 3
    assert job.cache.behavior == "auto" and job.timeout == 30 and job.secrets == "env-secret"
    assert job.description is None and job.override(timeout=5).timeout == 5
    job.retries = "set on the object"  # type: ignore[misc]
    assert job.retries == "set on the object" and job.spec.retries.count == 2
    with pytest.raises(AttributeError, match="'TaskTemplate' object has no attribute 'nope'"):
        job.nope  # noqa: B018


def _fully_populated_spec() -> flyte.TaskSpec:
    pod = flyte.PodTemplate(
        primary_container_name="primary",
        labels={"team": "ml"},
        annotations={"a": "b"},
        pod_spec=V1PodSpec(
            containers=[V1Container(name="primary", env=[V1EnvVar(name="hello", value="world")])],
            image_pull_secrets=[V1LocalObjectReference(name="regcred")],
        ),
    )
    base = flyte.TaskEnvironment(name="base")
    env = flyte.TaskEnvironment(
        name="full",
        image=flyte.Image.from_debian_base(name="img", registry="ghcr.io/acme")
        .with_apt_packages("curl")
        .with_pip_packages("numpy", pre=True, secret_mounts="GITHUB_PAT")
        .with_env_vars({"OMP_NUM_THREADS": "4"}),
        resources=flyte.Resources(
            cpu=(1, 2), memory=("1Gi", "2Gi"), gpu=flyte.GPU("A100", 2, "1g.5gb"), disk="10Gi", shm="auto"
        ),
        env_vars={"A": "1"},
        secrets=[flyte.Secret(key="k", as_env_var="K"), flyte.Secret(key="f", mount="/etc/flyte/secrets")],
        pod_template=pod,
        reusable=flyte.ReusePolicy(replicas=(1, 3), concurrency=2, idle_ttl=timedelta(minutes=5)),
        depends_on=[base],
        description="everything",
        interruptible=True,
        queue="q",
    )

    @env.task(
        short_name="Full Task",
        cache=flyte.Cache(
            behavior="override", version_override="v2", serialize=True, ignored_inputs=("debug",), salt="s"
        ),
        retries=flyte.RetryStrategy(count=3, backoff=flyte.Backoff(base=1, factor=3, cap=10)),
        timeout=flyte.Timeout(max_runtime=60, max_queued_time=30, deadline=600),
        report=True,
        max_inline_io_bytes=1000,
        triggers=[
            flyte.Trigger.daily(inputs={"x": {}}),
            flyte.Trigger(
                "rate",
                flyte.FixedRate(90, start_time=datetime(2025, 12, 1, 9)),
                inputs={"x": {"k": (1, 2)}, "debug": True},
            ),
            flyte.Trigger(
                "tz",
                flyte.Cron("0 9 * * 1-5", timezone="America/New_York"),
                env_vars={"E": "1"},
                inputs={"x": {"a": 1}},
                labels={"l": "v"},
                annotations={"a": "v"},
                queue="q2",
                interruptible=False,
            ),
        ],
        docs=flyte.Documentation(description="docs"),
    )
    async def full(x: dict, debug: bool = False, trigger_time: datetime | None = None) -> list[int]:
        return []

    return full.spec


def test_a_fully_populated_spec_round_trips_through_plain_data():
    spec = _fully_populated_spec()
    data = spec.to_dict()
    text = json.dumps(data)  # plain JSON-able data
    back = flyte.TaskSpec.from_dict(json.loads(text))
    assert back == spec
    assert back.to_dict() == data


def test_from_dict_errors_name_the_field_path():
    data = _fully_populated_spec().to_dict()
    data["retries"]["count"] = "three"
    with pytest.raises(ValueError, match="retries"):
        flyte.TaskSpec.from_dict(data)


def test_guide_snippets_construct():
    """A sample of the guide's snippets, pasted as written."""
    from flyte._cache import CachePolicy, FunctionBodyPolicy

    env = flyte.TaskEnvironment(
        name="ml-training",
        resources=flyte.Resources(cpu=("2", "4"), memory=("2Gi", "12Gi"), disk="50Gi", shm="8Gi"),
    )

    class DatasetVersionPolicy(CachePolicy):
        def get_version(self, salt: str, params) -> str:
            return f"{salt}_v7"

    @env.task(cache=flyte.Cache(behavior="auto", policies=[DatasetVersionPolicy(), FunctionBodyPolicy()]))
    async def dataset_dependent_task(data: str) -> str:
        return data

    flyte.Resources(gpu=flyte.TPU(device="V6E", partition="4x4"))
    flyte.Resources(gpu=flyte.Device(device="custom_accelerator", quantity=2, partition="large"))
    flyte.ReusePolicy(replicas=2, concurrency=1, scaledown_ttl=timedelta(minutes=10), idle_ttl=timedelta(hours=1))
    flyte.Trigger("daily_report", flyte.Cron("0 6 * * *"))
    assert dataset_dependent_task.spec.cache.policies[0].get_version("s", None) == "s_v7"


def test_import_flyte_loads_no_engine_plugin_or_kubernetes_client():
    code = (
        "import sys, flyte\n"
        "heavy = [m for m in ('kubernetes', 'ray', 'pyspark', 'torch', 'dask', 'pluggy', 'cattrs', "
        "'yaml', 'rich', 'click', 'flyte.plugins') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    times = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import flyte"], capture_output=True, text=True, check=True
    ).stderr
    assert "kubernetes" not in times and "pluggy" not in times
