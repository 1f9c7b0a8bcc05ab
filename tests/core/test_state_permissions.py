"""The state root is private to the user: folders 0700, files 0600, whatever the umask, and a
root left readable by an older version is tightened when it is next used."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import flyte
import flyte.report
from flyte.cli.main import build_cli
from flyte.runtime import secret_store
from flyte.runtime import store as st


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask, so only flyte's own modes can keep files private."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, tuple[int, int]]:
    """Each path under ``root``: (its permission bits, the bits flyte's rule asks for)."""
    seen = {}
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        seen[str(path.relative_to(root))] = (stat.S_IMODE(mode), 0o700 if stat.S_ISDIR(mode) else 0o600)
    return seen


env = flyte.TaskEnvironment(
    name="perms", cache="auto", secrets=[flyte.Secret("token", as_env_var="TOKEN")], env_vars={"A": "1"}
)


@env.task(report=True)
async def reporting(x: int) -> int:
    flyte.report.log(f"<p>{x}</p>")
    return x + len(os.environ["TOKEN"])


def test_everything_flyte_writes_is_private_to_the_user(flyte_home: Path, open_umask: None):
    flyte_home.rmdir()  # flyte creates the root itself
    secret_store.create("token", b"tok", project="p")
    secret_store.create("token", b"tok")
    flyte.init()
    run = flyte.run(reporting, x=1)
    assert run.outputs() == 4
    assert CliRunner().invoke(build_cli(), ["runs", "show", run.name]).exit_code == 0
    with st.reader() as conn:  # the WAL and shared-memory files exist while a connection is open
        conn.execute("INSERT INTO triggers (task, name, active, deployed_at) VALUES ('t', 'n', 0, 0)")
        seen = modes(flyte_home)
    assert {"runs.db", "runs.db-wal", "runs.db-shm", "local-cache/cache.db", f"pages/{run.name}.html"} <= set(seen)
    assert any(name.endswith("report.html") for name in seen)
    assert "secrets/project=p/token" in seen
    for name, (mode, wanted) in seen.items():
        assert mode == wanted, f"{name} is {oct(mode)}"


def test_a_root_written_by_an_older_version_is_tightened_when_used(flyte_home: Path, open_umask: None):
    # What an older version left: readable folders and databases (secret files were 0600).
    for folder in ("secrets/_org", "runs/r1", "local-cache"):
        (flyte_home / folder).mkdir(parents=True, mode=0o755)
    for db in ("runs.db", "local-cache/cache.db"):
        sqlite3.connect(flyte_home / db).execute("CREATE TABLE t (x)").connection.close()
    (flyte_home / "runs/r1/index.html").write_text("<p>page</p>")
    (flyte_home / "secrets/_org/token").write_bytes(b"tok")
    elsewhere = flyte_home / "notes.txt"  # not flyte's: left as it is
    elsewhere.write_text("mine")
    for path in [flyte_home, *flyte_home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    result = CliRunner().invoke(build_cli(), ["runs", "list"])
    assert result.exit_code == 0, result.output
    seen = modes(flyte_home)
    assert seen.pop("notes.txt")[0] == 0o644
    for name, (mode, wanted) in seen.items():
        assert mode == wanted, f"{name} is {oct(mode)}"


def test_a_shared_sticky_folder_as_the_root_keeps_its_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: never made private, but flyte's own entries are
    monkeypatch.setenv("FLYTE_HOME", str(shared))
    secret_store.create("token", b"tok")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "secrets").stat().st_mode) == 0o700
