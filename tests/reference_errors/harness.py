"""Feed the same bad inputs to this library and to the reference SDK (flyte 2.12.1) and compare
what each raises: the exception class (ours must be the reference's class or a subclass, so
``pytest.raises(RefClass)`` passes) and whether one accepts what the other refuses.

Run each interpreter on the cases (``cases.py``), then compare the two outputs::

    /work/ref-venv/bin/python tests/reference_errors/harness.py run ref.jsonl
    PYTHONPATH=core/src:plugins/ray/src .venv/bin/python tests/reference_errors/harness.py run ours.jsonl
    python tests/reference_errors/harness.py table ref.jsonl ours-before.jsonl ours.jsonl

``table`` prints the counts per verdict and a row per input whose verdict or class changed, or
that still differs: ``match`` (same class or a subclass), ``CLASS`` (another class),
``MISSING`` (we accept what the reference refuses), ``ours-stricter`` (the reverse), ``both-ok``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import sys
import types
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


def run(out: str) -> None:
    logging.disable(logging.CRITICAL)
    if importlib.util.find_spec("ray") is None:  # the reference Ray plugin imports ray; its configs need none
        sys.modules["ray"] = types.ModuleType("ray")
    import flyte

    sys.path.insert(0, str(Path(__file__).parent))
    import cases

    flyte.init()
    env = flyte.TaskEnvironment(name="harness_env")
    namespace: dict[str, Any] = {}
    exec(
        "async def t(x: int = 1) -> int:\n    return x\nasync def t2(x: int, y: str = 'a') -> int:\n    return x",
        namespace,
    )
    made = [0]

    def fresh() -> Any:  # a new def function each time: a task name is used once per environment
        made[0] += 1
        exec(f"def fn{made[0]}() -> int:\n    return 1", namespace)
        return namespace[f"fn{made[0]}"]

    base = dict(flyte=flyte, timedelta=timedelta, datetime=datetime, Path=Path, env=env, F=fresh)
    base.update(t=env.task(namespace["t"]), t2=env.task(namespace["t2"]), CRON=flyte.Cron("0 * * * *"))
    with open(out, "w") as sink:
        for index, (case, code) in enumerate(cases.cases()):
            row: dict[str, Any] = {"id": case}
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    exec(code, {**base, "N": f"n{index}", "__name__": "harness_cases"})
                row["result"] = "ok"
            except Exception as exc:
                row.update(
                    result="raise",
                    cls=f"{type(exc).__module__}.{type(exc).__qualname__}",
                    mro=[f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__],
                    msg=str(exc)[:400],
                )
            sink.write(json.dumps(row) + "\n")


def _load(path: str) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in map(json.loads, Path(path).read_text().splitlines())}


def _catchable(row: dict[str, Any]) -> str:
    """The reference's class a test would catch: the first builtin or flyte.errors class."""
    return next(c for c in row["mro"] if c.startswith(("builtins.", "flyte.errors.")))


def _verdict(ref: dict[str, Any], ours: dict[str, Any]) -> str:
    if ref["result"] == "ok":
        return "both-ok" if ours["result"] == "ok" else "ours-stricter"
    if ours["result"] == "ok":
        return "MISSING"
    return "match" if _catchable(ref) in ours["mro"] else "CLASS"


def table(ref_path: str, before_path: str, after_path: str) -> None:
    ref, before, after = _load(ref_path), _load(before_path), _load(after_path)

    def cell(row: dict[str, Any]) -> str:
        return "accepted" if row["result"] == "ok" else row["cls"].rsplit(".", 1)[-1]

    counts: dict[str, dict[str, int]] = {"before": {}, "after": {}}
    rows = []
    for case, reference in ref.items():
        was, now = _verdict(reference, before[case]), _verdict(reference, after[case])
        counts["before"][was] = counts["before"].get(was, 0) + 1
        counts["after"][now] = counts["after"].get(now, 0) + 1
        if was != now or now in ("MISSING", "CLASS") or cell(before[case]) != cell(after[case]):
            rows.append(
                f"| `{case}` | {cell(reference)} | {cell(before[case])} ({was}) | {cell(after[case])} ({now}) |"
            )
    print(json.dumps(counts))
    print("| input | reference 2.12.1 | ours before | ours after |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    {"run": run, "table": table}[sys.argv[1]](*sys.argv[2:])
