"""Every configuration value object: the guide's forms are accepted, everything else is refused
with an error naming the parameter and the value."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flyte
from flyte._cache import CachePolicy, FunctionBodyPolicy, to_cache
from flyte._quantity import parse_quantity
from flyte._settings import NORMALISE
from flyte.retry import to_retry_strategy
from flyte.timeout import to_timeout

# -- Kubernetes quantities -------------------------------------------------------------------

SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"]
numbers = st.one_of(
    st.integers(min_value=1, max_value=10**6).map(str),
    st.tuples(st.integers(0, 9999), st.integers(1, 999)).map(lambda t: f"{t[0]}.{t[1]}"),
)


@settings(max_examples=300)
@given(number=numbers, suffix=st.sampled_from(SUFFIXES))
def test_any_valid_quantity_is_accepted_and_keeps_its_value(number, suffix):
    text = number + suffix
    if Decimal(number) == 0:
        return
    assert parse_quantity(text) > 0
    if parse_quantity(text) < 1:  # a fraction of a byte: the API server would round it up
        with pytest.raises(ValueError, match="memory: .* is less than one byte"):
            flyte.Resources(memory=text)
        return
    if parse_quantity(text) > 2**63 - 1:  # the API server would cap it
        with pytest.raises(ValueError, match="memory: .* is larger than Kubernetes can represent"):
            flyte.Resources(memory=text)
        return
    assert flyte.Resources(memory=text).memory == text
    assert flyte.Resources(memory=text).request("memory") == text


@settings(max_examples=300)
@given(number=numbers, exponent=st.integers(-3, 9))
def test_exponent_quantities(number, exponent):
    text = f"{number}e{exponent}"
    assert parse_quantity(text) == Decimal(number) * Decimal(10) ** exponent


@settings(max_examples=500)
@given(text=st.text(max_size=12))
def test_any_text_is_a_quantity_or_a_clear_error(text):
    try:
        flyte.Resources(cpu=text)
    except (ValueError, TypeError) as exc:
        assert "cpu" in str(exc)
    else:
        assert parse_quantity(text) is not None


@pytest.mark.parametrize(
    "cpu, expected",
    [
        (1, "1"),
        (0.5, "500m"),
        ("500m", "500m"),
        ("1.5", "1.5"),
        ("2", "2"),
        (("1", "2"), ("1", "2")),
        ((1, 4), ("1", "4")),
    ],
)
def test_cpu_forms_of_the_guide(cpu, expected):
    # The field reads back as given; request/limit are the canonical quantity strings.
    r = flyte.Resources(cpu=cpu)
    assert r.cpu == cpu
    canonical = expected if isinstance(expected, tuple) else (expected, expected)
    assert (r.request("cpu"), r.limit("cpu")) == canonical


@pytest.mark.parametrize(
    "bad, match",
    [
        ("5 cores", "cpu: '5 cores' is not a Kubernetes quantity"),
        ((4, 1), "cpu: .* has a request above its limit"),
        ((1, 2, 3), "cpu: .*request, limit"),
        (-1, "cpu: -1 is not a Kubernetes quantity"),
        (0, "cpu: 0 must be greater than zero"),
    ],
)
def test_bad_cpu_values(bad, match):
    with pytest.raises(ValueError, match=match):
        flyte.Resources(cpu=bad)


def test_bad_types_are_type_errors_naming_the_parameter():
    with pytest.raises(TypeError, match="memory: expected a Kubernetes quantity"):
        flyte.Resources(memory={"size": 1})
    with pytest.raises(TypeError, match="gpu"):
        flyte.Resources(gpu=True)
    with pytest.raises(TypeError, match="resources: expected a flyte.Resources"):
        flyte.TaskEnvironment(name="x", resources={"cpu": 1})


@pytest.mark.parametrize(
    "gpu, device, quantity",
    [
        (1, None, 1),
        (4, None, 4),
        ("T4:1", "T4", 1),
        ("A100:2", "A100", 2),
        ("H100:8", "H100", 8),
        ("A100 80G:1", "A100 80G", 1),
        ("L40s:1", "L40s", 1),
    ],
)
def test_gpu_shorthands(gpu, device, quantity):
    r = flyte.Resources(gpu=gpu)
    assert r.gpu == gpu
    parsed = r.device
    assert (parsed.device, parsed.quantity, parsed.device_class) == (device, quantity, "GPU")


def test_gpu_helpers_partitions_and_devices():
    assert flyte.GPU(device="A100", quantity=1, partition="1g.5gb").partition == "1g.5gb"
    assert flyte.GPU(device="A100 80G", quantity=1, partition="7g.80gb").device == "A100 80G"
    assert flyte.TPU(device="V6E", partition="4x4").quantity == 16
    custom = flyte.Device(device="custom_accelerator", quantity=2, partition="large")
    assert flyte.Resources(gpu=custom).gpu == custom
    assert flyte.Resources(gpu=custom).device is custom
    with pytest.raises(ValueError, match="GPU.partition: '7g.80gb' is not a MIG profile of A100"):
        flyte.GPU(device="A100", quantity=1, partition="7g.80gb")
    with pytest.raises(ValueError, match="gpu: 'Z9:2'"):
        flyte.Resources(gpu="Z9:2")
    with pytest.raises(ValueError, match="TPU.partition"):
        flyte.TPU(device="V5P", partition="4x4")


def test_disk_and_shm():
    r = flyte.Resources(disk="1Ti", shm="auto")
    assert (r.disk, r.shm) == ("1Ti", "auto")
    assert (r.request("disk"), r.limit("disk"), r.shared_memory) == ("1Ti", "1Ti", "auto")
    with pytest.raises(ValueError, match="disk: .*single quantity"):
        flyte.Resources(disk=("1Gi", "2Gi"))


# -- cron --------------------------------------------------------------------------------------

fields = st.tuples(
    st.one_of(st.just("*"), st.integers(0, 59).map(str), st.integers(1, 30).map(lambda n: f"*/{n}")),
    st.one_of(
        st.just("*"),
        st.integers(0, 23).map(str),
        st.tuples(st.integers(0, 11), st.integers(12, 23)).map(lambda t: f"{t[0]}-{t[1]}"),
    ),
    st.one_of(st.just("*"), st.integers(1, 28).map(str)),
    st.one_of(st.just("*"), st.integers(1, 12).map(str)),
    st.one_of(st.just("*"), st.integers(0, 6).map(str), st.just("1-5")),
)


@settings(max_examples=300)
@given(parts=fields)
def test_valid_cron_expressions_are_accepted(parts):
    expression = " ".join(parts)
    cron = flyte.Cron(expression)
    assert cron.expression == expression
    assert cron.next_after(datetime(2025, 1, 1)) > datetime(2025, 1, 1).astimezone(
        cron.next_after(datetime(2025, 1, 1)).tzinfo
    )


@settings(max_examples=500)
@given(text=st.text(max_size=20))
def test_any_text_is_a_cron_expression_or_a_clear_error(text):
    try:
        flyte.Cron(text)
    except (ValueError, TypeError) as exc:
        assert "Cron.expression" in str(exc)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata"])
def test_time_zones(zone):
    assert flyte.Cron("0 9 * * *", timezone=zone).timezone == zone


# -- the other settings --------------------------------------------------------------------------


def test_timeout_forms():
    assert to_timeout(60) == flyte.Timeout(max_runtime=timedelta(seconds=60))
    assert to_timeout(timedelta(minutes=1)).max_runtime == timedelta(minutes=1)
    t = flyte.Timeout(max_runtime=timedelta(minutes=1), max_queued_time=timedelta(minutes=1), deadline=600)
    assert to_timeout(t) is t and t.deadline == timedelta(seconds=600)
    with pytest.raises(TypeError, match="timeout: expected"):
        to_timeout("60")
    with pytest.raises(ValueError, match="Timeout.max_runtime: .* must be positive"):
        flyte.Timeout(max_runtime=-1)


def test_retry_forms_and_backoff():
    assert to_retry_strategy(3) == flyte.RetryStrategy(count=3)
    strategy = flyte.RetryStrategy(count=5, backoff=flyte.Backoff(base=1, factor=2, cap=5))
    assert [strategy.delay(n).total_seconds() for n in range(5)] == [1, 2, 4, 5, 5]
    assert flyte.RetryStrategy(3).delay(2) == timedelta(0)
    with pytest.raises(ValueError, match="retries: -1 is out of range"):
        to_retry_strategy(-1)
    with pytest.raises(ValueError, match="Backoff.factor"):
        flyte.Backoff(base=1, factor=0.5)


def test_reuse_policy_forms():
    fixed = flyte.ReusePolicy(
        replicas=3, concurrency=2, scaledown_ttl=timedelta(minutes=10), idle_ttl=timedelta(hours=1)
    )
    assert (fixed.capacity, fixed.min_replicas) == (6, 3)
    auto = flyte.ReusePolicy(replicas=(1, 10), idle_ttl=60, scaledown_ttl=60, concurrency=100)
    assert (auto.min_replicas, auto.max_replicas, auto.idle_ttl) == (1, 10, timedelta(seconds=60))
    with pytest.raises(ValueError, match="ReusePolicy.replicas: .* min > max"):
        flyte.ReusePolicy(replicas=(5, 2))
    with pytest.raises(ValueError, match="ReusePolicy.concurrency"):
        flyte.ReusePolicy(concurrency=0)


def test_secret_forms():
    normalise = NORMALISE["secrets"]
    assert normalise("my-secret") == (flyte.Secret(key="my-secret"),)
    pair = normalise([flyte.Secret(key="a", as_env_var="A"), "b"])
    assert [s.env_var for s in pair] == ["A", "B"]
    assert flyte.Secret(key="my_secret", mount="/etc/flyte/secrets").path == "/etc/flyte/secrets/my_secret"
    with pytest.raises(ValueError, match="Secret.mount: '/tmp' "):
        flyte.Secret(key="k", mount="/tmp")
    with pytest.raises(ValueError, match="Secret.as_env_var: '1BAD'"):
        flyte.Secret(key="k", as_env_var="1BAD")
    with pytest.raises(ValueError, match="secrets: 'A' .* target of two secrets"):
        normalise([flyte.Secret(key="a", as_env_var="A"), flyte.Secret(key="b", as_env_var="A")])


def test_cache_forms_and_policies():
    assert to_cache("auto").policies == (FunctionBodyPolicy(),)
    assert to_cache(False).behavior == "disable"
    with pytest.raises(TypeError, match='cache: expected "auto"'):  # as the reference SDK refuses it
        to_cache(True)
    with pytest.raises(ValueError, match="version_override"):
        flyte.Cache(behavior="override")
    with pytest.raises(ValueError, match="cache.behavior: 'sometimes'"):
        flyte.Cache(behavior="sometimes")
    with pytest.raises(ValueError, match="cache: 'override' needs a version_override"):
        to_cache("override")
    c = flyte.Cache(behavior="auto", ignored_inputs="debug_flag", salt="experiment_2024_q4", serialize=True)
    assert c.ignored_inputs == ("debug_flag",) and c.serialize

    class Always(CachePolicy):
        def get_version(self, salt, params):
            return "v"

    assert flyte.Cache("auto", policies=Always()).policies[0].get_version("", None) == "v"


def test_documentation_and_links():
    env = flyte.TaskEnvironment(name="docs")

    class Dashboard:
        name = "dashboard"
        icon_uri = ""

        def get_link(self, run_name, project, domain, context, parent_action_name, action_name, pod_name, **kw):
            return f"https://dash/{run_name}"

    @env.task(docs=flyte.Documentation(description="Trains a model."), links=Dashboard())
    def train(data: list) -> dict:
        """This docstring is used if docs is not set explicitly."""
        return {}

    assert train.spec.docs.description == "Trains a model."
    assert train.spec.links[0].get_link("r1", "", "", {}, "", "", "") == "https://dash/r1"
    with pytest.raises(TypeError, match="links"):
        env.task(links=["not a link"])
    with pytest.raises(TypeError, match="docs"):
        env.task(docs=3)


def test_short_name_and_misc_settings():
    env = flyte.TaskEnvironment(name="misc")
    with pytest.raises(ValueError, match="max_inline_io_bytes: 0"):
        env.task(max_inline_io_bytes=0)
    with pytest.raises(TypeError, match="report: expected True or False"):
        env.task(report="yes")
    with pytest.raises(TypeError, match="env_vars"):
        flyte.TaskEnvironment(name="x", env_vars={"A": 1})
    with pytest.raises(ValueError, match="env_vars: '1A'"):
        flyte.TaskEnvironment(name="x", env_vars={"1A": "x"})
