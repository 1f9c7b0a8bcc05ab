"""Kubernetes names are normalised (lower case, '-' for '_'), so distinct environments, tasks
or triggers can end up with one object name, and one object would silently replace the other on
the cluster. Such names are refused where they meet (depends_on, a deploy, a render), naming
both; a render never emits two objects of one kind and name."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.errors import ConfigurationError, RenderError
from flyte.render.context import RenderContext
from flyte.render.render import render_environment, render_task, unique_objects


def _env_with_task(name: str, function: str = "job") -> flyte.TaskEnvironment:
    env = flyte.TaskEnvironment(name=name)

    def body() -> int:
        return 1

    body.__name__ = body.__qualname__ = function
    env.task(body)
    return env


def test_environments_whose_names_normalise_alike_cannot_be_linked():
    snake, kebab = _env_with_task("my_env"), _env_with_task("my-env")
    with pytest.raises(
        ConfigurationError, match="environments 'my_env' and 'my-env' have names that both become 'my-env'"
    ):
        flyte.TaskEnvironment(name="top", depends_on=[snake, kebab])
    top = flyte.TaskEnvironment(name="top", depends_on=[snake])
    with pytest.raises(ConfigurationError, match="'my_env' and 'my-env'"):
        top.add_dependency(kebab)
    assert top.depends_on == (snake,)  # the refused dependency was not added
    with pytest.raises(ConfigurationError, match="'same' and 'same' have the same name"):
        flyte.TaskEnvironment(name="both", depends_on=[_env_with_task("same"), _env_with_task("same")])


def test_a_deploy_of_colliding_environments_is_refused_before_anything_is_applied():
    flyte.init()
    snake, kebab = _env_with_task("my_env"), _env_with_task("my-env")
    with pytest.raises(ConfigurationError, match="'my_env' and 'my-env'"):
        flyte.deploy(snake, kebab)
    # Task names can collide too: environment x, task y_z and environment x_y, task z.
    with pytest.raises(RenderError, match=r"Job 'x-y-z' would be rendered twice, for task x_y.z and for task x.y_z"):
        flyte.deploy(_env_with_task("x_y", "z"), _env_with_task("x", "y_z"), dryrun=True)
    from flyte._deploy import deployments

    assert deployments() == []


def test_a_render_never_emits_two_objects_of_one_kind_and_name():
    inner = _env_with_task("x_y", "z")
    outer = flyte.TaskEnvironment(name="x", depends_on=[inner])

    @outer.task
    def y_z() -> int:
        return 1

    with pytest.raises(RenderError) as caught:
        render_environment(outer, RenderContext())
    assert "Job 'x-y-z' would be rendered twice, for task x.y_z and for task x_y.z" in str(caught.value)

    cron = flyte.Cron("0 * * * *")
    triggered = flyte.TaskEnvironment(name="triggered")

    @triggered.task(triggers=[flyte.Trigger("every_hour", cron), flyte.Trigger("every-hour", cron)])
    def hourly() -> int:
        return 1

    with pytest.raises(RenderError, match="trigger 'every_hour' of task triggered.hourly and for trigger 'every-hour'"):
        render_task(hourly, RenderContext())


def test_identical_duplicates_are_emitted_once_and_different_ones_refused():
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "a", "namespace": "ns"}}
    same = {**job, "metadata": dict(job["metadata"])}
    assert unique_objects([("t.one", job), ("t.two", same)]) == [job]
    other_kind = {**job, "kind": "CronJob"}
    other_namespace = {**job, "metadata": {"name": "a", "namespace": "elsewhere"}}
    assert len(unique_objects([("t.one", job), ("t.two", other_kind), ("t.three", other_namespace)])) == 3
    changed = {**job, "spec": {"backoffLimit": 1}}
    with pytest.raises(RenderError, match="Job 'a' would be rendered twice, for task t.one and for task t.two"):
        unique_objects([("t.one", job), ("t.two", changed)])


def test_flyte_render_reports_a_collision_in_one_line(tmp_path):
    source = tmp_path / "colliding_envs.py"
    source.write_text(
        textwrap.dedent("""
            import flyte

            inner = flyte.TaskEnvironment(name="x_y")
            outer = flyte.TaskEnvironment(name="x", depends_on=[inner])

            @inner.task
            def z() -> int:
                return 1

            @outer.task
            def y_z() -> int:
                return 1
        """)
    )
    result = CliRunner().invoke(build_cli(), ["render", str(source), "x"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: Job 'x-y-z' would be rendered twice")
    assert "Traceback" not in result.output
