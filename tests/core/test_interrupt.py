"""Ctrl-C during ``flyte.run`` cancels the run's tasks, so what they started (an engine, a
process) is cleaned up before the process exits."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ctrl_c import interrupt_once_started
from flyte.remote import Run

SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    import flyte

    env = flyte.TaskEnvironment(name="interrupted")

    @env.task
    async def waits(marker: str) -> int:
        Path(marker).write_text("started")
        try:
            await asyncio.sleep(600)
        except asyncio.CancelledError:  # where a plugin stops what it started
            Path(marker + ".cancelled").write_text("yes")
            raise
        return 1

    if __name__ == "__main__":
        flyte.init()
        flyte.with_runcontext(name="interrupted-run").run(waits, sys.argv[1])
""")


def test_ctrl_c_cancels_the_run_and_the_process_exits(tmp_path, flyte_home):
    script = tmp_path / "interrupted.py"
    script.write_text(SCRIPT)
    marker = tmp_path / "marker"
    returncode, stderr = interrupt_once_started(script, marker, flyte_home=flyte_home)
    assert "KeyboardInterrupt" in stderr
    assert returncode != 0
    assert Path(f"{marker}.cancelled").read_text() == "yes"  # the task saw the cancellation
    assert Run.get("interrupted-run").phase == "ABORTED"
