"""A connector written for the reference SDK (``flyte.connectors``: AsyncConnector, ResourceMeta,
Resource, ConnectorRegistry, a TaskTemplate with AsyncConnectorExecutorMixin) runs on flyte's
connector runtime: results, failures, retries, timeouts and aborts (delete called), logs,
secrets, records, and a killed run's job cancelled from another process."""

from __future__ import annotations

import datetime
import hashlib
import inspect
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.connectors import AsyncConnector, ConnectorRegistry, Resource, ResourceMeta
from flyte.errors import (
    ConfigurationError,
    ConnectorError,
    ConnectorNotFoundError,
    LevelError,
    MaxRuntimeExceededError,
    OutputTypeError,
    PermanentConnectorError,
)
from flyte.extend import TaskTemplate
from flyte.models import NativeInterface
from flyte.remote import Run
from flyte.runtime import logs
from flyte.runtime import store as st
from waiting import wait_for

from .file_jobs import FileJobConfig, FileJobTask, all_jobs

HERE = Path(__file__).resolve().parent
TOKEN = "job-s3cret-value"


@pytest.fixture(autouse=True)
def local():
    flyte.init()


@pytest.fixture(autouse=True)
def own_connector_registry():
    """Connectors registered by a test (and entry points loaded) are forgotten after it."""
    saved = dict(ConnectorRegistry._REGISTRY)
    loaded = ConnectorRegistry._entry_points_loaded
    yield
    ConnectorRegistry._REGISTRY.clear()
    ConnectorRegistry._REGISTRY.update(saved)
    ConnectorRegistry._entry_points_loaded = loaded


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    return jobs


def make(folder: Path, scripts, name: str = "crunch", outputs=None, inputs=None, declared=None, **settings):
    return FileJobTask(
        name=name,
        plugin_config=FileJobConfig(
            folder=str(folder), scripts=scripts, outputs=outputs, message=settings.pop("message", "")
        ),
        inputs=inputs if inputs is not None else {"day": str},
        outputs=declared if declared is not None else {"result": str},
        **settings,
    )


def only_run() -> Run:
    (run,) = Run.listall(limit=1)
    return run


def jobs_of(run: str) -> list[dict]:
    with st.reader() as conn:
        return [dict(row) for row in st.connector_jobs(conn, run)]


def test_a_parent_task_calls_the_connector_task_and_every_guarantee_holds(folder):
    from flyte.runtime import secret_store

    secret_store.create("job-token", TOKEN.encode())
    crunch = make(folder, [["QUEUED", 2, "RUNNING", "SUCCEEDED"]], outputs={"result": "42 rows"}, secrets=["job-token"])
    crunch.plugin_config.token_sha = hashlib.sha256(TOKEN.encode()).hexdigest()
    jobs = flyte.TaskEnvironment.from_task("jobs", crunch)
    env = flyte.TaskEnvironment("pipeline", depends_on=[jobs])

    @env.task
    async def main(day: str) -> str:
        return f"got {await crunch(day=day)}"

    run = flyte.run(main, day="2026-12-01")
    assert run.outputs()[0] == "got 42 rows"
    (job,) = all_jobs(folder)
    # What the connector received, as the reference hands it: the inputs, the task's custom
    # config in task_template.custom, its name and type, and the secrets by key as keywords.
    assert job["inputs"] == {"day": "2026-12-01"}
    assert (job["task"], job["type"]) == ("crunch", "file_job")
    assert job["secret_keys"] == ["job-token"] and job["secret_ok"] is True
    assert job["output_prefix"].endswith(f"/{run.name}/data")
    assert job["polls"] == 4 and job["deletes"] == 0
    # The runtime's record of the remote work names it; its log link is kept.
    (row,) = jobs_of(run.name)
    assert row["state"] == "SUCCEEDED" and job["id"] in row["metadata"] and "jobs.example" in row["log_links"]
    # The connector's log pages are in the task's log, the token it echoed masked.
    text = logs.recorded_log(run.name, row["action"], 1).read_text()
    assert f"[job {job['id']}] started" in text and f"[job {job['id']}] done" in text
    assert "using token ***" in text and TOKEN not in text
    assert TOKEN not in json.dumps(jobs_of(run.name))


def test_a_failed_phase_fails_the_task_with_the_connectors_message_and_is_not_retried(folder):
    crunch = make(folder, [["RUNNING", "FAILED"]], message="table sales does not exist", retries=2)
    with pytest.raises(PermanentConnectorError, match="table sales does not exist"):
        flyte.run(crunch, day="d")
    (job,) = all_jobs(folder)  # one attempt: a FAILED phase is not retried
    assert job["deletes"] == 1  # its resources are released
    (action,) = only_run().actions()
    assert "table sales does not exist" in action.error


def test_retryable_failed_is_retried_per_the_tasks_retries(folder):
    crunch = make(folder, [[8], ["RUNNING", "SUCCEEDED"]], outputs={"result": "ok"}, retries=1)
    assert flyte.run(crunch, day="d").outputs()[0] == "ok"
    first, second = all_jobs(folder)  # each attempt creates its own job
    assert (first["polls"], second["polls"]) == (1, 2)
    (action,) = only_run().actions()
    assert action.attempts == 2

    again = make(folder, [["RETRYABLE_FAILED"]], name="again", message="node lost")  # no retries left
    with pytest.raises(ConnectorError, match="node lost") as failed:
        flyte.run(again, day="d")
    assert not isinstance(failed.value, PermanentConnectorError)


def test_an_unknown_phase_is_a_clear_error_and_the_job_is_deleted(folder):
    crunch = make(folder, [["RUNNING", "EXPLODED"]], retries=3)
    with pytest.raises(PermanentConnectorError) as failed:
        flyte.run(crunch, day="d")
    message = str(failed.value)
    assert "Resource(phase='EXPLODED')" in message and "'File Job Connector'" in message
    assert "RUNNING=2" in message and "RETRYABLE_FAILED=8" in message
    (job,) = all_jobs(folder)
    assert job["deletes"] == 1

    undefined = make(folder, [[0]], name="undefined")
    with pytest.raises(PermanentConnectorError, match=r"Resource\(phase=0\)"):
        flyte.run(undefined, day="d")


def test_outputs_are_checked_against_the_declared_outputs(folder):
    wrong_names = make(folder, [["SUCCEEDED"]], outputs={"rows": 3}, declared={"result": int})
    with pytest.raises(OutputTypeError, match=r"has \['rows'\], but the task declares \['result'\]"):
        flyte.run(wrong_names, day="d")
    wrong_type = make(folder, [["SUCCEEDED"]], name="wrong_type", outputs={"result": "3"}, declared={"result": int})
    with pytest.raises(OutputTypeError):
        flyte.run(wrong_type, day="d")
    several = make(
        folder,
        [["SUCCEEDED"]],
        name="several",
        outputs={"total": 7, "label": "x"},
        declared={"label": str, "total": int},
    )
    assert tuple(flyte.run(several, day="d").outputs()) == ("x", 7)  # in the declared order
    nothing = make(folder, [["SUCCEEDED"]], name="nothing", declared={})
    assert flyte.run(nothing, day="d").outputs()[0] is None


def test_inputs_keep_the_interfaces_defaults_and_types(folder):
    crunch = make(
        folder,
        [["SUCCEEDED"]],
        outputs={"result": "r"},
        inputs={"day": (str, inspect.Parameter.empty), "limit": (int, 10), "tag": str},
    )
    assert [p.name for p in inspect.signature(crunch.func).parameters.values()] == ["day", "limit", "tag"]
    flyte.run(crunch, day="d", tag="t")
    assert all_jobs(folder)[0]["inputs"] == {"day": "d", "limit": 10, "tag": "t"}
    with pytest.raises(TypeError, match="day"):
        flyte.run(crunch)  # the required input is named


def test_a_timeout_deletes_the_job_once(folder):
    crunch = make(folder, [["RUNNING"]], timeout=1)
    with pytest.raises(MaxRuntimeExceededError):
        flyte.run(crunch, day="d")
    (job,) = all_jobs(folder)
    assert job["deletes"] == 1


def test_called_outside_any_run_it_does_the_work_unrecorded(folder):
    import asyncio

    crunch = make(folder, [["RUNNING", "SUCCEEDED"]], outputs={"result": "direct"})
    assert asyncio.run(crunch.execute(day="d")) == "direct"
    assert asyncio.run(crunch.aio(day="d")) == "direct"
    assert len(all_jobs(folder)) == 2 and list(Run.listall(limit=1)) == []


def test_the_custom_config_is_the_tasks_cache_version(folder):
    crunch = make(folder, [["SUCCEEDED"]], outputs={"result": "r"}, cache="auto")
    flyte.run(crunch, day="d")
    flyte.run(crunch, day="d")
    assert len(all_jobs(folder)) == 1  # the second run was a cache hit
    crunch.plugin_config.outputs = {"result": "other"}  # the config changed: a new version
    crunch.plugin_config = crunch.plugin_config
    assert flyte.run(crunch, day="d").outputs()[0] == "other"
    assert len(all_jobs(folder)) == 2


# -- registration and definition errors -----------------------------------------------------


@dataclass
class Meta(ResourceMeta):
    job_id: str


def connector_class(**attributes):
    async def create(self, task_template, inputs=None, **kwargs):
        return Meta(job_id="1")

    async def get(self, resource_meta, **kwargs):
        return Resource(phase="SUCCEEDED", outputs={"result": resource_meta.job_id})

    async def delete(self, resource_meta, **kwargs):
        return None

    body = {"create": create, "get": get, "delete": delete, "metadata_type": Meta, **attributes}
    return type("Made", (AsyncConnector,), body)


def test_registration_errors_name_the_attribute_the_value_and_what_is_accepted():
    with pytest.raises(ValueError, match=r"Made.task_type_name: None is not accepted \(a non-empty str"):
        ConnectorRegistry.register(connector_class()())
    with pytest.raises(ValueError, match=r"Made.metadata_type: None is not accepted \(a dataclass subclassing"):
        ConnectorRegistry.register(connector_class(task_type_name="t", metadata_type=None)())
    with pytest.raises(ValueError, match=r"task_type_version: -1 is not accepted"):
        ConnectorRegistry.register(connector_class(task_type_name="t", task_type_version=-1)())

    def get(self, resource_meta, **kwargs):
        return None

    with pytest.raises(TypeError, match=r"Made.get is not accepted \(an async def method\)"):
        ConnectorRegistry.register(connector_class(task_type_name="t", get=get)())
    with pytest.raises(TypeError, match=r"connector: 'x' is not accepted"):
        ConnectorRegistry.register("x")
    ConnectorRegistry.register(connector_class(task_type_name="t")())
    with pytest.raises(ValueError, match="already has a connector.*override=True"):
        ConnectorRegistry.register(connector_class(task_type_name="t")())
    ConnectorRegistry.register(connector_class(task_type_name="t")(), override=True)
    assert ConnectorRegistry.get_agent("t") is ConnectorRegistry.get_connector("t", 0)


def test_a_task_type_with_no_connector_names_the_registered_ones(folder):
    with pytest.raises(ConnectorNotFoundError) as missing:
        ConnectorRegistry.get_connector("nope")
    assert "'nope' (version 0)" in str(missing.value) and "'file_job' (version 0)" in str(missing.value)

    class Orphan(FileJobTask):
        _TASK_TYPE = "nope"

    config = FileJobConfig(folder=str(folder), scripts=[["SUCCEEDED"]])
    orphan = Orphan(name="orphan", plugin_config=config, inputs={"day": str})
    with pytest.raises(ConnectorNotFoundError, match="registered: 'file_job'"):
        flyte.run(orphan, day="d")


def test_task_definition_errors(folder):
    class NoMixin(TaskTemplate):
        pass

    with pytest.raises(TypeError, match="mix in flyte.connectors.AsyncConnectorExecutorMixin"):
        NoMixin(name="n", interface=NativeInterface({}, {}), task_type="file_job")

    class Python(FileJobTask):
        _TASK_TYPE = "python"

    config = FileJobConfig(folder=str(folder), scripts=[["SUCCEEDED"]])
    with pytest.raises(ValueError, match="task_type: 'python' is not accepted"):
        Python(name="p", plugin_config=config)
    with pytest.raises(LevelError, match=r"resources=Resources\(.*\) does not apply to a task a connector runs"):
        FileJobTask(name="i", plugin_config=config, resources=flyte.Resources(cpu=1))
    with pytest.raises(TypeError, match=r"NativeInterface.inputs\['day'\]: <class 'str'> is not accepted"):
        NativeInterface({"day": str}, {})
    crunch = FileJobTask(name="c", plugin_config=config, inputs={"day": str})
    crunch.plugin_config.scripts = [[object()]]
    with pytest.raises(ConfigurationError, match=r"custom_config\(\) returned .* which is not accepted"):
        flyte.run(crunch, day="d")
    with pytest.raises(LevelError, match="override"):
        crunch.override(plugin_config=config)


def test_a_connector_package_is_found_through_its_entry_point(tmp_path, folder, monkeypatch):
    package = tmp_path / "site"
    (package / "ep_connector").mkdir(parents=True)
    (package / "ep_connector" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            from flyte.connectors import AsyncConnector, ConnectorRegistry, Resource, ResourceMeta

            @dataclass
            class M(ResourceMeta):
                n: int

            class EntryPointConnector(AsyncConnector):
                task_type_name = "from_entry_point"
                metadata_type = M

                async def create(self, task_template, inputs=None, **kwargs):
                    return M(n=inputs["day"].count("d"))

                async def get(self, resource_meta, **kwargs):
                    return Resource(phase="SUCCEEDED", outputs={"result": f"n={resource_meta.n}"})

                async def delete(self, resource_meta, **kwargs):
                    pass

            ConnectorRegistry.register(EntryPointConnector())
            """
        )
    )
    info = package / "ep_connector-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-connector\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flyte.connectors]\nep = ep_connector\n")
    monkeypatch.syspath_prepend(str(package))
    ConnectorRegistry._entry_points_loaded = False

    class FromEntryPoint(FileJobTask):
        _TASK_TYPE = "from_entry_point"

    config = FileJobConfig(folder=str(folder), scripts=[])
    task = FromEntryPoint(name="ep", plugin_config=config, inputs={"day": str}, outputs={"result": str})
    assert flyte.run(task, day="ddd").outputs()[0] == "n=3"
    monkeypatch.delitem(sys.modules, "ep_connector")


def test_flyteidl2_is_not_needed():
    code = (
        "import sys; import flyte.connectors, flyte.connectors.utils, flyte.models; "
        "from flyte.extend import TaskTemplate; "
        "assert 'flyteidl2' not in sys.modules and 'google.protobuf' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)


# -- cancelling: an abort from another process, a killed process's job -----------------------

SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import flyte
from file_jobs import FileJobConfig, FileJobTask

crunch = FileJobTask(name="crunch", plugin_config=FileJobConfig(folder={folder!r}, scripts=[["RUNNING"]]),
                     inputs={{"day": str}}, outputs={{"result": str}})
env = flyte.TaskEnvironment("pipeline", depends_on=[flyte.TaskEnvironment.from_task("jobs", crunch)])

@env.task
async def main() -> str:
    return await crunch(day="d")

if __name__ == "__main__":
    flyte.init()
    flyte.with_runcontext(name=sys.argv[1]).run(main)
"""


def _start_run(tmp_path: Path, folder: Path, name: str) -> tuple[subprocess.Popen, str]:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT.format(here=str(HERE), folder=str(folder)))
    process = subprocess.Popen([sys.executable, str(script), name], env=os.environ)
    job = wait_for(lambda: all_jobs(folder), what="the job to be created")[0]
    wait_for(lambda: jobs_of(name), what="the job to be recorded")
    return process, job["id"]


def test_flyte_abort_run_calls_delete(folder, tmp_path):
    process, _ = _start_run(tmp_path, folder, "aborted")
    result = CliRunner().invoke(build_cli(), ["abort", "run", "aborted", "--reason", "wrong day"])
    assert result.exit_code == 0, result.output
    process.wait(timeout=120)
    (job,) = all_jobs(folder)
    assert job["deletes"] == 1 and job["delete_secret_ok"] is False


def test_a_job_left_by_a_killed_process_is_cancelled_from_a_fresh_process(folder, tmp_path):
    process, job_id = _start_run(tmp_path, folder, "killed")
    process.kill()
    process.wait()
    assert all_jobs(folder)[0]["deletes"] == 0
    # A new process, which never imported the connector: flyte imports the module that
    # registered it (recorded with the work) to call its delete.
    cancel = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", "runs", "cancel", "killed"],
        env=os.environ,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert "CANCELLED" in cancel.stdout and job_id in cancel.stdout
    assert all_jobs(folder)[0]["deletes"] == 1
    (row,) = jobs_of("killed")
    assert row["state"] == "CANCELLED"


# -- the shapes connectors hand back -----------------------------------------------------------


@dataclass
class Window:
    start: datetime.datetime
    days: int


@dataclass
class NestedMeta(ResourceMeta):
    job_id: str
    window: Window


def test_resource_meta_encodes_to_json_and_decodes_nested_dataclasses():
    meta = NestedMeta(job_id="j", window=Window(datetime.datetime(2026, 12, 1, 8, 30), 3))
    data = meta.encode()
    assert json.loads(data) == {"job_id": "j", "window": {"start": "2026-12-01T08:30:00", "days": 3}}
    assert NestedMeta.decode(data) == meta


def test_phases_are_read_as_flyteidl2_numbers_names_or_enum_members():
    import enum

    from flyte.connectors import _idl
    from flyte.connectors.utils import convert_to_flyte_phase, is_terminal_phase

    class Phase(enum.Enum):  # how a generated enum wrapper would hand it over
        RETRYABLE_FAILED = 8

    assert _idl.runtime_phase(2) == ("RUNNING", False)
    assert _idl.runtime_phase("succeeded") == ("SUCCEEDED", False)
    assert _idl.runtime_phase(Phase.RETRYABLE_FAILED) == ("FAILED", True)
    assert _idl.runtime_phase("WAITING_FOR_RESOURCES") == ("QUEUED", False)
    assert _idl.runtime_phase(0) is None and _idl.runtime_phase(True) is None and _idl.runtime_phase(99) is None
    assert convert_to_flyte_phase("Done") == 3 and convert_to_flyte_phase("internal_error") == 8
    assert is_terminal_phase(5) and is_terminal_phase("ABORTED") and not is_terminal_phase(2)
    with pytest.raises(ValueError, match="state: 'weird' is not accepted"):
        convert_to_flyte_phase("weird")


def test_ctrl_c_calls_delete(folder, tmp_path):
    import signal

    process, _ = _start_run(tmp_path, folder, "interrupted")
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    (job,) = all_jobs(folder)
    assert job["deletes"] == 1
    (row,) = jobs_of("interrupted")
    assert row["state"] == "CANCELLED"
