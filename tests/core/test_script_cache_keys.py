"""A script's cached task hits the same entry whether the script was started with
``python FILE`` (its module is ``__main__``) or loaded by ``flyte run FILE`` (its real name):
the key names the script's own types by the real name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_process import flyte_cli
from flyte import _codec

SCRIPT = """
import dataclasses
import enum
from pathlib import Path

import flyte

env = flyte.TaskEnvironment(name="script_keys")


class Mode(enum.Enum):
    FAST = "fast"


@dataclasses.dataclass
class Settings:
    n: int
    mode: Mode = Mode.FAST


@dataclasses.dataclass
class Result:
    total: int


@env.task(cache="auto")
def scale(settings: Settings) -> Result:
    with open(Path(__file__).with_name("bodies.txt"), "a") as f:
        f.write("ran\\n")
    return Result(total=settings.n * 10)


if __name__ == "__main__":
    flyte.init()
    print("result", flyte.run(scale, settings=Settings(n=2)).outputs())
"""


def test_python_file_and_flyte_run_file_share_cache_entries(tmp_path: Path):
    (tmp_path / "keys_script.py").write_text(SCRIPT)
    first = subprocess.run(
        [sys.executable, "keys_script.py"], cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True
    )
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
