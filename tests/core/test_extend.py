"""``flyte.extend`` is the whole boundary a plugin author sees, and the in-tree plugins keep to it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import flyte
import flyte.extend

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = [
    *sorted((REPO / "plugins").glob("*/src/**/*.py")),
    *sorted((REPO / "connectors").glob("*/src/**/*.py")),
    *sorted((REPO / "examples" / "flyte-isolated" / "src").glob("**/*.py")),
]


@pytest.mark.parametrize("name", flyte.extend.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(flyte.extend, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        flyte.extend.nope  # noqa: B018


def test_hook_markers_and_records_load_without_rendering_or_pickling_code() -> None:
    code = (
        "import sys; from flyte.extend import hookimpl, TaskPlugin, TaskCall; "
        "print(sorted(m for m in ('flyte.render.pod', 'flyte.shipping', 'cloudpickle') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _flyte_imports(path: Path) -> list[str]:
    """Every ``flyte``/``flyte.x`` module or name a file imports (relative imports excluded)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "flyte":
                found += [f"flyte.{a.name}" for a in node.names]
            elif node.module.startswith("flyte."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("flyte.")]
    return found


def test_in_tree_plugins_import_only_the_public_boundary() -> None:
    assert PLUGIN_SOURCES, "no plugin sources found"
    allowed = {"flyte.extend"} | {f"flyte.{name}" for name in flyte.__all__}
    offenders = {
        f"{path.relative_to(REPO)}: {name}"
        for path in PLUGIN_SOURCES
        for name in _flyte_imports(path)
        if name not in allowed
    }
    assert not offenders, "plugins must import flyte.extend or public flyte names only:\n" + "\n".join(
        sorted(offenders)
    )
