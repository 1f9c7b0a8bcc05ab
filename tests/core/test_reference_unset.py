"""What the reference SDK (2.12.1) reads as "not set", read the same way here: ``None`` at the
task and override levels and in ``clone_with``, and a zero timeout. Code written for it that
passes them (forwarding optional arguments, ``timeout=0`` as its default) behaves the same."""

from __future__ import annotations

import sys
import textwrap
from datetime import timedelta

import pytest
from click.testing import CliRunner

import flyte
import flyte.errors
from flyte.cli.main import build_cli
from flyte.clustered import ClusteredTaskEnvironment
from flyte.render.context import RenderContext
from flyte.render.render import render_task

dep = flyte.TaskEnvironment(name="unset_dep")
env = flyte.TaskEnvironment(
    name="unset",
    resources=flyte.Resources(cpu=1),
    env_vars={"A": "1"},
    secrets="k",
    cache="auto",
    queue="q",
    interruptible=True,
    pod_template="base",
    description="d",
    image="python:3.12",
    depends_on=[dep],
)


@env.task(retries=2, timeout=10, short_name="sn", max_inline_io_bytes=1000, queue="q2", report=True)
def configured(x: int) -> int:
    return x


plain = flyte.TaskEnvironment(name="unset_plain")  # (no secret to create: its tasks run)


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


# -- timeout=0 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zero", [0, 0.0, timedelta(0)])
def test_a_zero_timeout_is_no_timeout(zero):
    @env.task(timeout=zero)
    def unbounded() -> None: ...

    assert unbounded.spec.timeout is None
    assert unbounded.timeout == zero  # read back as given, as on the reference SDK
    assert flyte.Timeout(max_runtime=zero, max_queued_time=zero, deadline=zero) == flyte.Timeout()


def test_a_zero_timeout_in_an_override_keeps_the_tasks_timeout():
    # The reference's override is `timeout or self.timeout`: 0 (and None) override nothing.
    assert configured.override(timeout=0).spec.timeout == configured.spec.timeout
    assert configured.override(timeout=0).timeout == 10
    # A Timeout whose limits are zero is an override: to no limit.
    assert configured.override(timeout=flyte.Timeout(max_runtime=0)).spec.timeout.max_runtime is None


@plain.task(timeout=0)
def sleeps_a_little() -> str:
    import time

    time.sleep(0.2)
    return "done"


def test_a_task_with_timeout_zero_runs_without_a_limit():
    assert flyte.run(sleeps_a_little).outputs() == "done"


@pytest.mark.parametrize("bad", [-1, timedelta(seconds=-1), float("nan"), True])
def test_a_negative_or_non_duration_timeout_is_still_refused(bad):
    with pytest.raises((TypeError, ValueError), match="timeout"):
        env.task(timeout=bad)(lambda: None)


# -- None at the task and override levels -------------------------------------------------------

OVERRIDABLE = [
    "short_name",
    "resources",
    "cache",
    "retries",
    "timeout",
    "reusable",
    "env_vars",
    "secrets",
    "max_inline_io_bytes",
    "pod_template",
    "queue",
    "interruptible",
    "links",
    "plugin_config",
    "entrypoint",
]


@pytest.mark.parametrize("param", OVERRIDABLE)
def test_override_with_none_keeps_the_tasks_value(param):
    assert configured.override(**{param: None}).spec == configured.spec


def test_override_with_none_beside_a_real_override():
    overridden = configured.override(retries=5, cache=None, queue=None)
    assert overridden.spec.retries.count == 5
    assert overridden.spec.cache == configured.spec.cache and overridden.spec.queue == "q2"


DECORATOR = [
    "short_name",
    "cache",
    "retries",
    "timeout",
    "docs",
    "pod_template",
    "report",
    "interruptible",
    "max_inline_io_bytes",
    "queue",
    "triggers",
    "links",
    "entrypoint",
]


@pytest.mark.parametrize("param", DECORATOR)
def test_a_decorator_setting_given_as_none_is_not_set(param):
    def plain(x: int) -> int:
        """Doc."""
        return x

    given_none = env.task(**{param: None})(plain)
    env._tasks.clear()  # (the same name again, on purpose)
    unset = env.task(plain)
    env._tasks.clear()
    assert given_none.spec == unset.spec


def test_none_in_the_decorator_inherits_the_environments_settings():
    @env.task(cache=None, queue=None, interruptible=None)
    def inherits() -> None: ...

    assert inherits.spec.cache.behavior == "auto"
    assert inherits.spec.queue == "q" and inherits.spec.interruptible is True


# -- clone_with ----------------------------------------------------------------------------------

CLONABLE = [
    "image",
    "resources",
    "env_vars",
    "secrets",
    "depends_on",
    "description",
    "cache",
    "queue",
    "interruptible",
    "pod_template",
    "plugin_config",
]


@pytest.mark.parametrize("param", CLONABLE)
def test_clone_with_none_keeps_the_originals_value(param):
    clone = env.clone_with("unset_clone", **{param: None})
    assert clone.settings == env.settings
    assert clone.depends_on == env.depends_on
    assert getattr(clone, param) == getattr(env, param)


def test_clone_with_reusable_none_makes_a_copy_that_is_not_reusable():
    pooled = flyte.TaskEnvironment(name="unset_pool", reusable=flyte.ReusePolicy(replicas=2))
    assert pooled.clone_with("unset_unpooled", reusable=None).reusable is None
    assert pooled.clone_with("unset_pooled").reusable == pooled.reusable


def test_clustered_clone_with_none_keeps_the_originals_value():
    clustered = ClusteredTaskEnvironment(name="unset_gang", replicas=3, nproc_per_node=2, queue="q")
    clone = clustered.clone_with("unset_gang2", replicas=None, queue=None)
    assert (clone.replicas, clone.nproc_per_node, clone.queue) == (3, 2, "q")


# -- a task whose function no module holds ------------------------------------------------------


def made_by_exec(namespace: dict) -> flyte.TaskTemplate:
    exec(
        textwrap.dedent(
            """
            @env.task
            def generated(x: int) -> int:
                return x
            """
        ),
        namespace,
    )
    env_ = namespace["env"]
    task = namespace["generated"]
    env_._tasks.clear()
    return task


def test_rendering_a_task_made_by_exec_names_what_is_missing():
    no_module = made_by_exec({"env": plain})  # no __name__: its __module__ is None
    with pytest.raises(flyte.errors.RenderError, match=r"unset_plain.generated: its function generated has no module"):
        render_task(no_module, RenderContext())
    unknown = made_by_exec({"env": plain, "__name__": "nowhere"})
    assert "nowhere" not in sys.modules
    with pytest.raises(flyte.errors.RenderError, match=r"module 'nowhere', which is not .*define the task in a \.py"):
        render_task(unknown, RenderContext())
    assert flyte.run(no_module, 3).outputs() == 3  # it still runs here


def test_flyte_render_of_a_file_that_makes_a_task_by_exec(tmp_path, monkeypatch):
    (tmp_path / "dyn.py").write_text(
        textwrap.dedent(
            """
            import flyte

            env = flyte.TaskEnvironment(name="dyn")
            namespace = {"env": env}
            exec("@env.task\\ndef made(x: int) -> int:\\n    return x\\n", namespace)
            made = namespace["made"]
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(build_cli(), ["render", "dyn.py", "made"])
    assert result.exit_code != 0
    assert "dyn.made: its function made has no module" in result.output
    assert "AttributeError" not in result.output


def test_a_file_loaded_by_importlib_without_registering_it_still_renders(tmp_path):
    # spec_from_file_location + exec_module, never put in sys.modules: how test harnesses load
    # an example file. Its function's source is on disk, so it renders as it always did.
    import importlib.util

    (tmp_path / "loaded_example.py").write_text(
        textwrap.dedent(
            """
            import flyte

            env = flyte.TaskEnvironment(name="unset_loaded")

            @env.task
            def work(x: int) -> int:
                return x
            """
        )
    )
    spec = importlib.util.spec_from_file_location("loaded_under_another_name", tmp_path / "loaded_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "loaded_under_another_name" not in sys.modules
    (obj,) = render_task(module.work, RenderContext())
    assert obj["kind"] == "Job"
    assert flyte.run(module.work, 4).outputs() == 4
