"""A secret's value appears nowhere but in the secret store: not in the run store, cache, run
pages, reports, rendered manifests, Dockerfiles, or anything the command line prints."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import flyte
import flyte.report
from flyte._cache.store import CacheWarning
from flyte.remote import Run
from flyte.runtime import controller, redact, secret_store
from flyte.runtime import store as st
from http_get import get

TOKEN = "tok-SECRET-5e1d-env"
KEY = "-----BEGIN KEY 9c44 SECRET-FILE-----"

TASKS = """
import os
import flyte
import flyte.report

env = flyte.TaskEnvironment(
    name="leaky",
    cache="auto",
    secrets=[
        flyte.Secret(key="api_token", as_env_var="API_TOKEN"),
        flyte.Secret(key="ssh_key", mount="/etc/flyte/secrets"),
    ],
    image=flyte.Image.from_debian_base().with_pip_packages("requests"),
)


@env.task(report=True, retries=1)
def use(n: int) -> int:
    with open("/etc/flyte/secrets/ssh_key") as f:
        key = f.read()
    token = os.environ["API_TOKEN"]
    flyte.report.log(f"<p>read {len(token)} and {len(key)} characters</p>")
    return n + len(token) + len(key)


@env.task
async def main(n: int = 1) -> int:
    return use(n) + use(n + 1)
"""


def flyte_cli(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flyte.cli.main", *args],
        cwd=cwd,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_values_never_appear_in_any_artefact(flyte_home: Path, tmp_path: Path):
    secret_store.create("api_token", TOKEN.encode())
    secret_store.create("ssh_key", KEY.encode())
    project = tmp_path / "project"
    project.mkdir()
    (project / "leaky.py").write_text(TASKS)

    outputs = [flyte_cli(project, "run", "leaky.py", "main", "--n", "3")]
    outputs.append(flyte_cli(project, "run", "leaky.py", "main", "--n", "3"))  # a cache hit
    expected = 3 + 4 + 2 * (len(TOKEN) + len(KEY))  # both secrets were read, in both calls
    assert all(str(expected) in out for out in outputs)
    runs = list(Run.listall())
    assert len(runs) == 2 and all(r.phase == "SUCCEEDED" for r in runs)
    name = runs[0].name
    for args in (
        ("runs", "list"),
        ("runs", "show", name),
        ("runs", "show", name, "--json", "--limit", "0"),
        ("get", "secret"),
        ("cache", "list"),
        ("render", "leaky.py", "leaky"),
        ("render", "leaky.py", "leaky", "-o", "json"),
        ("build", "leaky.py", "leaky", "--dry-run"),
        ("deploy", "leaky.py", "leaky", "--dry-run"),
    ):
        outputs.append(flyte_cli(project, *args))
    rendered = outputs[-4]
    assert "secretKeyRef" in rendered and "/etc/flyte/secrets" in rendered  # references, not values

    for text in outputs:
        assert TOKEN not in text and KEY not in text
    store_files = {p for p in (flyte_home / "secrets").rglob("*") if p.is_file()}
    checked = 0
    for path in [*flyte_home.rglob("*"), *project.rglob("*")]:
        if path.is_file() and path not in store_files:
            data = path.read_bytes()
            assert TOKEN.encode() not in data and KEY.encode() not in data, path
            checked += 1
    assert checked >= 4  # runs.db, the cache, the run page, the reports (at least)


# -- a hostile task: it does everything it can with its secret ---------------------------------
# Each test has its canary of its own: masking is per process, and a value one test's task
# was given stays masked for the rest of the session.

CANARY = "S3CR3T-canary-42"

hostile = flyte.TaskEnvironment(name="hostile", secrets=flyte.Secret(key="canary", as_env_var="CANARY"))


@hostile.task
def takes(x: str) -> int:
    return len(x)


@hostile.task(cache="auto")
def cached_len(x: str) -> int:
    return len(x)


@hostile.task
def echo_env() -> str:
    return os.environ["LEAKED"]


@hostile.task
def fails_with(x: str) -> int:
    return {}[x]


@flyte.trace
async def reversed_(x: str) -> str:
    return x[::-1]


@hostile.task(report=True)
async def exposes() -> str:
    secret = os.environ["CANARY"]
    print("printed", secret)
    print("to stderr", secret, file=sys.stderr)
    handler = logging.StreamHandler(sys.stderr)  # to the terminal, as an application's logging does
    logging.getLogger("hostile").addHandler(handler)
    try:
        logging.getLogger("hostile").warning("logged %s", secret)
    finally:
        logging.getLogger("hostile").removeHandler(handler)
    flyte.report.log(f"<p>reported {secret}</p>")
    flyte.report.log(f"<p>escaped {html.escape(secret)}</p>")
    assert takes(secret) == len(secret)  # an input
    assert cached_len(secret) == cached_len(secret) == len(secret)  # a cache miss, then a hit
    assert [n async for n in flyte.map.aio(takes, [secret, secret])] == [len(secret)] * 2
    await reversed_(secret)  # a traced step's input
    assert echo_env.override(env_vars={"LEAKED": secret})() == secret  # env_vars, and an output
    with contextlib.suppress(KeyError):
        fails_with(secret)  # a child failing with the secret in its error
    return secret  # the root's output


def everything_written(root: Path) -> dict[Path, bytes]:
    """Every file under the state root but the secret store's own."""
    store = root / "secrets"
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and store not in p.parents}


def test_a_task_exposing_its_secret_everywhere_leaves_it_in_nothing_flyte_writes(flyte_home: Path, ui: str):
    secret_store.create("canary", CANARY.encode())
    flyte.init()
    run = flyte.run(exposes)
    assert run.outputs() == CANARY  # the caller holds the value itself
    assert Run.get(run.name).outputs() == "***"  # the record masks it
    with st.reader() as conn:
        actions = conn.execute("SELECT id, inputs, outputs, error FROM actions WHERE run=?", (run.name,)).fetchall()
    assert len(actions) >= 9
    assert any(row["inputs"] == '{"x":"***"}' for row in actions)  # the inputs' other data kept
    assert any(row["error"] == "KeyError: '***'" for row in actions)

    pages = [f"/runs/{run.name}", f"/runs/{run.name}/actions/a0/report", f"/runs/{run.name}/logs/a0/1"]
    pages += [f"/runs/{run.name}/actions/{row['id']}" for row in actions]
    for page in ["/", *pages]:
        status, _, body = get(ui + page)
        assert status == 200, page
        assert CANARY not in body, page
    assert "reported ***" in get(ui + pages[1])[2] and "escaped ***" in get(ui + pages[1])[2]
    log = get(ui + pages[2])[2]
    assert "printed ***" in log and "logged ***" in log

    shown = flyte_cli(flyte_home, "runs", "show", run.name) + flyte_cli(flyte_home, "logs", run.name)
    assert CANARY not in shown
    written = everything_written(flyte_home)
    assert any(p.name == "runs.db" for p in written) and any(p.name == "report.html" for p in written)
    for path, data in written.items():
        assert CANARY.encode() not in data, path


# -- the cache: a result holding a secret is never written ---------------------------------------

CACHE_CANARY = "S3CR3T-cached-77"
bodies: list[int] = []


@hostile.task(cache="auto")
def token_for(n: int) -> str:
    bodies.append(n)
    return f"{os.environ['CANARY']}/{n}"


@hostile.task(cache=flyte.Cache(behavior="auto", serialize=True))
def serialized_token(n: int) -> str:
    bodies.append(n)
    return os.environ["CANARY"]


@hostile.task
async def both_serialized() -> list[str]:
    return list(await asyncio.gather(serialized_token.aio(7), serialized_token.aio(7)))


def test_outputs_holding_a_secret_are_not_cached_and_the_task_runs_each_time(flyte_home: Path):
    secret_store.create("canary", CACHE_CANARY.encode())
    flyte.init()
    bodies.clear()
    with pytest.warns(CacheWarning, match="outputs contain a secret's value, so they are not cached") as caught:
        first = flyte.run(token_for, 1)
    # shown at the task's definition (this file), not at flyte's controller
    (warned,) = [w for w in caught if issubclass(w.category, CacheWarning)]
    assert (warned.filename, warned.lineno) == (__file__, token_for.func.__code__.co_firstlineno)
    with pytest.warns(CacheWarning):  # each run says so
        second = flyte.run(token_for, 1)
    assert first.outputs() == second.outputs() == f"{CACHE_CANARY}/1"  # exact: computed each time
    assert bodies == [1, 1]
    with st.reader() as conn:
        cache = [
            conn.execute("SELECT cache FROM actions WHERE run=?", (r.name,)).fetchone()[0] for r in (first, second)
        ]
    assert cache == ["not cached (secret)"] * 2

    # serialize=True: the second caller waits for the first, finds nothing cached, runs itself
    with pytest.warns(CacheWarning):
        assert flyte.run(both_serialized).outputs() == [CACHE_CANARY] * 2
    assert bodies == [1, 1, 7, 7]
    for path, data in everything_written(flyte_home).items():
        assert CACHE_CANARY.encode() not in data, path


# -- a value as it is spelt elsewhere: escaped, or one line of it -------------------------------


def test_escaped_spellings_and_each_line_of_a_multi_line_secret_are_masked():
    value = 'pa"ss\\word-<91>\nsecond-line-of-91\n'
    redact.remember(value)
    for text in (
        json.dumps({"x": value}),  # an input or output as recorded
        repr(KeyError(value)),  # an exception's message
        html.escape(value),  # a report
        "GET /v1?token=" + quote(value, safe=""),  # a logged request
        "second-line-of-91",  # one line, logged on its own
    ):
        masked = redact.redact(text)
        assert "word-" not in masked and "second-line" not in masked, (text, masked)
    assert redact.redact("pass word") == "pass word"  # other text is left alone


# -- in a container: the platform injected the secrets ------------------------------------------

POD_TASKS = """
import os
import flyte

env = flyte.TaskEnvironment(
    name="pod_secrets",
    secrets=[flyte.Secret(key="pod_token", as_env_var="POD_TOKEN"), flyte.Secret(key="pod_key", mount="/etc/flyte/secrets")],
)


@env.task
def refused() -> int:
    folder = os.environ.get("FLYTE_SECRETS_MOUNT", "/etc/flyte/secrets")  # the volume's place, here
    with open(os.path.join(folder, "pod_key")) as f:
        key = f.read()
    print("connecting with", os.environ["POD_TOKEN"], "and", key)
    raise PermissionError(f"{os.environ['POD_TOKEN']} and {key!r} were refused")
"""


def test_in_a_container_injected_secrets_are_masked_in_what_flyte_prints_and_records(
    flyte_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    from flyte import entrypoint

    token, key = "S3CR3T-pod-env-55", "S3CR3T-pod-file-55\nsecond line 55\n"
    (tmp_path / "pod_secret_tasks.py").write_text(POD_TASKS)
    mount = tmp_path / "mounted"
    mount.mkdir()
    (mount / "pod_key").write_text(key)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("POD_TOKEN", token)  # what a secretKeyRef gives the container
    monkeypatch.setenv("FLYTE_SECRETS_MOUNT", str(mount))  # the projected volume, here
    monkeypatch.delenv("FLYTE_OUTPUTS_URI", raising=False)

    assert entrypoint.main(["--module", "pod_secret_tasks", "--task", "refused"]) == 1
    printed = capfd.readouterr()
    assert "*** and '***' were refused" in printed.err  # the traceback and the failure line
    assert "S3CR3T-pod" not in printed.err and "second line 55" not in printed.err
    (run,) = Run.listall(limit=1)
    (action,) = run.actions()
    assert "*** and '***' were refused" in action.error
    written = everything_written(flyte_home)
    assert any(p.suffix == ".log" for p in written)  # what the task printed, kept masked
    for path, data in written.items():
        assert b"S3CR3T-pod" not in data and b"second line 55" not in data, path


BROKEN_MODULE = """
import os

folder = os.environ.get("FLYTE_SECRETS_MOUNT", "/etc/flyte/secrets")
print("importing with", os.environ["IMPORT_TOKEN"], flush=True)
with open(os.path.join(folder, "import_key")) as f:
    raise ConnectionError(f"cannot connect with {os.environ['IMPORT_TOKEN']} and {f.read()!r}")
"""


def test_in_a_container_a_module_that_fails_at_import_prints_its_traceback_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    from flyte import entrypoint

    token, key = "S3CR3T-import-env-77", "S3CR3T-import-file-77"
    (tmp_path / "broken_at_import.py").write_text(BROKEN_MODULE)
    mount = tmp_path / "mounted"
    mount.mkdir()
    (mount / "import_key").write_text(key)
    monkeypatch.syspath_prepend(str(tmp_path))
    # What the rendered pod gives the container (tests/render): the env var, the list naming it, the volume.
    monkeypatch.setenv("FLYTE_SECRET_ENV_VARS", "IMPORT_TOKEN")
    monkeypatch.setenv("IMPORT_TOKEN", token)
    monkeypatch.setenv("FLYTE_SECRETS_MOUNT", str(mount))

    assert entrypoint.main(["--module", "broken_at_import", "--task", "t"]) == 2
    printed = capfd.readouterr()
    assert "ConnectionError: cannot connect with *** and '***'" in printed.err
    assert "importing with ***" in printed.out
    assert "S3CR3T-import" not in printed.err + printed.out


# -- the command line: what `flyte run` prints --------------------------------------------------

CLI_TASKS = """
import os
import flyte

env = flyte.TaskEnvironment(name="cli_secrets", secrets=flyte.Secret(key="cli_token", as_env_var="TOKEN"))


@env.task
def refused() -> int:
    raise PermissionError(f"token {os.environ['TOKEN']} was refused")


@env.task
def returned() -> str:
    return os.environ["TOKEN"]
"""


def test_flyte_run_prints_neither_a_secret_in_an_error_nor_a_returned_one(tmp_path: Path):
    value = "S3CR3T-cli-66"
    secret_store.create("cli_token", value.encode())
    (tmp_path / "cli_secrets.py").write_text(CLI_TASKS)
    for args in (("run",), ("--debug", "run")):
        failed = subprocess.run(
            [sys.executable, "-m", "flyte.cli.main", *args, "cli_secrets.py", "refused"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert failed.returncode == 1 and "token *** was refused" in failed.stderr
        assert value not in failed.stdout + failed.stderr
    printed = flyte_cli(tmp_path, "run", "cli_secrets.py", "returned")
    assert "***" in printed and value not in printed  # as the run's record shows it


PRINTING_TASKS = """
import logging
import os
import subprocess
import sys

import flyte

secret = flyte.Secret(key="echo_token", as_env_var="TOKEN")
env = flyte.TaskEnvironment(name="echoes", secrets=secret)
pool = flyte.TaskEnvironment(name="echoes_pool", secrets=secret, reusable=flyte.ReusePolicy(replicas=1, idle_ttl=30))


@env.task
def shows() -> int:
    print(f"printed {os.environ['TOKEN']}")
    print(f"to stderr {os.environ['TOKEN']}", file=sys.stderr)
    logging.getLogger("echoes").warning("logged %s", os.environ["TOKEN"])
    subprocess.run([sys.executable, "-c", "import os; print('child', os.environ['TOKEN'], flush=True)"], check=True)
    return 1


@pool.task
def shows_in_a_pool() -> int:
    print(f"pooled {os.environ['TOKEN']}")
    return 2


@env.task
def both() -> int:
    return shows() + shows_in_a_pool()
"""


def test_what_a_task_prints_reaches_the_terminal_with_its_secret_masked(tmp_path: Path):
    value = "S3CR3T-echoed-31"
    secret_store.create("echo_token", value.encode())
    (tmp_path / "echoes.py").write_text(PRINTING_TASKS)
    printed = flyte_cli(tmp_path, "run", "echoes.py", "both")
    for line in ("printed ***", "to stderr ***", "logged ***", "child ***", "pooled ***"):
        assert line in printed, line
    assert value not in printed
    run = re.search(r"run (\S+) succeeded", printed)[1]
    kept = flyte_cli(tmp_path, "logs", run, "a1")  # the log keeps the same words
    assert "printed ***" in kept and "child ***" in kept and value not in kept


# -- a scheduled run: what `flyte serve triggers` prints ----------------------------------------

SCHEDULED_TASKS = """
import os
from datetime import datetime

import flyte

env = flyte.TaskEnvironment(name="scheduled_secrets", secrets=flyte.Secret(key="sched_token", as_env_var="TOKEN"))


@env.task(triggers=flyte.Trigger.hourly())
def nightly(trigger_time: datetime) -> int:
    raise PermissionError(f"token {os.environ['TOKEN']} was refused")
"""


def test_serving_triggers_prints_a_failed_runs_error_masked(
    flyte_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from flyte._loader import load_file
    from flyte.runtime import schedule

    value = "S3CR3T-sched-88"
    secret_store.create("sched_token", value.encode())
    path = tmp_path / "scheduled_secret_tasks.py"
    path.write_text(SCHEDULED_TASKS)
    flyte.init()
    flyte.deploy(load_file(path).env)
    fire_due = schedule.fire_due
    monkeypatch.setattr(schedule, "fire_due", lambda: fire_due(now=datetime.now(UTC) + timedelta(hours=2)))
    printed: list[str] = []
    schedule.serve(once=True, echo=printed.append)
    assert printed == ["trigger hourly of scheduled_secrets.nightly: failed: token *** was refused"]
    for path, data in everything_written(flyte_home).items():
        assert value.encode() not in data, path


# -- the log cap: its cut never keeps the start of a value --------------------------------------

CAP_CANARY = "S3CR3T-capped-99"


@hostile.task
def fills_its_log() -> None:
    print("x" * 1010 + os.environ["CANARY"])  # the 1,024-character cap falls inside the value


def test_the_log_cap_never_cuts_a_secret_in_half(flyte_home: Path, monkeypatch: pytest.MonkeyPatch):
    secret_store.create("canary", CAP_CANARY.encode())
    monkeypatch.setenv("FLYTE_LOG_MAX_BYTES", "1024")
    flyte.init()
    run = flyte.run(fills_its_log)
    (log,) = (flyte_home / "runs" / run.name / "logs").iterdir()
    text = log.read_text()
    assert "x" * 1010 + "***" in text and "characters were dropped" not in text
    assert "S3CR" not in text


pooled = flyte.TaskEnvironment(
    name="hostile_pool",
    secrets=flyte.Secret(key="canary", as_env_var="CANARY"),
    reusable=flyte.ReusePolicy(replicas=1, idle_ttl=30),
)


@pooled.task
def fills_its_log_in_a_pool() -> None:
    print("x" * 1010 + os.environ["CANARY"])


def test_the_log_cap_never_cuts_a_secret_in_half_in_a_pool_worker(flyte_home: Path, monkeypatch: pytest.MonkeyPatch):
    secret_store.create("canary", b"S3CR3T-pool-capped-99")
    monkeypatch.setenv("FLYTE_LOG_MAX_BYTES", "1024")
    flyte.init()
    run = flyte.run(fills_its_log_in_a_pool)
    (log,) = (flyte_home / "runs" / run.name / "logs").iterdir()
    text = log.read_text()
    assert "x" * 1010 + "***" in text and "S3CR" not in text


# -- a connector's failed cancel: the service's words are logged masked ------------------------


class _RefusingService:
    """A connector whose delete fails with a message quoting the credential it was given."""

    poll = types.SimpleNamespace(delete_timeout=5.0)

    def __init__(self, token: str):
        self.token = token

    async def delete(self, context: object, metadata: object) -> None:
        raise PermissionError(f"token {self.token} may not delete jobs")


def test_a_failed_cancel_of_connector_work_is_logged_with_its_secret_masked(caplog: pytest.LogCaptureFixture):
    from flyte.runtime import connectors

    token = "S3CR3T-cancel-12"
    redact.remember(token)  # as task_secrets does for the values a connector is handed
    ended: list[str] = []

    async def on_end(state: str, message: str) -> None:
        ended.append(message)

    job = connectors.Job(_RefusingService(token), None, {"job_id": "j1"}, "run/a1#1")  # type: ignore[arg-type]
    asyncio.run(job.abandon(on_end))
    live = connectors._LiveJobs()
    live._jobs.add(connectors.Job(_RefusingService(token), None, {"job_id": "j2"}, "run/a2#1"))  # type: ignore[arg-type]
    live.abandon_all()  # at exit
    logged = [r.getMessage() for r in caplog.records if "could not cancel" in r.getMessage()]
    assert len(logged) == 2 and all("token *** may not delete jobs" in line for line in logged), logged
    assert ended and "token ***" in ended[0]
    assert token not in " ".join(logged + ended)


# -- bytes and pickled values: flyte records them in base64 -------------------------------------

BASE64_CANARY = "S3CR3T-base64-23"


class Credentials:
    """A task's own class: its results are pickled, then recorded and cached in base64."""

    def __init__(self, token: str):
        self.token = token


@hostile.task(cache="auto")
def token_bytes(n: int) -> bytes:
    bodies.append(n)
    return os.environ["CANARY"].encode()


@hostile.task(cache="auto")
def token_object(n: int) -> Credentials:
    bodies.append(n)
    return Credentials(os.environ["CANARY"])


@hostile.task
def bytes_length(b: bytes) -> int:
    return len(b)


@hostile.task
async def passes_bytes() -> int:
    return bytes_length(b"x" + os.environ["CANARY"].encode()) + bytes_length(b"yz" + os.environ["CANARY"].encode())


def base64_spellings(value: bytes) -> list[bytes]:
    """``value``'s base64 as it reads inside longer bytes, at each of the 3 offsets."""
    forms = []
    for offset in range(3):
        text = base64.b64encode(b"\0" * offset + value + b"\0\0\0")
        forms.append(text[4 if offset else 0 : (offset + len(value)) // 3 * 4])
    return forms


def test_bytes_and_pickled_results_holding_a_secret_are_neither_cached_nor_recorded_in_base64(flyte_home: Path):
    secret_store.create("canary", BASE64_CANARY.encode())
    flyte.init()
    bodies.clear()
    for task in (token_bytes, token_object):
        with pytest.warns(CacheWarning, match="outputs contain a secret's value, so they are not cached"):
            runs = [flyte.run(task, 1), flyte.run(task, 1)]  # computed each time, never cached
        result = runs[0].outputs()[0]
        assert (result if task is token_bytes else result.token.encode()) == BASE64_CANARY.encode()
        with pytest.raises(ValueError, match=r"held a secret's value, masked \(\*\*\*\)"):
            Run.get(runs[1].name).outputs()  # the record's masked base64 is never decoded into other bytes
    assert bodies == [1, 1, 1, 1]
    assert flyte.run(passes_bytes).outputs() == 2 * len(BASE64_CANARY) + 3  # inputs at two offsets
    with st.reader() as conn:
        cache = {row[0] for row in conn.execute("SELECT cache FROM actions WHERE task LIKE '%token_%'")}
    assert cache == {"not cached (secret)"}
    forms = base64_spellings(BASE64_CANARY.encode())
    for path, data in everything_written(flyte_home).items():
        assert BASE64_CANARY.encode() not in data, path
        assert not any(form in data for form in forms), path


def test_a_values_base64_is_masked_wherever_it_starts_and_other_base64_is_left_alone():
    value = b"\x00\xffS3CR3T-raw-bytes-61\n"
    redact.remember(value)
    for before in (b"", b"a", b"ab", b"abc", b"abcd"):
        for after in (b"", b"z", b"zz"):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(before + value + after).decode()
                masked = redact.redact(encoded)
                assert "***" in masked, (before, after)
                assert not any(form.decode() in masked for form in base64_spellings(value))
    other = base64.b64encode(bytes(range(256)) * 4).decode()
    assert redact.redact(other) == other


# -- names a task gives its actions: groups ------------------------------------------------------

GROUP_CANARY = "S3CR3T-group-45"


@flyte.trace
async def traced_length(x: str) -> int:
    return len(x)


@hostile.task
async def groups_by_token() -> int:
    token = os.environ["CANARY"]
    with flyte.group(f"user-{token}"):
        total = takes("a") + await traced_length("b")
    total += sum([n async for n in flyte.map.aio(takes, ["c", "d"], group_name=f"map-{token}")])
    return total + takes.override(short_name=f"takes-{token}")("e")


def test_a_group_or_short_name_built_from_a_secret_is_recorded_masked(flyte_home: Path, ui: str):
    secret_store.create("canary", GROUP_CANARY.encode())
    flyte.init()
    seen: list[str] = []
    controller.listeners.append(lambda run, action, name, *rest: seen.append(name))  # flyte run's progress
    try:
        run = flyte.run(groups_by_token)
    finally:
        controller.listeners.pop()
    assert run.outputs() == 5
    with st.reader() as conn:
        groups = {row[0] for row in conn.execute("SELECT grp FROM actions WHERE run=?", (run.name,))}
        names = {row[0] for row in conn.execute("SELECT short_name FROM actions WHERE run=?", (run.name,))}
    assert groups == {None, "user-***", "map-***"}
    assert "takes-***" in names and "takes-***" in seen
    assert not any(GROUP_CANARY in name for name in [*names, *seen])
    assert GROUP_CANARY not in get(ui + f"/runs/{run.name}")[2]
    shown = flyte_cli(flyte_home, "runs", "show", run.name, "--json")
    assert "user-***" in shown and GROUP_CANARY not in shown
    for path, data in everything_written(flyte_home).items():
        assert GROUP_CANARY.encode() not in data, path


# -- cache keys: never a verifier of a secret in the inputs -------------------------------------

PIN_CANARY = "S3CR3T-pin-0417"


@hostile.task(cache="auto")
def pin_length(pin: str) -> int:
    bodies.append(len(pin))
    return len(pin)


@hostile.task
async def checks_pin() -> int:
    return pin_length(os.environ["CANARY"]) + pin_length(os.environ["CANARY"]) + pin_length("not-a-secret")


def test_the_cache_key_of_inputs_holding_a_secret_cannot_be_checked_against_a_guess(flyte_home: Path):
    import hashlib
    import hmac

    from flyte import _codec
    from flyte._cache import key as cache_keys

    secret_store.create("canary", PIN_CANARY.encode())
    flyte.init()
    bodies.clear()
    runs = [flyte.run(checks_pin), flyte.run(checks_pin)]
    assert [r.outputs()[0] for r in runs] == [2 * len(PIN_CANARY) + 12] * 2
    assert bodies == [len(PIN_CANARY), 12]  # still cached: a miss, then hits in both runs
    with st.reader() as conn:
        rows = conn.execute(
            "SELECT run, inputs, cache, cache_key FROM actions WHERE task LIKE '%pin_length' ORDER BY run, id"
        ).fetchall()
    assert len(rows) == 6
    part = cache_keys.task_part(pin_length.spec, pin_length.func)

    def plain(pin: str) -> hashlib._Hash:  # the hash anyone can compute for a guess of the pin
        digest = part.head.copy()
        digest.update((json.encoder.encode_basestring_ascii(_codec.dumps({"pin": pin}, canonical=True)) + "]").encode())
        return digest

    guessed = plain(PIN_CANARY).hexdigest()
    with_secret = {row["cache_key"] for row in rows if row["inputs"] == '{"pin":"***"}'}
    assert len(with_secret) == 1 and guessed not in with_secret
    with contextlib.closing(sqlite3.connect(flyte_home / "local-cache" / "cache.db")) as cache_db:
        cached = {row[0] for row in cache_db.execute("SELECT key FROM entries")}
    assert with_secret <= cached and guessed not in cached  # the entry is there, under the keyed key
    # keyed by a random key of the state root's secret store: private, never listed as a secret
    key_file = flyte_home / "secrets" / ".cache-keys.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and len(key_file.read_bytes()) == 32
    assert with_secret == {hmac.new(key_file.read_bytes(), plain(PIN_CANARY).digest(), hashlib.sha256).hexdigest()}
    assert ".cache-keys.key" not in flyte_cli(flyte_home, "get", "secret")
    # inputs without a secret keep the plain key (entries made before stay valid)
    assert plain("not-a-secret").hexdigest() in {row["cache_key"] for row in rows}


@hostile.task
def pin_checked_in_a_child() -> str:
    try:
        return str(pin_length(os.environ["CANARY"]))
    except Exception as failure:  # what the task's own code sees
        return f"{type(failure).__name__}: {failure}"


def test_an_unusable_cache_key_file_is_a_state_error_saying_what_to_do(flyte_home: Path):
    from flyte._cache import key as cache_keys
    from flyte.errors import StateError

    secret_store.create("canary", PIN_CANARY.encode())
    key_file = flyte_home / "secrets" / ".cache-keys.key"
    key_file.mkdir()  # (unreadable as another user's file would be: root reads any file)
    cache_keys._keys.clear()
    flyte.init()
    seen = flyte.run(pin_checked_in_a_child).outputs()[0]
    assert seen.startswith(f"StateError: {key_file}: cannot read flyte's key for cache-keys"), seen
    assert "remove it and flyte makes another" in seen
    with pytest.raises(StateError, match="remove it and flyte makes another"):
        flyte.run(pin_length, PIN_CANARY)


# -- a connector that puts its credential in the work's metadata --------------------------------


def test_connector_metadata_holding_a_secret_is_refused_and_the_work_cancelled(flyte_home: Path):
    from flyte.plugin_types import Connector, ConnectorContext, ConnectorStatus
    from flyte.runtime import connectors

    token = "S3CR3T-metadata-38"
    redact.remember(token)  # as task_secrets does for the values a connector is handed
    deleted: list[Any] = []
    created: list[Any] = []

    async def create(context: ConnectorContext, inputs: Any) -> dict[str, str]:
        return {"job_id": "j1", "auth": f"Bearer {context.secrets['token']}"}

    async def get_status(context: ConnectorContext, metadata: Any) -> ConnectorStatus:
        return ConnectorStatus(phase="SUCCEEDED")

    async def delete(context: ConnectorContext, metadata: Any) -> None:
        deleted.append(metadata)

    class Recording(connectors.Recorder):
        async def created(self, job: connectors.Job) -> None:
            created.append(job.metadata)

    connector = Connector(config_type=object, create=create, get=get_status, delete=delete)
    context = ConnectorContext(spec=takes.spec, secrets={"token": token}, action="r/a1")
    with pytest.raises(TypeError, match="returned metadata holding a secret's value") as raised:
        asyncio.run(connectors.follow(connector, context, {}, "r/a1#1", Recording()))
    assert token not in str(raised.value)
    assert created == []  # never recorded
    assert deleted == [{"job_id": "j1", "auth": f"Bearer {token}"}]  # the work it started is cancelled
    assert not connectors.live_jobs()


# -- what a plugin is handed: printed or logged, it shows no value ------------------------------


def test_a_plugins_task_call_shows_its_environments_names_not_their_values():
    from flyte.plugin_types import TaskCall

    async def invoke() -> None:
        return None

    value = "S3CR3T-taskcall-29"
    call = TaskCall(
        spec=takes.spec,
        function=takes.func,
        inputs={"x": "a"},
        environ={"CANARY": value, "MODE": "fast"},
        invoke=invoke,
    )
    for shown in (repr(call), str(call), f"{call}"):
        assert value not in shown and "CANARY" in shown and "MODE" in shown, shown
    assert call.environ["CANARY"] == value  # a plugin that starts processes still hands it on


# -- a task given its own secret as an input: recorded before its attempt is handed it ----------

INPUT_TASKS = """
import os
import flyte

env = flyte.TaskEnvironment(name="checks", secrets=flyte.Secret(key="input_token", as_env_var="TOKEN"))
plain = flyte.TaskEnvironment(name="plain_caller", depends_on=[env])


@env.task
def is_the_token(token: str) -> bool:
    return token == os.environ["TOKEN"]


@plain.task
async def asks(token: str) -> bool:
    return is_the_token(token)
"""


def test_inputs_holding_the_tasks_own_secret_are_masked_in_the_first_records(flyte_home: Path, tmp_path: Path):
    """The run's inputs, and an action's, are recorded before the attempt is handed the secret:
    the root is given its own secret, then a caller without secrets gives it to a task with them
    (each `flyte run` a fresh process: no task was handed the secret before). The caller's own
    record keeps what it was given: nothing says it is a secret when it is recorded."""
    value = "S3CR3T-input-71"
    secret_store.create("input_token", value.encode())
    (tmp_path / "input_tasks.py").write_text(INPUT_TASKS)
    for task in ("is_the_token", "asks"):
        assert flyte_cli(tmp_path, "run", "input_tasks.py", task, "--token", value).startswith("true\n")
    with st.reader() as conn:
        first = conn.execute("SELECT name, inputs FROM runs WHERE task LIKE '%is_the_token'").fetchone()
        checks = [row[0] for row in conn.execute("SELECT inputs FROM actions WHERE task LIKE '%is_the_token'")]
    assert first["inputs"] == '{"token":"***"}' and checks == ['{"token":"***"}'] * 2
    assert value.encode() not in (flyte_home / "pages" / f"{first['name']}.html").read_bytes()
