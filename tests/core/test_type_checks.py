"""Inputs are checked against the task's signature before its body runs, and outputs against
its return annotation after: with flyte.run, nested calls, `flyte run` and `flyte render
--inputs`. The rules are Python typing's (README, "Inputs and outputs")."""

from __future__ import annotations

import dataclasses
import enum
import json
import pickle
import sys
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NewType, Optional, Union

import attrs
import pytest
import yaml
from click.testing import CliRunner

import flyte
import flyte.extend
from flyte import _typecheck
from flyte.cli.main import build_cli
from flyte.errors import InputTypeError, OutputTypeError
from flyte.remote import Run

env = flyte.TaskEnvironment(name="typed")
ran: list[str] = []


@pytest.fixture(autouse=True)
def local_backend():
    flyte.init()
    ran.clear()


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: float
    y: float


@attrs.frozen
class Box:
    size: int


class Model:  # a pydantic-like class: checked by isinstance
    def __init__(self, **fields: Any):
        self.__dict__.update(fields)


class Sub(Point):
    pass


@dataclasses.dataclass
class Forecast:  # a run's settings, as the public tutorials pass them: fields checked too
    model: Literal["WRF", "MPAS", "CAM"] = "WRF"
    members: int = 8
    spread: float = 0.5
    regions: list[str] = dataclasses.field(default_factory=list)
    origin: Point | None = None
    limit: int = None  # the implicit Optional users write: its own default is accepted


@dataclasses.dataclass
class Node:  # names itself: its field checks are compiled on first use
    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


UserId = NewType("UserId", int)

CASES: list[tuple[Any, Any, bool]] = [
    (int, 3, True),
    (int, True, False),  # bool is not an int input
    (int, 1.0, False),
    (int, "5", False),
    (float, 1.5, True),
    (float, 2, True),  # an int is accepted for a float
    (float, False, False),
    (float, "1.5", False),
    (complex, 1, True),
    (bool, True, True),
    (bool, 1, False),
    (str, "x", True),
    (str, b"x", False),
    (bytes, b"x", True),
    (list[int], [1, 2], True),
    (list[int], [1, "2"], False),
    (list[int], (1, 2), False),
    (list[list[int]], [[1], [2, 3]], True),
    (list[list[int]], [[1], [2, True]], False),
    (list, ["anything", 1], True),
    (set[str], {"a"}, True),
    (set[str], {"a", 1}, False),
    (tuple[int, str], (1, "a"), True),
    (tuple[int, str], (1, "a", 2), False),
    (tuple[int, str], ("a", 1), False),
    (tuple[int, ...], (1, 2, 3), True),
    (tuple[int, ...], (1, None), False),
    (dict[str, float], {"a": 1.5, "b": 2}, True),
    (dict[str, float], {"a": "1.5"}, False),
    (dict[str, float], {1: 1.5}, False),
    (Mapping[str, int], {"a": 1}, True),
    (Sequence[int], (1, 2), True),
    (Sequence[int], "12", False),
    (Optional[int], None, True),  # noqa: UP045 - the typing spelling users write
    (Optional[int], 3, True),  # noqa: UP045 - the typing spelling users write
    (Optional[int], "3", False),  # noqa: UP045 - the typing spelling users write
    (int | None, None, True),
    (Union[int, str], "a", True),  # noqa: UP007
    (Union[int, str], 1.5, False),  # noqa: UP007
    (Literal["a", "b"], "a", True),
    (Literal["a", "b"], "c", False),
    (Literal[1], True, False),  # Literal values match by type too
    (Annotated[int, "meta"], 1, True),
    (Annotated[int, "meta"], "1", False),
    (UserId, 1, True),
    (UserId, "1", False),
    (Point, Point(1, 2), True),
    (Point, Sub(1, 2), True),
    (Point, {"x": 1, "y": 2}, False),  # a dict is not the dataclass (flyte run turns JSON into one)
    (Point, Point("1", 2), False),  # a dataclass's fields are checked by the same rules
    (Forecast, Forecast(model="CAM", members=2, spread=1, regions=["us"], origin=Point(0, 0)), True),
    (Forecast, Forecast(model="XYZ"), False),
    (Forecast, Forecast(members=True), False),
    (Forecast, Forecast(regions=["us", 1]), False),
    (Forecast, Forecast(origin=Point(0, None)), False),
    (Forecast, Forecast(limit=None), True),
    (Forecast, Forecast(limit="3"), False),
    (Node, Node("a", [Node("b", [Node("c")])]), True),
    (Node, Node("a", [Node("b", [Node(3)])]), False),
    (Box, Box(1), True),
    (Model, Model(a=1), True),
    (Model, object(), False),
    (Color, Color.RED, True),
    (Color, "red", False),
    (datetime, datetime(2025, 1, 1), True),
    (datetime, "2025-01-01", False),
    (type[Point], Sub, True),
    (type[Point], int, False),
    (Any, object(), True),
    (object, object(), True),
    ("NotInScope", object(), True),  # an annotation that cannot be resolved accepts anything
    (flyte.io.File, flyte.io.File(path="/tmp/x"), True),
    (flyte.io.File, "/tmp/x", False),
]


@pytest.mark.parametrize("annotation, value, ok", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_the_checking_rules(annotation, value, ok):
    check = _typecheck.compile_check(annotation)
    assert (check is None or check.ok(value)) is ok
    if not ok:
        mismatch = check.explain(value, "x")
        assert mismatch is not None and mismatch.expected


@env.task
async def add(x: int, y: float = 1.0) -> float:
    ran.append("add")
    return x + y


@env.task
async def lists(xs: list[int], weights: dict[str, float] | None = None) -> int:
    ran.append("lists")
    return sum(xs)


def test_a_wrong_input_fails_before_the_body_naming_task_input_expected_and_given():
    with pytest.raises(InputTypeError) as caught:
        flyte.run(add, x="5")
    assert str(caught.value) == "typed.add: input 'x' expects int, got str '5'"
    assert (caught.value.task, caught.value.input, caught.value.expected) == ("typed.add", "x", "int")
    with pytest.raises(InputTypeError, match="input 'x' expects int, got float 1.5"):
        flyte.run(add, x=1.5)
    with pytest.raises(InputTypeError, match="input 'x' expects int, got bool True"):
        flyte.run(add, True)
    with pytest.raises(
        TypeError, match="input 'xs' expects list\\[int\\], but xs\\[2\\] is str 'c' \\(expected int\\)"
    ):
        flyte.run(lists, xs=[1, 2, "c"])
    with pytest.raises(TypeError, match="weights\\['b'\\] is NoneType None \\(expected float\\)"):
        flyte.run(lists, xs=[1], weights={"a": 1, "b": None})
    assert ran == []  # no body ran
    result = flyte.run(add, 2, y=3)  # an int for a float is accepted, and received as a float
    assert result.outputs() == 5 and type(result.outputs()[0]) is float


@env.task
async def forecast(settings: Forecast) -> str:
    ran.append("forecast")
    return f"{settings.model} x{settings.members}"


@env.task
async def bad_forecast() -> Forecast:
    return Forecast(members="eight")


def test_a_dataclass_input_or_output_with_a_wrong_field_fails_naming_the_field():
    assert flyte.run(forecast, Forecast(model="MPAS", members=4)).outputs() == "MPAS x4"
    with pytest.raises(InputTypeError) as caught:
        flyte.run(forecast, Forecast(model="XYZ"))
    assert str(caught.value) == (
        f"typed.forecast: input 'settings' expects {Forecast.__module__}.Forecast, but settings.model is str 'XYZ'"
        " (expected Literal['WRF', 'MPAS', 'CAM'])"
    )
    with pytest.raises(InputTypeError, match=r"but settings\.origin\.y is NoneType None \(expected float\)"):
        flyte.run(forecast, Forecast(origin=Point(1, None)))
    with pytest.raises(InputTypeError, match=r"but settings\.regions\[1\] is int 2 \(expected str\)"):
        flyte.run(forecast, Forecast(regions=["eu", 2]))
    assert ran == ["forecast"]  # the refused calls ran no body
    with pytest.raises(OutputTypeError, match=r"\(the value\.members is str 'eight', expected int\)"):
        flyte.run(bad_forecast)


@env.task
async def converged(flag: bool) -> str:
    return str(flag)


def test_a_value_whose_type_shares_a_builtins_name_is_named_with_its_module():
    np = pytest.importorskip("numpy")
    # A numpy comparison gives numpy.bool, which is not a bool input (nor on the reference SDK,
    # which cannot serialise it); "got bool np.True_" would read as a contradiction.
    with pytest.raises(InputTypeError) as caught:
        flyte.run(converged, np.float64(0.1) < 1)
    assert str(caught.value) == "typed.converged: input 'flag' expects bool, got numpy.bool np.True_"
    with pytest.raises(InputTypeError, match=r"but settings\.members is numpy\.bool np\.False_ \(expected int\)"):
        flyte.run(forecast, Forecast(members=np.int64(3) > 4))
    assert _typecheck.describe(Point(1, 2)) == "Point Point(x=1, y=2)"  # a class of one's own: as before


@env.task
def optional_by_default(x: int = None, tag: str = "a") -> str:  # noqa: RUF013 - the implicit Optional users write
    return f"{x}{tag}"


def test_a_parameters_own_default_is_always_accepted():
    assert flyte.run(optional_by_default).outputs() == "Nonea"
    assert flyte.run(optional_by_default, None).outputs() == "Nonea"
    with pytest.raises(InputTypeError, match="input 'tag' expects str, got NoneType None"):
        flyte.run(optional_by_default, 1, tag=None)


@env.task
async def parent_of_a_bad_call() -> str:
    try:
        await add(x="nope")
    except InputTypeError as exc:  # raised at the call site, like a TypeError of a plain call
        return f"caught: {exc}"
    return "not caught"


def test_a_nested_call_with_a_wrong_input_fails_at_the_call_and_starts_no_action():
    run = flyte.run(parent_of_a_bad_call)
    assert run.outputs() == "caught: typed.add: input 'x' expects int, got str 'nope'"
    assert [a.task for a in Run.get(run.name).actions()] == ["typed.parent_of_a_bad_call"]
    assert ran == []


@env.task(retries=3)
async def not_an_int() -> int:
    ran.append("attempt")
    return "not an int"


@env.task
async def an_object() -> int:
    return object()


@env.task
async def bad_items() -> list[int]:
    return [1, 2, None]


@env.task
async def returns_none_annotated() -> None:
    return 5


@env.task
async def catches_a_bad_output() -> str:
    try:
        await an_object()
    except OutputTypeError as exc:
        return type(exc).__name__
    return "no error"


def test_a_wrong_output_fails_the_task_at_once_with_a_clear_error():
    with pytest.raises(OutputTypeError) as caught:
        flyte.with_runcontext(name="bad-output").run(not_an_int)
    assert str(caught.value) == "typed.not_an_int: returned str 'not an int', but its return annotation is int"
    assert ran == ["attempt"]  # not retried: the same code returns the same kind of value
    (action,) = Run.get("bad-output").actions()
    assert (action.phase, action.attempts) == ("FAILED", 1)
    assert "OutputTypeError: typed.not_an_int: returned str 'not an int'" in action.error
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, flyte.errors.NonRecoverableError)
    with pytest.raises(OutputTypeError, match="returned object <object object at"):
        flyte.run(an_object)
    with pytest.raises(OutputTypeError, match=r"annotation is list\[int\] \(the value\[2\] is NoneType None"):
        flyte.run(bad_items)
    with pytest.raises(OutputTypeError, match="returned int 5, but its return annotation is None"):
        flyte.run(returns_none_annotated)
    assert flyte.run(catches_a_bad_output).outputs() == "OutputTypeError"


def test_the_errors_survive_pickling_to_and_from_worker_processes():
    for error in (
        InputTypeError("m", task="t", input="x", expected="int"),
        OutputTypeError("m", task="t", expected="int"),
    ):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == "m" and back.task == "t" and back.expected == "int"


class Frame:
    """A reference type that accepts more than its own instances (as flyte.io.DataFrame will)."""


@env.task
async def frame_rows(frame: Frame) -> int:
    return len(frame)


def test_a_type_can_register_its_own_rule():
    flyte.extend.register_type_check(Frame, lambda v: isinstance(v, (Frame, list)))
    try:
        assert _typecheck.compile_check(Frame).ok([1, 2])
        assert flyte.run(frame_rows, [1, 2, 3]).outputs() == 3
        with pytest.raises(InputTypeError, match="input 'frame' expects .*Frame, got str"):
            flyte.run(frame_rows, "rows")
    finally:
        del _typecheck._REGISTRY[Frame]
        _typecheck._compiled.clear()


def _only(n: int, s: str, f: float | None = None, b: bytes = b"", flag: bool = False) -> int | None: ...
def _untyped(n, s: str) -> int: ...
def _untyped_output(n: int): ...
def _listed(xs: list[int]) -> int: ...
def _variadic(*ns: int) -> int: ...
def _keywords(**ns: int) -> int: ...
def _a_frame_default(n: int = Frame()) -> int: ...  # type: ignore[assignment]
def _annotated(n: Annotated[int, "meta"]) -> Annotated[str, "meta"]: ...
def _framed(frame: Frame) -> Frame: ...
def _maybe_framed(frame: Frame | None, n: int) -> Union[Frame, None]: ...  # noqa: UP007
def _nothing() -> None: ...


@pytest.mark.parametrize(
    "func, scalar_inputs, scalar_output",
    [
        (_only, True, True),
        (_nothing, True, True),
        (_untyped, False, True),  # no annotation: anything, a dataframe included
        (_untyped_output, True, False),
        (_listed, False, True),  # containers are walked for data, as before
        (_variadic, False, True),
        (_keywords, False, True),
        (_a_frame_default, False, True),  # a default is accepted unchecked: it may hold data
        (_annotated, False, False),
        (_framed, False, False),
        (_maybe_framed, False, False),
    ],
)
def test_a_signature_that_admits_only_scalars_is_known_to_hold_no_data(func, scalar_inputs, scalar_output):
    """A task whose checked inputs (output) can only be numbers, str, bytes or None skips the
    search for dataframes and files in them; anything that could hold one is still searched."""
    checks = _typecheck.signature_check(func)
    assert (checks.scalar_inputs, checks.scalar_output) == (scalar_inputs, scalar_output)


def test_a_scalar_type_with_a_rule_of_its_own_may_hold_data():
    flyte.extend.register_type_check(bytes, lambda v: isinstance(v, (bytes, Frame)))
    try:

        def reads(data: bytes) -> bytes: ...

        assert not _typecheck.signature_check(reads).scalar_inputs
        assert not _typecheck.signature_check(reads).scalar_output
    finally:
        del _typecheck._REGISTRY[bytes]
        _typecheck._compiled.clear()


CLI_TASKS = textwrap.dedent("""
    from datetime import datetime
    import flyte

    env = flyte.TaskEnvironment(name="cli_typed")

    @env.task
    async def total(x: int, xs: list[int] = [], flag: bool = False) -> int:
        return x + sum(xs)

    @env.task
    async def needs_flag(flag: bool) -> bool:
        return flag

    @env.task
    async def stamp(when: datetime, count: int = 1) -> str:
        return when.isoformat()

    other = flyte.TaskEnvironment(name="cli_other")

    @other.task
    async def uses_count(count: int) -> int:
        return count

    both = flyte.TaskEnvironment(name="cli_both", depends_on=[env, other])
""")


def _cli(*args: str) -> Any:
    return CliRunner().invoke(build_cli(), list(args))


def test_flyte_run_refuses_missing_and_wrong_typed_options_as_usage_errors(tmp_path):
    tasks = tmp_path / "cli_typed_tasks.py"
    tasks.write_text(CLI_TASKS)
    missing = _cli("run", str(tasks), "total")
    assert missing.exit_code == 2 and "Missing option '--x'" in missing.output
    # A bool flag left out is False (the reference SDK's flyte run), never a missing option.
    unset_flag = _cli("run", str(tasks), "needs_flag")
    assert unset_flag.exit_code == 0 and unset_flag.stdout.strip() == "false", unset_flag.output
    wrong = _cli("run", str(tasks), "total", "--x", "1", "--xs", '[1, "a"]')
    assert wrong.exit_code == 2
    assert "Invalid value for --xs: cli_typed.total: input 'xs' expects list[int], but xs[1] is str 'a'" in wrong.output
    ok = _cli("run", str(tasks), "total", "--x", "1", "--xs", "[1, 2]", "--flag")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == "4"


def test_flyte_run_names_the_field_of_a_dataclass_option_that_does_not_match(tmp_path):
    tasks = tmp_path / "cli_settings.py"
    tasks.write_text(
        textwrap.dedent("""
            from dataclasses import dataclass
            from typing import Literal
            import flyte

            env = flyte.TaskEnvironment(name="cli_settings")

            @dataclass
            class Settings:
                model: Literal["WRF", "CAM"] = "WRF"
                members: int = 8

            @env.task
            async def simulate(settings: Settings) -> str:
                return f"{settings.model} x{settings.members}"
        """)
    )
    ok = _cli("run", str(tasks), "simulate", "--settings", '{"model": "CAM", "members": 2}')
    assert ok.exit_code == 0 and ok.stdout.strip() == "CAM x2", ok.output
    for given, problem in (('{"model": "XYZ"}', "@ Settings.model"), ('{"members": "many"}', "@ Settings.members")):
        wrong = _cli("run", str(tasks), "simulate", "--settings", given)
        assert wrong.exit_code == 2, wrong.output
        assert "Invalid value for --settings: does not match Settings: " in wrong.output
        assert problem in wrong.output and "sub-exception" not in wrong.output


def test_flyte_render_inputs_are_refused_when_unknown_or_wrong_typed(tmp_path):
    tasks = tmp_path / "render_typed_tasks.py"
    tasks.write_text(CLI_TASKS)
    unknown = _cli("render", str(tasks), "total", "--inputs", '{"x": 1, "nope": 2}')
    assert unknown.exit_code == 1
    assert "cli_typed.total: 'nope' is not an input of the task (its inputs: x, xs, flag)" in unknown.output
    wrong = _cli("render", str(tasks), "total", "--inputs", '{"x": "a"}')
    assert wrong.exit_code == 1 and "input 'x' expects int, got str 'a'" in wrong.output
    bad_time = _cli("render", str(tasks), "stamp", "--inputs", '{"when": "yesterday"}')
    assert bad_time.exit_code == 2 and "input 'when': 'yesterday' is not an ISO date/time" in bad_time.output
    not_an_object = _cli("render", str(tasks), "total", "--inputs", "[1]")
    assert not_an_object.exit_code == 2
    # Valid inputs are turned into the annotated types and baked in.
    good = _cli("render", str(tasks), "stamp", "--inputs", '{"when": "2025-01-31T09:30:00"}', "-o", "json")
    assert good.exit_code == 0, good.output
    env_vars = {
        e["name"]: e.get("value") for e in json.loads(good.stdout)["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert flyte._codec.loads(env_vars["FLYTE_INPUTS"]) == {"count": 1, "when": datetime(2025, 1, 31, 9, 30)}
    # For an environment tree, each task takes the inputs it has; one no task has is refused.
    tree = _cli("render", str(tasks), "cli_both", "--inputs", '{"count": 3}')
    assert tree.exit_code == 0, tree.output
    baked = {
        doc["metadata"]["labels"]["flyte.org/task"]: flyte._codec.loads(
            next(
                e["value"]
                for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]
                if e["name"] == "FLYTE_INPUTS"
            )
        )
        for doc in yaml.safe_load_all(tree.stdout)
    }
    assert baked["stamp"] == {"count": 3} and baked["uses_count"] == {"count": 3}
    assert baked["total"] == {"xs": [], "flag": False}  # no input named count: not given one
    nobody = _cli("render", str(tasks), "cli_both", "--inputs", '{"zz": 1}')
    assert nobody.exit_code == 1 and "inputs 'zz': no task of environment 'cli_both'" in nobody.output


def test_a_task_whose_annotations_name_local_classes_still_checks_the_rest():
    source = textwrap.dedent("""
        from __future__ import annotations
        import flyte

        env = flyte.TaskEnvironment(name="partly")

        def make():
            class Local:
                pass

            @env.task
            async def mixed(x: int, thing: Local) -> int:
                return x

            return mixed
    """)
    scope: dict[str, Any] = {"__name__": "partly_typed"}
    exec(compile(source, "partly_typed.py", "exec"), scope)
    sys.modules.setdefault("partly_typed", type(sys)("partly_typed"))
    mixed = scope["make"]()
    assert flyte.run(mixed, 1, object()).outputs() == 1  # Local cannot be resolved: unchecked
    with pytest.raises(InputTypeError, match="input 'x' expects int"):
        flyte.run(mixed, "1", object())


def test_checking_costs_little_next_to_binding(tmp_path):
    """Not a timing assertion: the checker of a scalar is a single compiled predicate."""
    check = _typecheck.signature_check(add.func)
    assert set(check.inputs) == {"x", "y"} and check.inputs["x"].ok is _typecheck._SCALARS[int]
    assert _typecheck.signature_check(add.func) is check  # compiled once per function
    assert Path(__file__).exists()


async def _upper(data: str) -> str:
    return data.upper()


@env.task
async def forgot_await(data: str) -> str:
    return _upper(data)  # the public caching example's slip: an async helper not awaited


def test_a_returned_coroutine_is_reported_as_never_awaited_without_a_python_warning(recwarn):
    with pytest.raises(OutputTypeError) as caught:
        flyte.run(forgot_await, data="abc")
    message = str(caught.value)
    assert "typed.forgot_await: returned coroutine" in message and "its return annotation is str" in message
    assert "never awaited: write `return await _upper(...)`" in message
    import gc

    gc.collect()  # an unclosed coroutine would warn when collected
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


class _Table:
    async def rows(self) -> list[int]:
        return [1]

    def rows_sync(self) -> list[int]:
        return [1]


@env.task
def sync_forgot_await(n: int) -> list[int]:
    # The public BigQuery example's slip: an async reader called from a sync task.
    return _Table().rows() if n else _upper("x")


def test_a_coroutine_returned_by_a_sync_task_points_at_the_blocking_form(recwarn):
    with pytest.raises(OutputTypeError) as caught:
        flyte.run(sync_forgot_await, n=1)
    message = str(caught.value)
    assert "never awaited: a sync task cannot await, call `_Table.rows_sync(...)`" in message
    assert "return await" not in message  # await is not valid in a def
    with pytest.raises(OutputTypeError) as caught:
        flyte.run(sync_forgot_await, n=0)  # no blocking form to offer
    assert "a sync task cannot await: make the task async def and write `return await _upper(...)`" in str(caught.value)
    import gc

    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
