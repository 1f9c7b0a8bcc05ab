"""The child-call hot path's shortcuts give exactly what the general code gives: the compiled
binder against ``inspect.Signature.bind``, the codec's prebuilt encoders against
``json.JSONEncoder``, and a call tree deeper than the levels whose stack depth is not looked up."""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import math
from typing import Any

import pytest

import flyte
from flyte import _codec
from flyte._binding import Binder
from flyte.errors import InputTypeError
from flyte.runtime import store as st
from flyte.runtime.controller import FRESH_STACK_AFTER, SHALLOW_LEVELS


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()


def plain(a, b=2, c=None): ...
def keyword_only(a, *, k, m=3): ...
def no_params(): ...
def variadic(a, *rest, **named): ...
def positional_only(a, /, b=1): ...
def one(x): ...
def two(y, x): ...
def four(d, c, b, a=0): ...


# (function, args, kwargs): good calls and bad ones, each compared with Signature.bind.
CALLS: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
    (plain, (1,), {}),
    (plain, (1, 5, 6), {}),
    (plain, (), {"a": 1}),
    (plain, (1,), {"c": 9}),
    (plain, (), {"c": 9, "a": 1}),  # keywords out of turn: bound in parameter order
    (plain, (), {"c": 9, "b": 8, "a": 1}),
    (plain, (1, 2, 3, 4), {}),  # too many
    (plain, (1,), {"a": 1}),  # a twice
    (plain, (1,), {"z": 1}),  # unknown
    (plain, (), {}),  # a missing
    (plain, (), {"b": 1}),
    (keyword_only, (1,), {"k": 2}),
    (keyword_only, (), {"k": 2, "a": 1, "m": 4}),
    (keyword_only, (1, 2), {}),  # k passed positionally
    (keyword_only, (1,), {}),  # k missing
    (no_params, (), {}),
    (no_params, (1,), {}),
    (no_params, (), {"x": 1}),
    (variadic, (1, 2, 3), {"x": 4}),
    (variadic, (), {"x": 4}),
    (positional_only, (1,), {"b": 2}),
    (positional_only, (), {"a": 1}),
    # Every parameter passed positionally: bound by a dict made per arity (_binding._by_position).
    (one, (1,), {}),
    (one, (1, 2), {}),  # too many
    (two, ("y", "x"), {}),  # parameter order, not sorted
    (four, (1, 2, 3, 4), {}),
    (four, (1, 2, 3), {}),  # a default applied
    (no_params, (), {}),
]


def _reference(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except TypeError as exc:
        return ("TypeError", str(exc))
    bound.apply_defaults()
    return list(bound.arguments.items())


@pytest.mark.parametrize(("func", "args", "kwargs"), CALLS)
def test_binder_gives_what_signature_bind_gives(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Same names, values and order (defaults applied), or the same TypeError message."""
    binder = Binder(inspect.signature(func))
    try:
        ours: Any = list(binder.bind(args, kwargs).items())
    except TypeError as exc:
        ours = ("TypeError", str(exc))
    assert ours == _reference(func, args, kwargs)


env = flyte.TaskEnvironment(name="hot")


@env.task
async def add(a: int, b: int = 10, *, scale: int = 1) -> int:
    return (a + b) * scale


@env.task
async def caller(calls: list[dict[str, Any]]) -> list[int]:
    return list(await asyncio.gather(*(add(*c.get("args", ()), **c.get("kwargs", {})) for c in calls)))


def test_a_bad_call_names_the_task_and_the_parameter() -> None:
    with pytest.raises(TypeError, match=r"hot\.add: .*'a'"):
        add.bind((), {"b": 1})
    with pytest.raises(TypeError, match=r"hot\.add: .*unexpected keyword argument 'c'"):
        add.bind((1,), {"c": 1})
    with pytest.raises(InputTypeError, match=r"hot\.add: input 'b' expects int, got str"):
        add.bind((1, "x"), {})
    # Defaults come back in parameter order, whichever order the keywords came in.
    assert list(add.bind((), {"scale": 2, "a": 1}).items()) == [("a", 1), ("b", 10), ("scale", 2)]


def test_child_calls_bind_through_the_binder_and_are_recorded_in_order() -> None:
    """Positional, keyword and defaulted child calls inside a run; each child's recorded
    inputs are its bound inputs in parameter order."""
    calls = [{"args": [1]}, {"args": [1, 2]}, {"kwargs": {"scale": 3, "a": 2}}, {"args": [4], "kwargs": {"b": 0}}]
    run = flyte.run(caller, calls)
    assert run.outputs() == [11, 3, 36, 4]
    with st.reader() as conn:  # rows by column name (sqlite3.Row)
        rows = [r for r in st.action_rows(conn, run.name, None, -1, 0) if r["task"] == "hot.add"]
    assert [json.loads(r["inputs"]) for r in rows] == [
        {"a": 1, "b": 10, "scale": 1},
        {"a": 1, "b": 2, "scale": 1},
        {"a": 2, "b": 10, "scale": 3},
        {"a": 4, "b": 0, "scale": 1},
    ]
    assert [r["outputs"] for r in rows] == ["11", "3", "36", "4"]
    assert {(r["status"], r["attempts"]) for r in rows} == {(st.SUCCEEDED, 1)}


class Flag(enum.IntEnum):
    ON = 1


class Count(int):
    pass


class Name(str):
    pass


VALUES = [0, -7, 2**70, -(2**63), "", "plain", 'quote " and \\ and \n', "é ✓ 😀", None, True, False, {}, {"i": 1}]
VALUES += ["\x00\x1f\x7f \u2028 \ud800 \t", 0.0, -0.0, 1.5, -2.5e-8, 1e16, 1e300, 5e-324, 0.1 + 0.2]
VALUES += [math.nan, math.inf, -math.inf, {"x": math.nan}, {"b": 1.5, "a": -math.inf}]
VALUES += [{"b": "x", "a": None, "c": True, "é": "✓"}, {"$t": "tuple"}, {"$t": 1, "a": 2}, {"z": 0.5}]
VALUES += [Flag.ON, Count(3), Name("n"), {"f": Flag.ON}, {"c": Count(3)}, {"n": Name("n")}, {Name("k"): 1}]
VALUES += [{1: "a"}, {"a": 1, 2: "b"}, {"a": [1, 2]}, {"a": {"b": 1}}, {"a": (1,)}, {"a": b"x"}, [1, "a"]]
VALUES += [{"b": 2, "a": 1, "c": 0.25}, {"b": 2, "a": Count(1)}, {"": 0, " ": 1}]


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("value", VALUES)
def test_dumps_common_case_matches_the_json_encoder(value: Any) -> None:
    """The shortcuts (scalars, flat dicts, prebuilt encoders) write byte for byte what the json
    module writes of the encoded value, compact and canonical (sorted keys); NaN and the
    infinities stay tagged, and subclasses (IntEnum, str and int subclasses) keep their type."""
    compact = json.dumps(_codec.encode(value), separators=(",", ":"), ensure_ascii=False)
    assert _codec.dumps(value) == compact
    try:
        canonical = json.dumps(
            _codec.encode(value, canonical=True), separators=(",", ":"), ensure_ascii=False, sort_keys=True
        )
    except _codec.UnhashableInputError:  # an int subclass the codec does not know: no cache key
        with pytest.raises(_codec.UnhashableInputError):
            _codec.dumps(value, canonical=True)
    else:
        assert _codec.dumps(value, canonical=True) == canonical
    back = _codec.loads(_codec.dumps(value))
    assert type(back) is type(value)
    if isinstance(value, dict):
        assert list(back) == list(value) and all(_same(back[k], value[k]) for k in value)
        assert all(type(back[k]) is type(value[k]) for k in value)
    else:
        assert _same(back, value)


# Every value of VALUES as a task's only input, and beside another one (in and out of the
# order the encoder was made for), and the dicts of VALUES whose keys it was made for.
FLAT_CASES = [({"i": v}, ("i",)) for v in VALUES] + [({"a": 1, "i": v}, ("a", "i")) for v in VALUES]
FLAT_CASES += [({"i": v, "a": 1}, ("a", "i")) for v in VALUES[:3]] + [({}, ()), ({"i": 1}, ()), ({}, ("i",))]
FLAT_CASES += [(v, tuple(v)) for v in VALUES if type(v) is dict and all(isinstance(k, str) for k in v)] + [
    ({"i": 1, "j": 2}, ("i",)),
    ({"j": 1}, ("i",)),
]
FLAT_CASES += [({Name("i"): 1}, ("i",)), ({"a": 1, Name("i"): 1}, ("a", "i")), ({"$t": 1}, ("$t",))]


@pytest.mark.parametrize(("value", "names"), FLAT_CASES)
def test_a_tasks_input_encoder_writes_what_dumps_writes_or_nothing(value: dict[str, Any], names: Any) -> None:
    """_codec.flat_encoder (a task's bound inputs encoded for its record, keys' text made once)
    writes dumps's text byte for byte, or None for anything but its keys in its order with
    plain scalar values (then the record encodes it with dumps, as before)."""
    text = _codec.flat_encoder(names)(value)
    plain = list(value) == list(names) and all(type(k) is str for k in value) and k_plain(value)
    assert text == (_codec.dumps(value) if plain else None)


def k_plain(value: dict[str, Any]) -> bool:
    scalars = (str, int, bool, type(None))
    return "$t" not in value and all(
        type(v) in scalars or (type(v) is float and math.isfinite(v)) for v in value.values()
    )


def test_an_int_too_long_for_text_fails_as_json_fails() -> None:
    """Past Python's limit on an int's digits, dumps raises json's own ValueError."""
    huge = 10**5000
    for value in (huge, {"n": huge}):
        with pytest.raises(ValueError) as expected:
            json.dumps(value)
        with pytest.raises(ValueError) as got:
            _codec.dumps(value)
        assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("value", [v for v in VALUES if type(v) is dict] + [{"a": 1, "b": 2}, {"a": 1.5}, {"a": [1]}])
def test_a_record_encoding_said_canonical_is_the_canonical_one(value: dict[str, Any]) -> None:
    """A cache key hashes the record's encoding only when it is what canonical=True writes."""
    if _codec.canonical_as_is(value):
        assert _codec.dumps(value) == _codec.dumps(value, canonical=True)
    expected = {"{}": True, '{"i":1}': True, '{"a":1,"b":2}': True, '{"":0," ":1}': True}
    assert _codec.canonical_as_is(value) == expected.get(_codec.dumps(value), False)


TEXTS = ["5", "-0", "1e400", '"x"', '"\\u00e9"', "[1,2]", '{"a":1}', "NaN", "-Infinity", "null", "true"]
TEXTS += [" 5", "5 ", "\n[1]\n", "5x", "", "[1,", '{"a":}', '{"$t":"tuple","v":[1,2]}', '{"$t":"nope"}']
TEXTS += ["\ufeff5", "1 2", '{"a":1,"a":2}', '"\\ud800"', "9" * 5000, "[" * 100_000, '"a\tb"', "Infinity"]


@pytest.mark.parametrize("text", TEXTS)
def test_loads_reads_what_json_loads_reads(text: str) -> None:
    """loads scans with json's C scanner directly: the same values and the same errors."""

    def outcome(read: Any) -> Any:
        try:
            return "value", repr(read())
        except Exception as exc:
            return "error", type(exc), str(exc)

    expected = outcome(lambda: _codec.decode(json.loads(text)))
    assert outcome(lambda: _codec.loads(text)) == expected
    if not text.startswith("\ufeff"):  # bytes are decoded first (utf-8-sig): a BOM is allowed there
        assert outcome(lambda: _codec.loads(text.encode())) == expected


def test_loads_without_the_c_scanner_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interpreter without json's C accelerator goes through json.loads itself."""
    expected = [_codec.loads(text) for text in ('{"a":[1,2.5,null]}', '{"$t":"tuple","v":[1,2]}')]
    monkeypatch.setattr(_codec, "_scan", None)
    assert [_codec.loads(text) for text in ('{"a":[1,2.5,null]}', '{"$t":"tuple","v":[1,2]}')] == expected


deep_env = flyte.TaskEnvironment(name="hot_deep")


@deep_env.task
async def nest(level: int) -> int:
    if level == 0:
        return 0
    return 1 + await nest(level - 1)


def test_a_chain_deeper_than_the_shallow_levels_starts_fresh_stacks() -> None:
    """Past SHALLOW_LEVELS the depth is looked up again: a chain long enough to pass
    FRESH_STACK_AFTER frames many times over (and Python's recursion limit without fresh
    stacks) still runs."""
    import sys

    levels = max(SHALLOW_LEVELS * 4, sys.getrecursionlimit() // 4, FRESH_STACK_AFTER)
    assert flyte.run(nest, levels).outputs() == levels


@env.task
async def mapped_with_bad_items(items: list[Any], strict: bool) -> list[str]:
    """``flyte.map`` calls ``add`` without a wrapper per item: an item that cannot be bound (a
    str for ``a: int``) fails in its place, or stops the map when ``return_exceptions=False``."""
    out = []
    async for r in flyte.map.aio(add, items, return_exceptions=not strict):
        out.append(f"{type(r).__name__}: {r}" if isinstance(r, Exception) else str(r))
    return out


def test_map_items_that_cannot_be_bound_fail_in_their_place() -> None:
    run = flyte.run(mapped_with_bad_items, [1, "x", 3], False)
    assert run.outputs() == ["11", "InputTypeError: hot.add: input 'a' expects int, got str 'x'", "13"]
    with pytest.raises(InputTypeError, match=r"input 'a' expects int"):
        flyte.run(mapped_with_bad_items, [1, "x", 3], True)
