"""A secret's value appears nowhere but in the secret store: not in the run store, cache, run
pages, reports, rendered manifests, Dockerfiles, or anything the command line prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flyte.remote import Run
from flyte.runtime import secret_store

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
