"""The trivial task whose `flyte run` cold start the benchmark times (ours and the reference's)."""

import flyte

env = flyte.TaskEnvironment(name="cold_start")


@env.task
def trivial() -> int:
    return 1
