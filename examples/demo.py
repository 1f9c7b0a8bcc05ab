"""The demo: a small pipeline across three environments, run twice.

It shows parallel children (asyncio.gather), a transient failure that is retried, results
cached by content (the second run reuses them), an HTML report, and the run records you can
inspect afterwards. Run it with `make run` or `python examples/demo.py`.
"""

from __future__ import annotations

import asyncio
import math
import os
import random

import flyte

# Data loading: cached, so a second run with the same inputs reuses the shards.
data_env = flyte.TaskEnvironment(
    name="data",
    resources=flyte.Resources(cpu=1, memory="512Mi"),
    cache="auto",
)

# Training: its own environment variables; the fit fails once (a flaky dependency) and is
# retried with a short backoff.
train_env = flyte.TaskEnvironment(
    name="train",
    resources=flyte.Resources(cpu=(1, 2), memory=("1Gi", "2Gi")),
    env_vars={"MODEL_KIND": "least-squares"},
)

# The pipeline calls tasks of both environments, so it declares them in depends_on.
env = flyte.TaskEnvironment(name="pipeline", depends_on=[data_env, train_env])

_fit_calls = {"count": 0}


@data_env.task
async def load_shard(shard: int, size: int = 200) -> list[tuple[float, float]]:
    """A deterministic shard of noisy points on the line y = 3x + 1."""
    rng = random.Random(shard)
    await asyncio.sleep(0.2)  # pretend to read from slow storage
    return [(x, 3 * x + 1 + rng.gauss(0, 0.5)) for x in (rng.uniform(0, 10) for _ in range(size))]


@train_env.task(retries=flyte.RetryStrategy(count=2, backoff=flyte.Backoff(base=0.1, factor=2, cap=1)))
async def fit(points: list[tuple[float, float]]) -> dict[str, float | str]:
    """Least-squares slope and intercept; the first attempt of each process fails."""
    _fit_calls["count"] += 1
    if _fit_calls["count"] == 1:
        raise ConnectionError("feature store briefly unavailable")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return {"slope": slope, "intercept": my - slope * mx, "model": os.environ["MODEL_KIND"]}


@env.task(report=True)
async def main(shards: int = 4) -> dict[str, float]:
    """Load shards in parallel, fit a line, and report the result."""
    data = await asyncio.gather(*(load_shard(i) for i in range(shards)))
    points = [p for shard in data for p in shard]
    model = await fit(points)
    rmse = math.sqrt(sum((y - (model["slope"] * x + model["intercept"])) ** 2 for x, y in points) / len(points))
    flyte.report.log(
        f"<p>Fitted y = {model['slope']:.3f}x + {model['intercept']:.3f} on {len(points)} points "
        f"({shards} shards); RMSE {rmse:.3f}.</p>"
    )
    return {"slope": round(model["slope"], 3), "intercept": round(model["intercept"], 3), "rmse": round(rmse, 3)}


def _summary(run: flyte.remote.Run) -> str:
    actions = run.actions()
    cached = sum(1 for a in actions if a.cache == "hit")
    retried = sum(1 for a in actions if a.attempts > 1)
    return f"{len(actions)} actions, {cached} cache hits, {retried} retried"


if __name__ == "__main__":
    flyte.init()
    for label in ("first run", "second run"):
        run = flyte.run(main, shards=4)
        print(f"{label}: {run.name} -> {run.outputs()[0]}  ({_summary(run)})")
    print()
    print("Where to look next:")
    print(f"  run page and report:  {run.url}")
    print(f"  the run's actions:    .venv/bin/flyte runs show {run.name}")
    print("  all runs:             .venv/bin/flyte runs list")
    print("  in a browser:         .venv/bin/flyte ui  (then http://127.0.0.1:8765/)")
    print("  run one task:         .venv/bin/flyte run examples/demo.py main --shards 8")
