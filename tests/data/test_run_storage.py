"""Run storage: each run writes under its own prefix, and cached outputs outlive their run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import flyte
from flyte.io import File


def test_each_run_writes_under_its_own_prefix_and_cached_data_outlives_it(tmp_path: Path) -> None:
    flyte.init(storage=str(tmp_path / "store"))
    env = flyte.TaskEnvironment(name="prefixes")

    @env.task
    def note(text: str) -> File:
        ctx = flyte.ctx()
        f = File.new_remote("note.txt")
        with f.open_sync("w") as fh:
            fh.write(text)
        assert f.path.startswith(ctx.raw_data_path + "/")
        return f

    @env.task(cache="auto")
    def table(n: int) -> pd.DataFrame:
        return pd.DataFrame({"n": range(n)})

    @env.task
    def main(text: str) -> list:
        f = note(text)
        return [f, table(4)]

    first = flyte.run(main, "same")
    second = flyte.run(main, "same")
    (f1, t1), (f2, t2) = first.outputs()[0], second.outputs()[0]
    assert t1.equals(t2)
    root = str(tmp_path / "store")
    assert f1.path.startswith(f"{root}/{first.name}/data/") and f2.path.startswith(f"{root}/{second.name}/data/")
    assert f1.path != f2.path  # the same task, the same input: two runs never share a key
    # The second run's table came from the cache: the data written by the first run.
    assert [a.cache for a in second.actions() if a.task == "prefixes.table"] == ["hit"]
    stored = [p for p in (tmp_path / "store").rglob("data.parquet")]
    assert len(stored) == 1 and f"/{first.name}/data/" in str(stored[0])
    assert t2["n"].tolist() == [0, 1, 2, 3]
    flyte.init()
