"""Fixtures shared by every test package.

Every test runs with a private state root (``FLYTE_HOME``) and its own plugin registry, so no
test reads or writes ``~/.flyte`` or depends on what happens to be installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
VALIDATOR = SHARED / "tools" / "validate_manifests.py"


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


def validate_manifests(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the shared validator on a file or folder; the result's returncode is 0 when valid."""
    return subprocess.run([sys.executable, str(VALIDATOR), str(path)], capture_output=True, text=True, check=False)


def render_valid(task, tmp_path: Path) -> dict:
    """Render ``task`` (one object expected), assert the shared validator accepts it, return it."""
    import yaml

    from flyte.render.context import RenderContext
    from flyte.render.render import render_task

    (obj,) = render_task(task, RenderContext())
    path = tmp_path / f"{obj['kind'].lower()}.yaml"
    path.write_text(yaml.safe_dump(obj))
    result = validate_manifests(path)
    assert result.returncode == 0, result.stdout + result.stderr
    return obj
