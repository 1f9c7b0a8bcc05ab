"""Fixtures shared by every test package.

Every test runs with a private state root (``FLYTE_HOME``) and its own plugin registry, so no
test reads or writes ``~/.flyte`` or depends on what happens to be installed.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the tests' own helpers (kubeschema)

from kubeschema.validate import validate_path  # noqa: E402

# Started in the background by a shell without job control (`make test &`, some CI runners),
# the suite inherits SIGINT ignored, and so would every process it starts: the tests that press
# Ctrl-C on a run would wait forever. A handled signal is reset to its default by exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def flyte_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state root for each test."""
    home = tmp_path_factory.mktemp("flyte-home")
    monkeypatch.setenv("FLYTE_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def fresh_registry():
    """A plugin registry of the installed entry points, private to the test."""
    from flyte.plugins import PluginRegistry, use_registry

    with use_registry(PluginRegistry()) as registry:
        yield registry


def validate_manifests(path: Path) -> list[str]:
    """Problems of every object in a file or folder (tests/kubeschema); [] when all are valid."""
    return validate_path(path)


def render_valid(task, tmp_path: Path) -> dict:
    """Render ``task`` (one object expected), assert it is valid (tests/kubeschema), return it."""
    from flyte.render.context import RenderContext
    from flyte.render.render import render_task
    from kubeschema.validate import validate

    (obj,) = render_task(task, RenderContext())
    problems = validate(obj)
    assert not problems, "\n".join(problems)
    return obj
