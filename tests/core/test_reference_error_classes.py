"""Bad inputs fail with the exception class the reference SDK (flyte 2.12.1) raises for them, or
a subclass of it, so ``pytest.raises(RefClass)`` written against either passes; the message is
ours: it names the parameter, shows the value and says what would be accepted. Found by feeding
the same inputs to both (the table is in the branch's report). Where the reference SDK fails by
accident (``'int' object has no attribute 'replace'``), ours is also of that class."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

import flyte
from flyte.errors import (
    ConfigurationError,
    InitializationError,
    PluginNotFoundError,
    RuntimeUserError,
    TaskCallError,
)

env = flyte.TaskEnvironment(name="reference_error_classes")
other_env = flyte.TaskEnvironment(name="reference_error_classes_other")
pool = flyte.TaskEnvironment(
    name="reference_error_classes_pool", reusable=flyte.ReusePolicy(replicas=2), service_account="pool-sa"
)


@env.task
async def one(x: int = 1) -> int:
    return x


@env.task
def refuses(x: int = 1) -> int:
    raise ValueError(f"refused {x}")


@env.task
def adds_badly(x: int = 1) -> int:
    return x + "1"  # type: ignore[operator]  # a TypeError of the body, not of the call


def _plain() -> Any:
    return 5


# (id, the call, the classes the reference SDK's error is (all must match), message substrings)
CASES: list[tuple[str, Callable[[], Any], tuple[type[BaseException], ...], tuple[str, ...]]] = [
    # -- Resources: memory, disk and shm are quantity strings; a pair is a tuple ----------------
    ("memory int", lambda: flyte.Resources(memory=1024), (ValueError,), ("memory", "1024", '"512Mi"', "bytes")),
    ("memory float", lambda: flyte.Resources(memory=1.5), (ValueError,), ("memory", "1.5", "quantity string")),
    ("memory int pair", lambda: flyte.Resources(memory=(1, 2)), (ValueError,), ("memory", "1", "quantity string")),
    ("disk int", lambda: flyte.Resources(disk=10), (ValueError,), ("disk", "10", '"10Gi"')),
    ("shm int", lambda: flyte.Resources(shm=5), (ValueError,), ("shm", "5", '"auto"')),
    ("cpu list", lambda: flyte.Resources(cpu=[1, 2]), (ValueError,), ("cpu", "[1, 2]", "(request, limit) tuple")),
    ("memory list", lambda: flyte.Resources(memory=["1Gi", "2Gi"]), (ValueError,), ("memory", "['1Gi', '2Gi']", "tuple")),
    # -- Resources: accelerator strings are "<type>:<count>" with a count the type is offered in
    ("gpu no count", lambda: flyte.Resources(gpu="A100"), (ValueError,), ("gpu", "'A100'", '"<type>:<count>"')),
    ("gpu 9 A100", lambda: flyte.Resources(gpu="A100:9"), (ValueError,), ("gpu", "'A100:9'", "A100 counts 1, 2")),
    ("gpu 2 Trn1", lambda: flyte.Resources(gpu="Trn1:2"), (ValueError,), ("gpu", "'Trn1:2'", "Trn1 counts 1, 4, 8, 16")),
    # -- Secret: environment variable names as the reference SDK takes them ---------------------
    ("secret env lower", lambda: flyte.Secret(key="k", as_env_var="lower_name"), (ValueError,), ("Secret.as_env_var", "'lower_name'", "upper-case")),
    ("secret key dot", lambda: flyte.Secret(key="a.b"), (ValueError,), ("Secret.key", "'a.b'", "'A.B'", "as_env_var=", "mount=")),
    ("secret group dot", lambda: flyte.Secret(key="k", group="my.group"), (ValueError,), ("Secret.key", "'MY.GROUP_K'", "as_env_var=")),
    ("secret key int", lambda: flyte.Secret(key=5), (AttributeError, TypeError), ("Secret.key", "5", "a str")),
    ("secret key None", lambda: flyte.Secret(key=None), (AttributeError, TypeError), ("Secret.key", "None", "a str")),
    # -- cache, reusable, depends_on ---------------------------------------------------------
    ("env cache True", lambda: flyte.TaskEnvironment(name="c", cache=True), (TypeError,), ("cache", "True", '"auto"')),
    ("task cache True", lambda: env.task(cache=True)(_plain), (ValueError,), ("cache", "True", '"auto"')),
    ("override cache True", lambda: one.override(cache=True), (ValueError,), ("cache", "True", '"auto"')),
    ("env reusable off", lambda: flyte.TaskEnvironment(name="r", reusable="off"), (TypeError,), ("reusable", "'off'", "flyte.ReusePolicy", "task.override")),
    ("depends_on one env", lambda: flyte.TaskEnvironment(name="d", depends_on=other_env), (TypeError,), ("depends_on", "reference_error_classes_other", "depends_on=[other_env]")),
    ("reusable task pod_template", lambda: pool.task(pod_template="gpu-template")(_plain), (ValueError,), ("`pod_template`", "reference_error_classes_pool", "set pod_template on the TaskEnvironment")),
    ("reusable task service_account", lambda: pool.task(service_account="other-sa")(_plain), (ValueError,), ("`service_account`", "reference_error_classes_pool", "share one pod")),
    ("remote mode", lambda: flyte.with_runcontext(mode="remote"), (InitializationError, ValueError), ("mode 'remote'", "control plane", '"local"')),
    # -- what the reference SDK reads an attribute of --------------------------------------------
    ("task of an int", lambda: env.task(5), (AttributeError, TypeError), ("@env.task", "5", "def or async def")),
    ("task of a task", lambda: env.task(one), (AttributeError, TypeError), ("@env.task", "reference_error_classes.one", "def or async def")),
    ("task of a class", lambda: env.task(type("K", (), {})), (AttributeError, TypeError), ("@env.task", "K", "def or async def")),
    ("image env vars str", lambda: flyte.Image.from_debian_base().with_env_vars("A=1"), (AttributeError, TypeError), ("with_env_vars", "'A=1'", "dict of str to str")),
    ("requirements int", lambda: flyte.Image.from_debian_base().with_requirements(5), (AttributeError, TypeError), ("file", "5", "requirements file")),
    ("trigger inputs list", lambda: flyte.Trigger("t", flyte.Cron("0 * * * *"), inputs=[1]), (AttributeError, TypeError), ("Trigger.inputs", "[1]", "dict of input name")),
    # -- required arguments, plugin_config, Backoff ----------------------------------------------
    ("uv script without name", lambda: flyte.Image.from_uv_script("script.py"), (TypeError,), ("name",)),
    ("override plugin_config", lambda: one.override(plugin_config=5), (ValueError, PluginNotFoundError), ("plugin_config", "5", "accepted")),
    ("backoff without base", lambda: flyte.Backoff(), (TypeError,), ("base",)),
    ("backoff factor without cap", lambda: flyte.Backoff(base=timedelta(seconds=1), factor=2.0), (ValueError,), ("Backoff.cap", "None", "factor (2) is above 1")),
]  # fmt: skip


@pytest.mark.parametrize(("call", "kinds", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_raises_the_reference_class_naming_parameter_value_and_accepted(
    call: Callable[[], Any], kinds: tuple[type[BaseException], ...], needles: tuple[str, ...]
) -> None:
    with pytest.raises(kinds[0]) as raised:
        call()
    for kind in kinds:
        assert isinstance(raised.value, kind), f"{type(raised.value).__mro__} is not a {kind}"
    for needle in needles:
        assert needle in str(raised.value), f"{needle!r} not in {str(raised.value)!r}"


def test_the_values_the_reference_sdk_accepts_still_work() -> None:
    assert flyte.Resources(cpu=(1, 2), memory=("1Gi", "2Gi"), disk="10Gi", shm="auto").memory == ("1Gi", "2Gi")
    assert flyte.Resources(gpu="A100_80G:2").device == flyte.GPU("A100 80G", 2)
    assert flyte.Resources(gpu="Trn1:4").device == flyte.Device(quantity=4, device_class="NEURON", device="Trn1")
    assert flyte.Resources(gpu="MI300X:1").device.device_class == "AMD_GPU"
    assert flyte.Resources(gpu="Gaudi1:1").device.device_class == "HABANA_GAUDI"
    assert flyte.Resources(gpu="Inf1:16").device.quantity == 16
    assert flyte.Resources(gpu=16).device.quantity == 16  # a bare count is any GPU, as many as asked
    # A secret's default environment variable is GROUP_KEY, upper-cased, '-' as '_' (as the reference's).
    assert flyte.Secret(key="api-key", group="openai").env_var == "OPENAI_API_KEY"
    assert flyte.Secret(key="my_secret").env_var == "MY_SECRET"
    # A key that makes no variable name is fine when it is mounted or named explicitly.
    assert flyte.Secret(key="tls.crt", mount="/etc/flyte/secrets").path == "/etc/flyte/secrets/tls.crt"
    assert flyte.Secret(key="tls.crt", as_env_var="TLS_CRT").env_var == "TLS_CRT"
    assert flyte.TaskEnvironment(name="cache_words", cache="auto").cache == "auto"
    assert flyte.TaskEnvironment(name="cache_off", cache=False).cache is False
    assert flyte.TaskEnvironment(name="deps", depends_on=[other_env]).depends_on == (other_env,)
    # The service account the reusable environment has is no change; other settings still vary per task.
    assert pool.task(service_account="pool-sa", retries=2)(_plain).spec.retries.count == 2


def test_backoff_is_the_reference_sdks_constant_wait_unless_a_factor_and_cap_are_given() -> None:
    constant = flyte.RetryStrategy(count=3, backoff=flyte.Backoff(base=timedelta(seconds=10)))
    assert [constant.delay(n) for n in range(3)] == [timedelta(seconds=10)] * 3
    growing = flyte.Backoff(base=timedelta(seconds=10), factor=2.0, cap=timedelta(seconds=30))
    assert [growing.delay(n).total_seconds() for n in range(4)] == [10, 20, 30, 30]
    assert flyte.Backoff(base=0).delay(5) == timedelta(0)  # no wait, as the reference SDK allows
    with pytest.raises(ConfigurationError, match=r"Backoff\.cap: datetime.timedelta\(seconds=1\) is below base"):
        flyte.Backoff(base=5, cap=1)


def test_a_plain_call_of_a_task_raises_its_error_as_the_reference_sdk_does() -> None:
    # Outside a run a task is a plain call; its error is still its own type and, as with the
    # reference SDK, a RuntimeUserError whose code is the type's name.
    with pytest.raises(TypeError) as bad_call:
        asyncio.run(one(y=1))
    assert isinstance(bad_call.value, RuntimeUserError) and bad_call.value.code == "TaskCallError"
    assert "unexpected keyword argument 'y' (accepted: (x: int = 1))" in str(bad_call.value)
    with pytest.raises(ValueError, match="refused 3") as body:
        refuses(3)
    assert isinstance(body.value, RuntimeUserError) and body.value.code == "ValueError"
    with pytest.raises(TypeError, match="unsupported operand") as body_type:
        adds_badly(1)
    assert body_type.value.code == "TypeError" and not isinstance(body_type.value, TaskCallError)
    with pytest.raises(TaskCallError, match=r"adds_badly: missing a required argument: 'x'|too many"):
        adds_badly(1, 2)
    assert asyncio.run(one(2)) == 2 and refuses.func is not None


def test_a_plugin_refuses_settings_its_engine_cannot_run_together_when_the_task_is_defined() -> None:
    import types

    import attrs

    from flyte.errors import PluginConfigurationError
    from flyte.extend import TaskPlugin, hookimpl
    from flyte.plugins import PluginRegistry, use_registry

    @attrs.frozen
    class Engine:
        workers: int

    seen: list[str] = []

    def check(spec: Any) -> None:
        seen.append(spec.name)
        if spec.reusable is not None and spec.plugin_config.workers > 1:
            raise PluginConfigurationError(
                f"{spec.name}: workers={spec.plugin_config.workers} (accepted: 1 when reusable)"
            )

    module = types.ModuleType("engine_plugin")
    module.flyte_task_plugins = hookimpl(lambda: [TaskPlugin(config_type=Engine, check=check)])
    registry = PluginRegistry()
    registry.register(module, "engine", distribution="engine-dist")
    with use_registry(registry):
        pooled = flyte.TaskEnvironment(
            name="engine_pool", plugin_config=Engine(2), reusable=flyte.ReusePolicy(replicas=1)
        )

        async def body() -> int:
            return 1

        with pytest.raises(
            PluginConfigurationError, match=r"engine_pool.body: workers=2 \(accepted: 1 when reusable\)"
        ) as refused:
            pooled.task(body)
        assert isinstance(refused.value, ValueError) and isinstance(refused.value, RuntimeUserError)
        assert refused.value.code == "BadConfiguration"
        fine = flyte.TaskEnvironment(name="engine_plain", plugin_config=Engine(2)).task(body)
        with pytest.raises(PluginConfigurationError):  # an override is checked too
            fine.override(reusable=flyte.ReusePolicy(replicas=1))
        assert fine.override(
            plugin_config=Engine(1), reusable=flyte.ReusePolicy(replicas=1)
        ).spec.plugin_config == Engine(1)
    assert seen[0] == "engine_pool.body" and "engine_plain.body" in seen


# What each error class shared with the reference SDK's flyte.errors derives from there (its
# builtin and flyte.errors bases), so ``except``/``pytest.raises`` of any of them catches ours.
REFERENCE_BASES = {
    "ActionAbortedError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "ActionNotFoundError": ("RuntimeError",),
    "BaseRuntimeError": ("RuntimeError",),
    "CustomError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "DeadlineExceededError": ("TaskTimeoutError", "RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "ImageBuildError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "InitializationError": ("BaseRuntimeError", "RuntimeError"),
    "InlineIOMaxBytesBreached": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "MaxQueuedTimeExceededError": ("TaskTimeoutError", "RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "MaxRuntimeExceededError": ("TaskTimeoutError", "RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "ModuleLoadError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "NonRecoverableError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "NotInTaskContextError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "OOMError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "PrimaryContainerNotFoundError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "RemoteTaskNotFoundError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "RetriesExhaustedError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "RuntimeDataValidationError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "RuntimeSystemError": ("BaseRuntimeError", "RuntimeError"),
    "RuntimeUnknownError": ("BaseRuntimeError", "RuntimeError"),
    "RuntimeUserError": ("BaseRuntimeError", "RuntimeError"),
    "TaskInterruptedError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
    "TaskTimeoutError": ("RuntimeUserError", "BaseRuntimeError", "RuntimeError"),
}


@pytest.mark.parametrize(("name", "bases"), sorted(REFERENCE_BASES.items()))
def test_an_error_class_derives_from_what_it_derives_from_in_the_reference_sdk(name: str, bases: tuple[str, ...]):
    import builtins

    ours = getattr(flyte.errors, name)
    for base in bases:
        expected = getattr(flyte.errors, base, None) or getattr(builtins, base)
        assert issubclass(ours, expected), f"{name} is not a {base}"


def test_timeouts_and_output_types_keep_their_own_bases_and_a_code():
    from flyte.errors import MaxRuntimeExceededError, OutputTypeError, RuntimeDataValidationError

    timeout = MaxRuntimeExceededError("t: attempt 1 ran longer than 1s")
    assert isinstance(timeout, TimeoutError) and timeout.code == "MaxRuntimeExceededError"
    assert str(timeout) == "t: attempt 1 ran longer than 1s"  # not OSError's "[Errno ...]"
    wrong = OutputTypeError("t: returned str 'a', but its return annotation is int", task="t", expected="int")
    assert isinstance(wrong, RuntimeDataValidationError) and isinstance(wrong, TypeError)


def test_a_bad_call_of_a_task_inside_another_is_a_runtime_user_error_as_in_the_reference_sdk():
    from flyte.errors import InputTypeError

    flyte.init()

    @env.task
    async def calls_badly(how: str) -> int:
        if how == "type":
            return await one("nope")
        return await one(1, 2)

    with pytest.raises(RuntimeUserError) as wrong_type:
        flyte.run(calls_badly, "type")
    assert isinstance(wrong_type.value, InputTypeError) and isinstance(wrong_type.value, TypeError)
    assert "input 'x' expects int, got str 'nope'" in str(wrong_type.value)
    with pytest.raises(RuntimeUserError) as too_many:
        flyte.run(calls_badly, "arity")
    assert isinstance(too_many.value, TaskCallError) and "too many positional arguments" in str(too_many.value)


def _error_classes() -> dict[str, type[BaseException]]:
    import inspect

    return {
        name: cls
        for name, cls in inspect.getmembers(flyte.errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == "flyte.errors"
    }


def _made(cls: type[BaseException]) -> BaseException:
    """An instance with a distinct value for each parameter its constructor requires."""
    import inspect

    args, kwargs = [], {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(f"{p.name}-value")
        elif p.default is p.empty and p.kind is p.KEYWORD_ONLY:
            kwargs[p.name] = f"{p.name}-value"
    return cls(*args, **kwargs)


@pytest.mark.parametrize("name", sorted(_error_classes()))
def test_an_error_class_pickles_with_its_fields(name: str):
    # A reusable environment's worker process hands its task's error back pickled: a class
    # that does not come back whole arrives as another class, its code lost.
    import pickle

    cls = _error_classes()[name]
    error = _made(cls)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cls
    assert (str(back), back.args, back.__dict__) == (str(error), error.args, error.__dict__)


reuses = flyte.TaskEnvironment(
    name="reference_error_classes_reuses", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=60)
)
catcher = flyte.TaskEnvironment(name="reference_error_classes_catcher", depends_on=[reuses])


@reuses.task
def raises_coded(kind: str) -> int:
    if kind == "custom":
        raise flyte.errors.CustomError("MyCode", "custom failure")
    raise flyte.errors.OOMError("OOMKilled", "out of memory")


@catcher.task
def catches_coded(kind: str) -> str:
    try:
        raises_coded(kind)
    except RuntimeUserError as failure:
        return f"{type(failure).__name__} {failure.code}: {failure}"
    return "no error"


def test_a_coded_error_raised_in_a_reusable_environments_worker_reaches_the_caller_as_raised():
    flyte.init()
    assert flyte.run(catches_coded, "custom").outputs()[0] == "CustomError MyCode: custom failure"
    assert flyte.run(catches_coded, "oom").outputs()[0] == "OOMError OOMKilled: out of memory"
