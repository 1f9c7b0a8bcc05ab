"""The rest of the reference SDK's everyday API: init parameters, flyte.map, flyte.group,
flyte.trace, flyte.ctx, custom_context, flyte.deploy, device helpers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

import flyte
import flyte.errors
from flyte.cli.main import build_cli

env = flyte.TaskEnvironment(name="refapi")


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


# -- init ---------------------------------------------------------------------------------------
def test_init_accepts_the_reference_sdks_client_options_and_refuses_a_remote_endpoint():
    flyte.init(org="acme", project="p", domain="d", log_format="json", batch_size=10, image_builder="remote")
    with pytest.raises(flyte.errors.InitializationError, match="endpoint"):
        flyte.init(endpoint="dns:///flyte.example.com")
    with pytest.raises(TypeError, match="did you mean `project`"):
        flyte.init(projet="p")
    with pytest.raises(flyte.errors.ConfigurationError, match="secret_source='vault'.*accepted: store, environment"):
        flyte.init(secret_source="vault")


# flyte.init's parameters in the reference SDK 2.12.1 (inspect.signature), the remote ones aside.
REFERENCE_INIT_OPTIONS = (
    "auth_client_config", "auth_type", "batch_size", "ca_cert_file_path", "disable_keyring", "headless",
    "http_proxy_url", "image_builder", "image_registry", "images", "insecure", "insecure_skip_verify",
    "load_plugin_type_transformers", "local_persistence", "local_tracked", "local_tracked_strict", "log_format",
    "org", "reset_root_logger", "rpc_retries", "scopes", "source_config_path", "sync_local_sys_paths",
    "user_log_level",
)  # fmt: skip


@pytest.mark.parametrize("name", REFERENCE_INIT_OPTIONS)
def test_init_accepts_every_client_option_of_the_reference_sdk(name):
    flyte.init(**{name: None})


def test_init_from_config_takes_the_path_positionally_or_by_keyword(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("task:\n  project: from-file\n")
    flyte.init_from_config(str(config))
    flyte.init_from_config(path=config, root_dir=tmp_path)
    assert "running locally" in capsys.readouterr().err
    from flyte.runtime import settings

    assert settings.current().project == "from-file"
    flyte.init_from_config(config, project="override")
    assert settings.current().project == "override"


# -- map ----------------------------------------------------------------------------------------
running = {"now": 0, "peak": 0}
lock = threading.Lock()


@env.task
def slow_square(x: int) -> int:
    with lock:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
    time.sleep(0.05)
    with lock:
        running["now"] -= 1
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


@env.task
def scale(x: int, factor: int) -> int:
    return x * factor


@env.task
def sync_mapper(xs: list[int], concurrency: int) -> list[int]:
    return list(flyte.map(slow_square, xs, concurrency=concurrency))


@env.task
async def async_mapper(xs: list[int]) -> list[object]:
    out = []
    async for r in flyte.map.aio(slow_square, xs, group_name="squares"):
        out.append(r if not isinstance(r, Exception) else f"error: {r}")
    return out


@env.task
def partial_mapper(xs: list[int]) -> list[int]:
    return list(flyte.map(functools.partial(scale, factor=3), xs))


@env.task
def strict_mapper(xs: list[int]) -> list[int]:
    return list(flyte.map(slow_square, xs, return_exceptions=False))


def test_map_runs_the_calls_concurrently_in_order_and_bounded_by_concurrency():
    running["peak"] = 0
    run = flyte.run(sync_mapper, xs=list(range(8)), concurrency=2)
    assert run.outputs() == [x * x for x in range(8)]
    assert running["peak"] == 2
    children = [a for a in run.actions() if a.task == "refapi.slow_square"]
    assert len(children) == 8 and {a.group for a in children} == {"map_slow_square"}


def test_map_aio_yields_exceptions_in_place_by_default():
    run = flyte.run(async_mapper, xs=[1, -2, 3])
    assert run.outputs() == [1, "error: negative: -2", 9]
    assert {a.group for a in run.actions() if a.parent} == {"squares"}


def test_map_with_partial_and_without_return_exceptions():
    assert flyte.run(partial_mapper, xs=[1, 2]).outputs() == [3, 6]
    with pytest.raises(ValueError, match="negative: -1"):
        flyte.run(strict_mapper, xs=[1, -1])


@env.task
async def async_body_sync_map(xs: list[int]) -> list[int]:
    return list(flyte.map(scale, xs, [10] * len(xs), group_name="scaled"))


@env.task(timeout=30)
def timed_scale(x: int, factor: int) -> int:
    return x * factor


@env.task
async def async_body_sync_child_in_group(x: int) -> int:
    with flyte.group("g"):
        return timed_scale(x, 2)  # a sync child with a time limit: run on a private loop


def test_a_sync_map_in_an_async_body_records_its_calls_as_the_runs_actions():
    run = flyte.run(async_body_sync_map, xs=[1, 2, 3])
    assert run.outputs() == [10, 20, 30]
    children = [a for a in run.actions() if a.parent]
    assert [a.task for a in children] == ["refapi.scale"] * 3
    assert {a.group for a in children} == {"scaled"} and {a.phase for a in children} == {"SUCCEEDED"}


def test_a_sync_child_run_on_a_private_loop_keeps_its_callers_group():
    run = flyte.run(async_body_sync_child_in_group, x=4)
    assert run.outputs() == 8
    (child,) = [a for a in run.actions() if a.parent]
    assert child.task == "refapi.timed_scale" and child.group == "g"


def test_map_outside_a_run_calls_the_functions_and_rejects_bad_arguments():
    assert list(flyte.map(scale, [1, 2], [10, 100])) == [10, 200]
    with pytest.raises(ValueError, match="concurrency=-1"):
        flyte.map(scale, [1], concurrency=-1)


# -- group, trace, ctx --------------------------------------------------------------------------
@flyte.trace
async def fetch(url: str) -> str:
    await asyncio.sleep(0)
    if "bad" in url:
        raise ConnectionError(f"cannot reach {url}")
    return f"<html>{url}</html>"


@flyte.trace
def parse(html: str) -> int:
    return len(html)


@env.task
async def grouped_and_traced() -> dict:
    with flyte.group("stage-1"):
        values = await asyncio.gather(*(slow_square.aio(i) for i in range(2)))
        with flyte.group("inner"):
            inner = await slow_square.aio(5)
    page = await fetch("a.example")
    with contextlib.suppress(ConnectionError):
        await fetch("bad.example")
    context = flyte.ctx()
    return {
        "values": values,
        "inner": inner,
        "size": parse(page),
        "task": context.task_name,
        "run": context.action.run_name,
        "attempt": context.attempt,
        "custom": context.custom_context,
    }


def test_groups_traces_and_the_task_context_are_recorded():
    with flyte.custom_context(team="ml"):
        run = flyte.run(grouped_and_traced)
    out = run.outputs()[0]
    assert out["values"] == [0, 1] and out["inner"] == 25 and out["size"] == len("<html>a.example</html>")
    assert out["task"] == "refapi.grouped_and_traced" and out["run"] == run.name and out["attempt"] == 1
    assert out["custom"] == {"team": "ml"}
    actions = run.actions()
    groups = {a.group for a in actions if a.task == "refapi.slow_square"}
    assert groups == {"stage-1", "stage-1/inner"}
    traces = [a for a in actions if a.task.startswith("trace:")]
    assert [(a.short_name, a.phase) for a in traces] == [
        ("fetch", "SUCCEEDED"),
        ("fetch", "FAILED"),
        ("parse", "SUCCEEDED"),
    ]
    assert "cannot reach bad.example" in traces[1].error
    assert all(a.parent == actions[0].id for a in traces)


def test_outside_a_task_trace_is_a_plain_call_and_ctx_is_none():
    assert parse("abc") == 3
    assert asyncio.run(fetch("x")) == "<html>x</html>"
    assert flyte.ctx() is None
    with pytest.raises(ValueError, match="flyte.group"), flyte.group(""):
        pass


# -- deploy -------------------------------------------------------------------------------------
deploy_env = flyte.TaskEnvironment(name="deploy_env")
app_env = flyte.TaskEnvironment(name="deploy_app", depends_on=[deploy_env])


@deploy_env.task(triggers=flyte.Trigger.hourly())
def hourly(trigger_time: datetime | None = None) -> str:
    return "ok"


@app_env.task
def app() -> str:
    return "app"


def test_deploy_records_every_reachable_environment_with_content_versions():
    first = flyte.deploy(app_env)
    assert [d.env_name for d in first] == ["deploy_app", "deploy_env"]
    (task,) = first[1].tasks
    assert task.name == "deploy_env.hourly" and task.triggers == ("hourly",)
    again = flyte.deploy(app_env)
    assert again[1].tasks[0].version == task.version  # same content, same version
    changed = flyte.deploy(
        app_env.clone_with(name="deploy_app", env_vars={"A": "1"}) if False else app_env, version="v2"
    )
    assert changed[0].tasks[0].version == "v2"
    from flyte._deploy import deployments

    rows = deployments()
    assert {(r["task"], r["version"]) for r in rows} >= {("deploy_env.hourly", task.version), ("deploy_app.app", "v2")}


def test_deploy_dry_run_renders_without_recording(tmp_path):
    from flyte._deploy import deployments

    (dry, _) = flyte.deploy(app_env, dryrun=True)
    assert [o["kind"] for o in dry.objects] == ["Job"]
    assert deployments() == []
    with pytest.raises(TypeError, match="TaskEnvironment"):
        flyte.deploy("deploy_env")


def test_flyte_deploy_cli(tmp_path, monkeypatch):
    code = tmp_path / "tasks_to_deploy.py"
    code.write_text(
        "import flyte\n"
        "env = flyte.TaskEnvironment(name='cli_deploy')\n"
        "@env.task(triggers=flyte.Trigger.daily())\n"
        "def nightly(trigger_time: __import__('datetime').datetime | None = None) -> str:\n"
        "    return 'x'\n"
    )
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(build_cli(), ["deploy", str(code), "env"])
    assert result.exit_code == 0, result.output
    assert "cli_deploy.nightly" in result.output and "triggers: daily" in result.output
    listed = runner.invoke(build_cli(), ["deploy", "--list"])
    assert "cli_deploy.nightly" in listed.output


# -- devices ------------------------------------------------------------------------------------
def test_other_accelerators():
    assert flyte.AMD_GPU("MI300X").device_class == "AMD_GPU"
    assert flyte.Neuron("Trn1", quantity=2).quantity == 2
    assert flyte.HABANA_GAUDI("Gaudi1").device_class == "HABANA_GAUDI"
    with pytest.raises(ValueError, match="AMD_GPU.device: 'MI999'"):
        flyte.AMD_GPU("MI999")
    assert flyte.Resources(gpu=flyte.Neuron("Inf2")).device.device == "Inf2"
    assert flyte.version() == flyte.__version__
    assert flyte.Environment is flyte.TaskEnvironment


@env.task
async def plus_one(x: int) -> int:
    return x + 1


def test_run_aio_from_async_code():
    async def main() -> list[int]:
        first = await flyte.run.aio(plus_one, 1)
        second = await flyte.with_runcontext(custom_context={"k": "v"}).run.aio(plus_one, x=2)
        return [first.outputs()[0], second.outputs()[0]]

    assert asyncio.run(main()) == [2, 3]


def test_entrypoint_marks_a_task_and_changes_nothing_else():
    marked = flyte.TaskEnvironment(name="marked")

    @marked.task(entrypoint=True)
    def main() -> str:
        return "hi"

    assert main.spec.entrypoint and not main.override(entrypoint=False).spec.entrypoint
    assert flyte.run(main).outputs() == "hi"
    (deployment,) = flyte.deploy(marked, dryrun=True)
    assert "(entrypoint)" in deployment.summary_repr()
    with pytest.raises(flyte.errors.LevelError, match="entrypoint"):
        flyte.TaskEnvironment(name="unmarked", entrypoint=True)


def test_with_uv_project_installs_the_locked_dependencies(tmp_path):
    from flyte.render.dockerfile import context_files, dockerfile

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "0.1"\ndependencies = ["requests"]\n')
    unlocked = flyte.Image.from_debian_base(name="app").with_uv_project(tmp_path / "pyproject.toml")
    assert "--frozen" not in dockerfile(unlocked)  # no lock: uv resolves the pyproject at build time
    (tmp_path / "uv.lock").write_text("version = 1\n")
    locked = flyte.Image.from_debian_base(name="app").with_uv_project(
        tmp_path / "pyproject.toml", extra_args="--group test"
    )
    text = dockerfile(locked)
    assert "uv export --no-hashes --no-editable --frozen --no-emit-project --group test" in text
    assert set(context_files(locked)) == {"uvproject-0/pyproject.toml", "uvproject-0/uv.lock"}
    assert locked.uri != unlocked.uri  # the lock is part of the image's identity
    (tmp_path / "uv.lock").write_text("version = 1\n# changed\n")
    relocked = flyte.Image.from_debian_base(name="app").with_uv_project(
        tmp_path / "pyproject.toml", extra_args="--group test"
    )
    assert relocked.uri != locked.uri
    with pytest.raises(ValueError, match="pyproject_file"):
        flyte.Image.from_debian_base(name="app").with_uv_project(tmp_path / "missing.toml")


@env.task
def scope() -> str:
    return f"{flyte.current_project()}/{flyte.current_domain()}"


def test_current_project_and_domain_come_from_init_and_inside_a_task_from_its_context():
    """The reference SDK's flyte.current_project()/current_domain() (dynamic environments pick
    settings by domain): init's values, the local defaults before any init."""
    assert (flyte.current_project(), flyte.current_domain()) == ("default", "development")
    flyte.init(project="shop", domain="production")
    assert (flyte.current_project(), flyte.current_domain()) == ("shop", "production")
    assert flyte.run(scope).outputs() == "shop/production"


def test_config_from_root_finds_the_repositorys_config_file(tmp_path, monkeypatch):
    """flyte.init_from_config(flyte.git.config_from_root()), as the public dataframes example
    starts: the file under the git root, from any folder inside the repository."""
    import flyte.git

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "pkg").mkdir(parents=True)
    monkeypatch.chdir(repo / "src" / "pkg")
    assert flyte.git.config_from_root() is None  # no .flyte/config.yaml yet
    (repo / ".flyte").mkdir()
    (repo / ".flyte" / "config.yaml").write_text("task:\n  project: from-git\n")
    found = flyte.git.config_from_root()
    assert found == repo / ".flyte" / "config.yaml"
    flyte.init_from_config(found)
    assert flyte.current_project() == "from-git"
    monkeypatch.chdir(tmp_path)  # outside any repository
    assert flyte.git.config_from_root() is None
    with pytest.raises(TypeError, match=r"config_from_root: path=3 is not valid \(accepted: a path"):
        flyte.git.config_from_root(3)


# -- the reference SDK's TaskContext fields ---------------------------------------------------------
context_env = flyte.TaskEnvironment(name="ctx_fields")
SEEN: list[dict] = []


@context_env.task(retries=2)
def flaky_context() -> int:
    context = flyte.ctx()
    SEEN.append(
        {
            "attempt_number": context.attempt_number,
            "attempt": context.attempt,
            "output_path": context.output_path,
            "run_base_dir": context.run_base_dir,
            "action": context.action.name,
            "task_action": context.task_action,
            "run_start_time": context.run_start_time,
            "disable_run_cache": context.disable_run_cache,
            "version": context.version,
            "input_path": context.input_path,
            "interactive_mode": context.interactive_mode,
        }
    )
    if context.attempt_number < 1:
        raise ConnectionError("first attempt fails")
    return context.attempt_number


def test_the_reference_sdks_context_fields_read_as_it_gives_them_locally():
    SEEN.clear()
    before = datetime.now(UTC)
    run = flyte.with_runcontext(disable_run_cache=True).run(flaky_context)
    assert run.outputs()[0] == 1
    first, second = SEEN
    assert (first["attempt_number"], second["attempt_number"]) == (0, 1)  # from 0, as FLYTE_ATTEMPT_NUMBER
    assert second["attempt"] == 2
    assert first["output_path"] == f"{first['run_base_dir']}/{first['action']}"
    assert first["task_action"].name == first["action"]
    start = first["run_start_time"]
    assert start.tzinfo is UTC and before.timestamp() - 1 <= start.timestamp() <= datetime.now(UTC).timestamp()
    assert second["run_start_time"] == start  # the run's, not the attempt's
    assert first["disable_run_cache"] is True
    assert (first["version"], first["input_path"], first["interactive_mode"]) == ("", None, False)
