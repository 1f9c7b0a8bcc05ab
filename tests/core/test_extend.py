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


class _PluginWarning(UserWarning):
    pass


def _a_task_body() -> None:  # the "task" a plugin warns about
    pass


def test_warn_at_definition_points_at_the_task_once() -> None:
    """A plugin's warning about a task is shown at the task's ``def`` line (not the plugin's),
    and once there under the default filters however many calls warn."""
    import warnings

    from flyte.extend import warn_at_definition

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        for _ in range(3):
            warn_at_definition("t: 12Gi workers on an 8Gi machine", _PluginWarning, _a_task_body)
    assert len(seen) == 1
    (w,) = seen
    assert w.category is _PluginWarning and str(w.message) == "t: 12Gi workers on an 8Gi machine"
    assert (w.filename, w.lineno) == (__file__, _a_task_body.__code__.co_firstlineno)


def test_warn_at_definition_without_code_warns_at_the_caller() -> None:
    import functools
    import warnings

    from flyte.extend import warn_at_definition

    def plugin_runner() -> None:
        warn_at_definition("no code object", _PluginWarning, functools.partial(print))

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        plugin_runner()  # the runner's caller: this line
    assert [w.lineno for w in seen] == [sys._getframe().f_lineno - 1]
