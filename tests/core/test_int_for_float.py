"""An int given where a task declares a float is accepted (as Python typing accepts it) and
the task receives a float, as a cluster delivers it: alone, in an optional, in a list, in a
dict's keys and values, in a union, a tuple or a dataclass's fields; the caller's values stay
as passed. A returned int for a float output reaches the caller as a float. A union member
that takes the value as it is wins (``int | float`` and ``float | int`` keep an int), and the
same call with 1 or 1.0 is one cache entry. A numpy integer given for an int arrives as an
int. Each as the reference SDK's type engine delivers it."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import NamedTuple

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


# -- inside composite types, as the reference SDK's type engine delivers them ----------------


@dataclasses.dataclass
class Reading:
    value: float
    samples: list[float]
    at: datetime | None = None
    count: int = 0


class Pair(NamedTuple):
    low: float
    high: float


@env.task
async def composite(
    several: list[float] | str,
    one: float | str,
    pair: tuple[float, int],
    spread: tuple[float, ...],
    named: Pair,
    mixed: dict[str, float | str],
    keyed: dict[float, str],
    reading: Reading,
) -> list[str]:
    return [
        *(type(v).__name__ for v in several),
        type(one).__name__,
        *(type(v).__name__ for v in pair),
        *(type(v).__name__ for v in spread),
        type(named).__name__,
        *(type(v).__name__ for v in named),
        *(f"{k}={type(v).__name__}" for k, v in mixed.items()),
        *(type(k).__name__ for k in keyed),
        type(reading.value).__name__,
        *(type(v).__name__ for v in reading.samples),
        repr(reading.at),
        type(reading.count).__name__,
    ]


def test_ints_inside_unions_tuples_dicts_and_dataclasses_reach_the_task_as_floats():
    reading = Reading(value=1, samples=[2, 2.5], at=datetime(2024, 1, 2), count=3)
    outputs = flyte.run(
        composite,
        several=[1, 2],
        one=3,
        pair=(1, 2),
        spread=(1, 2.5),
        named=Pair(1, 2),
        mixed={"a": 1, "b": "text"},
        keyed={1: "one"},
        reading=reading,
    ).outputs()[0]
    assert outputs == [
        *["float", "float"],  # list[float] | str
        "float",  # float | str given 3
        *["float", "int"],  # tuple[float, int]
        *["float", "float"],  # tuple[float, ...]
        *["Pair", "float", "float"],  # a NamedTuple stays one
        *["a=float", "b=str"],
        "float",  # dict[float, str]'s key
        *["float", "float", "float"],  # the dataclass's fields, nested too
        repr(datetime(2024, 1, 2)),  # a dataclass's datetime as it was, as the reference SDK gives it
        "int",
    ]
    # The caller's objects are not changed.
    assert type(reading.value) is int and type(reading.samples[0]) is int


@env.task
async def union_kept(x: float | int, xs: list[float] | list[int], text: list[float] | str) -> list[str]:
    return [type(x).__name__, *(type(v).__name__ for v in xs), type(text).__name__]


def test_a_union_member_that_takes_the_value_as_it_is_wins():
    # float | int given 3: the reference SDK's union gives int 3 (the member it already is).
    assert flyte.run(union_kept, x=3, xs=[1, 2], text="3").outputs()[0] == ["int", "int", "int", "str"]
    assert flyte.run(union_kept, x=3.5, xs=[1.5, 2], text="3").outputs()[0] == ["float", "float", "float", "str"]


@env.task
async def bag(values: set[float]) -> list[str]:
    return sorted(type(v).__name__ for v in values)


def test_a_set_arrives_as_it_was_given():
    # The reference SDK pickles a set: its ints stay ints there too.
    assert flyte.run(bag, values={1, 2.5}).outputs()[0] == ["float", "int"]


@env.task
async def counted(n: int, ns: list[int], by: dict[str, int | None], p: tuple[int, str]) -> list[str]:
    return [
        type(n).__name__,
        *(type(v).__name__ for v in ns),
        *(type(v).__name__ for v in by.values()),
        type(p[0]).__name__,
    ]


@env.task
def numpy_count() -> int:
    import numpy as np

    return np.int64(7)


@env.task
async def numpy_caller() -> str:
    value = await numpy_count.aio()
    return f"{type(value).__name__} {value!r}"


int_calls = []


@env.task(cache="auto")
async def doubled(n: int) -> int:
    int_calls.append(n)
    return n * 2


def test_a_numpy_integer_for_an_int_reaches_the_task_and_its_caller_as_an_int():
    np = pytest.importorskip("numpy")
    given = [np.int64(1), 2]
    outputs = flyte.run(
        counted, n=np.int64(3), ns=given, by={"a": np.int32(4), "b": None}, p=(np.uint8(5), "x")
    ).outputs()[0]
    assert outputs == ["int", "int", "int", "int", "NoneType", "int"]
    assert type(given[0]) is np.int64  # the caller's list is not changed
    assert flyte.run(numpy_caller).outputs()[0] == "int 7"
    root = flyte.run(numpy_count)
    assert type(root.outputs()[0]) is int
    assert type(Run.get(root.name).outputs()[0]) is int  # the record holds an int, not a pickled numpy scalar
    int_calls.clear()
    assert flyte.run(doubled, n=np.int64(3)).outputs()[0] == 6
    assert flyte.run(doubled, n=3).outputs()[0] == 6
    assert int_calls == [3] and type(int_calls[0]) is int  # one cache entry


@flyte.trace
async def traced(x: float) -> str:
    return type(x).__name__


@env.task
async def tracing() -> str:
    return await traced(3)


def test_a_traced_function_gets_its_arguments_as_given():
    # As the reference SDK's flyte.trace calls the function with the caller's own arguments
    # (only its record is converted): a trace is a plain call, not a task boundary.
    assert flyte.run(tracing).outputs()[0] == "int"


@dataclasses.dataclass
class Node:
    weight: float
    children: list[Node] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Scaled:
    value: float
    scale: dataclasses.InitVar[int] = 1

    def __post_init__(self, scale: int) -> None:
        self.value = self.value * scale


@env.task
async def weights(tree: Node, scaled: Scaled) -> list[str]:
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(type(node.weight).__name__)
        todo.extend(node.children)
    return [*found, repr(scaled.value)]


def test_a_dataclass_that_names_itself_is_converted_all_the_way_down():
    tree = Node(1, [Node(2, [Node(3)]), Node(4.5)])
    # Converted in a copy, not made again: __post_init__ does not run twice (6.0, not 12.0).
    outputs = flyte.run(weights, tree=tree, scaled=Scaled(3, scale=2)).outputs()[0]
    assert outputs == ["float"] * 4 + ["6.0"]
    assert type(tree.children[0].weight) is int  # the caller's tree is not changed


def test_a_dict_subclass_is_converted_too():
    import collections

    named = collections.defaultdict(int, {"a": 1})
    assert flyte.run(types_seen, x=1.0, xs=[1], named=named).outputs()[0] == ["float"] * 3 + ["NoneType"]
    assert type(named["a"]) is int


@dataclasses.dataclass
class Rect:
    w: float
    h: float
    area: float = dataclasses.field(init=False)  # derived from the others
    note: float = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        self.area = self.w * self.h


@dataclasses.dataclass
class Unset:
    x: float
    later: float = dataclasses.field(init=False)  # never set


@env.task
def rect_seen(r: Rect, u: Unset) -> list[str]:
    return [type(r.w).__name__, type(r.area).__name__, type(r.note).__name__, str(r.area), str(hasattr(u, "later"))]


def test_a_dataclass_field_set_by_post_init_is_a_float_as_in_the_reference():
    # flyte 2.12.1 delivers Rect(2, 3) as Rect(w=2.0, h=3.0, area=6.0): its __post_init__ runs
    # on the converted fields. The field converted as the others are gives the same.
    given = Rect(2, 3)
    assert flyte.run(rect_seen, given, Unset(1)).outputs()[0] == ["float", "float", "float", "6.0", "False"]
    assert type(given.area) is int  # the caller's instance as it was
