"""A ``python FILE`` script's own classes cross a reusable environment's process boundary as
the same classes: a worker imports the script as ``__mp_main__`` and gets the script's values
as instances of its classes there, and the script gets a worker's values as instances of its
own (``isinstance``, ``==`` and ``match`` hold on both sides)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import dataclasses
import enum

import flyte

env = flyte.TaskEnvironment(name="script_classes", reusable=flyte.ReusePolicy(replicas=1, idle_ttl=30))


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


def test_a_scripts_classes_are_the_same_classes_on_both_sides(tmp_path: Path):
    (tmp_path / "script_classes.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "script_classes.py"],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "all the same classes" in done.stdout
