"""Two processes using the secret store at once (``flyte create/delete secret`` in one shell,
``flyte.remote.Secret`` or a task in another): a secret removed by the other process between
looking and reading is "not found", never a raw FileNotFoundError, and the store is never left
with a half-written value or a temporary file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flyte
import flyte.remote
from flyte.errors import SecretNotFoundError
from flyte.runtime import secret_store

_vanish_after_check = Path.is_file


def _gone_once_checked(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Remove ``path`` right after it is checked: what another process's delete does then."""

    def is_file(self: Path) -> bool:
        found = _vanish_after_check(self)
        if found and self == path:
            path.unlink()
        return found

    monkeypatch.setattr(Path, "is_file", is_file)


def test_delete_racing_another_delete_is_not_found(monkeypatch):
    path = secret_store.create("token", b"v1")
    unlink = Path.unlink

    def other_process_first(self: Path, missing_ok: bool = False) -> None:
        if self == path:
            unlink(self, missing_ok=True)  # the other `flyte delete secret token` won
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", other_process_first)
    with pytest.raises(SecretNotFoundError, match="secret 'token' not found"):
        secret_store.delete("token")


def test_a_task_reading_a_secret_deleted_meanwhile_gets_the_next_scope_or_not_found(monkeypatch):
    secret_store.create("token", b"org-wide")
    scoped = secret_store.create("token", b"scoped", "team", "dev")
    _gone_once_checked(monkeypatch, scoped)
    assert secret_store.get("token", "team", "dev") == b"org-wide"


def test_listing_while_a_secret_is_deleted_lists_the_others(monkeypatch):
    flyte.init()
    secret_store.create("kept", b"1")
    secret_store.create("gone", b"2")
    names = secret_store.list_names

    def list_then_delete(project=None, domain=None):
        found = names(project, domain)
        if "gone" in found:
            secret_store.delete("gone", project, domain)
        return found

    monkeypatch.setattr(secret_store, "list_names", list_then_delete)
    assert [s.name for s in flyte.remote.Secret.listall()] == ["kept"]
    with pytest.raises(SecretNotFoundError):
        flyte.remote.Secret.get("gone")


_WORKER = textwrap.dedent(
    """
    import sys
    import flyte, flyte.remote
    from flyte.errors import SecretNotFoundError
    flyte.init()
    problems = []
    for i in range(150):
        for op in ("create", "get", "list", "delete"):
            try:
                if op == "create":
                    flyte.remote.Secret.create("shared", f"value-{sys.argv[1]}-{i}")
                elif op == "get":
                    flyte.remote.Secret.get("shared")
                elif op == "list":
                    list(flyte.remote.Secret.listall())
                else:
                    flyte.remote.Secret.delete("shared")
            except SecretNotFoundError:
                pass
            except Exception as error:
                problems.append(f"{op}: {type(error).__name__}: {error}")
    print("\\n".join(problems[:5]))
    """
)


def test_two_processes_creating_and_deleting_one_secret_see_only_not_found():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(n)], env=env, stdout=subprocess.PIPE, text=True)
        for n in (1, 2)
    ]
    outputs = [w.communicate()[0].strip() for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    assert outputs == ["", ""]
    folder = Path(os.environ["FLYTE_HOME"]) / "secrets" / secret_store.ORG
    leftovers = list(folder.iterdir()) if folder.exists() else []
    assert all(not p.name.startswith(".tmp-") for p in leftovers)
    for p in leftovers:  # whatever is left is one whole value a worker wrote
        if p.name == ".types":  # and the whole type records of what they created
            assert all(record.read_bytes() == b"regular" for record in p.iterdir())
            continue
        assert p.read_bytes().startswith(b"value-")
