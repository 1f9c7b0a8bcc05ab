"""A run that went to Kubernetes is recorded like a local one, without an API server: the run
and its action with the phases the backend observes, the object's kind, name, namespace and
context, the YAML kept under the run's folder (private, no secret values), and where the user
looks — ``flyte runs show`` (text and JSON), ``flyte ui``'s run and action pages, the page on
disk and :class:`flyte.remote.Run`. The backend's calls into the record against a real API
server are in ``tests/cluster/test_cluster_run_records.py``."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

import flyte
from flyte.cli.main import build_cli
from flyte.kube.backend import ClusterRunError
from flyte.kube.record import ClusterRunRecord, job_pods, kubectl_commands
from flyte.remote import Run
from flyte.render.context import RenderContext, RenderSettings
from flyte.render.render import render_task
from flyte.runtime import redact
from flyte.runtime import store as st
from http_get import get

SECRET_VALUE = "pw-9f3c-NEVER-WRITTEN"

env = flyte.TaskEnvironment(name="k8srec", secrets=[flyte.Secret(key="db_password", as_env_var="DB_PASSWORD")])


@env.task
def double(x: int) -> int:
    return 2 * x


def rendered_job(run: str) -> dict:
    settings = RenderSettings.from_config({"namespace": "team-a", "storage": "s3://bucket/flyte"})
    (job,) = render_task(double, RenderContext(settings=settings, inputs={"x": 21}, run_name=run))
    job["metadata"]["name"] = f"double-{run}"
    return job


def start(run: str) -> tuple[ClusterRunRecord, dict]:
    record = ClusterRunRecord(run, double.name, json.dumps({"x": 21}), "kind-flyte", "team-a")
    job = rendered_job(run)
    record.submitted(job, job_pods(job))
    return record, job


def action_row(run: str) -> sqlite3.Row:
    with st.reader() as conn:
        return conn.execute("SELECT * FROM actions WHERE run=? AND id='a0'", (run,)).fetchone()


def test_a_cluster_run_is_recorded_with_its_phases_object_and_yaml(flyte_home: Path):
    record, job = start("r-ok")
    try:
        run = Run.get("r-ok")
        assert (run.phase, run.backend) == ("RUNNING", "kubernetes")
        assert action_row("r-ok")["status"] == "QUEUED"  # created, not yet taken up by its controller
        record.observed({**job, "status": {}})
        record.store.flush()
        assert action_row("r-ok")["status"] == "QUEUED"
        record.observed({**job, "status": {"active": 1, "startTime": "2026-01-01T00:00:00Z"}})
        record.store.flush()
        row = action_row("r-ok")
        assert row["status"] == "RUNNING" and row["started_at"] is not None
        record.observed({**job, "status": {"succeeded": 1}})
        record.succeeded("42")
    finally:
        record.close()

    run = Run.get("r-ok")
    assert (run.phase, run.backend, run.outputs()) == ("SUCCEEDED", "kubernetes", 42)
    assert run.ended_at >= run.created_at
    (action,) = run.actions()
    assert (action.phase, action.task, action.attempts) == ("SUCCEEDED", double.name, 1)
    assert action.worker == "Job team-a/double-r-ok on kubernetes (context kind-flyte)"
    (obj,) = run.cluster_objects()
    assert (obj["kind"], obj["name"], obj["namespace"], obj["context"]) == (
        "Job",
        "double-r-ok",
        "team-a",
        "kind-flyte",
    )
    assert obj["api_version"] == "batch/v1" and obj["status"] == {"succeeded": 1}
    assert obj["pods"] == "job-name=double-r-ok"
    assert "kubectl --context kind-flyte -n team-a get job double-r-ok -o yaml" in obj["kubectl"]
    assert (
        "kubectl --context kind-flyte -n team-a logs -l job-name=double-r-ok --all-containers --prefix"
        in obj["kubectl"]
    )

    manifest = Path(obj["manifest"])
    assert manifest == flyte_home / "runs" / "r-ok" / "a0" / "object.yaml"
    assert yaml.safe_load(manifest.read_text()) == job  # the object exactly as submitted
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o600
    assert stat.S_IMODE(manifest.parent.stat().st_mode) == 0o700
    with st.reader() as conn:  # the attempt, with where it ran
        (attempt,) = conn.execute("SELECT * FROM attempts WHERE run='r-ok'").fetchall()
    assert attempt["outcome"] == "SUCCEEDED" and attempt["worker"] == action.worker


def test_a_failure_records_the_clusters_message_and_a_cancel_is_aborted(flyte_home: Path):
    record, _ = start("r-fails")
    message = "Job team-a/double-r-fails failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
    try:
        record.failed(ClusterRunError(message))
    finally:
        record.close()
    run = Run.get("r-fails")
    assert run.phase == "FAILED" and "BackoffLimitExceeded" in run.error
    (action,) = run.actions()
    assert action.phase == "FAILED" and "BackoffLimitExceeded" in action.error
    assert action.started_at is not None and action.ended_at >= action.started_at

    from flyte.errors import ActionAbortedError

    record, _ = start("r-cancelled")
    try:
        record.failed(ActionAbortedError("run cancelled: Job team-a/double-r-cancelled deleted"))
    finally:
        record.close()
    assert Run.get("r-cancelled").phase == "ABORTED"
    assert Run.get("r-cancelled").actions()[0].phase == "ABORTED"


def test_no_secret_value_is_kept_anywhere(flyte_home: Path):
    redact.remember(SECRET_VALUE)  # the process knows the value: it still is never written
    record, job = start("r-secret")
    try:
        record.observed({**job, "status": {"active": 1}})
        record.failed(ClusterRunError(f"pod said {SECRET_VALUE}"))
    finally:
        record.close()
    text = (flyte_home / "runs" / "r-secret" / "a0" / "object.yaml").read_text()
    assert "secretKeyRef" in text and "db_password" in text  # a reference to the secret
    result = CliRunner().invoke(build_cli(), ["runs", "show", "r-secret", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert SECRET_VALUE not in result.output
    files = [p for p in flyte_home.rglob("*") if p.is_file()]
    assert len(files) >= 3  # runs.db, the YAML, the page on disk (at least)
    for path in files:
        assert SECRET_VALUE.encode() not in path.read_bytes(), path


def test_a_cluster_run_whose_process_died_says_its_objects_may_remain(flyte_home: Path):
    record, _ = start("r-dead")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with st.reader() as conn:  # the run's follower was that process, and it is gone
        conn.execute("UPDATE runs SET pid=?, pid_start='0' WHERE name='r-dead'", (int(gone.stdout),))
    record.ended = True  # a dead process records nothing more
    record.close()
    run = Run.get("r-dead")
    assert run.phase == "ABORTED" and run.backend == "kubernetes"
    assert "objects may still be there (flyte runs show r-dead says how to look)" in run.error
    assert run.actions()[0].phase == "ABORTED"


def test_runs_show_gives_the_object_its_yaml_and_kubectl_commands(flyte_home: Path):
    record, _ = start("r-show")
    record.close()  # never ended: recorded as ABORTED
    runner = CliRunner()
    text = runner.invoke(build_cli(), ["runs", "show", "r-show"])
    assert text.exit_code == 0, text.output
    assert "Kubernetes objects:" in text.output
    assert "a0  Job team-a/double-r-show (context kind-flyte)" in text.output
    assert f"yaml: {flyte_home / 'runs' / 'r-show' / 'a0' / 'object.yaml'}" in text.output
    assert "kubectl --context kind-flyte -n team-a get job double-r-show -o yaml" in text.output
    assert "kubectl --context kind-flyte -n team-a logs -l job-name=double-r-show" in text.output

    data = json.loads(runner.invoke(build_cli(), ["runs", "show", "r-show", "-o", "json"]).output)
    assert data["backend"] == "kubernetes" and data["phase"] == "ABORTED"
    (obj,) = data["cluster_objects"]
    assert (obj["kind"], obj["name"], obj["namespace"]) == ("Job", "double-r-show", "team-a")
    assert Path(obj["manifest"]).is_file()

    detail = json.loads(runner.invoke(build_cli(), ["runs", "show", "r-show", "a0", "-o", "json"]).output)
    assert detail["cluster_objects"] == data["cluster_objects"]
    assert detail["attempt_records"][0]["worker"].startswith("Job team-a/double-r-show on kubernetes")
    action_text = runner.invoke(build_cli(), ["runs", "show", "r-show", "a0"]).output
    assert "kubectl --context kind-flyte -n team-a describe job double-r-show" in action_text


def test_flyte_logs_of_a_cluster_run_points_at_its_pods(flyte_home: Path):
    record, _ = start("r-logs")
    record.succeeded("42")
    record.close()
    result = CliRunner().invoke(build_cli(), ["logs", "r-logs"])
    assert result.exit_code == 0, result.output
    assert "ran on kubernetes: what its tasks print is in their pods' logs" in result.output
    assert "kubectl --context kind-flyte -n team-a logs -l job-name=double-r-logs --all-containers --prefix" in (
        result.output
    )
    assert "printed nothing" not in result.output


def test_a_local_run_has_no_cluster_objects(flyte_home: Path):
    flyte.init()
    local = flyte.TaskEnvironment(name="k8srec_local")

    @local.task
    def one() -> int:
        return 1

    run = flyte.run(one)
    stored = Run.get(run.name)
    assert stored.backend is None and stored.cluster_objects() == []
    data = json.loads(CliRunner().invoke(build_cli(), ["runs", "show", run.name, "-o", "json"]).output)
    assert data["backend"] == "local" and data["cluster_objects"] == []


def test_kubectl_commands_quote_what_a_shell_would_split():
    row = {"context": "my ctx", "namespace": "ns", "kind": "RayJob", "name": "add-r1", "pods": "job-name=add-r1"}
    assert kubectl_commands(row) == [
        "kubectl --context 'my ctx' -n ns get rayjob add-r1 -o yaml",
        "kubectl --context 'my ctx' -n ns describe rayjob add-r1",
        "kubectl --context 'my ctx' -n ns get pods -l job-name=add-r1",
        "kubectl --context 'my ctx' -n ns logs -l job-name=add-r1 --all-containers --prefix",
    ]
    assert kubectl_commands({**row, "context": None, "pods": None}) == [
        "kubectl -n ns get rayjob add-r1 -o yaml",
        "kubectl -n ns describe rayjob add-r1",
    ]


def test_a_store_from_before_cluster_runs_gains_their_columns(tmp_path: Path):
    path = tmp_path / "runs.db"
    conn = st.connect(path)
    conn.execute("DROP TABLE cluster_objects")
    conn.execute("ALTER TABLE runs DROP COLUMN backend")
    conn.execute("INSERT INTO runs (name, task, status, created_at) VALUES ('old', 't', 'SUCCEEDED', 1)")
    # Steps are only ever appended: the fifth (index 4) added runs.backend, the sixth the table.
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    conn = st.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(st.MIGRATIONS)
        assert conn.execute("SELECT backend FROM runs WHERE name='old'").fetchone()[0] is None
        assert st.cluster_objects(conn, "old") == []
    finally:
        conn.close()


# -- the UI and the page on disk ---------------------------------------------------------------


def test_the_ui_links_the_object_its_yaml_and_kubectl_commands(flyte_home: Path, ui: str):
    record, job = start("r-ui")
    record.observed({**job, "status": {"active": 1}})
    record.store.flush()
    try:
        status, _, page = get(ui + "runs/r-ui")
        assert status == 200
        assert "ran on <b class='backend'>kubernetes</b>" in page
        assert '<b class="k8s-kind">Job</b> <b class="k8s-name">double-r-ui</b>' in page
        assert '<b class="k8s-namespace">team-a</b>' in page
        assert 'href="/runs/r-ui/actions/a0/object.yaml"' in page
        assert "kubectl --context kind-flyte -n team-a get job double-r-ui -o yaml" in page
        assert "kubectl --context kind-flyte -n team-a logs -l job-name=double-r-ui" in page

        status, _, runs = get(ui)
        assert status == 200 and '<span class="muted backend">on kubernetes</span>' in runs

        status, _, action = get(ui + "runs/r-ui/actions/a0")
        assert status == 200 and 'href="/runs/r-ui/actions/a0/object.yaml"' in action
        assert "kubectl --context kind-flyte -n team-a describe job double-r-ui" in action

        status, headers, text = get(ui + "runs/r-ui/actions/a0/object.yaml")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert yaml.safe_load(text) == job
    finally:
        record.succeeded("42")
        record.close()
    # Only the YAML the runtime keeps, only under the run's folder.
    assert get(ui + "runs/r-ui/actions/a1/object.yaml")[0] == 404
    assert get(ui + "runs/no-such-run/actions/a0/object.yaml")[0] == 404
    assert get(ui + "runs/r-ui/actions/a0/..%2F..%2F..%2Fruns.db")[0] == 404
    assert get(ui + "runs/..%2Fsecrets/actions/a0/object.yaml")[0] == 404


def test_the_page_on_disk_links_the_yaml_beside_it(flyte_home: Path):
    record, _ = start("r-page")
    record.succeeded("42")
    record.close()
    pages = flyte_home / "pages"
    page = (pages / "r-page.html").read_text()
    assert 'href="../runs/r-page/a0/object.yaml"' in page  # the run's folder, beside the pages'
    assert (pages / "../runs/r-page/a0/object.yaml").resolve() == (flyte_home / "runs/r-page/a0/object.yaml").resolve()
    assert (flyte_home / "runs" / "r-page" / "a0" / "object.yaml").is_file()
    assert "kubectl --context kind-flyte -n team-a get job double-r-page -o yaml" in page
    assert Run.get("r-page").url == (pages / "r-page.html").as_uri()
