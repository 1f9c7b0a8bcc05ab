"""A ``python FILE`` script's own classes (its dataclasses and enums), wherever a value of one
goes:

- the cache: a cached task hits the same entry whether the script was started with
  ``python FILE`` (its module is ``__main__``) or loaded by ``flyte run FILE`` (its real
  name): keys name the script's types by the real name;
- a reusable environment's workers: a worker imports the script as ``__mp_main__`` and gets the
  script's values as instances of its classes there, and the script gets a worker's values as
  instances of its own (``isinstance``, ``==`` and ``match`` hold on both sides).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_process import flyte_cli
from flyte import _codec

# The script's own types, the same in both scripts below.
TYPES = """
import dataclasses
import enum
from pathlib import Path

import flyte


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclasses.dataclass
class Settings:
    n: int
    mode: Mode = Mode.FAST


@dataclasses.dataclass
class Result:
    total: int
    mode: Mode
"""

CACHED = (
    TYPES
    + """
env = flyte.TaskEnvironment(name="script_keys")


@env.task(cache="auto")
def scale(settings: Settings) -> Result:
    with open(Path(__file__).with_name("bodies.txt"), "a") as f:
        f.write("ran\\n")
    return Result(total=settings.n * 10, mode=settings.mode)


if __name__ == "__main__":
    flyte.init()
    print("result", flyte.run(scale, settings=Settings(n=2)).outputs())
"""
)

POOLED = (
    TYPES
    + """
env = flyte.TaskEnvironment(name="script_classes", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=30))


@env.task
def scale(settings: Settings) -> Result:
    assert isinstance(settings, Settings), (type(settings), Settings)
    match settings.mode:
        case Mode.FAST:
            return Result(total=settings.n * 10, mode=settings.mode)
    raise AssertionError(settings.mode)


@env.task
async def fan(n: int) -> list[Result]:
    results = [await scale.aio(Settings(n=i)) for i in range(n)]
    assert all(isinstance(r, Result) for r in results), [type(r) for r in results]
    assert results[1] == Result(total=10, mode=Mode.FAST)
    return results


if __name__ == "__main__":
    flyte.init()
    direct = flyte.run(scale, settings=Settings(n=4)).outputs()[0]
    assert isinstance(direct, Result) and direct == Result(total=40, mode=Mode.FAST), direct
    fanned = flyte.run(fan, n=3).outputs()[0]
    assert fanned == [Result(total=i * 10, mode=Mode.FAST) for i in range(3)], fanned
    print("all the same classes")
"""
)


def python_file(cwd: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    """Write the script ``name`` and run it as ``python FILE`` in ``cwd``."""
    (cwd / name).write_text(text)
    return subprocess.run(
        [sys.executable, name], cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=300
    )


def test_python_file_and_flyte_run_file_share_cache_entries(tmp_path: Path):
    first = python_file(tmp_path, "keys_script.py", CACHED)
    assert first.returncode == 0, first.stderr
    assert "result" in first.stdout and "total=20" in first.stdout
    second = flyte_cli(tmp_path, "run", "keys_script.py", "scale", "--settings", '{"n": 2, "mode": "fast"}')
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "bodies.txt").read_text() == "ran\n"  # the second was a hit
    third = flyte_cli(tmp_path, "run", "keys_script.py", "scale", "--settings", '{"n": 3, "mode": "fast"}')
    assert third.returncode == 0, third.stderr
    assert (tmp_path / "bodies.txt").read_text() == "ran\nran\n"  # other inputs: another key


def test_a_scripts_types_are_named_and_found_by_its_real_name(monkeypatch):
    import __main__

    Local = type("Local", (), {"__module__": "__main__", "__qualname__": "Local"})
    monkeypatch.setattr(__main__, "Local", Local, raising=False)
    monkeypatch.setattr(_codec, "main_module_name", lambda: "pkg.never_imported_script")
    monkeypatch.setattr(_codec, "real_name", lambda m: "pkg.never_imported_script" if m == "__main__" else m)
    assert _codec._qualname(Local) == "pkg.never_imported_script:Local"
    assert _codec._import("pkg.never_imported_script:Local") is Local  # this process runs it as __main__
    assert _codec._import("__main__:Local") is Local  # what older records hold


def test_a_scripts_classes_are_the_same_classes_on_both_sides_of_a_pool(tmp_path: Path):
    done = python_file(tmp_path, "script_classes.py", POOLED)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "all the same classes" in done.stdout
