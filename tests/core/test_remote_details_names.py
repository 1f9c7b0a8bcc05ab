"""``flyte.remote.RunDetails`` and ``ActionDetails`` (the reference SDK's full records, used by
public code as ``RunDetails.get(name=...)``) read the same records as ``Run`` and ``Action``."""

from __future__ import annotations

import flyte
import flyte.remote

env = flyte.TaskEnvironment(name="details_names")


@env.task
def double(n: int) -> int:
    return 2 * n


def test_run_details_and_action_details_get_the_recorded_run_and_action():
    flyte.init()
    run = flyte.run(double, 4)
    details = flyte.remote.RunDetails.get(name=run.name)
    assert details.outputs()[0] == 8 and details.phase == "SUCCEEDED"
    action = flyte.remote.ActionDetails.get(run_name=run.name, name="a0")
    assert action.task_name == "details_names.double" and action.phase == "SUCCEEDED"
