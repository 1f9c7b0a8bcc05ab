"""An int given where a task declares a float is accepted (as Python typing accepts it) and
the task receives a float, as a cluster delivers it: alone, in an optional, in a list, in a
dict's values; the caller's values stay as passed. A returned int for a float output reaches
the caller as a float. A union of several types (``int | float``) keeps the value's own type,
and the same call with 1 or 1.0 is one cache entry."""

from __future__ import annotations

import pytest

import flyte
from flyte.remote import Run

env = flyte.TaskEnvironment(name="int_for_float")


@env.task
async def types_seen(x: float, xs: list[float], named: dict[str, float], maybe: float | None = None) -> list[str]:
    return [
        type(x).__name__,
        *(type(v).__name__ for v in xs),
        *(type(v).__name__ for v in named.values()),
        type(maybe).__name__,
    ]


@env.task
async def either(x: int | float) -> str:
    return type(x).__name__


@env.task
def whole() -> float:
    return 3


@env.task
async def caller() -> str:
    value = await whole.aio()
    return f"{type(value).__name__} {value!r}"


calls = []


@env.task(cache="auto")
async def halved(x: float) -> float:
    calls.append(x)
    return x / 2


def test_an_int_for_a_float_reaches_the_task_as_a_float_and_the_callers_values_stay():
    xs, named = [1, 2.5], {"a": 1}
    run = flyte.run(types_seen, x=1, xs=xs, named=named, maybe=4)
    assert run.outputs()[0] == ["float"] * 5
    assert xs == [1, 2.5] and type(xs[0]) is int and type(named["a"]) is int  # not changed in place
    assert flyte.run(types_seen, x=1.5, xs=[], named={}).outputs()[0] == ["float", "NoneType"]


def test_a_union_of_int_and_float_keeps_the_values_own_type():
    assert flyte.run(either, x=2).outputs()[0] == "int"
    assert flyte.run(either, x=2.0).outputs()[0] == "float"


def test_a_returned_int_for_a_float_output_reaches_the_caller_and_the_record_as_a_float():
    run = flyte.run(caller)
    assert run.outputs()[0] == "float 3.0"
    root = flyte.run(whole)
    assert type(root.outputs()[0]) is float
    assert type(Run.get(root.name).outputs()[0]) is float


def test_one_and_one_point_zero_are_one_cache_entry():
    calls.clear()
    assert flyte.run(halved, x=1).outputs()[0] == 0.5
    assert flyte.run(halved, x=1.0).outputs()[0] == 0.5
    assert calls == [1.0] and type(calls[0]) is float


@env.task
async def seen(x: float, xs: list[float]) -> list[str]:
    return [type(x).__name__, *(type(v).__name__ for v in xs)]


def test_a_numpy_number_for_a_float_reaches_the_task_as_a_float_and_keys_the_cache_as_one():
    # The type check accepts any real number but bool (numbers.Real, as numpy registers its
    # scalars): the task gets the float a cluster would deliver, not a numpy scalar.
    np = pytest.importorskip("numpy")
    given = [np.int64(2), np.float32(0.5)]
    assert flyte.run(seen, x=np.int32(1), xs=given).outputs()[0] == ["float"] * 3
    assert type(given[0]) is np.int64  # the caller's list is not changed
    calls.clear()
    assert flyte.run(halved, x=np.int64(3)).outputs()[0] == 1.5
    assert flyte.run(halved, x=3.0).outputs()[0] == 1.5
    assert calls == [3.0] and type(calls[0]) is float
